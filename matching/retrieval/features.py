"""Features of a pairing, from the two sides' profiles and the pair's own history, and who
has been choosing whom lately (:class:`PartnerActivity`).

Learned from collaborations posted strictly before ``as_of``; the transformers follow
scikit-learn's contract: ``__init__`` stores parameters, ``fit`` learns ``*_``
attributes, ``transform`` is pure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from matching.data.contract import default_as_of, history_rows, row_positions
from matching.retrieval.profiles import (
    NO_HISTORY,
    NO_RECENCY_DAYS,
    CreatorProfiler,
    history_before,
    shrunk_log_rate,
)


class PairFeaturizer(TransformerMixin, BaseEstimator):
    """Features of merchant x creator pairings from the two profiles.

    Learns a category-transfer table (how creators of one primary category
    convert for merchants of another, shrunk) and each pair's own shrunk track
    record; ``transform`` takes ``(merchant_features, creator_features, m, c)``
    with row positions ``m``, ``c`` into the two feature frames.

    Parameters
    ----------
    as_of : date-like, optional
        Learn from the collaborations posted strictly before this day; default the day after
        the last collaboration.
    prior_strength : float, default 5.0
        Pseudo-observations (in mean views) of the shrinkage of the category-transfer table.

    Attributes
    ----------
    categories_ : pandas.Index
        The categories the table is indexed by (the creator profiler's).
    category_lift_ : ndarray of shape (n_categories, n_categories)
        Shrunk log GMV per view of creators of category ``i`` with merchants of category
        ``j``, relative to the history's rate.
    global_gmv_per_view_ : float
        The history's GMV per view.
    pair_keys_ : ndarray of int64
        The pairs seen, as ``merchant_row * n_creators_fitted_ + creator_row``, sorted.
    pair_n_, pair_gmv_, pair_views_ : ndarray
        Collaborations, GMV and views of each pair of ``pair_keys_``.
    n_creators_fitted_ : int
        Creators of the table fitted on (the key's multiplier).
    m_index_, c_index_ : pandas.Index
        Merchant and creator ids of the rows the keys refer to.
    """

    def __init__(self, *, as_of=None, prior_strength: float = 5.0):
        self.as_of = as_of
        self.prior_strength = prior_strength

    def fit(
        self,
        history: pd.DataFrame,
        merchants: pd.DataFrame,
        creators: pd.DataFrame,
        categories: pd.Index,
        *,
        rows=None,
    ):
        """Learn category transfer and pair track records from ``history`` before ``as_of``;
        ``rows``: :func:`~matching.data.contract.history_rows` of that history, when known."""
        if self.as_of is not None:
            as_of = pd.Timestamp(self.as_of)
        else:
            as_of = default_as_of(history)
            as_of = NO_HISTORY if as_of is None else as_of
        h = history_before(history, as_of)
        self.categories_ = categories
        m_index = pd.Index(merchants["merchant_id"].astype(object))
        c_index = pd.Index(creators["creator_id"].astype(object))
        mi, ci = history_rows(h, merchants, creators, rows)
        ok = (mi >= 0) & (ci >= 0)
        mi, ci = mi[ok], ci[ok]
        gmv = h["gmv_usd"].to_numpy(float)[ok]
        views = h["views"].to_numpy(float)[ok]
        k_n = len(categories)
        mc = row_positions(merchants["primary_category"], categories)[mi]
        cc = row_positions(creators["primary_category"], categories)[ci]
        rate = gmv.sum() / max(views.sum(), 1.0)
        self.global_gmv_per_view_ = float(rate)
        num, den = np.zeros((k_n, k_n)), np.zeros((k_n, k_n))
        np.add.at(num, (cc, mc), gmv)
        np.add.at(den, (cc, mc), views)
        k_views = self.prior_strength * (views.mean() if len(views) else 1.0)
        self.category_lift_ = shrunk_log_rate(num, den, rate, k_views) - np.log(rate + 1e-12)
        # each pair's own record, keyed by (merchant row, creator row)
        key = mi.astype(np.int64) * len(c_index) + ci
        pk, inv = np.unique(key, return_inverse=True)
        self.pair_keys_ = pk
        self.pair_n_ = np.bincount(inv, minlength=len(pk)).astype(float)
        self.pair_gmv_ = np.bincount(inv, weights=gmv, minlength=len(pk))
        self.pair_views_ = np.bincount(inv, weights=views, minlength=len(pk))
        self.n_creators_fitted_ = len(c_index)
        self.m_index_, self.c_index_ = m_index, c_index
        return self

    def transform(
        self,
        merchant_features: pd.DataFrame,
        creator_features: pd.DataFrame,
        m: np.ndarray,
        c: np.ndarray,
        creator_profiler: CreatorProfiler | None = None,
    ) -> pd.DataFrame:
        """Features of the pairs (m[i], c[i]) as a frame with one row per pair."""
        return pd.DataFrame(
            self.transform_columns(merchant_features, creator_features, m, c, creator_profiler)
        )

    def transform_columns(
        self,
        merchant_features: pd.DataFrame,
        creator_features: pd.DataFrame,
        m: np.ndarray,
        c: np.ndarray,
        creator_profiler: CreatorProfiler | None = None,
    ) -> dict[str, np.ndarray]:
        """:meth:`transform` as float64 arrays by name (no frame: the ranking's hot path)."""
        check_is_fitted(self, "category_lift_")
        M, C = merchant_features, creator_features
        mcat = M["category"].to_numpy()[m]
        ccat = C["category"].to_numpy()[c]
        known = (mcat >= 0) & (ccat >= 0)
        lift = np.where(
            known, self.category_lift_[np.clip(ccat, 0, None), np.clip(mcat, 0, None)], 0.0
        )
        f = {
            "same_category": (mcat == ccat).astype(float),
            "category_lift": lift,
            "aud_female_gap": np.abs(C["aud_female"].to_numpy()[c] - M["aud_female"].to_numpy()[m]),
            "aud_young_gap": np.abs(C["aud_young"].to_numpy()[c] - M["aud_young"].to_numpy()[m]),
            "price_gap": M["log_price"].to_numpy()[m] - C["price_position"].to_numpy()[c],
        }
        crow = C["row"].to_numpy()[c]
        if creator_profiler is not None:
            f["creator_category_share"] = np.where(
                crow >= 0,
                creator_profiler.affinity(np.clip(crow, 0, None), mcat),
                1.0 / len(self.categories_),
            )
        mrow = M["row"].to_numpy()[m]
        key = mrow.astype(np.int64) * self.n_creators_fitted_ + crow
        pos = np.searchsorted(self.pair_keys_, key).clip(0, max(len(self.pair_keys_) - 1, 0))
        hit = (mrow >= 0) & (crow >= 0) & (len(self.pair_keys_) > 0)
        hit &= self.pair_keys_[pos] == key if len(self.pair_keys_) else False
        n = np.where(hit, self.pair_n_[pos] if len(self.pair_keys_) else 0.0, 0.0)
        g = np.where(hit, self.pair_gmv_[pos] if len(self.pair_keys_) else 0.0, 0.0)
        v = np.where(hit, self.pair_views_[pos] if len(self.pair_keys_) else 0.0, 0.0)
        f["pair_log_collabs"] = np.log1p(n)
        f["pair_log_gmv_per_view"] = shrunk_log_rate(
            g, v, self.global_gmv_per_view_, 1000.0
        ) - np.log(self.global_gmv_per_view_ + 1e-12)
        return f


class PartnerActivity(BaseEstimator):
    """Who has been choosing and chosen, how much and how lately: per-entity arrays of the
    history before ``as_of``, gathered per pair by :meth:`transform` (no per-pair frames).

    Collaborations are counted over each of ``horizons_days`` and over all time, for both
    sides: demand moves (seasons, launches), and a short horizon sees it first. Besides the
    counts: distinct partners, days since the last and the first collaboration, and the
    pair's own count and recency.

    Parameters
    ----------
    as_of : date-like, optional
        Count the collaborations posted strictly before this day; default the day after the
        last collaboration (:func:`matching.data.contract.default_as_of`).
    horizons_days : tuple of int, default (7, 30, 90)
        Count each side's collaborations over the last this many days, one feature each.

    Attributes
    ----------
    as_of_ : pandas.Timestamp
        The day the counts are as of.
    counts_ : dict of str to ndarray
        Per merchant row (``m_*``) or creator row (``c_*``): collaborations over each
        horizon and in all, distinct partners, days since the last and the first one.
    pair_keys_ : ndarray of int64
        ``merchant_row * n_creators + creator_row`` of every pair with history, sorted.
    pair_n_, pair_recency_ : ndarray of shape (n_pairs,)
        Each such pair's collaborations and days since its last one.
    n_creators_ : int
        Rows of the creators table (the pair keys' base).

    Examples
    --------
    >>> from matching import load_config, simulate
    >>> mk = simulate(load_config(), merchants=30, creators=200, seed=0)
    >>> act = PartnerActivity(horizons_days=(7, 30)).fit(mk.collaborations, mk.merchants, mk.creators)
    >>> sorted(act.transform([0, 1], [5, 6]))[:3]
    ['c_age_days', 'c_n', 'c_n30']
    """

    def __init__(self, *, as_of=None, horizons_days: tuple[int, ...] = (7, 30, 90)):
        self.as_of = as_of
        self.horizons_days = horizons_days

    def fit(
        self, history: pd.DataFrame, merchants: pd.DataFrame, creators: pd.DataFrame, *, rows=None
    ):
        """Count the collaborations before ``as_of`` (default: all) per merchant, creator, pair;
        ``rows``: :func:`~matching.data.contract.history_rows` of that history, when known."""
        as_of = default_as_of(history) if self.as_of is None else pd.Timestamp(self.as_of)
        as_of = NO_HISTORY if as_of is None else as_of
        h = history_before(history, as_of)
        n_m, n_c = len(merchants), len(creators)
        mi, ci = history_rows(h, merchants, creators, rows)
        ok = (mi >= 0) & (ci >= 0)
        mi, ci = mi[ok], ci[ok]
        age = ((as_of - h["posted_at"]) / pd.Timedelta(days=1)).to_numpy(float)[ok]
        self.counts_ = {}
        for side, code, n in (("m", mi, n_m), ("c", ci, n_c)):
            for days in self.horizons_days:
                self.counts_[f"{side}_n{days}"] = np.bincount(
                    code[age <= days], minlength=n
                ).astype(np.float32)
            self.counts_[f"{side}_n"] = np.bincount(code, minlength=n).astype(np.float32)
            last = np.full(n, NO_RECENCY_DAYS)
            np.minimum.at(last, code, age)
            self.counts_[f"{side}_recency_days"] = last.astype(np.float32)
            first = np.full(n, -1.0)
            np.maximum.at(first, code, age)
            self.counts_[f"{side}_age_days"] = first.astype(np.float32)
        key = mi.astype(np.int64) * n_c + ci
        self.pair_keys_, inv = np.unique(key, return_inverse=True)
        self.counts_["m_partners"] = np.bincount(self.pair_keys_ // n_c, minlength=n_m).astype(
            np.float32
        )
        self.counts_["c_partners"] = np.bincount(self.pair_keys_ % n_c, minlength=n_c).astype(
            np.float32
        )
        self.pair_n_ = np.bincount(inv, minlength=len(self.pair_keys_)).astype(np.float32)
        pair_last = np.full(len(self.pair_keys_), NO_RECENCY_DAYS)
        np.minimum.at(pair_last, inv, age)
        self.pair_recency_ = pair_last.astype(np.float32)
        self.n_creators_ = n_c
        self.as_of_ = as_of
        return self

    def transform(self, m, c) -> dict[str, np.ndarray]:
        """Features of the pairs ``(m[i], c[i])`` (row positions), float32, by name."""
        check_is_fitted(self, "counts_")
        m, c = np.asarray(m, dtype=np.int64), np.asarray(c, dtype=np.int64)
        out = {
            name: values[m if name.startswith("m_") else c] for name, values in self.counts_.items()
        }
        key = m * self.n_creators_ + c
        keys = self.pair_keys_
        pos = np.searchsorted(keys, key).clip(0, max(len(keys) - 1, 0))
        hit = keys[pos] == key if len(keys) else np.zeros(len(key), bool)
        out["pair_n"] = np.where(hit, self.pair_n_[pos] if len(keys) else 0, 0).astype(np.float32)
        out["pair_recency_days"] = np.where(
            hit, self.pair_recency_[pos] if len(keys) else 0, NO_RECENCY_DAYS
        ).astype(np.float32)
        return out
