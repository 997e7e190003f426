"""Plots a data scientist would rather look at than read (scikit-learn style: ``ax=None``,
return the axes)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def priority_tradeoff(sweep: pd.DataFrame, ax=None):
    """The price of priority: certified sellers' share of top-creator slots against total true
    GMV, one point per certified weight (from :func:`matching.evaluation.priority_tradeoff`)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    x = 100 * sweep["certified_share_of_top_slots"]
    y = sweep["total_true_gmv"] / 1e3
    ax.plot(x, y, marker="o")
    for w, xi, yi in zip(sweep["certified_weight"], x, y, strict=True):
        ax.annotate(f"w={w:g}", (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel("certified sellers' share of top-creator slots (%)")
    ax.set_ylabel("total true GMV of the weekly slots (thousand USD)")
    ax.set_title("Price of priority: certified weight sweep")
    ax.grid(alpha=0.3)
    return ax
