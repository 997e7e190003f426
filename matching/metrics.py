"""Ranking metrics as pure numpy functions, vectorised over a batch of queries.

Conventions
-----------
A batch holds ``Q`` queries (e.g. merchants).

``ranked`` : int array (Q, k_max)
    Item ids in recommended order, best first, padded with ``-1`` where a query has
    fewer recommendations. Padding (anywhere in a row) is never a hit. An item
    repeated within a row counts once, at its first position; later copies are misses.
    Metrics "at k" use the first ``k`` columns; ``k`` larger than ``k_max`` is the
    same as more padding.
``relevant`` : int array (Q, r_max)
    The relevant item ids of each query, in any order, padded with ``-1``;
    duplicates count once.
``ranked_gains``, ``ideal_gains`` : float arrays (Q, k) and (Q, m)
    For NDCG: the true gain of each recommended item (0 for padding), and the true
    gains of the query's items *over the whole catalogue* (at least its ``k``
    largest; any extra columns are ignored after a top-``k`` selection). Computing
    the ideal only over retrieved items would flatter the model; see
    :func:`gather_gains` to build both from a dense (Q, n_items) gain matrix.

Undefined queries
-----------------
A query with no relevant item (or an ideal DCG of 0) has no meaningful value for
any of these metrics: every per-query metric returns ``nan`` for it, so that
``np.nanmean`` averages every metric over the same set of queries.

Set intersections are computed for the whole batch at once (one sort and one
``searchsorted`` over row-offset keys), with no Python loop over queries.

Examples
--------
>>> import numpy as np
>>> ranked = np.array([[4, 1, 7], [2, 5, -1]])
>>> relevant = np.array([[1, 9], [3, -1]])
>>> recall_at_k(ranked, relevant, k=3).tolist()
[0.5, 0.0]
>>> precision_at_k(ranked, relevant, k=3).round(3).tolist()
[0.333, 0.0]
>>> catalogue_coverage(ranked, n_items=10)
0.5
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "average_precision_at_k",
    "catalogue_coverage",
    "dcg",
    "gather_gains",
    "gini",
    "herfindahl",
    "hit_mask",
    "hit_rate_at_k",
    "ndcg_at_k",
    "precision_at_k",
    "recall_at_k",
    "top_share",
]

_NDCG_TOLERANCE = 1e-9


# --------------------------------------------------------------------------- validation


def _check_k(k: int) -> int:
    if isinstance(k, bool) or int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return int(k)


def _ids(name: str, x: ArrayLike) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (queries, items) array, got shape {a.shape}")
    if a.size == 0:
        return a.astype(np.int64)
    if not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"{name} must hold integer item ids (pad with -1), got dtype {a.dtype}")
    a = a.astype(np.int64, copy=False)
    if (a < -1).any():
        raise ValueError(f"{name}: item ids must be >= 0, or -1 for padding")
    return a


def _gains(name: str, x: ArrayLike) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim < 1:
        raise ValueError(f"{name} must have at least one dimension (ranks last)")
    if not np.isfinite(a).all() or (a < 0).any():
        raise ValueError(f"{name} must be finite and >= 0")
    return a


def _top_k(ranked: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` columns, padded with -1 up to ``k``."""
    q, width = ranked.shape
    if width >= k:
        return ranked[:, :k]
    return np.concatenate([ranked, np.full((q, k - width), -1, dtype=np.int64)], axis=1)


# --------------------------------------------------------------------------- set algebra


def _first_occurrence(ranked: np.ndarray) -> np.ndarray:
    """Bool (Q, k): the entry is a real id seen for the first time in its row."""
    if ranked.shape[1] == 0:
        return np.zeros(ranked.shape, dtype=bool)
    order = np.argsort(ranked, axis=1, kind="stable")
    srt = np.take_along_axis(ranked, order, axis=1)
    repeat = np.zeros(ranked.shape, dtype=bool)
    repeat[:, 1:] = srt[:, 1:] == srt[:, :-1]
    first = np.empty(ranked.shape, dtype=bool)
    np.put_along_axis(first, order, ~repeat, axis=1)
    return first & (ranked >= 0)


def _n_relevant(relevant: np.ndarray) -> np.ndarray:
    """Distinct real ids per row, int64 (Q,)."""
    if relevant.shape[1] == 0:
        return np.zeros(relevant.shape[0], dtype=np.int64)
    srt = np.sort(relevant, axis=1)
    new = srt >= 0
    new[:, 1:] &= srt[:, 1:] != srt[:, :-1]
    return new.sum(axis=1)


