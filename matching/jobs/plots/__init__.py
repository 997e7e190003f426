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

from matching.faces import lazy_face

_NAMES = {
    "allocation_per_seller": "allocation",
    "category_mix": "market",
    "creator_utilisation": "allocation",
    "exposure_bias": "market",
    "fairness": "allocation",
    "feature_importance": "model",
    "fill_sweep": "allocation",
    "gmv_by_category": "market",
    "greedy_gap": "allocation",
    "history_depth": "market",
    "ndcg_by_segment": "model",
    "png_bytes": "common",
    "priority_tradeoff": "model",
    "promise": "allocation",
    "score_distribution": "model",
    "what_if": "allocation",
}
__all__ = sorted(_NAMES)
__getattr__, __dir__ = lazy_face(__name__, _NAMES)
