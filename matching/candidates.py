"""Candidate retrieval: the top-N creators of every merchant, from three blended signals.

(a) collaborative: a low-rank factorisation (randomised truncated SVD) of the
    merchant x creator history, log-GMV weighted; merchants with no history get
    their category's centroid;
(b) content: a linear model of log GMV per video on profile terms that factor
    into matrix products (reach, category transfer, revealed category share,
    audience and price gaps), learned on the history; serves cold start;
(c) category popularity: the creator's past GMV in the merchant's category.

Each signal is standardised per merchant over all creators and the weighted sum
is cut with ``argpartition``, block by block: never an all-pairs table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator
from sklearn.linear_model import Ridge
from sklearn.utils.extmath import randomized_svd
from sklearn.utils.validation import check_is_fitted

from matching.features import _codes, history_before

SOURCES = ("collaborative", "content", "popularity")
_CONTENT_TERMS = ("log_views", "category_lift", "log_category_share", "audience_gap2", "price_gap2",
                  "creator_log_gmv_per_view")  # fmt: skip


class CandidateRetriever(BaseEstimator):
    """Retrieve the ``top_n`` most promising creators per merchant.

    Fit on feature frames from :mod:`matching.features` (row-aligned with the
    merchants and creators tables) and the history; ``retrieve`` returns creator
    row positions and the per-source scores of each candidate.
    """

    def __init__(self, *, top_n: int = 200, n_factors: int = 32, weight_collaborative: float = 1.0,
                 weight_content: float = 1.0, weight_popularity: float = 0.5,
                 block_size: int = 2048, random_state: int = 0):  # fmt: skip
        self.top_n = top_n
        self.n_factors = n_factors
        self.weight_collaborative = weight_collaborative
        self.weight_content = weight_content
        self.weight_popularity = weight_popularity
        self.block_size = block_size
        self.random_state = random_state

    def fit(self, merchant_features: pd.DataFrame, creator_features: pd.DataFrame,
            history: pd.DataFrame, merchants: pd.DataFrame, creators: pd.DataFrame,
            category_lift: np.ndarray, category_gmv: np.ndarray, as_of):  # fmt: skip
        """Learn factors, content weights and category popularity from history before ``as_of``."""
        h = history_before(history, as_of)
        M, C = merchant_features, creator_features
        n_m, n_c = len(M), len(C)
        mi = _codes(h["merchant_id"], pd.Index(merchants["merchant_id"].astype(object)))
        ci = _codes(h["creator_id"], pd.Index(creators["creator_id"].astype(object)))
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
        self.category_gmv_ = np.log1p(np.hstack([category_gmv, total]))
        k_share = 5.0 * max(float(np.median(per_video)) if len(per_video) else 1.0, 1.0)
        self.log_share_ = np.log((np.hstack([category_gmv, total]) + k_share / n_k) / (total + k_share))

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
        self.m_terms_ = {"aud": M[["aud_female", "aud_young"]].to_numpy(float), "log_price": M["log_price"].to_numpy(float)}
        self.c_terms_ = {
            "aud": C[["aud_female", "aud_young"]].to_numpy(float),
            "price_position": C["price_position"].to_numpy(float),
            "log_views": C["log_views"].to_numpy(float),
            "log_gmv_per_view": C["log_gmv_per_view"].to_numpy(float),
        }
        self.content_coef_ = np.zeros(len(_CONTENT_TERMS))
        if len(mi) >= 10:
            T = np.column_stack(self._content_terms(mi, ci))
            model = Ridge(alpha=1.0).fit(T, np.log1p(per_video))
            self.content_coef_ = model.coef_
        return self

    def _content_terms(self, m: np.ndarray, c: np.ndarray) -> list[np.ndarray]:
        n_k = self.category_lift_.shape[0]
        mc, cc = self.m_cat_[m], self.c_cat_[c]
        lift = np.where((mc >= 0) & (cc >= 0), self.category_lift_[np.clip(cc, 0, None), np.clip(mc, 0, None)], 0.0)
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
        cf = (self.merchant_factors_[m] * self.creator_factors_[c]).sum(-1)
        col = np.where(self.m_cat_[m] >= 0, self.m_cat_[m], self.category_lift_.shape[0])
        pop = self.category_gmv_[c, col]
        return {"collaborative": cf, "content": content, "popularity": pop}

    def retrieve(self, merchants: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Top-N creator rows per merchant row, best first, and each source's score of them."""
        check_is_fitted(self, "content_coef_")
        m_all = np.arange(len(self.m_cat_)) if merchants is None else np.asarray(merchants)
        n_c = len(self.c_cat_)
        n = min(self.top_n, n_c)
        out = np.empty((len(m_all), n), dtype=np.int64)
        scores = {s: np.empty((len(m_all), n)) for s in SOURCES}
        weights = {"collaborative": self.weight_collaborative, "content": self.weight_content,
                   "popularity": self.weight_popularity}  # fmt: skip
        c_all = np.arange(n_c)
        for s in range(0, len(m_all), self.block_size):
            mb = m_all[s : s + self.block_size]
            raw = self.source_scores(mb[:, None], c_all[None, :])
            blend = np.zeros((len(mb), n_c))
            for name, w in weights.items():
                if w:
                    x = raw[name]
                    sd = x.std(1, keepdims=True)
                    blend += w * np.where(sd > 0, (x - x.mean(1, keepdims=True)) / np.where(sd > 0, sd, 1), 0.0)
            part = np.argpartition(-blend, n - 1, axis=1)[:, :n] if n < n_c else np.tile(c_all, (len(mb), 1))
            # deterministic order: by blended score, ties by creator row
            pb = np.take_along_axis(blend, part, 1)
            order = np.lexsort((part, -pb), axis=1)
            part = np.take_along_axis(part, order, 1)
            out[s : s + len(mb)] = part
            for name in SOURCES:
                scores[name][s : s + len(mb)] = np.take_along_axis(raw[name], part, 1)
        return out, scores
