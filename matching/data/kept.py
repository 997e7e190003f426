"""What ``match`` keeps in memory of the matches it streams to disk
(:class:`matching.data.MatchesStream`): only the rows the steps after the ranking read
(:func:`kept_rows`), and a bounded, fixed sample for the score picture.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["SCORE_SAMPLE", "TOP_SLOTS", "KeptMatches", "kept_rows"]

TOP_SLOTS = 10
"""A creator's top slots are its places in the merchants' top 10 (the fairness figures)."""
SCORE_SAMPLE = 200_000
"""Matched pairs the score picture draws its boxes from, at most: past that, a fixed sample
(by a hash of the pair), so ``match`` need not hold every match (its counts stay exact)."""


_TOP_COLUMNS = ("creator_id", "certified_super_top", "rank")
_ELIGIBLE_COLUMNS = ["merchant_id", "creator_id", "score", "fit"]


def kept_rows(block: pd.DataFrame, eligible: pd.Index) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Of one block of matches, the rows the steps after the ranking read: the pairs of the
    ``eligible`` sellers (``merchant_id``, ``creator_id``, ``score``, ``fit``: the allocation,
    its value calibration and offer probability, :func:`allocate_quota`) and the rows ranked
    within :data:`TOP_SLOTS` (``creator_id``, ``certified_super_top``, ``rank``: the fairness
    figures)."""
    mine, top = _masks(block, eligible)
    return block.loc[mine, _ELIGIBLE_COLUMNS], block.loc[top, list(_TOP_COLUMNS)]


def _masks(block: pd.DataFrame, eligible: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    return (
        block["merchant_id"].isin(eligible).to_numpy(),
        (block["rank"] <= TOP_SLOTS).to_numpy(),
    )


class KeptMatches:
    """What ``match`` holds of the matches it streams to disk, block by block: the rows later
    steps read (:func:`kept_rows`), and for the score picture up to :data:`SCORE_SAMPLE` rows
    (``merchant_id``, ``score``; past that, those of the smallest hashes of the pair, a sample
    that does not depend on the blocks) with each merchant's exact counts."""

    def __init__(self, eligible: pd.Series, sample_size: int = SCORE_SAMPLE, hold_back=False):
        self.sample_size = sample_size
        self.hold_back = hold_back
        self.rows = 0
        self._eligible = pd.Index(eligible.to_numpy(dtype=object))
        self._mine: list[pd.DataFrame] = []
        self._top: list[pd.DataFrame] = []
        self._counts: list[pd.DataFrame] = []
        # the sample's rows as (merchant_id, score, key, row) arrays; trimmed to the
        # smallest keys only once it holds twice the sample, and at the end
        self._sample: list[tuple[np.ndarray, ...]] = []
        self._held = 0
        self._bar: np.uint64 | None = None  # the largest key kept, once the sample is full

    def add(self, block: pd.DataFrame) -> pd.DataFrame:
        """Keep what later steps need of the next block (all rows of its merchants); return
        the rows to write now: all of them, or with ``hold_back`` those of the sellers not
        eligible (the eligible sellers' are written with their pool's, :meth:`with_top`)."""
        mine, top = _masks(block, self._eligible)
        self._mine.append(block.loc[mine, _ELIGIBLE_COLUMNS])
        if self.hold_back:
            block, top = block[~mine], top[~mine]
        self._top.append(block.loc[top, list(_TOP_COLUMNS)])
        score = block["score"].to_numpy(float)
        code, merchants = pd.factorize(block["merchant_id"])
        n = len(merchants)
        self._counts.append(
            pd.DataFrame(
                {
                    "pairs": np.bincount(code, minlength=n).astype(np.int64),
                    "at_zero": np.bincount(code, weights=score <= 0, minlength=n).astype(np.int64),
                },
                index=pd.Index(np.asarray(merchants, dtype=object)),
            )
        )
        key = pd.util.hash_pandas_object(block[["merchant_id", "creator_id"]], index=False)
        key = key.to_numpy(np.uint64)
        row = np.arange(self.rows, self.rows + len(block))
        self.rows += len(block)
        enter = slice(None) if self._bar is None else np.flatnonzero(key < self._bar)
        ids = block["merchant_id"].to_numpy()[enter]
        if len(ids):
            self._sample.append((ids, score[enter], key[enter], row[enter]))
            self._held += len(ids)
        if self._held > 2 * self.sample_size:
            self._trim()
        return block

    def _trim(self) -> None:
        """Keep the :attr:`sample_size` smallest keys, ties to the first row."""
        ids, score, key, row = (np.concatenate(a) for a in zip(*self._sample, strict=True))
        if len(key) > self.sample_size:
            order = np.lexsort((row, key))
            keep = np.sort(order[: self.sample_size])
            ids, score, key, row = ids[keep], score[keep], key[keep], row[keep]
            self._bar = key.max()
        self._sample = [(ids, score, key, row)]
        self._held = len(key)

    def eligible(self) -> pd.DataFrame:
        """The eligible sellers' pairs, in the order of the matches."""
        return _stacked(self._mine, _ELIGIBLE_COLUMNS)

    def top_slots(self) -> pd.DataFrame:
        """Every match written ranked within :data:`TOP_SLOTS`, in the order of the matches."""
        return _stacked(self._top, ["creator_id", "certified_super_top", "rank"])

    def with_top(self, written: pd.DataFrame) -> pd.DataFrame:
        """:meth:`top_slots` and those of ``written``, the rows written after the others."""
        top = written.loc[written["rank"].to_numpy() <= TOP_SLOTS, list(_TOP_COLUMNS)]
        return _stacked([*self._top, top], list(_TOP_COLUMNS))

    def score_sample(self) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        """The rows for the score picture, in the order of the matches, and, when they are a
        sample, every merchant's ``pairs`` and pairs ``at_zero`` (None: they are all)."""
        if not self._sample:
            return pd.DataFrame({"merchant_id": [], "score": []}), None
        self._trim()
        ids, score, _, _ = self._sample[0]
        sample = pd.DataFrame({"merchant_id": ids, "score": score})
        if self.rows <= self.sample_size:
            return sample, None
        return sample, pd.concat(self._counts)


def _stacked(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame({c: [] for c in columns})
    return pd.concat(frames, ignore_index=True)
