"""Pictures of a marketplace's tables: categories, history, exposure, GMV."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.ticker import PercentFormatter

from matching.jobs.plots.common import box_by_group, lookup, new_axes, top_groups

# --------------------------------------------------------------------------- the marketplace


def category_mix(
    merchants: pd.DataFrame, creators: pd.DataFrame, ax=None, *, max_categories: int = 20
):
    """Share of merchants and of creators in each primary category: where demand and supply
    do not line up, merchants compete for few creators."""
    ax = new_axes(ax, (7, 5))
    m = top_groups(merchants["primary_category"].astype(object), max_categories)
    c = top_groups(creators["primary_category"].astype(object), max_categories)
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
    ax = new_axes(ax, (7, 3.2))
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
    ax = new_axes(ax, (7, 4))
    n_bins = max(1, min(n_bins, len(creators)))
    ranks = creators["followers"].rank(method="first").to_numpy()
    decile = pd.Series(
        pd.qcut(ranks, n_bins, labels=False) + 1,
        index=pd.Index(creators["creator_id"].to_numpy(dtype=object)),
    )
    d = collaborations["creator_id"].astype(object).map(decile)
    same = lookup(
        collaborations["merchant_id"], merchants, "merchant_id", "primary_category"
    ) == lookup(collaborations["creator_id"], creators, "creator_id", "primary_category")
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
    ax = new_axes(ax, (7, 5))
    per_video = collaborations["gmv_usd"].astype(float) / collaborations["videos"].astype(float)
    cat = top_groups(
        lookup(collaborations["merchant_id"], merchants, "merchant_id", "primary_category"),
        max_categories,
    )
    zero = (per_video <= 0).groupby(cat.to_numpy()).mean()
    box_by_group(ax, per_video, cat, note=zero.map(lambda z: f", {100 * z:.0f}% zero"))
    ax.set_xlabel("realised GMV per video (USD, log scale)")
    ax.set_ylabel("merchant category")
    ax.set_title("Past GMV per video by merchant category")
    return ax
