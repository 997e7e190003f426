"""Plots a data scientist would rather look at than read.

Every function follows scikit-learn's plotting convention: it takes tables the
library already produces (the input tables of :func:`matching.data.read_inputs`,
the report of :func:`matching.evaluation.offline.evaluate`, the sweep of
:func:`matching.evaluation.offline.priority_tradeoff`, the ``matches`` and ``allocation``
tables and the summary of :func:`matching.jobs.pipeline.match`), draws on ``ax`` (a
new figure when it is None) and returns the axes. Titles and axis labels carry
their units. Nothing is shown, saved or configured here: the backend is the
caller's (inline in a notebook, Agg on a server).

Examples
--------
>>> from matching.jobs import plots
>>> summary = {"expected_gmv_usd": 1.2e6, "greedy_expected_gmv_usd": 1.1e6}
>>> ax = plots.greedy_gap(summary)
>>> ax.get_xlabel()
'expected GMV of the free videos (million USD)'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import PercentFormatter

from matching.allocation.policy import creator_capacity

__all__ = [
    "allocation_per_seller",
    "category_mix",
    "creator_utilisation",
    "exposure_bias",
    "feature_importance",
    "fill_sweep",
    "gmv_by_category",
    "greedy_gap",
    "history_depth",
    "ndcg_by_segment",
    "priority_tradeoff",
    "promise",
    "score_distribution",
    "what_if",
]

_HORIZONTAL = (
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


def _axes(ax, figsize: tuple[float, float]):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _usd(values: np.ndarray) -> tuple[float, str]:
    """A divisor and unit that keep USD amounts readable."""
    top = float(np.nanmax(np.abs(values))) if len(values) else 0.0
    if top >= 1e6:
        return 1e6, "million USD"
    if top >= 1e4:
        return 1e3, "thousand USD"
    return 1.0, "USD"


def _scaled(table: pd.DataFrame, column: str) -> tuple[np.ndarray, str]:
    """A column's values, scaled for display, and its axis label with the unit."""
    values = table[column].to_numpy(float)
    what, unit, mult = LABELS.get(column, (column.replace("_", " "), "", 1.0))
    if unit == "USD":
        div, unit = _usd(values)
        return values / div, f"{what} ({unit})"
    return values * mult, f"{what} ({unit})" if unit else what


def _lookup(ids: pd.Series, table: pd.DataFrame, key: str, column: str) -> pd.Series:
    """``table[column]`` of each id in ``ids`` (ids compared as plain Python strings)."""
    ref = pd.Series(
        table[column].to_numpy(dtype=object), index=pd.Index(table[key].to_numpy(dtype=object))
    )
    return pd.Series(ids.to_numpy(dtype=object), index=ids.index).map(ref)


def _top_groups(groups: pd.Series, n: int) -> pd.Series:
    """Keep the ``n`` most frequent groups, the rest become ``"other"``."""
    keep = groups.value_counts().index[:n]
    return groups.where(groups.isin(keep), "other")


def _box_by_group(
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
            **_HORIZONTAL,
        )
        labels = [f"{g} (n={counts[g]:,}{note[g] if note is not None else ''})" for g in order]
        ax.set_yticks(np.arange(1, len(order) + 1), labels, fontsize=8)
        ax.set_xscale("log")
    ax.grid(axis="x", alpha=0.3)


# --------------------------------------------------------------------------- the marketplace


