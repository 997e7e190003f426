"""Collaborative factors of who worked with whom: a truncated SVD of log GMV (the value
pool's collaborative source) and implicit-feedback ALS of the binary history (the partner
pool, fit's features). Both are fitted on the creators with history only (:func:`used_columns`).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from sklearn.utils.extmath import randomized_svd
from threadpoolctl import threadpool_limits

__all__ = ["als_factors", "svd_factors", "used_columns"]


def als_factors(
    seen: sparse.csr_matrix,
    *,
    factors: int,
    regularization: float,
    alpha: float,
    iterations: int,
    random_state: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Implicit-feedback ALS (Hu, Koren and Volinsky 2008; ``implicit``) of a binary
    rows x items matrix: ``(row_factors, item_factors)``, zero for rows without history.

    Each half-step solves every row on its own, so for one ``random_state`` the factors do
    not depend on the number of threads; BLAS is held to one thread inside, as ``implicit``
    asks.
    """
    from implicit.cpu.als import AlternatingLeastSquares

    n_m, n_c = seen.shape
    if seen.nnz == 0:
        return np.zeros((n_m, 1)), np.zeros((n_c, 1))
    used = used_columns(seen)
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=factors,
            regularization=regularization,
            alpha=alpha,
            iterations=iterations,
            random_state=random_state,
            calculate_training_loss=False,
        )
        # implicit's own start (uniform, scaled 0.01) drawn for the whole catalogue: an item
        # starts where it would whichever others are idle
        rng = np.random.default_rng(random_state)
        model.user_factors = rng.random((n_m, factors), dtype=np.float32) * 0.01
        model.item_factors = rng.random((n_c, factors), dtype=np.float32)[used] * 0.01
        model.fit(seen[:, used].astype(np.float32).tocsr(), show_progress=False)
    V = np.zeros((n_c, model.item_factors.shape[1]))
    V[used] = model.item_factors
    return np.asarray(model.user_factors, float), V


def used_columns(X: sparse.csr_matrix) -> np.ndarray:
    """Columns with any entry: the only items a factorisation needs to fit.

    An item without history has zero factors in ALS (its least-squares solution) and in an
    SVD (its column is zero), yet a catalogue's idle creators cost every half-step of ALS and
    every power iteration of the SVD (100,000 x 1,000,000 of our simulator: 38% used).
    """
    return np.flatnonzero(X.getnnz(axis=0))


def svd_factors(X: sparse.csr_matrix, rank: int, random_state: int):
    """Randomised truncated SVD of ``X`` at most ``rank``: ``(row_factors, column_factors)``,
    each scaled by the root of the singular values."""
    X.sum_duplicates()
    used = used_columns(X)
    rank = int(min(rank, max(min(X.shape[0], len(used)) - 1, 0), X.nnz))
    if rank < 1:
        return np.zeros((X.shape[0], 1)), np.zeros((X.shape[1], 1))
    U, S, Vt = randomized_svd(X[:, used], rank, random_state=random_state)
    root = np.sqrt(S)
    V = np.zeros((X.shape[1], rank))
    V[used] = Vt.T * root
    return U * root, V


def inner(U: np.ndarray, V: np.ndarray, m: np.ndarray, c: np.ndarray) -> np.ndarray:
    if m.ndim == 2 and c.ndim == 2 and m.shape[1] == 1 and c.shape[0] == 1:
        return U[m[:, 0]] @ V[c[0]].T  # a block: one matrix product, no (m x c x factors) array
    return np.einsum("...k,...k->...", U[m], V[c])


def cold_to_centroid(U: np.ndarray, has: np.ndarray, cat: np.ndarray, n_cat: int) -> np.ndarray:
    """Factors of merchants without history replaced by their category's mean factor."""
    centroid = np.zeros((n_cat, U.shape[1]))
    np.add.at(centroid, cat[has], U[has])
    centroid /= np.maximum(np.bincount(cat[has], minlength=n_cat), 1)[:, None]
    return np.where(has[:, None], U, centroid[cat])
