"""Pictures of the allocation: videos per seller, creators' capacity used, the greedy gap, what-ifs, fairness, the promise, the floor's price."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import PercentFormatter

from matching.allocation.policy import creator_capacity
from matching.jobs.plots.common import new_axes, scaled, usd_scale

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
    ax = new_axes(ax, (7, 0.4 * len(shown) + 1.8))
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
    div, unit = usd_scale(gmv.to_numpy())
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
    ax = new_axes(ax, (6, 4))
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
    div, unit = usd_scale(np.r_[best, greedy])
    if isinstance(summary, Mapping):
        ax = new_axes(ax, (6, 3.5))
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
    ax = new_axes(ax, (7, 0.3 * len(table) + 1.5))
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
    ax = new_axes(ax, (6, 4))
    table = table.sort_values(x, kind="stable")
    xs, x_label = scaled(table, x)
    ys, y_label = scaled(table, y)
    ax.plot(xs, ys, marker="o", color="C0", label=y_label)
    ax.set_xlabel(xlabel or x_label)
    # each axis in the colour of its line (no legend to hide the lines)
    ax.set_ylabel(y_label, color="C0")
    ax.tick_params(axis="y", colors="C0")
    if y2 is not None:
        twin = ax.twinx()
        y2s, y2_label = scaled(table, y2)
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
    ax = new_axes(ax, (7.5, 3.8))
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
    ax = new_axes(ax, (6.5, 3.8))
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