def category_mix(
    merchants: pd.DataFrame, creators: pd.DataFrame, ax=None, *, max_categories: int = 20
):
    """Share of merchants and of creators in each primary category: where demand and supply
    do not line up, merchants compete for few creators."""
    ax = _axes(ax, (7, 5))
    m = _top_groups(merchants["primary_category"].astype(object), max_categories)
    c = _top_groups(creators["primary_category"].astype(object), max_categories)
    share = (
        pd.DataFrame(
            {
                "merchants": m.value_counts(normalize=True),
                "creators": c.value_counts(normalize=True),
            }
        ).fillna(0.0)
        * 100
    )
    share = share.sort_values("merchants")
    y = np.arange(len(share))
    ax.barh(y + 0.2, share["merchants"], 0.4, label=f"merchants (n={len(merchants):,})")
    ax.barh(y - 0.2, share["creators"], 0.4, label=f"creators (n={len(creators):,})")
    ax.set_yticks(y, share.index, fontsize=8)
    ax.xaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.set_xlabel("share of the side (%)")
    ax.set_ylabel("primary category")
    ax.set_title("Demand and supply by category")
    ax.legend(fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return ax


def history_depth(
    collaborations: pd.DataFrame, merchants: pd.DataFrame, creators: pd.DataFrame, ax=None
):
    """Cold start on both sides: the share of merchants and of creators with no, few or many
    past collaborations."""
    ax = _axes(ax, (7, 3.2))
    bins = [-0.5, 0.5, 2.5, 9.5, np.inf]
    names = ["none (cold start)", "1-2", "3-9", "10 or more"]
    rows = {}
    for side, table, key in (
        ("creators", creators, "creator_id"),
        ("merchants", merchants, "merchant_id"),
    ):
        ids = pd.Index(table[key].to_numpy(dtype=object))
        n = collaborations[key].astype(object).value_counts().reindex(ids, fill_value=0)
        counts = (
            pd.cut(n, bins, labels=names)
            .value_counts(normalize=True)
            .reindex(names, fill_value=0.0)
        )
        rows[f"{side}\n(n={len(ids):,})"] = counts * 100
    share = pd.DataFrame(rows).T
    left = np.zeros(len(share))
    colors = ["0.75", "C1", "C0", "C2"]
    for name, color in zip(names, colors, strict=True):
        bars = ax.barh(share.index, share[name], left=left, label=name, color=color)
        ax.bar_label(
            bars,
            labels=[f"{v:.0f}%" if v >= 5 else "" for v in share[name]],
            label_type="center",
            fontsize=8,
        )
        left += share[name].to_numpy()
    ax.set_xlim(0, 100)
    ax.xaxis.set_major_formatter(PercentFormatter())
    ax.set_xlabel("share of the side (%)")
    ax.set_ylabel("marketplace side")
    ax.set_title("Cold start: past collaborations per merchant and per creator")
    ax.legend(
        title="past collaborations",
        fontsize=8,
        title_fontsize=8,
        ncol=4,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.3),
    )
    return ax


