"""Top lists: the best columns of each row of scores, and several sources' top lists
interleaved into one, in proportion to their weights."""

from __future__ import annotations

import numpy as np


def blend(
    raw: dict[str, np.ndarray], weights: dict[str, float], n: int, seen: np.ndarray | None
) -> np.ndarray:
    """The sources' top lists interleaved in proportion to their weights: ``n`` distinct
    creator columns per row, best first, padded with -1; ``seen`` cells are left out."""
    tops = {}
    for name, w in weights.items():
        if w <= 0:
            continue
        x = raw[name] if seen is None else np.where(seen, -np.inf, raw[name])
        top = top_columns(x, n)
        y = raw[name]
        flat = (y.max(1) - y.min(1)) <= 1e-12 * np.maximum(np.abs(y).max(1), 1.0)
        tops[name] = (top, flat, None if seen is None else np.take_along_axis(seen, top, 1))
    return interleave_tops(tops, weights, n)


def interleave_tops(tops: dict, weights: dict[str, float], n: int) -> np.ndarray:
    """Each source's top list (creator columns, -1 for none), whether the source is flat for
    the row, and which of the list are left out, interleaved into ``n`` per row."""
    total = sum(w for w in weights.values() if w > 0)
    # a source's r-th best sits at r / share in the interleaved list; a source that can't
    # tell this merchant's creators apart (e.g. no history) gives way to the others (last).
    # The positions a list can hold, ranked once, not sorted out of every row of the block
    at = {
        name: np.arange(top.shape[1]) / (weights[name] / total) for name, (top, *_) in tops.items()
    }
    levels = np.unique(np.concatenate([np.zeros(0), *at.values()]))
    idx, rank = [], []
    for name, (top, flat, left_out) in tops.items():
        r = np.where(flat[:, None], len(levels), np.searchsorted(levels, at[name]))
        if left_out is not None:
            r = np.where(left_out, -1, r)
        idx.append(np.clip(top, 0, None))
        rank.append(np.where(top < 0, -1, r))
    return interleave_ranks(np.hstack(idx), np.hstack(rank), len(levels) + 1, n)


def top_columns(score: np.ndarray, n: int) -> np.ndarray:
    """Column indices of the ``n`` best scores of each row, best first, ties by lower index;
    of the columns tied at the ``n``-th score, those ``np.argpartition`` keeps (the same for
    the same scores, not always the lowest: a partner tied there may be left out)."""
    n_c = score.shape[1]
    part = (
        np.argpartition(-score, n - 1, axis=1)[:, :n]
        if n < n_c
        else np.tile(np.arange(n_c), (len(score), 1))
    )
    order = np.lexsort((part, -np.take_along_axis(score, part, 1)), axis=1)
    return np.take_along_axis(part, order, 1)


def interleave(idx: np.ndarray, pos: np.ndarray, n: int) -> np.ndarray:
    """Per row: the ``n`` distinct items of ``idx`` (non-negative) with the smallest positions
    ``pos`` (NaN: left out), padded with -1; ties in position go to the lower item."""
    left = np.isnan(pos)
    levels = np.unique(pos[~left])  # positions as integer ranks
    rank = np.where(left, -1, np.searchsorted(levels, np.where(left, 0.0, pos)))
    return interleave_ranks(idx, rank, len(levels) + 1, n)


def interleave_ranks(idx: np.ndarray, rank: np.ndarray, n_levels: int, n: int) -> np.ndarray:
    """:func:`interleave` of positions given as integer ranks below ``n_levels`` (-1: left
    out)."""
    # two sorts of one integer key per row (a few hundred items, never the whole block):
    # item first, to keep each item's best position, then position first, the item breaking
    # ties; about three times faster than a two-key lexsort and an argsort (scratch: 36.5
    # -> 11.3 ms a block of 512 rows of 600)
    width = int(idx.max()) + 1 if idx.size else 1
    none = np.iinfo(np.int64).max
    key = np.where(rank < 0, none, idx.astype(np.int64) * n_levels + rank)
    key.sort(axis=1)
    item = key // n_levels
    best = np.ones(key.shape, bool)  # each item's first key holds its best position
    best[:, 1:] = item[:, 1:] != item[:, :-1]
    key = np.where(best & (key != none), (key % n_levels) * width + item, none)
    key.sort(axis=1)
    out = np.full((len(idx), n), -1, dtype=np.int64)
    top = key[:, :n]
    out[:, : top.shape[1]] = np.where(top == none, -1, top % width)
    return out


def without(rows: np.ndarray, skip) -> np.ndarray:
    """``rows`` (creator columns per row, -1 for none) with the pairs ``skip`` holds (a scipy
    sparse matrix, one row per row of ``rows``, non-zero where a pair is left out) set to -1."""
    skip = skip.tocsr()
    n_c = np.int64(skip.shape[1])
    row = np.repeat(np.arange(skip.shape[0], dtype=np.int64), np.diff(skip.indptr))
    done = row * n_c + skip.indices
    key = np.arange(len(rows), dtype=np.int64)[:, None] * n_c + rows
    return np.where((rows >= 0) & np.isin(key, done), -1, rows)
