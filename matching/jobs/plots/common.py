"""What the pictures share: axes, labels with units, USD scaling, boxes by group, PNG bytes."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

HORIZONTAL = (
    {"orientation": "horizontal"} if matplotlib.__version_info__ >= (3, 10) else {"vert": False}
)

# How known columns are labelled on an axis: (what, unit, multiplier); USD columns are scaled
# to thousands or millions by their size.
LABELS: dict[str, tuple[str, str, float]] = {
    "expected_gmv_usd": ("expected GMV of the allocation", "USD", 1.0),
    "greedy_expected_gmv_usd": ("expected GMV of the greedy allocation", "USD", 1.0),
    "total_true_gmv": ("true GMV of the weekly slots", "USD", 1.0),
    "videos_placed": ("free videos placed", "videos", 1.0),
    "remaining_quota": ("remaining free-video quota", "videos", 1.0),
    "max_flow_limit": ("most videos placeable", "videos", 1.0),
    "creators_used": ("creators used", "creators", 1.0),
    "sellers_served": ("sellers served", "sellers", 1.0),
    "eligible_sellers": ("eligible sellers", "sellers", 1.0),
    "creator_utilisation": ("capacity used by the chosen creators", "%", 100.0),
    "greedy_gap": ("greedy's shortfall", "%", 100.0),
    "certified_share_of_top_slots": ("certified sellers' share of top-creator slots", "%", 100.0),
    "ndcg_non_certified": ("NDCG of non-certified merchants", "0-1", 1.0),
    "ndcg_certified": ("NDCG of certified merchants", "0-1", 1.0),
    "certified_weight": ("certified weight", "x score", 1.0),
    "repeat_decay": ("repeat decay", "value of each next video, 0-1", 1.0),
}


# --------------------------------------------------------------------------- helpers


def new_axes(ax, figsize: tuple[float, float]):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def usd_scale(values: np.ndarray) -> tuple[float, str]:
    """A divisor and unit that keep USD amounts readable."""
    top = float(np.nanmax(np.abs(values))) if len(values) else 0.0
    if top >= 1e6:
        return 1e6, "million USD"
    if top >= 1e4:
        return 1e3, "thousand USD"
    return 1.0, "USD"


def scaled(table: pd.DataFrame, column: str) -> tuple[np.ndarray, str]:
    """A column's values, scaled for display, and its axis label with the unit."""
    values = table[column].to_numpy(float)
    what, unit, mult = LABELS.get(column, (column.replace("_", " "), "", 1.0))
    if unit == "USD":
        div, unit = usd_scale(values)
        return values / div, f"{what} ({unit})"
    return values * mult, f"{what} ({unit})" if unit else what


def lookup(ids: pd.Series, table: pd.DataFrame, key: str, column: str) -> pd.Series:
    """``table[column]`` of each id in ``ids`` (ids compared as plain Python strings)."""
    ref = pd.Series(
        table[column].to_numpy(dtype=object), index=pd.Index(table[key].to_numpy(dtype=object))
    )
    return pd.Series(ids.to_numpy(dtype=object), index=ids.index).map(ref)


def top_groups(groups: pd.Series, n: int) -> pd.Series:
    """Keep the ``n`` most frequent groups, the rest become ``"other"``."""
    keep = groups.value_counts().index[:n]
    return groups.where(groups.isin(keep), "other")


def box_by_group(
    ax,
    values: pd.Series,
    groups: pd.Series,
    note: pd.Series | None = None,
    counts: pd.Series | None = None,
) -> None:
    """Horizontal box plots of positive ``values`` per group, ordered by median (highest on top);
    each labelled with its count of values (``counts``, by group, when the values are a sample)."""
    frame = pd.DataFrame({"v": values.to_numpy(float), "g": groups.to_numpy(dtype=object)})
    if counts is None:
        counts = frame["g"].value_counts()
    frame = frame[frame["v"] > 0]
    order = frame.groupby("g")["v"].median().sort_values().index
    data = [frame.loc[frame["g"] == g, "v"].to_numpy() for g in order]
    if data:
        ax.boxplot(
            data,
            showfliers=False,
            widths=0.6,
            patch_artist=True,
            boxprops={"facecolor": "C0", "alpha": 0.5},
            medianprops={"color": "k"},
            **HORIZONTAL,
        )
        labels = [f"{g} (n={counts[g]:,}{note[g] if note is not None else ''})" for g in order]
        ax.set_yticks(np.arange(1, len(order) + 1), labels, fontsize=8)
        ax.set_xscale("log")
    ax.grid(axis="x", alpha=0.3)


def png_bytes(ax, dpi: int = 110) -> bytes:
    """The axes' figure as PNG bytes (no timestamp, so the same figure gives the same bytes),
    then closed: for writing pictures beside a run's tables."""
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig = ax.figure
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()
