"""Retrieval that does not touch every (merchant, creator) cell: each source's top list
from vectors, for :class:`matching.retrieval.candidates.CandidateRetriever` (``search: ann``).

- The sources that are inner products (the SVD and ALS factors as they are, the content
  model as one inner product of augmented vectors: its category-transfer and category-share
  terms through one-hot codes, its squared gaps expanded, so ``q_m . p_c`` equals the dense
  score up to float32 rounding) are searched in two parts, merged by score
  (:class:`HubSearch`):

  * the *hub*: every creator in the exact top list of a sample of merchants, searched
    exactly. Scores in a marketplace are dominated by creators who are strong for almost
    everyone (reach, conversion, a category's leaders), so a few thousand creators hold
    nearly all of every merchant's top list;
  * the rest through a faiss IVF index (maximum inner product, exact distances within the
    ``nprobe`` lists nearest the merchant), ``nprobe`` the smallest that reaches the target
    recall of the exact top list on held-out merchants of the sample. Where the hub alone
    reaches it, no IVF index is built (``nprobe`` 0); where the hub does not concentrate
    (tops that differ merchant by merchant) that is more lists, up to the cap, and the
    measured recall says so.
- Category popularity depends on the merchant's category alone, trending on nothing of the
  merchant: each is one exact top list per category, or one in all.

The dense blocked search stays the reference (``search: exact``).
"""

from __future__ import annotations

import numpy as np

INNER_PRODUCT_SOURCES = ("collaborative", "content", "als")


def _faiss():
    import faiss

    # exhaustive search through BLAS for any number of queries (a process-wide setting):
    # faiss 1.15 scores small batches with its SIMD loop instead, twice as slow for blocks
    # of 512 (exact_tops rescores its lists, so neither path's rounding reaches them)
    faiss.cvar.distance_compute_blas_threshold = 1
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
        self.index, self.n, self.nlist = index, n, nlist

    def search(self, Q: np.ndarray, k: int, nprobe: int | None = None):
        """Scores and creator rows of the ``k`` best of each query row, best first (-1:
        fewer found), probing ``nprobe`` lists (default: the index's). Searches run on the
        OpenMP threads the caller allows (threadpoolctl); each query's result is the same
        on any number."""
        # per call, never set on the shared index: blocks search it from several threads
        params = _faiss().SearchParametersIVF(
            nprobe=int(min(max(nprobe or self.index.nprobe, 1), self.nlist))
        )
        Q = np.ascontiguousarray(Q, dtype=np.float32)
        d, idx = self.index.search(Q, int(min(k, self.n)), params=params)
        return d, idx.astype(np.int64)


# creators searched by one flat index: faiss's exhaustive search slows per creator as the
# index grows (1,000 queries over 1M creators: 14.5 s whole, 6.8 s in chunks of 2**17; scratch)
EXACT_CHUNK = 1 << 17
# rows beyond k each exact search keeps, to be rescored before the list is cut at k: BLAS
# rounds a score by a unit in the last place differently with how many rows it multiplies
# at once (AVX-512 OpenBLAS; seen on this project's machines), which swaps near ties
RESCORE_MARGIN = 16
# queries rescored at once (their gathered creator vectors stay in cache)
RESCORE_BLOCK = 32


def exact_tops(Q: np.ndarray, P: np.ndarray, k: int, threads: int | None = None):
    """Scores and rows of the exact top ``k`` of ``Q @ P.T`` per row (float32, faiss), on
    ``threads`` OpenMP threads (default: as many as the caller allows). Creators are searched
    :data:`EXACT_CHUNK` at a time and the chunks' lists merged; equal scores in row order.
    The listed scores are recomputed pair by pair (:func:`_rescored`), so a row's list does
    not depend on the other rows searched with it, the chunks, or the machine's BLAS."""
    faiss = _faiss()
    if threads is not None:
        faiss.omp_set_num_threads(threads)
    Q = np.ascontiguousarray(Q, dtype=np.float32)
    k = int(min(k, len(P)))
    keep = int(min(k + RESCORE_MARGIN, len(P)))
    live = np.any(P, axis=1)
    if not live.all():
        # a zero vector (a creator without history in a collaborative source) scores 0 for
        # every merchant: only the first k of them can make a list (equal scores in row
        # order), so the rest are not searched (62% of 1M creators at 100k x 1M)
        rows, zero = np.flatnonzero(live), np.flatnonzero(~live)[:k]
        d, i = (
            exact_tops(Q, P[rows], k, threads)
            if len(rows)
            else (np.zeros((len(Q), 0), np.float32), np.zeros((len(Q), 0), np.int64))
        )
        d = np.hstack([d, np.zeros((len(Q), len(zero)), np.float32)])
        i = np.hstack([rows[i], np.broadcast_to(zero, (len(Q), len(zero)))])
        o = np.lexsort((i, -d), axis=1)[:, :k]
        return np.take_along_axis(d, o, 1), np.take_along_axis(i, o, 1)
    best: tuple[np.ndarray, np.ndarray] | None = None
    for s in range(0, max(len(P), 1), EXACT_CHUNK):
        flat = faiss.IndexFlatIP(P.shape[1])
        flat.add(np.ascontiguousarray(P[s : s + EXACT_CHUNK], dtype=np.float32))
        d, idx = flat.search(Q, int(min(keep, flat.ntotal)))
        idx = idx.astype(np.int64) + s
        if best is None:  # one chunk: _rescored orders the list
            best = (d, idx)
            continue
        d, idx = np.hstack([best[0], d]), np.hstack([best[1], idx])
        o = np.lexsort((idx, -d), axis=1)[:, :keep]
        best = (np.take_along_axis(d, o, 1), np.take_along_axis(idx, o, 1))
    return _rescored(Q, P, best[1], k)