def exposure_bias(
    collaborations: pd.DataFrame,
    creators: pd.DataFrame,
    merchants: pd.DataFrame,
    ax=None,
    *,
    n_bins: int = 10,
):
    """The history's exposure bias: share of collaborations going to each creator follower
    decile (split by whether the creator shares the merchant's category), against the 10% an
    unbiased history would give each decile."""
    ax = _axes(ax, (7, 4))
    n_bins = max(1, min(n_bins, len(creators)))
    ranks = creators["followers"].rank(method="first").to_numpy()
    decile = pd.Series(
        pd.qcut(ranks, n_bins, labels=False) + 1,
        index=pd.Index(creators["creator_id"].to_numpy(dtype=object)),
    )
    d = collaborations["creator_id"].astype(object).map(decile)
    same = _lookup(
        collaborations["merchant_id"], merchants, "merchant_id", "primary_category"
    ) == _lookup(collaborations["creator_id"], creators, "creator_id", "primary_category")
    total = max(len(collaborations), 1)
    bins = np.arange(1, n_bins + 1)
    in_cat = same.groupby(d).sum().reindex(bins, fill_value=0) / total * 100
    other = (~same).groupby(d).sum().reindex(bins, fill_value=0) / total * 100
    ax.bar(bins, in_cat, label="creator in the merchant's category", color="C0")
    ax.bar(bins, other, bottom=in_cat, label="creator in another category", color="C1")
    ax.axhline(
        100 / n_bins,
        color="k",
        ls="--",
        lw=1,
        label=f"share of creators ({100 / n_bins:.0f}% per bin)",
    )
    ax.set_xticks(bins)
    ax.yaxis.set_major_formatter(PercentFormatter())
    ax.set_xlabel(f"creator follower {'decile' if n_bins == 10 else 'bin'} (1 = fewest followers)")
    ax.set_ylabel("share of past collaborations (%)")
    ax.set_title(f"Exposure bias: who merchants tried ({len(collaborations):,} collaborations)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return ax


def gmv_by_category(
    collaborations: pd.DataFrame, merchants: pd.DataFrame, ax=None, *, max_categories: int = 15
):
    """Realised GMV per video of past collaborations, by the merchant's category (log scale;
    the share of collaborations that sold nothing is given beside each category)."""
    ax = _axes(ax, (7, 5))
    per_video = collaborations["gmv_usd"].astype(float) / collaborations["videos"].astype(float)
    cat = _top_groups(
        _lookup(collaborations["merchant_id"], merchants, "merchant_id", "primary_category"),
        max_categories,
    )
    zero = (per_video <= 0).groupby(cat.to_numpy()).mean()
    _box_by_group(ax, per_video, cat, note=zero.map(lambda z: f", {100 * z:.0f}% zero"))
    ax.set_xlabel("realised GMV per video (USD, log scale)")
    ax.set_ylabel("merchant category")
    ax.set_title("Past GMV per video by merchant category")
    return ax


# --------------------------------------------------------------------------- the model


def score_distribution(
    matches: pd.DataFrame,
    merchants: pd.DataFrame,
    ax=None,
    *,
    column: str = "score",
    max_categories: int = 15,
    pairs: pd.DataFrame | None = None,
):
    """Predicted value of the matched pairs (``score``: expected GMV of one short video), by
    the merchant's category, log scale.

    ``matches`` may be a sample of the pairs when ``pairs`` gives the whole table's counts,
    indexed by merchant: ``pairs`` and ``at_zero`` (``column`` <= 0). The boxes are then the
    sample's; the title, the categories shown and their counts the whole table's.
    """
    ax = _axes(ax, (7, 5))
    cat = _lookup(matches["merchant_id"], merchants, "merchant_id", "primary_category")
    if pairs is None:
        _box_by_group(ax, matches[column], _top_groups(cat, max_categories))
        n, zero = len(matches), int((matches[column] <= 0).sum())
    else:
        of = _lookup(pd.Series(pairs.index), merchants, "merchant_id", "primary_category")
        counts = pairs["pairs"].groupby(of.to_numpy(dtype=object)).sum()
        keep = counts.sort_values(ascending=False, kind="stable").index[:max_categories]
        counts = counts.groupby(np.where(counts.index.isin(keep), counts.index, "other")).sum()
        _box_by_group(ax, matches[column], cat.where(cat.isin(keep), "other"), counts=counts)
        n, zero = int(pairs["pairs"].sum()), int(pairs["at_zero"].sum())
    what = "priority score" if column == "priority_score" else "expected GMV of one short video"
    ax.set_xlabel(f"{what} (USD, log scale)")
    ax.set_ylabel("merchant category")
    ax.set_title(
        f"Predicted value of {n:,} matched pairs by category"
        + (f" ({zero:,} at 0 not shown)" if zero else "")
        + ("" if pairs is None else f"\nboxes: a fixed sample of {len(matches):,}")
    )
    return ax


def ndcg_by_segment(report: pd.DataFrame, k: int = 10, ax=None):
    """NDCG@k of the model and of every baseline per merchant segment (from
    :func:`matching.evaluation.offline.evaluate`), with the model's lift over the best baseline."""
    from matching.evaluation.offline import BASELINES, HEURISTICS

    ax = _axes(ax, (8, 4.5))
    col = f"ndcg@{k}"
    rep = report[report["method"] != "candidates"]
    piv = rep.pivot(index="segment", columns="method", values=col)
    segments = list(dict.fromkeys(rep["segment"]))
    methods = ["model"] + [m for m in dict.fromkeys(rep["method"]) if m != "model"]
    piv = piv.loc[segments, methods]
    sizes = rep.groupby("segment")["merchants"].first()
    x = np.arange(len(segments))
    width = 0.8 / len(methods)
    others = [f"C{i}" for i in range(10) if i != 3]
    colors = ["C3"] + [others[i % len(others)] for i in range(len(methods) - 1)]
    for i, (method, color) in enumerate(zip(methods, colors, strict=True)):
        heuristic = method in HEURISTICS
        bars = ax.bar(
            x + (i - (len(methods) - 1) / 2) * width,
            piv[method],
            width,
            color=color,
            label=method.replace("_", " ") + (" (heuristic)" if heuristic else ""),
            alpha=1.0 if method == "model" else 0.7,
            hatch="//" if heuristic else None,
        )
        if method == "model":
            base = piv[[b for b in BASELINES if b in piv.columns]].max(axis=1)
            ax.bar_label(
                bars,
                labels=[f"x{v:.2f}" if np.isfinite(v) else "" for v in piv["model"] / base],
                fontsize=8,
                padding=2,
            )
    ax.set_xticks(x, [f"{s.replace('_', ' ')}\n({sizes[s]:,} merchants)" for s in segments])
    ax.set_ylim(0, min(1.0, float(np.nanmax(piv.to_numpy())) * 1.2 + 0.02))
    ax.set_xlabel("merchant segment")
    ax.set_ylabel(f"NDCG@{k} (0-1, higher is better)")
    ax.set_title(
        "Ranking quality by segment: model vs baselines (labels: lift over the best baseline)",
        fontsize=10,
    )
    ax.legend(fontsize=7, ncol=3, loc="upper left", bbox_to_anchor=(0, -0.18))
    ax.grid(axis="y", alpha=0.3)
    return ax


def feature_importance(
    importances: pd.Series,
    ax=None,
    *,
    std: pd.Series | None = None,
    top: int = 15,
    xlabel: str = "drop in R² when the feature is shuffled (unitless)",
    title: str = "Which features drive the predicted score",
):
    """The ``top`` features by importance (e.g. the ``importances_mean`` of
    :func:`sklearn.inspection.permutation_importance` as a Series indexed by feature name),
    with ``std`` as error bars."""
    ax = _axes(ax, (7, 0.3 * min(top, len(importances)) + 1.5))
    imp = importances.astype(float)
    imp = imp.loc[imp.abs().sort_values(ascending=False).index[:top]][::-1]
    err = None if std is None else std.reindex(imp.index).to_numpy(float)
    ax.barh(np.arange(len(imp)), imp.to_numpy(), xerr=err, color="C0", alpha=0.8)
    ax.set_yticks(np.arange(len(imp)), imp.index, fontsize=8)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("feature")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return ax


def priority_tradeoff(sweep: pd.DataFrame, ax=None):
    """The price of priority: certified sellers' share of top-creator slots against total true
    GMV, one point per certified weight (from :func:`matching.evaluation.offline.priority_tradeoff`)."""
    ax = _axes(ax, (6, 4))
    x = 100 * sweep["certified_share_of_top_slots"]
    y, ylabel = _scaled(sweep, "total_true_gmv")
    ax.plot(x, y, marker="o")
    # weights that land on the same point share one label
    points = pd.DataFrame(
        {
            "w": sweep["certified_weight"].to_numpy(float),
            "x": np.asarray(x, float),
            "y": np.asarray(y, float),
        }
    )
    for (xi, yi), group in points.groupby(["x", "y"], sort=False):
        ax.annotate(
            "w=" + ", ".join(f"{w:g}" for w in group["w"]),
            (xi, yi),
            textcoords="offset points",
            xytext=(4, 4),
            fontsize=8,
        )
    ax.xaxis.set_major_formatter(PercentFormatter())
    ax.margins(x=0.12)
    ax.set_xlabel("certified sellers' share of top-creator slots (%)")
    ax.set_ylabel(ylabel)
    ax.set_title("Price of priority: certified weight sweep")
    ax.grid(alpha=0.3)
    return ax


# --------------------------------------------------------------------------- the allocation


def allocation_per_seller(
    allocation: pd.DataFrame, status: pd.DataFrame | None = None, ax=None, *, max_sellers: int = 30
):
    """Free videos placed per seller, against its remaining quota when ``status`` (from
    :func:`matching.allocation.policy.seller_status`) is given; each bar is labelled with the number of
    creators and the expected GMV. Shows the ``max_sellers`` sellers with most videos."""
    sellers = allocation["merchant_id"].astype(object)
    placed = allocation["videos"].groupby(sellers).sum()
    gmv = allocation["expected_gmv_usd"].groupby(sellers).sum()
    creators = allocation["creator_id"].groupby(sellers).nunique()
    quota = None
    if status is not None:
        elig = status[status["eligible"].to_numpy(bool)]
        quota = pd.Series(
            elig["remaining_quota"].to_numpy(np.int64),
            index=pd.Index(elig["merchant_id"].to_numpy(dtype=object)),
        )
        placed = placed.reindex(quota.index.union(placed.index), fill_value=0)
    shown = placed.sort_values(ascending=False, kind="stable").iloc[:max_sellers][::-1]
    ax = _axes(ax, (7, 0.4 * len(shown) + 1.8))
    y = np.arange(len(shown))
    if quota is not None:
        ax.barh(
            y,
            quota.reindex(shown.index).to_numpy(float),
            color="none",
            edgecolor="0.4",
            label="remaining quota",
        )
    ax.barh(y, shown.to_numpy(), color="C0", alpha=0.8, label="videos placed")
    div, unit = _usd(gmv.to_numpy())
    digits = 0 if div == 1 else 1
    labels = [
        f"{s}\n{creators.get(s, 0)} creators, {gmv.get(s, 0.0) / div:,.{digits}f} {unit}"
        for s in shown.index
    ]
    ax.set_yticks(y, labels, fontsize=7)
    ax.set_xlabel("free short videos (videos)")
    ax.set_ylabel("eligible seller")
    n = len(placed)
    more = f" (top {len(shown)} of {n})" if n > len(shown) else ""
    ax.set_title(
        f"Free videos placed per seller{more}"
        if n
        else "Free videos placed per seller (none eligible)"
    )
    if n:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.grid(axis="x", alpha=0.3)
    return ax


def creator_utilisation(
    allocation: pd.DataFrame, creators: pd.DataFrame, horizon_days: int, ax=None
):
    """How much of each chosen creator's capacity over the allocation horizon
    (``weekly_video_capacity * horizon_days / 7``) the free videos take."""
    ax = _axes(ax, (6, 4))
    cap = pd.Series(
        creator_capacity(creators, horizon_days),
        index=pd.Index(creators["creator_id"].to_numpy(dtype=object)),
    )
    used = allocation["videos"].groupby(allocation["creator_id"].astype(object)).sum()
    util = (100 * used / cap.reindex(used.index).clip(lower=1)).clip(upper=100)
    ax.hist(
        util.to_numpy(float), bins=np.linspace(0, 100, 11), color="C0", alpha=0.8, edgecolor="white"
    )
    ax.xaxis.set_major_formatter(PercentFormatter())
    ax.set_xlim(0, 100)
    ax.set_xlabel(f"share of the creator's {horizon_days}-day capacity assigned (%)")
    ax.set_ylabel("creators (count)")
    full = int((util >= 100).sum())
    ax.set_title(f"Creator utilisation: {len(used):,} creators used, {full:,} at full capacity")
    ax.grid(axis="y", alpha=0.3)
    return ax


def greedy_gap(summary, ax=None, *, labels: Sequence[str] | None = None):
    """What the optimal allocation gains over the greedy baseline.

    For one run (the :class:`~matching.allocation.summary.RunSummary` of :func:`matching.jobs.pipeline.match`,
    its :class:`~matching.allocation.summary.AllocationReport`, or a mapping with their keys): the
    expected GMV of both, side by side. For several (a table of such reports, one row per
    scenario, labelled by ``labels`` or the index): the greedy shortfall in % of the optimum
    per scenario, each bar labelled with the optimal expected GMV.
    """
    if dataclasses.is_dataclass(summary) and not isinstance(summary, type):
        summary = summary.to_dict()
    table = pd.DataFrame([dict(summary)]) if isinstance(summary, Mapping) else summary
    best = table["expected_gmv_usd"].to_numpy(float)
    greedy = table["greedy_expected_gmv_usd"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = np.where(best > 0, 1 - greedy / best, 0.0)
    div, unit = _usd(np.r_[best, greedy])
    if isinstance(summary, Mapping):
        ax = _axes(ax, (6, 3.5))
        bars = ax.barh([1, 0], [best[0] / div, greedy[0] / div], color=["C0", "C1"], alpha=0.8)
        ax.bar_label(
            bars, labels=[f"{v / div:,.2f}" for v in (best[0], greedy[0])], fontsize=8, padding=3
        )
        ax.set_yticks([1, 0], ["optimal\n(min-cost flow)", "greedy"])
        ax.set_xlabel(f"expected GMV of the free videos ({unit})")
        ax.set_ylabel("allocator")
        ax.set_title(f"Optimal vs greedy allocation: greedy falls {100 * gap[0]:.2f}% short")
        ax.margins(x=0.15)
        ax.grid(axis="x", alpha=0.3)
        return ax
    names = [str(i) for i in table.index] if labels is None else [str(v) for v in labels]
    ax = _axes(ax, (7, 0.3 * len(table) + 1.5))
    y = np.arange(len(table))[::-1]
    bars = ax.barh(y, 100 * gap, color="C1", alpha=0.8)
    ax.bar_label(
        bars,
        labels=[f"{100 * g:.2f}% of {b / div:,.2f} {unit}" for g, b in zip(gap, best, strict=True)],
        fontsize=7,
        padding=3,
    )
    ax.set_yticks(y, names, fontsize=8)
    ax.set_xlim(0, max(float(np.nanmax(100 * gap)) if len(gap) else 0.0, 0.01) * 1.6)
    ax.xaxis.set_major_formatter(PercentFormatter())
    ax.set_xlabel("greedy's shortfall from the optimal expected GMV (%)")
    ax.set_ylabel("scenario")
    ax.set_title("Optimal vs greedy allocation per scenario")
    ax.grid(axis="x", alpha=0.3)
    return ax


def what_if(
    table: pd.DataFrame,
    x: str,
    y: str = "expected_gmv_usd",
    y2: str | None = "creators_used",
    ax=None,
    *,
    xlabel: str | None = None,
):
    """One lever against its outcomes: ``y`` (left axis) and ``y2`` (right axis) for each
    value of ``x`` in a table of scenarios (e.g. :func:`matching.allocation.quota.allocate_quota`
    reports, or the sweep of :func:`matching.evaluation.offline.priority_tradeoff`). Known columns
    get their units (see :data:`LABELS`)."""
    ax = _axes(ax, (6, 4))
    table = table.sort_values(x, kind="stable")
    xs, x_label = _scaled(table, x)
    ys, y_label = _scaled(table, y)
    ax.plot(xs, ys, marker="o", color="C0", label=y_label)
    ax.set_xlabel(xlabel or x_label)
    # each axis in the colour of its line (no legend to hide the lines)
    ax.set_ylabel(y_label, color="C0")
    ax.tick_params(axis="y", colors="C0")
    if y2 is not None:
        twin = ax.twinx()
        y2s, y2_label = _scaled(table, y2)
        twin.plot(xs, y2s, marker="s", ls="--", color="C1", label=y2_label)
        twin.set_ylabel(y2_label, color="C1")
        twin.tick_params(axis="y", colors="C1")
    ax.set_title(f"What if: {(xlabel or x_label).split(' (')[0]}")
    ax.grid(alpha=0.3)
    return ax


def fairness(allocation: pd.DataFrame, status: pd.DataFrame, report):
    """Three panels on how evenly the free videos were shared: each eligible seller's fill
    rate (videos placed over remaining quota), the Lorenz curve of the videos over the
    creators given some (with the Gini coefficient, and the share of the catalogue's top
    1%), and the
    certified sellers' shares. ``report`` is the run's
    :class:`~matching.allocation.summary.AllocationReport` (or its ``fairness``). Returns the axes."""
    fair = getattr(report, "fairness", report)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), layout="constrained")
    elig = status[status["eligible"].to_numpy(bool)]
    placed = allocation["videos"].groupby(allocation["merchant_id"].astype(object)).sum()
    got = placed.reindex(elig["merchant_id"].to_numpy(dtype=object), fill_value=0).to_numpy(float)
    fill = np.sort(100 * got / np.maximum(elig["remaining_quota"].to_numpy(float), 1))
    ax = axes[0]
    ax.bar(np.arange(fill.size), fill, color="C0", alpha=0.8, width=1.0)
    ax.set_ylim(0, 105)
    ax.yaxis.set_major_formatter(PercentFormatter())
    ax.set_xlabel("eligible seller (sorted)")
    ax.set_ylabel("remaining quota placed (%)")
    ax.set_title(
        f"Fill rate per seller ({fill.size} sellers)" if fill.size else "No eligible seller"
    )
    ax.grid(axis="y", alpha=0.3)
    ax = axes[1]
    videos = np.sort(allocation["videos"].groupby(allocation["creator_id"]).sum().to_numpy(float))
    if videos.sum() > 0:
        share = np.r_[0, np.cumsum(videos)] / videos.sum()
        ax.plot(100 * np.linspace(0, 1, share.size), 100 * share, color="C0", label="videos")
    ax.plot([0, 100], [0, 100], color="0.6", ls="--", label="even")
    ax.xaxis.set_major_formatter(PercentFormatter())
    ax.yaxis.set_major_formatter(PercentFormatter())
    ax.set_xlabel(f"the {videos.size:,} creators given videos, fewest first (%)")
    ax.set_ylabel("videos made (cumulative %)")
    gini = "n/a" if fair is None or fair.creator_gini is None else f"{fair.creator_gini:.2f}"
    top = (
        "n/a"
        if fair is None or fair.top_1pct_creator_share is None
        else f"{100 * fair.top_1pct_creator_share:.0f}%"
    )
    ax.set_title(f"Videos over creators: Gini {gini}; the catalogue's top 1% make {top}")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    ax = axes[2]
    names = ["videos placed", "top-creator\ntop-10 slots"]
    values = [
        None if fair is None else fair.certified_video_share,
        None if fair is None else fair.certified_top_slot_share,
    ]
    shown = [100 * v if v is not None else 0.0 for v in values]
    bars = ax.bar(names, shown, color=["C0", "C1"], alpha=0.8)
    ax.bar_label(bars, labels=[f"{v:.1f}%" if v is not None else "n/a" for v in shown], fontsize=8)
    ax.set_ylim(0, 110)
    ax.yaxis.set_major_formatter(PercentFormatter())
    ax.set_ylabel("share held by certified sellers (%)")
    ax.set_title("Certified sellers' share")
    ax.grid(axis="y", alpha=0.3)
    return axes


