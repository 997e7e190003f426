"""Reference rankers behind the same interface as :class:`matching.ranking.ranker.MatchRanker`.

Each learns one preference score per (merchant, creator) from the history before
``as_of`` and answers :meth:`recommend` with the contract's matches table. They are
what the model is measured against, on the simulator and on real data:

- :class:`RandomRanker`: a random order per merchant;
- :class:`PopularityRanker`: the creators with the most past collaborations (then followers);
- :class:`CategoryPopularityRanker`: the same among creators of the merchant's primary
  category first;
- :class:`ReachRanker`: the creators with the most average views;
- :class:`CategoryGMVLeadersRanker`: the creators who made the most past GMV with merchants
  of the merchant's category (then reach);
- :class:`ALSRanker`: implicit-feedback matrix factorisation (``implicit``'s ALS);
- :class:`EASERanker`: EASE^R (Steck 2019), a closed-form item-item model.

A baseline does not predict value: its ``score`` and ``fit`` are its preference mapped
to [0, 1] (``1 - rank / n_creators`` over the whole catalogue), and ties go to the more
popular creator.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from matching.data import memory
from matching.data.contract import MATCHES_COLUMNS, row_positions
from matching.retrieval.factors import als_factors
from matching.threads import in_order

_FLOOR_SAMPLE = 16_384
"""Creators of each row (evenly spaced) whose order statistics place the floor of
:func:`_at_or_above_floor`."""
_FLOOR_MARGIN = 8
"""Sampled creators above the floor beyond those the k best take: few rows fall short."""


def _at_or_above_floor(s: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(row, column)`` of the values of ``s`` at or above a floor per row no higher than
    the row's ``k``-th largest, with few above it: an order statistic of an evenly spaced
    sample of the row (about ``2 k + 8 stride`` values at or above it), or the ``k``-th
    largest itself (a partition of the whole row) where the sample placed it too high."""
    n = s.shape[1]
    stride = max(1, n // _FLOOR_SAMPLE)
    sample = s[:, ::stride]
    r = min(sample.shape[1], -(-2 * k // stride) + _FLOOR_MARGIN)
    floor = np.partition(sample, sample.shape[1] - r, axis=1)[:, sample.shape[1] - r]
    row, col = np.nonzero(s >= floor[:, None])
    short = np.flatnonzero(np.bincount(row, minlength=len(s)) < k)
    if len(short):
        floor = np.partition(s[short], n - k, axis=1)[:, n - k]
        r2, c2 = np.nonzero(s[short] >= floor[:, None])
        keep = ~np.isin(row, short)
        row, col = np.r_[row[keep], short[r2]], np.r_[col[keep], c2]
    return row, col


class BaseRanker(BaseEstimator):
    """Shared fitting of ids, seen pairs and popularity, and the shared top-k.

    Subclasses implement ``_learn(X)`` (``X``: the merchants x creators count matrix of
    the history) and ``_scores(m)`` (dense preference of merchant rows ``m`` against
    every creator).

    Attributes
    ----------
    merchant_ids_, creator_ids_ : ndarray of object
        The ids of the merchant and creator rows.
    seen_ : scipy.sparse.csr_matrix of bool
        Who worked with whom before ``as_of_``.
    popular_order_ : ndarray of int
        Creator rows by popularity (collaborations, then followers): how ties are broken.
    popular_rank_ : ndarray of int
        Each creator row's place in ``popular_order_``.
    certified_ : ndarray of bool
        Each merchant's ``certified_super_top`` (False when the column is absent).
    as_of_ : pandas.Timestamp or None
        The as-of date given to ``fit``.
    """

    block_size: int = 1024

    def fit(
        self,
        merchants: pd.DataFrame,
        creators: pd.DataFrame,
        collaborations: pd.DataFrame,
        as_of=None,
    ):
        """Learn from the collaborations posted before ``as_of`` (default: all of them)."""
        h = collaborations
        if as_of is not None:
            h = h[h["posted_at"] < pd.Timestamp(as_of)]
        self.merchant_ids_ = merchants["merchant_id"].to_numpy(dtype=object)
        self.creator_ids_ = creators["creator_id"].to_numpy(dtype=object)
        mi = row_positions(h["merchant_id"], self.merchant_ids_)
        ci = row_positions(h["creator_id"], self.creator_ids_)
        ok = (mi >= 0) & (ci >= 0)
        n_m, n_c = len(self.merchant_ids_), len(self.creator_ids_)
        X = sparse.csr_matrix((np.ones(int(ok.sum())), (mi[ok], ci[ok])), shape=(n_m, n_c))
        X.sum_duplicates()
        count = np.asarray(X.sum(0)).ravel()
        followers = creators["followers"].to_numpy(float)
        # most collaborations, then followers, then row: one strict order of the catalogue
        self.popular_order_ = np.lexsort((np.arange(n_c), -followers, -count))
        self.popular_rank_ = np.empty(n_c, np.int64)
        self.popular_rank_[self.popular_order_] = np.arange(n_c)
        self.seen_ = X.astype(bool).tocsr()
        col = merchants.get("certified_super_top")
        self.certified_ = np.zeros(n_m, bool) if col is None else col.to_numpy(bool)
        self.as_of_ = pd.Timestamp(as_of) if as_of is not None else None
        self._learn(X, merchants, creators, h.iloc[np.flatnonzero(ok)], mi[ok], ci[ok])
        return self

    def _learn(self, X, merchants, creators, history, mi, ci) -> None:  # pragma: no cover
        raise NotImplementedError

    def _scores(self, m: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def _score_key(self, m: np.ndarray) -> np.ndarray:
        """Merchant rows with equal keys have equal :meth:`_scores` rows (default: each its
        own); their top lists are computed once."""
        return np.asarray(m)

    def _shared_top(self, mb: np.ndarray, k: int, block: int, n_jobs: int = 1):
        """:meth:`_top` of ``mb`` computed once per :meth:`_score_key` (``block`` keys at a
        time, ``n_jobs`` blocks side by side): a popularity ranker orders the catalogue once,
        a category ranker once per category, however many merchants ask."""
        keys, first, inverse = np.unique(
            self._score_key(mb), return_index=True, return_inverse=True
        )
        reps = mb[first]
        starts = range(0, len(reps), block)
        parts = list(
            in_order(
                lambda b: self._top(b, k, False), (reps[s : s + block] for s in starts), n_jobs
            )
        )
        row = np.concatenate([p[0] + s for p, s in zip(parts, starts, strict=True)])
        top = np.concatenate([p[1] for p in parts])
        val = np.concatenate([p[2] for p in parts])
        count = np.bincount(row, minlength=len(keys))
        start = np.r_[0, np.cumsum(count)[:-1]]
        lens = count[inverse]
        owner = np.repeat(np.arange(len(mb)), lens)
        offset = np.arange(lens.sum()) - np.repeat(np.cumsum(lens) - lens, lens)
        at = start[inverse][owner] + offset
        return owner, top[at], val[at]

    def score_pairs(self, m: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(score, fit)`` of pairs given as merchant and creator row positions."""
        check_is_fitted(self, "seen_")
        m, c = np.asarray(m), np.asarray(c)
        out = np.empty(len(m))
        for mu in np.unique(m):
            sel = m == mu
            out[sel] = self._preference(np.array([mu]))[0, c[sel]]
        return out, out

    def _preference(self, m: np.ndarray) -> np.ndarray:
        """The score in [0, 1]: 1 - rank / n over the whole catalogue (ties: more popular)."""
        s = self._scores(m)
        n_c = s.shape[1]
        order = np.lexsort((np.broadcast_to(self.popular_rank_, s.shape), -s), axis=1)
        pref = np.empty(s.shape)
        np.put_along_axis(pref, order, 1.0 - np.arange(n_c) / n_c, axis=1)
        return pref

    def _top(self, mb: np.ndarray, k: int, exclude_seen: bool):
        """The top ``k`` of each merchant of ``mb`` by :meth:`_preference`, without ordering
        the whole catalogue: ``(row in mb, creator, preference)``, best first per row."""
        s = self._scores(mb)
        n_c = s.shape[1]
        seen = self.seen_[mb] if exclude_seen else None
        # enough to be left with k once the row's past partners are dropped
        kk = min(k + (int(seen.sum(axis=1).max()) if exclude_seen and len(mb) else 0), n_c)
        if kk == 0:
            return (np.zeros(0, np.int64),) * 2 + (np.zeros(0),)
        # every creator at or above a floor no higher than the row's kk-th score holds the
        # row's kk best, ties at the kk-th included: those few are sorted (score, then
        # popularity, as _preference), not the catalogue
        row, c = _at_or_above_floor(s, kk)
        order = np.lexsort((self.popular_rank_[c], -s[row, c], row))
        row, c = row[order], c[order]
        place = np.arange(len(row)) - np.searchsorted(row, row)
        first = place < kk
        row, c, place = row[first], c[first], place[first]
        pref = 1.0 - place / n_c
        if exclude_seen:
            fresh = ~np.asarray(seen[row, c], dtype=bool).ravel()
            row, c, pref = row[fresh], c[fresh], pref[fresh]
        keep = (np.arange(len(row)) - np.searchsorted(row, row)) < k
        return row[keep], c[keep], pref[keep]

    def recommend(
        self,
        k: int = 100,
        merchants: np.ndarray | None = None,
        *,
        exclude_seen: bool = False,
        certified_weight: float | None = None,
        n_jobs: int = 1,
    ) -> pd.DataFrame:
        """Top-``k`` creators of each merchant (row positions ``merchants``), contract columns;
        ``exclude_seen`` leaves out the merchant's past partners; ``priority_score`` is the
        score times ``certified_weight`` (default 1) for certified merchants. ``n_jobs``
        blocks of merchants are scored side by side (the same lists)."""
        check_is_fitted(self, "seen_")
        certified_weight = 1.0 if certified_weight is None else certified_weight
        n_m = len(self.merchant_ids_)
        m_all = np.arange(n_m) if merchants is None else np.asarray(merchants)
        # at most block_size merchants, fewer so the dense score rows of the blocks scored
        # at once fit (1M creators: 8 MB a row)
        n_c = len(self.popular_rank_)
        block = memory.block_rows(n_c, self.block_size, memory.REFERENCE_BLOCK_MB / n_jobs)
        if exclude_seen:  # a merchant's own past partners make its list its own
            blocks = [m_all[s : s + block] for s in range(0, len(m_all), block)]
            found = in_order(lambda b: self._top(b, k, True), blocks, n_jobs)
            tops = [(mb, *top) for mb, top in zip(blocks, found, strict=True)]
        else:
            tops = [(m_all, *self._shared_top(m_all, k, block, n_jobs))] if len(m_all) else []
        frames = []
        for mb, row, top, val in tops:
            rank = np.arange(len(row)) - np.searchsorted(row, row) + 1
            mm = mb[row]
            cert = self.certified_[mm]
            frames.append(
                pd.DataFrame(
                    {
                        "merchant_id": self.merchant_ids_[mm],
                        "creator_id": self.creator_ids_[top],
                        "rank": rank.astype(np.int64),
                        "score": val,
                        "priority_score": np.where(cert, val * certified_weight, val),
                        "certified_super_top": cert,
                        "fit": val,
                    }
                )
            )
        if not frames:
            return pd.DataFrame({c: [] for c in MATCHES_COLUMNS})
        return pd.concat(frames, ignore_index=True)[list(MATCHES_COLUMNS)]


class RandomRanker(BaseRanker):
    """A random order of the catalogue for each merchant (reproducible for a seed).

    Parameters
    ----------
    random_state : int, default 0
        Seed; each merchant row has its own stream, so its order does not depend on the batch.

    Attributes
    ----------
    n_creators_ : int
        Creators of the catalogue (and those of :class:`BaseRanker`).
    """

    def __init__(self, *, random_state: int = 0):
        self.random_state = random_state

    def _learn(self, X, merchants, creators, history, mi, ci) -> None:
        self.n_creators_ = X.shape[1]

    def _scores(self, m: np.ndarray) -> np.ndarray:
        # one stream per merchant row: the same merchant gets the same order in any batch
        out = np.empty((len(m), self.n_creators_))
        for row, r in zip(out, m, strict=True):
            np.random.default_rng([self.random_state, int(r)]).random(out=row)
        return out


class ReachRanker(BaseRanker):
    """Every merchant gets the creators with the most average views.

    Attributes
    ----------
    reach_ : ndarray of shape (n_creators,)
        Each creator's average views (and the attributes of :class:`BaseRanker`).
    """

    def _learn(self, X, merchants, creators, history, mi, ci) -> None:
        self.reach_ = creators["avg_views"].to_numpy(float)

    def _scores(self, m: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.reach_, (len(m), len(self.reach_)))

    def _score_key(self, m: np.ndarray) -> np.ndarray:
        return np.zeros(len(m), np.int64)


class CategoryGMVLeadersRanker(BaseRanker):
    """The creators who made the most GMV with merchants of the merchant's primary category,
    then reach (a strong hand-made heuristic where value drives the choices).

    Attributes
    ----------
    m_cat_ : ndarray of int
        Each merchant row's category code.
    category_gmv_ : ndarray of shape (n_categories, n_creators)
        GMV each creator made with merchants of each category.
    reach_ : ndarray of shape (n_creators,)
        Each creator's average views (and the attributes of :class:`BaseRanker`).
    """

    def _learn(self, X, merchants, creators, history, mi, ci) -> None:
        cats, m_cat = np.unique(
            merchants["primary_category"].astype(str).to_numpy(dtype=object), return_inverse=True
        )
        self.m_cat_ = m_cat
        gmv = np.zeros((len(cats), X.shape[1]))
        np.add.at(gmv, (m_cat[mi], ci), history["gmv_usd"].to_numpy(float))
        self.category_gmv_ = gmv
        self.reach_ = creators["avg_views"].to_numpy(float)

    def _score_key(self, m: np.ndarray) -> np.ndarray:
        return self.m_cat_[m]

    def _scores(self, m: np.ndarray) -> np.ndarray:
        gmv = self.category_gmv_[self.m_cat_[m]]
        n_c = gmv.shape[1]
        order = np.lexsort(
            (
                np.broadcast_to(np.arange(n_c), gmv.shape),
                np.broadcast_to(-self.reach_, gmv.shape),
                -gmv,
            ),
            axis=1,
        )
        score = np.empty(gmv.shape)
        np.put_along_axis(score, order, np.arange(n_c, 0, -1, dtype=float)[None, :], axis=1)
        return score


class PopularityRanker(BaseRanker):
    """Every merchant gets the creators with the most past collaborations (then followers).

    Attributes
    ----------
    n_creators_ : int
        Creators of the catalogue (and the attributes of :class:`BaseRanker`).
    """

    def _learn(self, X, merchants, creators, history, mi, ci) -> None:
        self.n_creators_ = X.shape[1]

    def _scores(self, m: np.ndarray) -> np.ndarray:
        return np.zeros((len(m), self.n_creators_))

    def _score_key(self, m: np.ndarray) -> np.ndarray:
        return np.zeros(len(m), np.int64)


class CategoryPopularityRanker(BaseRanker):
    """Popularity among creators of the merchant's primary category, then the rest.

    Attributes
    ----------
    m_cat_, c_cat_ : ndarray of object
        Each merchant's and creator's primary category (and the attributes of
        :class:`BaseRanker`).
    """

    def _learn(self, X, merchants, creators, history, mi, ci) -> None:
        self.m_cat_ = merchants["primary_category"].astype(str).to_numpy(dtype=object)
        self.c_cat_ = creators["primary_category"].astype(str).to_numpy(dtype=object)

    def _scores(self, m: np.ndarray) -> np.ndarray:
        return (self.m_cat_[m][:, None] == self.c_cat_[None, :]).astype(float)

    def _score_key(self, m: np.ndarray) -> np.ndarray:
        return self.m_cat_[m]


class ALSRanker(BaseRanker):
    """Implicit-feedback ALS (Hu, Koren and Volinsky 2008) from the ``implicit`` package, on
    the binary merchant x creator history with confidence ``1 + alpha``.

    Deterministic for a ``random_state`` (see :func:`matching.retrieval.factors.als_factors`).

    Parameters
    ----------
    factors : int, default 64
        Rank of the factorisation.
    regularization : float, default 0.01
        L2 penalty of the factors.
    alpha : float, default 5.0
        Confidence of an observed pair.
    iterations : int, default 15
        ALS sweeps.
    random_state : int, default 0
        Seed of the initial factors.

    Attributes
    ----------
    merchant_factors_, creator_factors_ : ndarray
        The factors (and the attributes of :class:`BaseRanker`).
    """

    def __init__(
        self,
        *,
        factors: int = 64,
        regularization: float = 0.01,
        alpha: float = 5.0,
        iterations: int = 15,
        random_state: int = 0,
    ):
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.random_state = random_state

    def _learn(self, X, merchants, creators, history, mi, ci) -> None:
        self.merchant_factors_, self.creator_factors_ = als_factors(
            X.astype(bool),
            factors=self.factors,
            regularization=self.regularization,
            alpha=self.alpha,
            iterations=self.iterations,
            random_state=self.random_state,
        )

    def _scores(self, m: np.ndarray) -> np.ndarray:
        return self.merchant_factors_[m] @ self.creator_factors_.T


class EASERanker(BaseRanker):
    """EASE^R (Steck 2019): ``B = I - P / diag(P)`` with ``P = (X'X + lambda I)^-1`` on the
    binary history; a merchant's scores are ``x B``. Dense in creators: for catalogues
    of a few ten thousand creators at most (a baseline, not the production path).

    Parameters
    ----------
    l2 : float, default 300.0
        The ridge penalty ``lambda``.

    Attributes
    ----------
    weights_ : ndarray of shape (n_creators, n_creators)
        ``B``, zero on the diagonal.
    history_ : scipy.sparse.csr_matrix
        The binary history ``X`` (and the attributes of :class:`BaseRanker`).
    """

    def __init__(self, *, l2: float = 300.0):
        self.l2 = l2

    def _learn(self, X, merchants, creators, history, mi, ci) -> None:
        B = X.astype(bool).astype(np.float64)
        G = (B.T @ B).toarray()
        G[np.diag_indices_from(G)] += self.l2
        P = np.linalg.inv(G)
        W = -P / np.diag(P)
        W[np.diag_indices_from(W)] = 0.0
        self.weights_ = W
        self.history_ = B.tocsr()

    def _scores(self, m: np.ndarray) -> np.ndarray:
        return np.asarray(self.history_[m] @ self.weights_)
