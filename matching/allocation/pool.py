"""The allocation's own pool: each eligible seller's candidates, deeper than its display list
where the creators it shares with other sellers cannot make its free videos.

The display list (``match.top_k`` rows of ``matches.parquet``) is for people to read; the
allocation needs creators with capacity left. Where sellers share tastes their display lists
hold the same few hundred creators, whose weekly capacity runs out long before the sellers'
quotas. :func:`widen` starts from everything retrieval finds for each eligible seller (both
candidate pools) and doubles the depth of the sellers a max flow cannot serve in full, until
the flow covers every remaining quota, a seller reaches ``allocation.pool_cap`` creators, or
deeper retrieval finds no one new.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from matching.allocation import flow
from matching.allocation.quota import quota_problem
from matching.allocation.summary import PoolReport
from matching.config import Config
from matching.data.contract import MATCHES_COLUMNS

__all__ = ["Pool", "final_matches", "widen"]

log = logging.getLogger(__name__)

_POOL_COLUMNS = [c for c in MATCHES_COLUMNS if c != "rank"]


@dataclass(frozen=True)
class Pool:
    """The eligible sellers' pool and how it was found."""

    pairs: pd.DataFrame
    """The contract's matches columns, ``rank`` the pair's place in its seller's pool (by
    priority, as the display list ranks), sellers in row order."""
    depth: np.ndarray
    """Per eligible seller (in ``status`` order), the retrieval depth it reached."""
    start: int
    """The depth every seller started at: everything retrieval finds."""
    rounds: int
    """Retrievals run: 1 when everything retrieval found at first was enough."""
    max_flow: int
    """The most videos the pool could place (:func:`matching.allocation.flow.max_flow_limit`)."""

    def report(self, pool_cap: int) -> PoolReport:
        """What :func:`widen` did, for the run summary (``pool_cap``: the cap it ran under)."""
        return PoolReport(
            pairs=int(len(self.pairs)),
            rounds=int(self.rounds),
            depth_max=int(self.depth.max()) if self.depth.size else 0,
            sellers_widened=int((self.depth > self.start).sum()),
            pool_cap=int(pool_cap),
        )


def _ranked(frame: pd.DataFrame, order: pd.Series) -> pd.DataFrame:
    """One row per pair (the first), ranked within seller as the display list is: priority,
    then fit, then the smaller creator id; sellers in ``order`` (merchant id -> place)."""
    frame = frame.drop_duplicates(["merchant_id", "creator_id"], ignore_index=True)
    key = order.reindex(frame["merchant_id"].to_numpy(dtype=object)).to_numpy(np.int64)
    frame = frame.assign(_seller=key).sort_values(
        ["_seller", "priority_score", "fit", "creator_id"],
        ascending=[True, False, False, True],
        kind="mergesort",
        ignore_index=True,
    )
    first = np.r_[0, np.flatnonzero(np.diff(frame["_seller"].to_numpy())) + 1]
    sizes = np.diff(np.r_[first, len(frame)])
    rank = np.arange(len(frame)) - np.repeat(first, sizes) + 1
    return frame.drop(columns="_seller").assign(rank=rank.astype(np.int64))


def widen(
    ranker,
    status: pd.DataFrame,
    creators: pd.DataFrame,
    config: Config,
    decay: float,
    *,
    certified: np.ndarray,
    block: int | None = None,
) -> Pool:
    """The eligible sellers' allocation pool (see the module docstring).

    ``ranker`` is a fitted :class:`matching.ranking.ranker.MatchRanker` on the run's data (its
    merchant rows are ``status``'s), ``certified`` flags its merchant rows, ``decay`` the
    repeat decay (the pair caps and capacities the max flow sees do not depend on it).
    """
    rows = np.flatnonzero(status["eligible"].to_numpy(bool))
    ids = status["merchant_id"].to_numpy(dtype=object)[rows]
    order = pd.Series(np.arange(len(rows)), index=pd.Index(ids))
    quota = status["remaining_quota"].to_numpy(np.int64)[rows]
    cand = ranker.candidates
    n_c = len(creators)
    cap = config.allocation.pool_cap
    start = max(1, min(cand.top_n + cand.partner_top_n, cap, n_c))
    depth = np.full(len(rows), start, dtype=np.int64)

    def fetch(which: np.ndarray, d: int, skip: pd.DataFrame | None = None) -> pd.DataFrame:
        frame = ranker.recommend(
            k=d, merchants=rows[which], certified=certified, block=block, depth=d, skip=skip
        )
        return frame[_POOL_COLUMNS]

    pairs = _ranked(fetch(np.arange(len(rows)), start), order) if len(rows) else None
    rounds = 1 if len(rows) else 0
    limit = 0
    while len(rows):
        problem, _, _ = quota_problem(pairs, status, creators, config, decay)
        served = flow.max_flow_by_seller(problem)
        limit = int(served.sum())
        short = served < quota
        grow = short & (depth < min(cap, n_c))
        log.info(
            "allocation pool, round %d: %d pairs, max flow %d of %d videos; %d sellers short, "
            "%d of them widened",
            rounds,
            len(pairs),
            int(served.sum()),
            int(quota.sum()),
            int(short.sum()),
            int(grow.sum()),
        )
        if not grow.any():
            break
        deeper = np.minimum(depth * 2, min(cap, n_c))
        # the pairs found before are neither scored again nor returned
        skip = pairs[["merchant_id", "creator_id"]]
        found = [
            fetch(np.flatnonzero(grow & (deeper == d)), int(d), skip)
            for d in np.unique(deeper[grow])
        ]
        before = len(pairs)
        pairs = _ranked(pd.concat([pairs, *found], ignore_index=True), order)
        depth[grow] = deeper[grow]
        rounds += 1
        if len(pairs) == before:  # retrieval found no one new
            break
    if pairs is None:
        pairs = pd.DataFrame({c: [] for c in [*_POOL_COLUMNS, "rank"]})
    # the loop ends on a flow of these very pairs (when retrieval finds no one new, they are
    # the pairs that flow was measured on)
    return Pool(pairs, depth, start, rounds, limit)


def final_matches(pool: pd.DataFrame, allocation: pd.DataFrame, top_k: int) -> pd.DataFrame:
    """The eligible sellers' rows of ``matches.parquet``: each seller's display list (the top
    ``top_k`` of its pool) and every pool pair the allocation placed videos on, ranked by their
    place in the pool, so ranks still follow ``priority_score`` (and may skip)."""
    placed = pd.MultiIndex.from_frame(allocation[["merchant_id", "creator_id"]].astype(object))
    keys = pd.MultiIndex.from_frame(pool[["merchant_id", "creator_id"]].astype(object))
    keep = (pool["rank"].to_numpy() <= top_k) | keys.isin(placed)
    return pool.loc[keep, list(MATCHES_COLUMNS)].reset_index(drop=True)