_REASON_COLOURS = {
    None: "C0",
    "creator capacity": "C3",
    "days left": "C1",
    "too few candidates": "C4",
}


def promise(report, ax=None):
    """The program's promise, seller by seller: the share of its remaining free videos each
    eligible seller was given (lowest first), coloured by why a seller is under its floor,
    with the floor (``allocation.min_fill``) as a line. ``report`` is the run's
    :class:`~matching.allocation.summary.AllocationReport` (or a mapping of its fields, as in
    ``summary.json``)."""
    get = report.get if isinstance(report, Mapping) else lambda k, d=None: getattr(report, k, d)
    sellers = [s if isinstance(s, Mapping) else dataclasses.asdict(s) for s in get("sellers", ())]
    sellers = sorted(sellers, key=lambda s: (s["fill"], s["merchant_id"]))
    ax = _axes(ax, (7.5, 3.8))
    fill = np.array([100 * s["fill"] for s in sellers])
    colour = [_REASON_COLOURS.get(s["reason"], "C7") for s in sellers]
    ax.bar(np.arange(fill.size), fill, width=1.0, color=colour, alpha=0.85)
    floor = 100 * float(get("min_fill", 0.0) or 0.0)
    if floor > 0:
        ax.axhline(floor, color="0.2", ls="--", lw=1, label=f"floor {floor:.0f}%")
    for reason, c in _REASON_COLOURS.items():
        n = sum(s["reason"] == reason for s in sellers)
        if n:
            label = "at or above the floor" if reason is None else f"under: {reason}"
            ax.bar([0], [0], color=c, label=f"{label} ({n})")
    ax.set_ylim(0, 105)
    ax.yaxis.set_major_formatter(PercentFormatter())
    ax.set_xlabel("eligible seller (lowest fill first)")
    ax.set_ylabel("remaining free videos placed (%)")
    placed, owed = get("videos_placed", 0), get("remaining_quota", 0)
    ax.set_title(
        f"The promise: {placed:,} of {owed:,} free videos placed"
        + (f", median fill {np.median(fill):.0f}%" if fill.size else "")
    )
    if fill.size:
        ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="y", alpha=0.3)
    return ax


def fill_sweep(sweep: pd.DataFrame, ax=None):
    """The price of fairness: expected GMV (over the allocation without a floor) and the
    lowest and median seller fill against the fill floor, from
    :func:`matching.allocation.quota.fill_sweep`."""
    ax = _axes(ax, (6.5, 3.8))
    x = 100 * sweep["min_fill"].to_numpy(float)
    ax.plot(x, 100 * sweep["gmv_vs_no_floor"], marker="o", label="expected GMV vs no floor")
    ax.plot(x, 100 * sweep["fill_min"], marker="s", ls="--", label="lowest seller fill")
    ax.plot(x, 100 * sweep["fill_median"], marker="^", ls=":", label="median seller fill")
    ax.xaxis.set_major_formatter(PercentFormatter())
    ax.yaxis.set_major_formatter(PercentFormatter())
    ax.set_xlabel("fill floor: share of each seller's remaining quota placed first (%)")
    ax.set_ylabel("share (%)")
    ax.set_title("The price of fairness")
    ax.legend(fontsize=8, loc="lower left")
    ax.grid(alpha=0.3)
    return ax


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