def _order_key(score: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """One unsigned key per (float32 score, row < 2**32) whose ascending order is score
    descending, then row ascending (as ``np.lexsort((rows, -score))``, -0.0 equal to 0.0):
    one integer sort instead of a two-key sort (:func:`_from_key` reads both back)."""
    bits = (score + np.float32(0.0)).view(np.int32).astype(np.int64)  # -0.0 + 0.0 is 0.0
    ordered = bits ^ ((bits >> 31) & 0x7FFFFFFF)  # float order as integer order
    return (np.uint64(2**31 - 1) - ordered.astype(np.uint64)) << np.uint64(32) | rows.astype(
        np.uint64
    )


def _from_key(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The scores and rows of :func:`_order_key`'s keys."""
    ordered = (np.uint64(2**31 - 1) - (key >> np.uint64(32))).astype(np.int64)
    bits = (ordered ^ ((ordered >> 31) & 0x7FFFFFFF)).astype(np.int32)
    return bits.view(np.float32), (key & np.uint64(0xFFFFFFFF)).astype(np.int64)


def _rescored(Q: np.ndarray, P: np.ndarray, rows: np.ndarray, k: int):
    """The top ``k`` of each query's candidate ``rows`` by their inner products recomputed
    pair by pair (numpy's einsum: one sum along each pair's vectors, without BLAS, whichever
    rows come with it); equal scores in row order."""
    d = np.empty((len(Q), k), np.float32)
    top = np.empty((len(Q), k), np.int64)
    for s in range(0, len(Q), RESCORE_BLOCK):
        r = rows[s : s + RESCORE_BLOCK]
        p = P[r].astype(np.float32, copy=False)
        score = np.einsum("bkd,bd->bk", p, Q[s : s + RESCORE_BLOCK])
        key = _order_key(score, r)
        key.sort(axis=1)
        d[s : s + RESCORE_BLOCK], top[s : s + RESCORE_BLOCK] = _from_key(key[:, :k])
    return d, top


def merge_tops(lists: list[tuple[np.ndarray, np.ndarray]], k: int) -> np.ndarray:
    """The ``k`` best distinct rows of several (scores, rows) top lists per query row, best
    first, ties to the lower row; -1 where fewer. A row in two lists keeps its first score."""
    rows = np.hstack([r for _, r in lists])
    score = np.hstack([np.asarray(d, dtype=np.float64) for d, _ in lists])
    score = np.where(rows < 0, -np.inf, score)
    o = np.argsort(rows, axis=1, kind="stable")
    rows, score = np.take_along_axis(rows, o, 1), np.take_along_axis(score, o, 1)
    score[:, 1:][rows[:, 1:] == rows[:, :-1]] = -np.inf
    o = np.lexsort((rows, -score), axis=1)[:, :k]
    rows, score = np.take_along_axis(rows, o, 1), np.take_along_axis(score, o, 1)
    return np.where(np.isfinite(score), rows, -1)


def recall_of(found: np.ndarray, exact: np.ndarray) -> float:
    """Mean share of each row's exact list that ``found`` holds."""
    hits = [
        len(np.intersect1d(f[f >= 0], e[e >= 0])) / max(int((e >= 0).sum()), 1)
        for f, e in zip(found, exact, strict=True)
    ]
    return float(np.mean(hits)) if hits else 1.0


class HubSearch:
    """Top lists of one inner-product source: exact over the hub, IVF over everyone, merged.

    Parameters
    ----------
    Q, P : ndarray
        Merchant and creator vectors (``Q @ P.T`` is the source's score).
    k : int
        The list length the hub is built for and the recall is measured at.
    nlist, max_nprobe : int
        IVF lists, and the most searched per merchant.
    recall : float
        Target recall of the exact top ``k`` on the held-out half of the sample.
    sample : int
        Merchants whose exact top lists are computed: one half builds the hub the recall is
        measured against on the other half, then the whole sample's tops form the hub.
    seed, threads : int
        The sample's and k-means' seed; faiss's OpenMP threads.

    Attributes
    ----------
    hub : ndarray
        Creator rows searched exactly.
    ivf : InnerProductIndex or None
        The index of every creator; None when the hub alone reaches ``recall``.
    nprobe : int
        Lists searched per merchant (0: the hub alone).
    measured_recall : float
        Recall of the exact top ``k`` of the held-out merchants at ``nprobe`` (NaN when the
        sample is too small to hold any out).
    """

    def __init__(
        self,
        Q: np.ndarray,
        P: np.ndarray,
        *,
        k: int,
        nlist: int,
        max_nprobe: int,
        recall: float,
        sample: int,
        seed: int,
        threads: int,
    ):
        P = np.ascontiguousarray(P, dtype=np.float32)
        self.n = len(P)
        # merchants whose vector is all zeros have no ordering of creators to learn from
        live = np.flatnonzero(np.abs(Q).max(1) > 0) if len(Q) else np.arange(0)
        rng = np.random.default_rng(seed)
        picked = np.sort(rng.choice(live, min(sample, len(live)), replace=False))
        _, tops = exact_tops(Q[picked], P, k, threads)
        half = len(picked) // 2
        self.ivf, self.nprobe, self.measured_recall = None, 0, float("nan")
        if half >= 1:  # the hub alone first: its IVF index is built only if it falls short
            self._use_hub(P, tops[:half])
            held_out = Q[picked[half:]]
            self.measured_recall = recall_of(self._search(held_out, k, 0), tops[half:])
        if not self.measured_recall >= recall:
            self.ivf = InnerProductIndex(
                P, nlist=nlist, nprobe=max_nprobe, seed=seed, threads=threads
            )
            cap = min(max_nprobe, self.ivf.nlist)
            self.nprobe = cap
            if half >= 1:
                ladder = sorted({*(2**i for i in range(cap.bit_length())), cap})
                for nprobe in ladder:
                    got = self._search(held_out, k, nprobe)
                    self.nprobe, self.measured_recall = nprobe, recall_of(got, tops[half:])
                    if self.measured_recall >= recall:
                        break
        self._use_hub(P, tops)

    def _use_hub(self, P: np.ndarray, tops: np.ndarray) -> None:
        """Search the creators of ``tops`` exactly (only their vectors are kept)."""
        self.hub = np.unique(tops[tops >= 0])
        self.hub_vectors = P[self.hub]

    def _search(self, Q: np.ndarray, k: int, nprobe: int) -> np.ndarray:
        k = min(k, self.n)
        found = []
        if len(self.hub):
            hub_d, hub_i = exact_tops(Q, self.hub_vectors, k)
            found.append((hub_d, np.where(hub_i >= 0, self.hub[np.clip(hub_i, 0, None)], -1)))
        if nprobe == 0:  # the hub's rows are sorted: its list already has ties in row order
            rows = found[0][1] if found else np.empty((len(Q), 0), np.int64)
            return np.hstack([rows, np.full((len(Q), k - rows.shape[1]), -1, np.int64)])
        found.append(self.ivf.search(Q, k, nprobe))
        return merge_tops(found, k)

    def search(self, Q: np.ndarray, k: int) -> np.ndarray:
        """The ``k`` best creator rows of each query row, best first (-1: fewer found)."""
        return self._search(Q, k, self.nprobe)


def source_index(
    ret, name: str, k: int, threads: int, rows: np.ndarray | None = None
) -> tuple[np.ndarray, HubSearch]:
    """Merchant vectors and the :class:`HubSearch` of source ``name`` of a fitted retriever,
    with the retriever's ``ann_*`` parameters; over the creator ``rows`` only when given (its
    lists are then positions in ``rows``)."""
    Q, P = source_vectors(ret, name)
    if rows is not None:
        P = P[rows]
    index = HubSearch(
        Q,
        P,
        k=k,
        nlist=ret.ann_nlist,
        max_nprobe=ret.ann_nprobe,
        recall=ret.ann_recall,
        sample=ret.ann_sample,
        seed=ret.random_state,
        threads=threads,
    )
    return Q, index


def column_tops(score: np.ndarray, n: int) -> np.ndarray:
    """Exact top ``n`` rows of each column of ``score`` (creators x lists), best first; ties
    to the lower row."""
    s = -score.T
    n = min(n, s.shape[1])
    part = np.argpartition(s, n - 1, axis=1)[:, :n] if n < s.shape[1] else np.argsort(s, axis=1)
    order = np.lexsort((part, np.take_along_axis(s, part, 1)), axis=1)
    return np.take_along_axis(part, order, 1)
