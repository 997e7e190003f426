"""Candidate retrieval: the top-N creators of every merchant, from two pools of sources.

The main pool (what the value ranking needs):
(a) collaborative: a truncated SVD of the log-GMV merchant x creator history;
(b) content: a linear model of log GMV per video on profile terms that factor
    into matrix products (reach, category transfer, revealed category share,
    audience and price gaps), learned on the history; serves cold start;
(c) category popularity: the creator's past GMV in the merchant's category.

The pool of likely partners (what ``fit`` needs):
(d) als: implicit-feedback ALS (``implicit``) of who worked with whom, on the binary
    history;
(e) trending: the creator's collaborations, decayed with a short half-life.

Merchants with no history get their category's centroid in both factorisations. Each
pool interleaves its sources: each contributes its best creators in proportion to its
weight (a creator counts once, at its best place), so a weak or noisy source can't drown
a strong one, and every source is represented. After the ``top_n`` of the main pool come
up to ``partner_top_n`` likely partners not already in. Blocks of merchants are scored with
matrix products and cut with ``argpartition``: never an all-pairs table. Besides the
scores, the retriever gives per-pair features gathered from per-entity arrays: the ALS
score standardised over the merchant's creators, and the creator's similarity to the
merchant's past partners.
"""

from __future__ import annotations

import inspect
import logging
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator
from sklearn.linear_model import Ridge
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from matching.data import memory
from matching.data.contract import history_rows, known_creators
from matching.retrieval import ann
from matching.retrieval.factors import als_factors, cold_to_centroid, inner, svd_factors
from matching.retrieval.profiles import CreatorProfiler, history_before, shrunk_log_rate
from matching.retrieval.tops import blend, interleave_ranks, interleave_tops, without
from matching.threads import openmp_threads

log = logging.getLogger(__name__)

SOURCES = ("collaborative", "content", "popularity", "als", "trending")
_VALUE_SOURCES = ("collaborative", "content", "popularity")
"""The sources of the main pool, ranked by value."""
_PARTNER_SOURCES = ("als", "trending")
"""The sources of the pool of likely partners (who works with whom, and who is in demand)."""
_PAIR_VECTORS = (
    "merchant_factors_",
    "creator_factors_",
    "als_merchant_factors_",
    "als_creator_factors_",
    "als_creator_unit_",
    "partner_direction_",
)
"""Fitted vectors gathered for every candidate pair, kept in float32."""
_CONTENT_TERMS = (
    "log_views",
    "category_lift",
    "log_category_share",
    "audience_gap2",
    "price_gap2",
    "creator_log_gmv_per_view",
)


