"""Candidate retrieval: the top-N creators of every merchant, from three blended signals.

(a) collaborative: a low-rank factorisation (randomised truncated SVD) of the
    merchant x creator history, log-GMV weighted; merchants with no history get
    their category's centroid;
(b) content: a linear model of log GMV per video on profile terms that factor
    into matrix products (reach, category transfer, revealed category share,
    audience and price gaps), learned on the history; serves cold start;
(c) category popularity: the creator's past GMV in the merchant's category.

The candidates interleave the sources: each contributes its best creators in
proportion to its weight (a creator counts once, at its best place), so a weak
or noisy source can't drown a strong one, and every source is represented.
Blocks of merchants are scored with matrix products and cut with
``argpartition``: never an all-pairs table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator
from sklearn.linear_model import Ridge
from sklearn.utils.extmath import randomized_svd
from sklearn.utils.validation import check_is_fitted

from matching import memory
from matching.contract import row_positions
from matching.features import CreatorProfiler, history_before, shrunk_log_rate

SOURCES = ("collaborative", "content", "popularity")
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

    Fit on feature frames from :mod:`matching.features` (row-aligned with the
    merchants and creators tables) and the history; ``retrieve`` returns creator
    row positions and the per-source scores of each candidate.
    """

    def __init__(
        self,
        *,
        top_n: int = 200,
        n_factors: int = 32,
        weight_collaborative: float = 1.0,
        weight_content: float = 1.0,
        weight_popularity: float = 0.5,
        block_size: int = 2048,
        block_memory_mb: float = 1024.0,
        random_state: int = 0,
    ):
        self.top_n = top_n
        self.n_factors = n_factors
        self.weight_collaborative = weight_collaborative
        self.weight_content = weight_content
        self.weight_popularity = weight_popularity
        self.block_size = block_size
        self.block_memory_mb = block_memory_mb
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
    ):
        """Learn factors, content weights and category popularity from history before ``as_of``."""
        category_gmv = creator_profiler.category_gmv_
        h = history_before(history, as_of)
        M, C = merchant_features, creator_features
        n_m, n_c = len(M), len(C)
        mi = row_positions(h["merchant_id"], merchants["merchant_id"])
        ci = row_positions(h["creator_id"], creators["creator_id"])
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

        # (a) collaborative factors
        X = sparse.csr_matrix((np.log1p(gmv) + 1.0, (mi, ci)), shape=(n_m, n_c))
        X.sum_duplicates()
        rank = int(min(self.n_factors, max(min(X.shape) - 1, 0), X.nnz))
        if rank >= 1:
            U, S, Vt = randomized_svd(X, rank, random_state=self.random_state)
            root = np.sqrt(S)
            U, V = U * root, Vt.T * root
        else:
            U, V = np.zeros((n_m, 1)), np.zeros((n_c, 1))
        has = np.asarray(X.getnnz(axis=1)) > 0
        cat = np.where(self.m_cat_ >= 0, self.m_cat_, n_k)
        centroid = np.zeros((n_k + 1, U.shape[1]))
        counts = np.bincount(cat[has], minlength=n_k + 1)
        np.add.at(centroid, cat[has], U[has])
        centroid /= np.maximum(counts, 1)[:, None]
        self.merchant_factors_ = np.where(has[:, None], U, centroid[cat])
        self.creator_factors_ = V

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

    def source_scores(self, m: np.ndarray, c: np.ndarray) -> dict[str, np.ndarray]:
        """Raw scores of each source for pairs (broadcasting ``m`` against ``c``)."""
        check_is_fitted(self, "content_coef_")
        terms = self._content_terms(m, c)
        content = sum(w * t for w, t in zip(self.content_coef_, terms, strict=True))
        U, V = self.merchant_factors_, self.creator_factors_
        if m.ndim == 2 and c.ndim == 2 and m.shape[1] == 1 and c.shape[0] == 1:
            cf = U[m[:, 0]] @ V[c[0]].T  # a block: one matrix product, no (m x c x factors) array
        else:
            cf = np.einsum("...k,...k->...", U[m], V[c])
        col = np.where(self.m_cat_[m] >= 0, self.m_cat_[m], self.category_lift_.shape[0])
        pop = self.category_gmv_[c, col]
        return {"collaborative": cf, "content": content, "popularity": pop}

    def retrieve(
        self, merchants: np.ndarray | None = None, *, block_size: int | None = None
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Top-N creator rows per merchant row, best first, and each source's score of them.

        Merchants are scored in blocks of ``block_size`` (default: the estimator's), fewer
        when the block's dense scores would exceed ``block_memory_mb``
        (:func:`matching.memory.block_rows`); the result does not depend on the blocks.
        """
        check_is_fitted(self, "content_coef_")
        m_all = np.arange(len(self.m_cat_)) if merchants is None else np.asarray(merchants)
        n_c = len(self.c_cat_)
        n = min(self.top_n, n_c)
        out = np.empty((len(m_all), n), dtype=np.int64)
        scores = {s: np.empty((len(m_all), n)) for s in SOURCES}
        weights = {
            "collaborative": self.weight_collaborative,
            "content": self.weight_content,
            "popularity": self.weight_popularity,
        }
        block = memory.block_rows(
            n_c, self.block_size if block_size is None else block_size, self.block_memory_mb
        )
        total = sum(w for w in weights.values() if w > 0)
        if total <= 0:
            raise ValueError("candidates: at least one source weight must be positive")
        c_all = np.arange(n_c)
        for s in range(0, len(m_all), block):
            mb = m_all[s : s + block]
            raw = self.source_scores(mb[:, None], c_all[None, :])
            idx, pos = [], []
            for name, w in weights.items():
                if w <= 0:
                    continue
                x = raw[name]
                top = _top(x, n)
                idx.append(top)
                # a source's r-th best sits at r / share in the interleaved list; a source that
                # can't tell this merchant's creators apart (e.g. no history) gives way to the others
                flat = (x.max(1) - x.min(1)) <= 1e-12 * np.maximum(np.abs(x).max(1), 1.0)
                pos.append(np.where(flat[:, None], np.inf, np.arange(n) / (w / total)))
            out[s : s + len(mb)] = _interleave(np.hstack(idx), np.hstack(pos), n)
            for name in SOURCES:
                scores[name][s : s + len(mb)] = np.take_along_axis(
                    raw[name], out[s : s + len(mb)], 1
                )
        return out, scores


def _top(score: np.ndarray, n: int) -> np.ndarray:
    """Column indices of the ``n`` best scores of each row, best first (ties: lower index)."""
    n_c = score.shape[1]
    part = (
        np.argpartition(-score, n - 1, axis=1)[:, :n]
        if n < n_c
        else np.tile(np.arange(n_c), (len(score), 1))
    )
    order = np.lexsort((part, -np.take_along_axis(score, part, 1)), axis=1)
    return np.take_along_axis(part, order, 1)


def _interleave(idx: np.ndarray, pos: np.ndarray, n: int) -> np.ndarray:
    """Per row: the ``n`` distinct items of ``idx`` with the smallest positions ``pos``."""
    rows = np.repeat(np.arange(len(idx)), idx.shape[1])
    flat_i, flat_p = idx.ravel(), pos.ravel()
    order = np.lexsort((flat_p, flat_i, rows))  # by row, item, best position first
    first = np.ones(len(order), bool)
    first[1:] = (rows[order][1:] != rows[order][:-1]) | (flat_i[order][1:] != flat_i[order][:-1])
    keep = order[first]
    r, i, p = rows[keep], flat_i[keep], flat_p[keep]
    o2 = np.lexsort((i, p, r))  # by row, position, item
    r, i = r[o2], i[o2]
    rank = np.arange(len(r)) - np.searchsorted(r, r)
    out = np.full((len(idx), n), -1, dtype=np.int64)
    sel = rank < n
    out[r[sel], rank[sel]] = i[sel]
    return out
