"""Profiles of merchants and creators, and features of a pairing, learned from history.

Every learned quantity comes from collaborations posted strictly before ``as_of``
(no leakage). Rates are shrunk towards their group mean (empirical Bayes) so a
creator with one lucky collaboration does not outrank one with a hundred good
ones. Unseen ids and categories fall back to the priors.

The three transformers follow scikit-learn's contract: ``__init__`` stores
parameters, ``fit`` learns ``*_`` attributes, ``transform`` is pure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from matching.data.contract import BUSINESS_TYPES, default_as_of, history_rows, row_positions

_DAY = np.timedelta64(1, "D")
_NO_RECENCY_DAYS = 3650.0
_NO_HISTORY = pd.Timestamp("1970-01-01")
"""The as-of of a profile fitted on an empty history (nothing is before it)."""


def history_before(collaborations: pd.DataFrame, as_of) -> pd.DataFrame:
    """Collaborations posted strictly before ``as_of``."""
    return collaborations[collaborations["posted_at"] < pd.Timestamp(as_of)]


def _sum_by(codes: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    ok = codes >= 0
    return np.bincount(codes[ok], weights=np.asarray(weights, dtype=float)[ok], minlength=n)


def shrunk_log_rate(
    num: np.ndarray, den: np.ndarray, prior_rate: np.ndarray | float, prior_den: float
) -> np.ndarray:
    """log((num + k * prior) / (den + k)) with ``k = prior_den`` pseudo-units at the prior rate."""
    return np.log((num + prior_den * prior_rate + 1e-9) / (den + prior_den + 1e-9))


def _category_index(*columns: pd.Series) -> pd.Index:
    cats = pd.Index(sorted({str(v) for col in columns for v in pd.unique(col)}))
    return cats


class _HistoryProfiler(TransformerMixin, BaseEstimator):
    """Shared fitting of per-entity aggregates over a history table."""

    _id: str = ""

    def __init__(self, *, as_of=None, prior_strength: float = 5.0, half_life_days: float = 120.0):
        self.as_of = as_of
        self.prior_strength = prior_strength
        self.half_life_days = half_life_days

    def _as_of(self, history: pd.DataFrame) -> pd.Timestamp:
        if self.as_of is not None:
            return pd.Timestamp(self.as_of)
        as_of = default_as_of(history)
        return _NO_HISTORY if as_of is None else as_of

    def _aggregate(self, ids: pd.Series, h: pd.DataFrame, code: np.ndarray, as_of) -> pd.DataFrame:
        """Per-entity sums of ``h`` (the history before ``as_of``); ``code``: the rows of
        its ``_id`` among ``ids``."""
        index = pd.Index(ids.astype(object))
        n = len(index)
        age = ((as_of - h["posted_at"]) / pd.Timedelta(days=1)).to_numpy(float)
        decay = 0.5 ** (age / self.half_life_days)
        gmv = h["gmv_usd"].to_numpy(float)
        out = pd.DataFrame(index=index)
        out["n_collabs"] = np.bincount(code[code >= 0], minlength=n).astype(float)
        out["videos"] = _sum_by(code, h["videos"], n)
        out["views"] = _sum_by(code, h["views"], n)
        out["gmv"] = _sum_by(code, gmv, n)
        out["recent_gmv"] = _sum_by(code, gmv * decay, n)
        out["recent_collabs"] = _sum_by(code, decay, n)
        other = "creator_id" if self._id == "merchant_id" else "merchant_id"
        pairs = pd.DataFrame({"code": code, "other": h[other].to_numpy(dtype=object)})
        pairs = pairs[pairs["code"] >= 0].drop_duplicates()
        out["partners"] = np.bincount(pairs["code"].to_numpy(), minlength=n).astype(float)
        last = np.full(n, np.nan)
        if len(h):
            ok = code >= 0
            days = ((h["posted_at"].to_numpy() - np.datetime64(as_of)) / _DAY)[ok]
            s = pd.Series(days).groupby(code[ok]).max()
            last[s.index.to_numpy()] = s.to_numpy()
        out["recency_days"] = np.where(np.isnan(last), _NO_RECENCY_DAYS, -last)
        self.global_gmv_per_video_ = float(gmv.sum() / max(h["videos"].sum(), 1))
        self.global_gmv_per_view_ = float(gmv.sum() / max(h["views"].sum(), 1))
        self.views_per_collab_ = float(np.median(h["views"])) if len(h) else 1.0
        self.views_per_collab_ = max(self.views_per_collab_, 1.0)
        self.as_of_ = as_of
        return out

    def _history_features(self, stats: pd.DataFrame, reach: np.ndarray) -> pd.DataFrame:
        """EB-shrunk performance; ``reach`` is each entity's expected views per video."""
        k = self.prior_strength
        f = pd.DataFrame(index=stats.index)
        f["log_collabs"] = np.log1p(stats["n_collabs"].to_numpy())
        f["log_gmv_per_video"] = shrunk_log_rate(
            stats["gmv"].to_numpy(),
            stats["videos"].to_numpy(),
            self.global_gmv_per_view_ * reach,
            k,
        )
        f["log_gmv_per_view"] = shrunk_log_rate(
            stats["gmv"].to_numpy(),
            stats["views"].to_numpy(),
            self.global_gmv_per_view_,
            k * self.views_per_collab_,
        )
        f["log_recent_gmv"] = np.log1p(stats["recent_gmv"].to_numpy())
        f["log_recent_collabs"] = np.log1p(stats["recent_collabs"].to_numpy())
        f["log_partners"] = np.log1p(stats["partners"].to_numpy())
        f["recency_days"] = stats["recency_days"].to_numpy()
        return f


