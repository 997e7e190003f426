"""Profiles of merchants and creators, learned from their history of collaborations.

Every learned quantity comes from collaborations posted strictly before ``as_of``
(no leakage). Rates are shrunk towards their group mean (empirical Bayes) so a
creator with one lucky collaboration does not outrank one with a hundred good
ones. Unseen ids and categories fall back to the priors.

The profilers follow scikit-learn's contract: ``__init__`` stores
parameters, ``fit`` learns ``*_`` attributes, ``transform`` is pure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from matching.data.contract import BUSINESS_TYPES, default_as_of, history_rows, row_positions

_DAY = np.timedelta64(1, "D")
NO_RECENCY_DAYS = 3650.0
NO_HISTORY = pd.Timestamp("1970-01-01")
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
        return NO_HISTORY if as_of is None else as_of

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
        out["recency_days"] = np.where(np.isnan(last), NO_RECENCY_DAYS, -last)
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
            "recency_days": NO_RECENCY_DAYS,
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
                "recency_days": NO_RECENCY_DAYS,
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
