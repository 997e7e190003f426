"""Pictures of the ranker: its scores, NDCG by segment, feature importance, the certified weight's trade-off."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.ticker import PercentFormatter

from matching.jobs.plots.common import box_by_group, lookup, new_axes, scaled, top_groups

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
    ax = new_axes(ax, (7, 5))
    cat = lookup(matches["merchant_id"], merchants, "merchant_id", "primary_category")
    if pairs is None:
        box_by_group(ax, matches[column], top_groups(cat, max_categories))
        n, zero = len(matches), int((matches[column] <= 0).sum())
    else:
        of = lookup(pd.Series(pairs.index), merchants, "merchant_id", "primary_category")
        counts = pairs["pairs"].groupby(of.to_numpy(dtype=object)).sum()
        keep = counts.sort_values(ascending=False, kind="stable").index[:max_categories]
        counts = counts.groupby(np.where(counts.index.isin(keep), counts.index, "other")).sum()
        box_by_group(ax, matches[column], cat.where(cat.isin(keep), "other"), counts=counts)
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

    ax = new_axes(ax, (8, 4.5))
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
    ax = new_axes(ax, (7, 0.3 * min(top, len(importances)) + 1.5))
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
    ax = new_axes(ax, (6, 4))
    x = 100 * sweep["certified_share_of_top_slots"]
    y, ylabel = scaled(sweep, "total_true_gmv")
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


def tune_history(trials: pd.DataFrame, metric: str, ax=None):
    """``matching tune``'s trials: each one's validation metric and the best so far, the
    config's own settings (trial 0) marked."""
    ax = new_axes(ax, (6, 4))
    done = trials.dropna(subset=["value"])
    ax.plot(done["trial"], done["value"], "o", alpha=0.6, label="trial")
    ax.step(done["trial"], done["value"].cummax(), where="post", label="best so far")
    first = done[done["trial"] == 0]
    if len(first):
        ax.plot(first["trial"], first["value"], "s", color="black", label="the config's settings")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"{metric} (validation window)")
    ax.set_title("Tuning: the search on the validation window")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return ax