class CreatorProfiler(_HistoryProfiler):
    """Creator profile: reach, engagement, audience, shrunk performance, price position
    and category affinities learned from the GMV of past collaborations.

    Parameters
    ----------
    as_of : date-like, optional
        Learn from the collaborations posted strictly before this day; default the day after
        the last collaboration (:func:`matching.data.contract.default_as_of`).
    prior_strength : float, default 5.0
        Pseudo-videos of empirical-Bayes shrinkage of a rate towards its group's rate.
    half_life_days : float, default 120.0
        The weight of a collaboration's GMV in ``recent_gmv`` halves every this many days.

    Attributes
    ----------
    as_of_ : pandas.Timestamp
        The day the profiles are as of.
    stats_ : pandas.DataFrame
        Per creator id: collaborations, videos, views, GMV, recency-weighted GMV, days since
        the last collaboration, and the GMV-weighted price position (log USD, shrunk).
    categories_ : pandas.Index
        The creators' and merchants' primary categories, sorted; a category's code is its
        position.
    category_gmv_, category_collabs_ : ndarray of shape (n_creators, n_categories)
        GMV made, and collaborations, with merchants of each category.
    category_log_price_ : ndarray of shape (n_categories,)
        Mean log price of each category's merchants (the price position's prior).
    audience_means_ : dict
        Each audience share's mean, used where a creator has none.
    global_gmv_per_video_, global_gmv_per_view_ : float
        The history's rates, the priors of the shrunk ones.
    views_per_collab_ : float
        Median views of a collaboration (pseudo-views of the per-view shrinkage).

    Examples
    --------
    >>> from matching import load_config, simulate
    >>> mk = simulate(load_config(), merchants=30, creators=200, seed=0)
    >>> prof = CreatorProfiler().fit(mk.creators, mk.collaborations, mk.merchants)
    >>> prof.transform(mk.creators).shape[0]
    200
    """

    _id = "creator_id"

    def fit(self, X: pd.DataFrame, history: pd.DataFrame, merchants: pd.DataFrame, *, rows=None):
        """Learn profiles of the creators ``X`` from ``history`` before ``as_of``; ``rows``:
        that history's rows in ``merchants`` and ``X`` (:func:`history_rows`), when known."""
        as_of = self._as_of(history)
        h = history_before(history, as_of)
        mrow, code = history_rows(h, merchants, X, rows)
        stats = self._aggregate(X["creator_id"], h, code, as_of)
        self.categories_ = _category_index(X["primary_category"], merchants["primary_category"])
        n_k = len(self.categories_)
        m_cat = row_positions(merchants["primary_category"], self.categories_)
        m_logp = np.log(merchants["avg_price_usd"].to_numpy(float))
        ok = (code >= 0) & (mrow >= 0)
        gmv = h["gmv_usd"].to_numpy(float)[ok]
        # GMV by (creator, merchant category): a creator's revealed category affinity
        cat_gmv = np.zeros((len(stats), n_k))
        np.add.at(cat_gmv, (code[ok], m_cat[mrow[ok]]), gmv)
        self.category_gmv_ = cat_gmv
        cat_n = np.zeros((len(stats), n_k))
        np.add.at(cat_n, (code[ok], m_cat[mrow[ok]]), 1.0)
        self.category_collabs_ = cat_n
        # GMV-weighted price position, shrunk to the mean price of the primary category
        w = gmv + 1e-3
        num = _sum_by(code[ok], w * m_logp[mrow[ok]], len(stats))
        den = _sum_by(code[ok], w, len(stats))
        cat_price = pd.Series(m_logp).groupby(m_cat).mean()
        self.category_log_price_ = (
            cat_price.reindex(range(n_k)).fillna(float(np.mean(m_logp))).to_numpy()
        )
        prim = row_positions(X["primary_category"], self.categories_)
        prior = self.category_log_price_[prim]
        k_usd = self.prior_strength * max(float(np.median(w)) if len(w) else 1.0, 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            stats["price_position"] = np.where(
                den + k_usd > 0, (num + k_usd * prior) / (den + k_usd), prior
            )
        self.stats_ = stats
        self.audience_means_ = {
            c: float(X[c].mean()) if c in X and X[c].notna().any() else 0.5
            for c in ("audience_female_share", "audience_age_18_34_share")
        }
        return self

    def affinity(self, creator_rows: np.ndarray, category: np.ndarray) -> np.ndarray:
        """Shrunk share of a creator's past GMV made in ``category`` (broadcasts)."""
        check_is_fitted(self, "stats_")
        total = self.category_gmv_.sum(1)
        k = self.prior_strength * max(self.global_gmv_per_video_, 1.0)
        cg = self.category_gmv_[creator_rows, np.clip(category, 0, None)]
        prior = 1.0 / len(self.categories_)
        share = (np.where(category >= 0, cg, 0.0) + k * prior) / (total[creator_rows] + k)
        return share

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Feature frame for the creators ``X`` (row-aligned; unseen ids get the priors)."""
        check_is_fitted(self, "stats_")
        rows = row_positions(X["creator_id"], self.stats_.index)
        stats = self.stats_.reindex(pd.Index(X["creator_id"].astype(object)))
        fill = {
            "n_collabs": 0.0,
            "videos": 0.0,
            "views": 0.0,
            "gmv": 0.0,
            "recent_gmv": 0.0,
            "recent_collabs": 0.0,
            "partners": 0.0,
            "recency_days": _NO_RECENCY_DAYS,
        }
        stats = stats.fillna(fill)
        views = X["avg_views"].to_numpy(float)
        f = self._history_features(stats, views).reset_index(drop=True)
        prim = row_positions(X["primary_category"], self.categories_)
        f.insert(0, "log_followers", np.log1p(X["followers"].to_numpy(float)))
        f.insert(1, "log_views", np.log1p(views))
        f.insert(2, "engagement", X["engagement_rate"].to_numpy(float))
        for col, name in (
            ("audience_female_share", "aud_female"),
            ("audience_age_18_34_share", "aud_young"),
        ):
            vals = X[col].to_numpy(float) if col in X else np.full(len(X), np.nan)
            f[name] = np.where(np.isnan(vals), self.audience_means_[col], vals)
        f["capacity"] = X["weekly_video_capacity"].to_numpy(float)
        f["tenure_days"] = ((self.as_of_ - X["joined_at"]) / pd.Timedelta(days=1)).to_numpy(float)
        price_prior = np.where(
            prim >= 0,
            self.category_log_price_[np.clip(prim, 0, None)],
            float(np.mean(self.category_log_price_)),
        )
        pp = stats["price_position"].to_numpy(float)
        f["price_position"] = np.where(np.isnan(pp), price_prior, pp)
        f["category"] = prim
        f["row"] = rows
        f.index = X.index
        return f


class MerchantProfiler(_HistoryProfiler):
    """Merchant profile: size, price, rating, shrunk performance and the audience it sells
    to, learned from the creators it sold well with.

    Parameters
    ----------
    as_of : date-like, optional
        Learn from the collaborations posted strictly before this day; default the day after
        the last collaboration (:func:`matching.data.contract.default_as_of`).
    prior_strength : float, default 5.0
        Pseudo-videos of empirical-Bayes shrinkage of a rate towards its group's rate.
    half_life_days : float, default 120.0
        The weight of a collaboration's GMV in ``recent_gmv`` halves every this many days.

    Attributes
    ----------
    as_of_ : pandas.Timestamp
        The day the profiles are as of.
    stats_ : pandas.DataFrame
        Per merchant id: collaborations, videos, views, GMV, recency-weighted GMV, days since
        the last collaboration, and the audience shares of the creators it sold with
        (GMV-weighted, shrunk to its category's).
    categories_ : pandas.Index
        The merchants' and creators' primary categories, sorted.
    category_log_price_ : ndarray of shape (n_categories,)
        Mean log price of each category's merchants.
    audience_means_ : dict
        For each audience share: its mean over creators and its mean per category.
    mean_rating_ : float
        The mean store rating, used where one is missing (0 when the column is absent).
    global_gmv_per_video_, global_gmv_per_view_ : float
        The history's rates, the priors of the shrunk ones.
    views_per_collab_ : float
        Median views of a collaboration.

    Examples
    --------
    >>> from matching import load_config, simulate
    >>> mk = simulate(load_config(), merchants=30, creators=200, seed=0)
    >>> MerchantProfiler().fit(mk.merchants, mk.collaborations, mk.creators).transform(mk.merchants).shape[0]
    30
    """

    _id = "merchant_id"

    def fit(self, X: pd.DataFrame, history: pd.DataFrame, creators: pd.DataFrame, *, rows=None):
        """Learn profiles of the merchants ``X`` from ``history`` before ``as_of``; ``rows``:
        that history's rows in ``X`` and ``creators`` (:func:`history_rows`), when known."""
        as_of = self._as_of(history)
        h = history_before(history, as_of)
        code, crow = history_rows(h, X, creators, rows)
        stats = self._aggregate(X["merchant_id"], h, code, as_of)
        self.categories_ = _category_index(X["primary_category"], creators["primary_category"])
        ok = (code >= 0) & (crow >= 0)
        w = h["gmv_usd"].to_numpy(float)[ok] + 1e-3
        k_usd = self.prior_strength * max(float(np.median(w)) if len(w) else 1.0, 1.0)
        prim = row_positions(X["primary_category"], self.categories_)
        c_cat = row_positions(creators["primary_category"], self.categories_)
        self.audience_means_ = {}
        for col in ("audience_female_share", "audience_age_18_34_share"):
            vals = (
                creators[col].to_numpy(float) if col in creators else np.full(len(creators), np.nan)
            )
            mean = float(np.nanmean(vals)) if np.isfinite(vals).any() else 0.5
            vals = np.where(np.isnan(vals), mean, vals)
            cat_mean = pd.Series(vals).groupby(c_cat).mean().reindex(range(len(self.categories_)))
            cat_mean = cat_mean.fillna(mean).to_numpy()
            prior = np.where(prim >= 0, cat_mean[np.clip(prim, 0, None)], mean)
            num = _sum_by(code[ok], w * vals[crow[ok]], len(stats))
            den = _sum_by(code[ok], w, len(stats))
            with np.errstate(invalid="ignore", divide="ignore"):
                stats[col] = np.where(den + k_usd > 0, (num + k_usd * prior) / (den + k_usd), prior)
            self.audience_means_[col] = (mean, cat_mean)
        logp = np.log(X["avg_price_usd"].to_numpy(float))
        self.category_log_price_ = (
            pd.Series(logp)
            .groupby(prim)
            .mean()
            .reindex(range(len(self.categories_)))
            .fillna(float(logp.mean()))
            .to_numpy()
        )
        # an absent rating becomes a constant (uninformative) feature, a missing one the mean
        has_rating = "store_rating" in X and X["store_rating"].notna().any()
        self.mean_rating_ = float(X["store_rating"].mean()) if has_rating else 0.0
        self.stats_ = stats
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Feature frame for the merchants ``X`` (row-aligned; unseen ids get the priors)."""
        check_is_fitted(self, "stats_")
        rows = row_positions(X["merchant_id"], self.stats_.index)
        stats = self.stats_.reindex(pd.Index(X["merchant_id"].astype(object)))
        stats = stats.fillna(
            {
                "n_collabs": 0.0,
                "videos": 0.0,
                "views": 0.0,
                "gmv": 0.0,
                "recent_gmv": 0.0,
                "recent_collabs": 0.0,
                "partners": 0.0,
                "recency_days": _NO_RECENCY_DAYS,
            }
        )
        prim = row_positions(X["primary_category"], self.categories_)
        logp = np.log(X["avg_price_usd"].to_numpy(float))
        # a merchant's reach prior: the views its past creators brought per video
        reach = np.where(
            stats["videos"] > 0,
            stats["views"] / stats["videos"].clip(lower=1),
            self.views_per_collab_,
        )
        f = self._history_features(stats, np.asarray(reach, dtype=float)).reset_index(drop=True)
        f.insert(0, "log_annual_gmv", np.log1p(X["annual_gmv_usd"].to_numpy(float)))
        f.insert(1, "log_price", logp)
        cat_price = np.where(prim >= 0, self.category_log_price_[np.clip(prim, 0, None)], logp)
        f["price_vs_category"] = logp - cat_price
        rating = (
            X["store_rating"].to_numpy(float) if "store_rating" in X else np.full(len(X), np.nan)
        )
        f["store_rating"] = np.where(np.isnan(rating), self.mean_rating_, rating)
        f["business_type"] = pd.Categorical(
            X["business_type"], categories=list(BUSINESS_TYPES)
        ).codes
        f["tenure_days"] = ((self.as_of_ - X["onboarded_at"]) / pd.Timedelta(days=1)).to_numpy(
            float
        )
        for col, name in (
            ("audience_female_share", "aud_female"),
            ("audience_age_18_34_share", "aud_young"),
        ):
            mean, cat_mean = self.audience_means_[col]
            prior = np.where(prim >= 0, cat_mean[np.clip(prim, 0, None)], mean)
            vals = stats[col].to_numpy(float)
            f[name] = np.where(np.isnan(vals), prior, vals)
        f["category"] = prim
        f["row"] = rows
        f.index = X.index
        return f


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
            as_of = _NO_HISTORY if as_of is None else as_of
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
        as_of = _NO_HISTORY if as_of is None else as_of
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
            last = np.full(n, _NO_RECENCY_DAYS)
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
        pair_last = np.full(len(self.pair_keys_), _NO_RECENCY_DAYS)
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
            hit, self.pair_recency_[pos] if len(keys) else 0, _NO_RECENCY_DAYS
        ).astype(np.float32)
        return out