def _hits(ranked: ArrayLike, relevant: ArrayLike, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Validated hit mask (Q, k) and distinct relevant count (Q,)."""
    k = _check_k(k)
    top = _top_k(_ids("ranked", ranked), k)
    rel = _ids("relevant", relevant)
    q = top.shape[0]
    if rel.shape[0] != q:
        raise ValueError(f"ranked has {q} queries but relevant has {rel.shape[0]}")
    n_rel = _n_relevant(rel)
    if q == 0 or rel.shape[1] == 0:
        return np.zeros((q, k), dtype=bool), n_rel
    # One globally sorted key array: key = row * span + (id + 1); padding -> row * span,
    # which no real id of any row can equal.
    span = int(max(top.max(), rel.max())) + 2
    if q * span >= np.iinfo(np.int64).max // 2:
        raise ValueError("item ids too large for the batch size: split the batch")
    rows = np.arange(q, dtype=np.int64)[:, None] * span
    rel_keys = (np.sort(rel, axis=1) + 1 + rows).ravel()
    top_keys = top + 1 + rows
    pos = np.searchsorted(rel_keys, top_keys)
    found = rel_keys[np.minimum(pos, rel_keys.size - 1)] == top_keys
    return found & _first_occurrence(top), n_rel


def hit_mask(ranked: ArrayLike, relevant: ArrayLike, k: int) -> np.ndarray:
    """Which of the top-``k`` recommendations are relevant.

    Parameters
    ----------
    ranked : int array (Q, k_max)
        Recommended ids, best first, ``-1`` padded.
    relevant : int array (Q, r_max)
        Relevant ids, any order, ``-1`` padded.
    k : int
        Cut-off, >= 1.

    Returns
    -------
    bool ndarray (Q, k)
        ``True`` where the item at that rank is relevant and is the first
        occurrence of that item in the row; padding is always ``False``.

    Examples
    --------
    >>> hit_mask([[3, 1, 3, -1]], [[3, 8]], k=4).tolist()
    [[True, False, False, False]]
    """
    return _hits(ranked, relevant, k)[0]


def _per_query(values: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    out = values.astype(np.float64, copy=True)
    out[n_relevant == 0] = np.nan
    return out


# --------------------------------------------------------------------------- metrics


def recall_at_k(ranked: ArrayLike, relevant: ArrayLike, k: int) -> np.ndarray:
    """Share of each query's relevant items found in its top ``k``.

    ``|top-k ∩ relevant| / |relevant|``; ``nan`` when the query has no relevant item.

    Parameters
    ----------
    ranked : int array (Q, k_max)
        Recommended ids, best first, ``-1`` padded.
    relevant : int array (Q, r_max)
        Relevant ids, ``-1`` padded.
    k : int
        Cut-off, >= 1.

    Returns
    -------
    float ndarray (Q,)

    Examples
    --------
    >>> recall_at_k([[5, 1, 2, 9, 4]], [[1, 4, 6, 7]], k=5).tolist()
    [0.5]
    """
    hits, n_rel = _hits(ranked, relevant, k)
    return _per_query(hits.sum(axis=1) / np.maximum(n_rel, 1), n_rel)


def precision_at_k(ranked: ArrayLike, relevant: ArrayLike, k: int) -> np.ndarray:
    """Share of the top ``k`` slots holding a relevant item.

    ``|top-k ∩ relevant| / k``: padding counts as a miss (the denominator is always
    ``k``). ``nan`` when the query has no relevant item.

    Parameters
    ----------
    ranked, relevant, k
        As in :func:`recall_at_k`.

    Returns
    -------
    float ndarray (Q,)

    Examples
    --------
    >>> precision_at_k([[1, 2, -1, -1]], [[1, 5]], k=4).tolist()
    [0.25]
    """
    hits, n_rel = _hits(ranked, relevant, k)
    return _per_query(hits.sum(axis=1) / hits.shape[1], n_rel)


def average_precision_at_k(ranked: ArrayLike, relevant: ArrayLike, k: int) -> np.ndarray:
    """Average precision at ``k`` (its mean over queries is MAP@k).

    ``sum over hit ranks i <= k of precision@i, divided by min(|relevant|, k)``,
    so a query whose top ``k`` is all relevant (or holds all its relevant items
    first) scores 1. ``nan`` when the query has no relevant item.

    Parameters
    ----------
    ranked, relevant, k
        As in :func:`recall_at_k`.

    Returns
    -------
    float ndarray (Q,)

    Examples
    --------
    Hits at ranks 1 and 3, two relevant items: ``(1/1 + 2/3) / 2``.

    >>> average_precision_at_k([[7, 0, 8]], [[8, 7]], k=3).round(4).tolist()
    [0.8333]
    """
    hits, n_rel = _hits(ranked, relevant, k)
    k = hits.shape[1]
    ranks = np.arange(1, k + 1, dtype=np.float64)
    precision_at_i = np.cumsum(hits, axis=1) / ranks
    total = np.where(hits, precision_at_i, 0.0).sum(axis=1)
    return _per_query(total / np.maximum(np.minimum(n_rel, k), 1), n_rel)


def hit_rate_at_k(ranked: ArrayLike, relevant: ArrayLike, k: int) -> np.ndarray:
    """1.0 where at least one relevant item is in the top ``k``, else 0.0.

    ``nan`` when the query has no relevant item; its ``nanmean`` is the hit rate.

    Parameters
    ----------
    ranked, relevant, k
        As in :func:`recall_at_k`.

    Returns
    -------
    float ndarray (Q,)

    Examples
    --------
    >>> hit_rate_at_k([[1, 2], [3, 4]], [[2, -1], [9, -1]], k=2).tolist()
    [1.0, 0.0]
    """
    hits, n_rel = _hits(ranked, relevant, k)
    return _per_query(hits.any(axis=1), n_rel)


def catalogue_coverage(ranked: ArrayLike, n_items: int) -> float:
    """Share of the catalogue recommended to at least one query.

    Parameters
    ----------
    ranked : int array (Q, k)
        Recommended ids in ``[0, n_items)``, ``-1`` padded. Pass ``ranked[:, :k]``
        for the coverage at ``k``.
    n_items : int
        Size of the catalogue, >= 1.

    Returns
    -------
    float
        Distinct recommended ids / ``n_items``, in ``[0, 1]``.

    Examples
    --------
    >>> catalogue_coverage([[0, 1, -1], [1, 2, 3]], n_items=8)
    0.5
    """
    if isinstance(n_items, bool) or int(n_items) != n_items or n_items < 1:
        raise ValueError(f"n_items must be a positive integer, got {n_items!r}")
    ids = _ids("ranked", ranked)
    ids = ids[ids >= 0]
    if ids.size and ids.max() >= n_items:
        raise ValueError(f"ranked holds id {int(ids.max())}, outside a catalogue of {n_items}")
    return float(np.unique(ids).size / n_items)


def dcg(gains_in_rank_order: ArrayLike, k: int) -> np.ndarray:
    """Discounted cumulative gain of the first ``k`` ranks.

    ``sum_{i=1..k} gain_i / log2(i + 1)`` with linear gains (rank 1 undiscounted).
    Fewer than ``k`` columns count as zero gains.

    Parameters
    ----------
    gains_in_rank_order : float array (..., n)
        Gains, ranks along the last axis, best rank first; finite, >= 0.
    k : int
        Cut-off, >= 1.

    Returns
    -------
    float ndarray of shape ``gains.shape[:-1]`` (a numpy scalar for 1-D input)

    Examples
    --------
    >>> round(float(dcg([3.0, 2.0, 3.0], k=3)), 4)  # 3/1 + 2/log2(3) + 3/2
    5.7619
    """
    k = _check_k(k)
    g = _gains("gains_in_rank_order", gains_in_rank_order)[..., :k]
    discount = 1.0 / np.log2(np.arange(2, g.shape[-1] + 2, dtype=np.float64))
    return (g * discount).sum(axis=-1)


def _ideal_top_k(ideal: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` largest gains per row, sorted descending (fewer if fewer columns)."""
    if ideal.shape[-1] > k:
        ideal = -np.partition(-ideal, k - 1, axis=-1)[..., :k]
    return -np.sort(-ideal, axis=-1)


def ndcg_at_k(ranked_gains: ArrayLike, ideal_gains: ArrayLike, k: int) -> np.ndarray:
    """Normalised DCG at ``k`` per query.

    ``dcg(ranked_gains, k) / dcg(ideal, k)`` where ``ideal`` is the ``k`` largest
    values of each row of ``ideal_gains``, sorted descending.

    Parameters
    ----------
    ranked_gains : float array (Q, k_max)
        True gain of each recommended item in rank order (0 for padding).
    ideal_gains : float array (Q, m)
        True gains of the query's items over the *whole catalogue* — at least its
        ``k`` largest, in any order (the dense (Q, n_items) gain matrix works too).
        Only the top ``k`` of each row are used.
    k : int
        Cut-off, >= 1.

    Returns
    -------
    float ndarray (Q,)
        In ``[0, 1]``; ``nan`` where the ideal DCG is 0 (no item with positive
        gain): average with ``np.nanmean``.

    Raises
    ------
    ValueError
        On negative or non-finite gains, or if a ranking beats its ideal (the ideal
        gains then cannot be the catalogue's best).

    Examples
    --------
    >>> ndcg_at_k([[3, 2, 3, 0, 1, 2]], [[3, 3, 2, 2, 1, 0]], k=6).round(4).tolist()
    [0.9608]
    >>> ndcg_at_k([[0, 0], [1, 0]], [[0, 0], [1, 1]], k=2).round(4).tolist()
    [nan, 0.6131]
    """
    k = _check_k(k)
    got = _gains("ranked_gains", ranked_gains)
    best = _gains("ideal_gains", ideal_gains)
    if got.ndim != 2 or best.ndim != 2 or got.shape[0] != best.shape[0]:
        raise ValueError(
            "ranked_gains and ideal_gains must be 2-D with the same number of queries, "
            f"got shapes {got.shape} and {best.shape}"
        )
    num = dcg(got, k)
    den = dcg(_ideal_top_k(best, k), k)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    over = out > 1.0 + _NDCG_TOLERANCE
    if over.any():
        raise ValueError(
            f"ranking better than its ideal in {int(over.sum())} queries (first: "
            f"{int(np.flatnonzero(over)[0])}): ideal_gains must hold the catalogue's best gains"
        )
    return np.minimum(out, 1.0)


def gather_gains(
    ranked: ArrayLike, gains: ArrayLike, k: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``ranked_gains`` and ``ideal_gains`` for :func:`ndcg_at_k` from a dense gain matrix.

    For a small catalogue where the true gain of every (query, item) is known.

    Parameters
    ----------
    ranked : int array (Q, k_max)
        Recommended ids in ``[0, n_items)``, ``-1`` padded.
    gains : float array (Q, n_items)
        True gains, finite, >= 0.
    k : int, optional
        Keep only the first ``k`` ranks and the ``k`` best ideal gains (default:
        ``k_max``).

    Returns
    -------
    ranked_gains : float ndarray (Q, k)
        ``gains[q, ranked[q, i]]``, 0 for padding and for repeats of an item.
    ideal_gains : float ndarray (Q, min(k, n_items))
        Each row's largest gains over the whole catalogue, descending.

    Examples
    --------
    >>> g = [[0.0, 3.0, 1.0, 2.0]]
    >>> got, ideal = gather_gains([[3, 1, -1]], g)
    >>> got.tolist(), ideal.tolist()
    ([[2.0, 3.0, 0.0]], [[3.0, 2.0, 1.0]])
    """
    ids = _ids("ranked", ranked)
    k = ids.shape[1] if k is None else _check_k(k)
    top = _top_k(ids, k) if k else ids
    g = _gains("gains", gains)
    if g.ndim != 2 or g.shape[0] != top.shape[0]:
        raise ValueError(f"gains must be (queries, n_items) matching ranked, got {g.shape}")
    if top.size and top.max() >= g.shape[1]:
        raise ValueError(f"ranked holds id {int(top.max())}, outside {g.shape[1]} items")
    valid = _first_occurrence(top)
    if g.shape[1] == 0:
        got = np.zeros(top.shape, dtype=np.float64)
    else:
        got = np.where(valid, np.take_along_axis(g, np.where(valid, top, 0), axis=1), 0.0)
    ideal = _ideal_top_k(g, k) if k else g[:, :0]
    return got, ideal


# --------------------------------------------------------------------------- concentration


def gini(amounts: ArrayLike) -> float:
    """Gini coefficient of non-negative amounts: 0 when all are equal, towards 1 when one
    holds everything; NaN for no amounts or a zero total.

    Examples
    --------
    >>> gini([1, 1, 1, 1]), round(gini([0, 0, 0, 4]), 2)
    (0.0, 0.75)
    """
    x = np.sort(np.asarray(amounts, dtype=np.float64))
    if np.any(x < 0):
        raise ValueError("amounts must be >= 0")
    if x.size == 0 or x.sum() <= 0:
        return float("nan")
    rank = np.arange(1, x.size + 1)
    return float((2 * rank - x.size - 1) @ x / (x.size * x.sum()))


def herfindahl(amounts: ArrayLike) -> float:
    """Herfindahl-Hirschman index: the sum of squared shares, 1 / (effective number of
    holders); NaN for a zero total."""
    x = np.asarray(amounts, dtype=np.float64)
    total = x.sum()
    if total <= 0:
        return float("nan")
    return float(((x / total) ** 2).sum())


def top_share(amounts: ArrayLike, fraction: float) -> float:
    """Share of the total held by the largest ``ceil(fraction * n)`` holders (at least one);
    NaN for a zero total."""
    x = np.sort(np.asarray(amounts, dtype=np.float64))[::-1]
    total = x.sum()
    if total <= 0:
        return float("nan")
    k = max(1, int(np.ceil(fraction * x.size)))
    return float(x[:k].sum() / total)