class CandidateRetriever(BaseEstimator):
    """Retrieve the ``top_n`` most promising creators per merchant.

    Fit on feature frames from :mod:`matching.retrieval.features` (row-aligned with the
    merchants and creators tables) and the history; ``retrieve`` returns creator
    row positions and the per-source scores of each candidate.

    Parameters
    ----------
    top_n : int, default 200
        Candidates of the main pool (ranked by value) per merchant.
    n_factors : int, default 32
        Rank of the SVD of log GMV (the value pool's collaborative source).
    als_factors : int, default 64
        Rank of the ALS of who worked with whom (the partner pool, and ``fit``'s features).
    als_regularization, als_alpha : float, default 0.01 and 5.0
        ALS's L2 penalty and the confidence of an observed pair.
    als_iterations : int, default 15
        ALS sweeps.
    trend_half_life_days : float, default 14.0
        Half-life of a collaboration's weight in the trending source.
    weight_collaborative, weight_content, weight_popularity : float, default 1.0, 1.0, 0.5
        Shares of the main pool's sources in the interleaved list.
    partner_top_n : int, default 0
        Then up to this many likely partners not already in (ALS and trending).
    partner_weight_als, partner_weight_trending : float, default 1.0
        Shares of the partner sources in their interleaved list.
    block_size : int, default 2048
        Merchants scored at once, unless :meth:`retrieve` is given another.
    block_memory_mb : float, default 1024.0
        And fewer, so a block's dense scores stay under this much memory.
    search : {"auto", "exact", "ann"}, default "auto"
        ``exact``: every block scored densely against every creator (the reference);
        ``ann``: each source's top list from vectors (:mod:`matching.retrieval.ann`: an exact hub of
        strong creators and a faiss IVF index for the inner-product sources, exact
        per-category lists for the others); ``auto``: ann from ``ann_min_creators``
        creators on.
    ann_min_creators : int, default 50000
        Where ``auto`` switches to the approximate search.
    ann_nlist, ann_nprobe : int, default 1024 and 384
        Inverted lists of the faiss index (at most one per 39 creators) and the most
        searched per merchant.
    ann_recall : float, default 0.97
        Lists are searched until the recall of the exact top list on held-out merchants
        reaches this (or ``ann_nprobe`` lists are); none, and no IVF index is built, when
        the hub alone reaches it.
    ann_sample : int, default 1000
        Merchants whose exact top lists build the hub and measure that recall.
    random_state : int, default 0
        Seed of the randomised SVD, of ALS and of the index's k-means.

    Attributes
    ----------
    m_cat_, c_cat_ : ndarray of int
        Category code of each merchant and creator row (-1: unseen category).
    category_lift_ : ndarray of shape (n_categories, n_categories)
        The pair featuriser's category-transfer table.
    category_gmv_ : ndarray of shape (n_creators, n_categories + 1)
        Category popularity: log GMV plus log collaborations per creator and merchant
        category (the last column: any category).
    log_share_ : ndarray of shape (n_creators, n_categories + 1)
        Log of the shrunk share of each creator's GMV made in each category.
    seen_ : scipy.sparse.csr_matrix of bool
        Who worked with whom (merchants x creators).
    known_ : ndarray of bool
        Per creator, whether it had joined by the as-of date (``joined_at``): the catalogue
        retrieval lists from.
    merchant_factors_, creator_factors_ : ndarray of float32
        SVD factors of the log-GMV history (cold merchants: their category's centroid).
    als_merchant_factors_, als_creator_factors_ : ndarray of float32
        ALS factors of ``seen_``.
    als_creator_mean_, als_creator_cov_ : ndarray
        Mean and covariance of the creators' ALS factors (to standardise a merchant's scores).
    als_creator_unit_ : ndarray of float32
        The creators' ALS factors scaled to unit length.
    partner_direction_ : ndarray of float32, shape (n_merchants, n_factors)
        Mean unit factor of each merchant's past partners.
    trend_ : ndarray of shape (n_creators,)
        Log of each creator's recency-decayed collaborations.
    m_terms_, c_terms_ : dict of ndarray
        Merchant and creator terms of the content model.
    content_coef_ : ndarray of shape (6,)
        Ridge weights of the content model's terms.
    """

    def __init__(
        self,
        *,
        top_n: int = 200,
        n_factors: int = 32,
        als_factors: int = 64,
        als_regularization: float = 0.01,
        als_alpha: float = 5.0,
        als_iterations: int = 15,
        trend_half_life_days: float = 14.0,
        weight_collaborative: float = 1.0,
        weight_content: float = 1.0,
        weight_popularity: float = 0.5,
        partner_top_n: int = 0,
        partner_weight_als: float = 1.0,
        partner_weight_trending: float = 1.0,
        block_size: int = 2048,
        block_memory_mb: float = 1024.0,
        search: str = "auto",
        ann_min_creators: int = 50_000,
        ann_nlist: int = 1024,
        ann_nprobe: int = 384,
        ann_recall: float = 0.97,
        ann_sample: int = 1000,
        random_state: int = 0,
    ):
        self.top_n = top_n
        self.n_factors = n_factors
        self.als_factors = als_factors
        self.als_regularization = als_regularization
        self.als_alpha = als_alpha
        self.als_iterations = als_iterations
        self.trend_half_life_days = trend_half_life_days
        self.weight_collaborative = weight_collaborative
        self.weight_content = weight_content
        self.weight_popularity = weight_popularity
        self.partner_top_n = partner_top_n
        self.partner_weight_als = partner_weight_als
        self.partner_weight_trending = partner_weight_trending
        self.block_size = block_size
        self.block_memory_mb = block_memory_mb
        self.search = search
        self.ann_min_creators = ann_min_creators
        self.ann_nlist = ann_nlist
        self.ann_nprobe = ann_nprobe
        self.ann_recall = ann_recall
        self.ann_sample = ann_sample
        self.random_state = random_state

    def fit(
        self,
        merchant_features: pd.DataFrame,
        creator_features: pd.DataFrame,
        history: pd.DataFrame,
        merchants: pd.DataFrame,
        creators: pd.DataFrame,
        category_lift: np.ndarray,
        creator_profiler: CreatorProfiler,
        as_of,
        *,
        rows=None,
    ):
        """Learn factors, content weights and category popularity from history before
        ``as_of``; ``rows``: :func:`~matching.data.contract.history_rows` of it, when known.
        Creators who join after ``as_of`` (``joined_at``) are not in the catalogue yet: never
        retrieved (``known_``)."""
        self.__dict__.pop("_ann_cache", None)  # the indexes of an earlier fit
        category_gmv = creator_profiler.category_gmv_
        self.known_ = known_creators(creators, as_of)
        h = history_before(history, as_of)
        M, C = merchant_features, creator_features
        n_m, n_c = len(M), len(C)
        mi, ci = history_rows(h, merchants, creators, rows)
        ok = (mi >= 0) & (ci >= 0)
        mi, ci = mi[ok], ci[ok]
        gmv = h["gmv_usd"].to_numpy(float)[ok]
        per_video = gmv / h["videos"].to_numpy(float)[ok]

        self.m_cat_ = M["category"].to_numpy()
        self.c_cat_ = C["category"].to_numpy()
        self.category_lift_ = category_lift
        n_k = category_lift.shape[0]
        # (c) category popularity; column n_k is "any category" for unseen ones
        total = category_gmv.sum(1, keepdims=True)
        # popularity in a category: GMV made there, and (for data without GMV) collaborations
        counts = creator_profiler.category_collabs_
        self.category_gmv_ = np.log1p(np.hstack([category_gmv, total])) + np.log1p(
            np.hstack([counts, counts.sum(1, keepdims=True)])
        )
        k_share = 5.0 * max(float(np.median(per_video)) if len(per_video) else 1.0, 1.0)
        self.log_share_ = np.log(
            (np.hstack([category_gmv, total]) + k_share / n_k) / (total + k_share)
        )

        # (a) collaborative factors of the value history; (d) ALS of who worked with whom
        X = sparse.csr_matrix((np.ones(len(mi)), (mi, ci)), shape=(n_m, n_c))
        X.sum_duplicates()
        self.seen_ = X.astype(bool).tocsr()
        has = np.asarray(X.getnnz(axis=1)) > 0
        cat = np.where(self.m_cat_ >= 0, self.m_cat_, n_k)
        # the SVD, mostly single-threaded sparse products, runs beside ALS, whose own threads
        # leave room for it (scratch, 100k x 1M: 31.5 -> 27.5 s); BLAS is held to one thread
        # for both by one limit, as limits set in two threads would restore each other's
        log_gmv = sparse.csr_matrix((np.log1p(gmv) + 1.0, (mi, ci)), shape=(n_m, n_c))
        with threadpool_limits(1, "blas"), ThreadPoolExecutor(1) as beside:
            svd = beside.submit(svd_factors, log_gmv, self.n_factors, self.random_state)
            U, V = als_factors(
                self.seen_,
                factors=self.als_factors,
                regularization=self.als_regularization,
                alpha=self.als_alpha,
                iterations=self.als_iterations,
                random_state=self.random_state,
            )
            U_svd, V_svd = svd.result()
        self.merchant_factors_ = cold_to_centroid(U_svd, has, cat, n_k + 1)
        self.creator_factors_ = V_svd
        self.als_merchant_factors_ = cold_to_centroid(U, has, cat, n_k + 1)
        self.als_creator_factors_ = V
        # per-merchant moments of its ALS scores over all creators (closed form from the
        # vectors), and the mean direction of its past partners: pair features per entity
        self.als_creator_mean_ = V.mean(0)
        self.als_creator_cov_ = np.cov(V, rowvar=False).reshape(V.shape[1], V.shape[1])
        unit = V / np.maximum(np.linalg.norm(V, axis=1, keepdims=True), 1e-12)
        n_partners = np.asarray(self.seen_.sum(1)).ravel()
        self.partner_direction_ = np.asarray(
            sparse.diags(1.0 / np.maximum(n_partners, 1)) @ self.seen_.astype(float) @ unit
        )
        self.als_creator_unit_ = unit
        # vectors gathered for every candidate pair: float32 (ALS is fitted in float32 anyway)
        # halves the bytes each pair reads; their moments above are taken in float64
        for name in _PAIR_VECTORS:
            setattr(self, name, getattr(self, name).astype(np.float32))

        # (e) trending: each creator's collaborations, decayed with a short half-life
        age = ((pd.Timestamp(as_of) - h["posted_at"]) / pd.Timedelta(days=1)).to_numpy(float)[ok]
        self.trend_ = np.log1p(
            np.bincount(ci, weights=0.5 ** (age / self.trend_half_life_days), minlength=n_c)
        )

        # (b) content model on the observed pairs
        self.m_terms_ = {
            "aud": M[["aud_female", "aud_young"]].to_numpy(float),
            "log_price": M["log_price"].to_numpy(float),
        }
        self.c_terms_ = {
            "aud": C[["aud_female", "aud_young"]].to_numpy(float),
            "price_position": C["price_position"].to_numpy(float),
            "log_views": C["log_views"].to_numpy(float),
            "log_gmv_per_view": C["log_gmv_per_view"].to_numpy(float),
        }
        self.content_coef_ = np.zeros(len(_CONTENT_TERMS))
        if len(mi) >= 10:
            # the history-derived terms of each training row leave that row out: in-sample they
            # would contain the target and drown the reach and fit terms
            g = gmv
            v = h["views"].to_numpy(float)[ok]
            col = np.where(self.m_cat_[mi] >= 0, self.m_cat_[mi], n_k)
            cat_all = np.hstack([category_gmv, total])
            loo_share = np.log(
                (np.clip(cat_all[ci, col] - g, 0, None) + k_share / n_k)
                / (np.clip(total[ci, 0] - g, 0, None) + k_share)
            )
            cp = creator_profiler
            rows = np.clip(C["row"].to_numpy()[ci], 0, None)
            loo_gpv = shrunk_log_rate(
                np.clip(cp.stats_["gmv"].to_numpy()[rows] - g, 0, None),
                np.clip(cp.stats_["views"].to_numpy()[rows] - v, 0, None),
                cp.global_gmv_per_view_,
                cp.prior_strength * cp.views_per_collab_,
            )
            terms = self._content_terms(mi, ci)
            terms[2], terms[5] = loo_share, loo_gpv
            T = np.column_stack(terms)
            model = Ridge(alpha=1.0).fit(T, np.log1p(per_video))
            self.content_coef_ = model.coef_
        return self

    def _content_terms(self, m: np.ndarray, c: np.ndarray) -> list[np.ndarray]:
        n_k = self.category_lift_.shape[0]
        mc, cc = self.m_cat_[m], self.c_cat_[c]
        lift = np.where(
            (mc >= 0) & (cc >= 0),
            self.category_lift_[np.clip(cc, 0, None), np.clip(mc, 0, None)],
            0.0,
        )
        col = np.where(mc >= 0, mc, n_k)
        aud = ((self.c_terms_["aud"][c] - self.m_terms_["aud"][m]) ** 2).sum(-1)
        price = (self.m_terms_["log_price"][m] - self.c_terms_["price_position"][c]) ** 2
        return [
            np.broadcast_to(self.c_terms_["log_views"][c], lift.shape),
            lift,
            self.log_share_[c, col],
            aud,
            price,
            np.broadcast_to(self.c_terms_["log_gmv_per_view"][c], lift.shape),
        ]

    def source_scores(self, m: np.ndarray, c: np.ndarray, which=SOURCES) -> dict[str, np.ndarray]:
        """Raw scores of the sources ``which`` (default all) for pairs (broadcasting ``m``
        against ``c``)."""
        check_is_fitted(self, "content_coef_")
        out = {}
        if "collaborative" in which:
            out["collaborative"] = inner(self.merchant_factors_, self.creator_factors_, m, c)
        if "content" in which:
            terms = self._content_terms(m, c)
            out["content"] = sum(w * t for w, t in zip(self.content_coef_, terms, strict=True))
        if "popularity" in which:
            col = np.where(self.m_cat_[m] >= 0, self.m_cat_[m], self.category_lift_.shape[0])
            out["popularity"] = self.category_gmv_[c, col]
        if "als" in which:
            out["als"] = inner(self.als_merchant_factors_, self.als_creator_factors_, m, c)
        if "trending" in which:
            shape = np.broadcast_shapes(np.shape(m), np.shape(c))
            out["trending"] = np.broadcast_to(self.trend_[c], shape)
        return out

    def collaborative_features(
        self, m: np.ndarray, c: np.ndarray, als: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """Per pair: the ALS score, the same standardised over all of the merchant's creators,
        and the cosine of the creator to the mean direction of the merchant's past partners.
        ``als``: the pairs' ALS scores (:meth:`source_scores`), when computed already."""
        check_is_fitted(self, "partner_direction_")
        raw = als
        if raw is None:
            raw = inner(self.als_merchant_factors_, self.als_creator_factors_, m, c)
        # the mean and spread over all creators are per merchant: computed once for each
        um, at = np.unique(m, return_inverse=True)
        U = self.als_merchant_factors_[um]
        mean = (U @ self.als_creator_mean_)[at]
        sd = np.sqrt(np.clip(np.einsum("ik,kl,il->i", U, self.als_creator_cov_, U), 0, None))[at]
        return {
            "als": raw,
            "als_z": np.where(sd > 1e-12, (raw - mean) / np.maximum(sd, 1e-12), 0.0),
            "partner_similarity": np.einsum(
                "ik,ik->i", self.partner_direction_[m], self.als_creator_unit_[c]
            ),
        }

    def retrieve(
        self,
        merchants: np.ndarray | None = None,
        *,
        block_size: int | None = None,
        exclude_seen: bool = False,
        depth: int | None = None,
        skip=None,
    ) -> np.ndarray:
        """Top-N creator rows per merchant row, best first; ``exclude_seen`` leaves out each
        merchant's past partners (then a row may end in -1). The sources' scores of them are
        pair features (:meth:`source_scores`), computed where they are needed. ``depth``
        retrieves deeper than ``top_n + partner_top_n`` (the value pool grows, the partner
        pool keeps its length): the allocation's own pool of a few sellers. ``skip`` (scipy
        sparse, merchant rows x creator rows) marks pairs found before: they are retrieved
        as usual, then set to -1, so a deeper retrieval returns only what it adds.

        Merchants are scored in blocks of ``block_size`` (default: the estimator's), fewer
        when the block's dense scores would exceed ``block_memory_mb``
        (:func:`matching.data.memory.block_rows`); the result does not depend on the blocks.
        """
        check_is_fitted(self, "content_coef_")
        m_all = np.arange(len(self.m_cat_)) if merchants is None else np.asarray(merchants)
        n_c = len(self.c_cat_)
        n = min(self.top_n, n_c)
        width = min(n + self.partner_top_n, n_c)
        if depth is not None and depth > width:
            width = min(depth, n_c)
            n = max(n, width - self.partner_top_n)
        out = np.empty((len(m_all), width), dtype=np.int64)
        weights = {name: getattr(self, f"weight_{name}") for name in _VALUE_SOURCES}
        partner = {name: getattr(self, f"partner_weight_{name}") for name in _PARTNER_SOURCES}
        if sum(w for w in weights.values() if w > 0) <= 0:
            raise ValueError("candidates: at least one source weight must be positive")
        block = memory.block_rows(
            n_c, self.block_size if block_size is None else block_size, self.block_memory_mb
        )
        c_all = np.arange(n_c)
        approximate = memory.approximate(self, n_c)
        if approximate:
            block = self.block_size if block_size is None else block_size
        for s in range(0, len(m_all), block):
            mb = m_all[s : s + block]
            if approximate:
                pool = partial(self._blend_ann, mb, exclude_seen=exclude_seen)
            else:
                raw = self.source_scores(mb[:, None], c_all[None, :])
                seen = self.seen_[mb].toarray() if exclude_seen else None
                if not self._everyone_known():  # not joined yet: left out, as past partners
                    left = np.broadcast_to(~self.known_, (len(mb), n_c))
                    seen = left if seen is None else seen | left
                pool = partial(blend, raw, seen=seen)
            rows = pool(weights, n)
            if width > n and sum(w for w in partner.values() if w > 0) > 0:
                # the likely partners not already in: a pool of their own, after the blend
                extra = pool(partner, width)
                both = np.hstack([rows, extra])
                rank = np.where(both >= 0, np.arange(both.shape[1]), -1)
                rows = interleave_ranks(np.clip(both, 0, None), rank, both.shape[1], width)
            else:
                rows = np.hstack([rows, np.full((len(mb), width - n), -1, np.int64)])
            out[s : s + len(mb)] = rows if skip is None else without(rows, skip[mb])
        return out

    def __getstate__(self):
        # the faiss indexes are rebuilt on first use, never pickled
        return {k: v for k, v in super().__getstate__().items() if k != "_ann_cache"}

    def __setstate__(self, state):
        # a parameter added since the retriever was saved takes its default
        defaults = {
            name: p.default
            for name, p in inspect.signature(type(self).__init__).parameters.items()
            if p.default is not inspect.Parameter.empty
        }
        super().__setstate__({**defaults, **state})

    def _everyone_known(self) -> bool:
        known = getattr(self, "known_", None)  # a retriever saved before the catalogue's date
        return known is None or bool(known.all())

    def _blend_ann(self, mb: np.ndarray, weights: dict, n: int, *, exclude_seen: bool):
        """:func:`_blend` of a block from each source's approximate top list; the lists are
        searched among the creators already in the catalogue (``known_``) only."""
        cache = self.__dict__.setdefault("_ann_cache", {})
        rows = None if self._everyone_known() else np.flatnonzero(self.known_)
        extra = int(self.seen_[mb].getnnz(axis=1).max()) if exclude_seen and len(mb) else 0
        size = n + extra
        n_k = self.category_lift_.shape[0]
        tops = {}
        for name, w in weights.items():
            if w <= 0:
                continue
            if name in ann.INNER_PRODUCT_SOURCES:
                if name not in cache:
                    Q, index = ann.source_index(self, name, n, openmp_threads(), rows=rows)
                    log.info(
                        "ann %s: hub of %d creators, %s, recall@%d of held-out merchants %.3f",
                        name,
                        len(index.hub),
                        "no IVF index (the hub alone)"
                        if index.ivf is None
                        else f"{index.nprobe} of {index.ivf.nlist} IVF lists searched",
                        n,
                        index.measured_recall,
                    )
                    cache[name] = (Q, index)
                Q, index = cache[name]
                top = _catalogue_rows(index.search(Q[mb], size), rows)
                flat = ~(np.abs(Q[mb]).max(1) > 0)
            else:
                y = self.category_gmv_ if name == "popularity" else self.trend_[:, None]
                key = (name, size)
                if key not in cache:
                    spread = y.max(0) - y.min(0)
                    flat_col = spread <= 1e-12 * np.maximum(np.abs(y).max(0), 1.0)
                    among = y if rows is None else y[rows]
                    cache[key] = (_catalogue_rows(ann.column_tops(among, size), rows), flat_col)
                tops_col, flat_col = cache[key]
                col = np.where(self.m_cat_[mb] >= 0, self.m_cat_[mb], n_k)
                col = col if name == "popularity" else np.zeros(len(mb), np.int64)
                top, flat = tops_col[col], flat_col[col]
            is_seen = None
            if exclude_seen:
                r = np.repeat(mb, top.shape[1])
                is_seen = np.asarray(self.seen_[r, np.clip(top, 0, None).ravel()]).reshape(
                    top.shape
                )
                # past partners to the back, as the dense search does, then cut to n
                o = np.argsort(is_seen | (top < 0), axis=1, kind="stable")[:, :n]
                top, is_seen = np.take_along_axis(top, o, 1), np.take_along_axis(is_seen, o, 1)
            tops[name] = (top[:, :n], flat, None if is_seen is None else is_seen[:, :n])
        return interleave_tops(tops, weights, n)


def _catalogue_rows(top: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
    """Top lists searched among the catalogue's ``rows`` as rows of every creator (-1 stays)."""
    if rows is None:
        return top
    return np.where(top >= 0, rows[np.clip(top, 0, None)], -1)
