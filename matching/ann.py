"""Retrieval that does not touch every (merchant, creator) cell: each source's top list
from vectors, for :class:`matching.candidates.CandidateRetriever` (``search: ann``).

- The sources that are inner products are searched with a faiss IVF index of the creators
  (maximum inner product, exact distances within the ``nprobe`` nearest lists): the SVD and
  ALS factors as they are, and the content model as one inner product of augmented vectors
  (its category-transfer and category-share terms through one-hot codes, its squared gaps
  expanded, so ``q_m . p_c`` equals the dense score up to float32 rounding).
- Category popularity depends on the merchant's category alone, trending on nothing of the
  merchant: each is one exact top list per category, or one in all.

The dense blocked search stays the reference (``search: exact``).
"""

from __future__ import annotations

import numpy as np

INNER_PRODUCT_SOURCES = ("collaborative", "content", "als")


def _faiss():
    try:
        import faiss
    except ImportError as exc:  # an optional dependency: say which extra brings it
        raise ImportError(
            "candidates.search: ann needs faiss-cpu (pip install 'matching[ann]')"
        ) from exc
    return faiss


def source_vectors(ret, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Merchant and creator vectors whose inner product is source ``name``'s score."""
    if name == "collaborative":
        return ret.merchant_factors_, ret.creator_factors_
    if name == "als":
        return ret.als_merchant_factors_, ret.als_creator_factors_
    if name != "content":
        raise ValueError(f"{name}: not an inner-product source")
    w = ret.content_coef_
    n_k = ret.category_lift_.shape[0]
    n_m, n_c = len(ret.m_cat_), len(ret.c_cat_)
    mc, cc = ret.m_cat_, ret.c_cat_
    lift = np.zeros((n_m, n_k))  # the merchant's column of the transfer table
    lift[mc >= 0] = ret.category_lift_[:, mc[mc >= 0]].T
    c_onehot = np.zeros((n_c, n_k))
    c_onehot[np.flatnonzero(cc >= 0), cc[cc >= 0]] = 1.0
    m_col = np.zeros((n_m, n_k + 1))
    m_col[np.arange(n_m), np.where(mc >= 0, mc, n_k)] = 1.0
    a_m, a_c = ret.m_terms_["aud"], ret.c_terms_["aud"]
    lp, pp = ret.m_terms_["log_price"], ret.c_terms_["price_position"]
    # w3 |a_c - a_m|^2 + w4 (lp - pp)^2, expanded into terms of one side times the other
    Q = np.hstack(
        [
            np.full((n_m, 1), w[0]),
            w[1] * lift,
            w[2] * m_col,
            np.full((n_m, 1), w[3]),
            -2 * w[3] * a_m,
            (w[3] * (a_m**2).sum(1) + w[4] * lp**2)[:, None],
            np.full((n_m, 1), w[4]),
            (-2 * w[4] * lp)[:, None],
            np.full((n_m, 1), w[5]),
        ]
    )
    P = np.hstack(
        [
            ret.c_terms_["log_views"][:, None],
            c_onehot,
            ret.log_share_,
            (a_c**2).sum(1)[:, None],
            a_c,
            np.ones((n_c, 1)),
            (pp**2)[:, None],
            pp[:, None],
            ret.c_terms_["log_gmv_per_view"][:, None],
        ]
    )
    return Q, P


class InnerProductIndex:
    """A faiss IVF-Flat index of creator vectors for maximum inner product search.

    Built once per source with ``threads`` OpenMP threads (its k-means is seeded, so the
    index, and every search, is the same run after run).
    """

    def __init__(self, P: np.ndarray, *, nlist: int, nprobe: int, seed: int, threads: int):
        faiss = _faiss()
        P = np.ascontiguousarray(P, dtype=np.float32)
        n, d = P.shape
        nlist = int(max(1, min(nlist, n // 39)))  # faiss wants ~39 points per centroid
        faiss.omp_set_num_threads(threads)
        quantizer = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = int(seed)
        index.train(P)
        index.add(P)
        index.nprobe = int(min(nprobe, nlist))
        self.index, self.threads, self.n = index, threads, n

    def search(self, Q: np.ndarray, k: int) -> np.ndarray:
        """The ``k`` best creator rows of each query row, best first (-1: fewer found)."""
        faiss = _faiss()
        faiss.omp_set_num_threads(self.threads)
        _, idx = self.index.search(np.ascontiguousarray(Q, dtype=np.float32), int(min(k, self.n)))
        return idx.astype(np.int64)


def column_tops(score: np.ndarray, n: int) -> np.ndarray:
    """Exact top ``n`` rows of each column of ``score`` (creators x lists), best first; ties
    to the lower row."""
    s = -score.T
    n = min(n, s.shape[1])
    part = np.argpartition(s, n - 1, axis=1)[:, :n] if n < s.shape[1] else np.argsort(s, axis=1)
    order = np.lexsort((part, np.take_along_axis(s, part, 1)), axis=1)
    return np.take_along_axis(part, order, 1)
