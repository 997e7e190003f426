"""What a video is expected to return: diminishing returns estimated from the history.

The allocator values the n-th free video of a pair at ``value * decay ** (n - 1)``; this
module estimates ``decay`` from a collaboration history, honestly: from every kind of
evidence the history has, without being fooled by which pairs get repeated, shrunk toward
a prior and with its uncertainty.

The model
---------
A collaboration of ``n`` short videos of pair ``p``, after ``o`` earlier short videos of
the same pair, earns on average ``V_p * S(d_w, n) * d_a ** o`` with ``S(d, n) = 1 + d + ...
+ d ** (n - 1)``: ``d_w`` is the decay *within* one collaboration, ``d_a`` the decay
*across* collaborations of the same pair. (If the n-th video of a pair is worth ``d ** (n
- 1)`` over its whole history, ``d_w = d_a = d``; if collaborations are independent,
``d_a = 1``.) The allocator's videos of one pair in one free-video window are one
collaboration, so ``d_w`` is what it needs.

Two kinds of evidence
---------------------
*Within rows* (:func:`within_rows_evidence`): the GMV of a pair's *first* collaboration
against the number of videos in it, across pairs, with a fixed effect per merchant and per
creator (a negative-binomial pseudo-likelihood, so rows with no sales count and a few star
creators cannot decide it). First collaborations are never chosen by their own outcome, so which pairs were
repeated afterwards cannot bias this. It assumes that, given the merchant and the creator,
the size of a first collaboration does not depend on how well that pair would do.

*Across rows* (:func:`across_rows_evidence`): a pair's second collaboration against its
first. Pairs are repeated because the first went well, so the first outcome is a lucky draw
and a plain within-pair comparison would see decay where there is none; and a comparison of
repeated pairs with other pairs would see none where there is some (good pairs are the
repeated ones). Instead the first outcome is used as a *control*: the expected second outcome
is modelled given the first (so selection on the first outcome does not bias it), and the
decay is read from how the second outcome falls with the number of videos the first had.

Combining
---------
Each evidence gives an estimate of ``log d`` and a standard error clustered by merchant. The
within-rows estimate is used whenever there is one; the across-rows one is pooled with it
only when the two agree within their errors (when they disagree, collaborations decay within
but not across, or the other way round, and the allocator needs the within one), and used
alone when it is all there is. The posterior over ``d`` in (0, 1) is a Beta prior (mean
``allocation.default_decay``, strength ``allocation.decay_prior_strength`` pseudo-observations)
times the normal likelihoods of the evidence used, on a fine grid; its mean is the estimate,
so it is always strictly below 1, and its standard deviation and central interval carry the
uncertainty. With no evidence the estimate is the prior mean.

Examples
--------
>>> import pandas as pd
>>> history = pd.DataFrame({
...     "merchant_id": ["m1", "m1"], "creator_id": ["c1", "c2"],
...     "posted_at": pd.to_datetime(["2026-01-01", "2026-01-02"]),
...     "content_type": ["short_video", "short_video"], "videos": [1, 2],
...     "gmv_usd": [10.0, 18.0]})
>>> est = estimate_returns(history, prior_mean=0.8, prior_strength=10)
>>> est.source, round(est.decay, 2)
('prior', 0.8)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse
import scipy.sparse.linalg

from matching.config import AllocationConfig
from matching.data.contract import SHORT_VIDEO

__all__ = [
    "KAPPA",
    "Evidence",
    "ReturnsEstimate",
    "across_rows_evidence",
    "estimate_returns",
    "first_collaborations",
    "geometric_sum",
    "nb_fit",
    "within_rows_evidence",
]

_THETA_BOUNDS = (np.log(0.05), np.log(1.5))
"""Search interval of a raw ``log d``: raw estimates may exceed 1 (no decay, or noise)."""
_Z_AGREE = 1.96
"""Two evidences agree when their difference is within this many standard errors."""
_GRID = 4000
"""Points of the posterior grid over (0, 1)."""
_LEVEL = 0.9
"""Coverage of the reported central interval."""
_MAX_ITER = 500
KAPPA = 1.0
"""The negative-binomial pseudo-likelihood's ``var = mu + kappa * mu ** 2``, with GMV in
units of the mean row: rows count as in a Poisson model below the typical row and as in a
Gamma model above it. Any value gives a consistent estimate; this one keeps rows without
sales and a few star creators from deciding it."""
_CG_RTOL = 1e-8
_MAX_STEP = 4.0
"""Largest Newton step of any effect or of ``log d`` taken at once: effects of entities that
sold little are weakly determined and a full step can jump to where ``exp`` overflows."""
_MIN_STEP = 1e-6
_START_SWEEPS = 5

_RIDGE = 1e-9
"""Relative ridge on the information: one level per connected group of merchants and
creators is free (only sums of effects are identified)."""


def geometric_sum(d, n):
    """``S(d, n) = 1 + d + ... + d ** (n - 1)``, elementwise; ``n`` where ``d == 1``."""
    d = np.asarray(d, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    log_d = np.log(d)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.expm1(n * log_d) / np.expm1(log_d)
    return np.where(log_d == 0.0, n, out)


def _dlog_geometric_sum(d: float, n: np.ndarray) -> np.ndarray:
    """``d log S(d, n) / d log d = sum(j d**j) / sum(d**j)`` over ``j = 0..n-1``."""
    n = np.asarray(n, dtype=np.int64)
    top = int(n.max()) if n.size else 0
    num = np.zeros(n.shape)
    den = np.zeros(n.shape)
    for j in range(top):
        live = n > j
        num += np.where(live, j * d**j, 0.0)
        den += np.where(live, d**j, 0.0)
    return num / den


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Evidence:
    """One kind of evidence about the decay.

    Attributes
    ----------
    kind : ``"within_rows"`` or ``"across_rows"``.
    decay : the raw estimate of ``d`` (may be above 1: the data saw no decay).
    se : its standard error (delta method from ``log d``, clustered by merchant).
    rows : collaborations that informed it.
    used : whether it entered the estimate (see the module docstring).
    """

    kind: str
    decay: float
    se: float
    rows: int
    used: bool = False

    @property
    def log_decay(self) -> float:
        return float(np.log(self.decay))

    @property
    def log_se(self) -> float:
        return float(self.se / self.decay)


@dataclass(frozen=True)
class ReturnsEstimate:
    """The decay the allocator uses, with its uncertainty and where it came from.

    Attributes
    ----------
    decay : posterior mean of ``d``, strictly inside (0, 1).
    sd : posterior standard deviation.
    low, high : central ``level`` interval.
    level : coverage of ``[low, high]``.
    prior_mean, prior_strength : the Beta prior.
    evidence : each kind of evidence found, used or not.
    source : ``"within rows"``, ``"across rows"``, ``"within rows + across rows"`` or
        ``"prior"``.
    """

    decay: float
    sd: float
    low: float
    high: float
    level: float
    prior_mean: float
    prior_strength: float
    evidence: tuple[Evidence, ...]
    source: str


# --------------------------------------------------------------------------- history


@dataclass(frozen=True)
class _Rows:
    """Short-video collaborations as arrays, ordered by pair, then date, then row order."""

    merchant: np.ndarray  # int codes
    creator: np.ndarray
    pair: np.ndarray
    videos: np.ndarray
    gmv: np.ndarray
    rank: np.ndarray  # 0 for the pair's first collaboration, 1 for its second, ...


def _rows(collaborations: pd.DataFrame) -> _Rows:
    sv = collaborations[collaborations["content_type"] == SHORT_VIDEO]
    merchant = pd.factorize(sv["merchant_id"])[0]
    creator = pd.factorize(sv["creator_id"])[0]
    pair = merchant.astype(np.int64) * np.int64(max(creator.max() + 1, 1) if len(sv) else 1)
    pair = pair + creator
    posted = sv["posted_at"].to_numpy()
    order = np.lexsort((np.arange(len(sv)), posted, pair))
    pair = pair[order]
    videos = sv["videos"].to_numpy(np.int64)[order]
    start = np.r_[True, pair[1:] != pair[:-1]] if len(pair) else np.zeros(0, bool)
    first = np.flatnonzero(start)
    rank = np.arange(len(pair)) - first[np.cumsum(start) - 1]
    return _Rows(
        merchant=merchant[order],
        creator=creator[order],
        pair=pair,
        videos=videos,
        gmv=sv["gmv_usd"].to_numpy(np.float64)[order],
        rank=rank,
    )


def first_collaborations(collaborations: pd.DataFrame) -> pd.Series:
    """Per row of ``collaborations``, whether it is its pair's first short-video collaboration."""
    sv = collaborations["content_type"].to_numpy() == SHORT_VIDEO
    key = pd.Series(
        collaborations["merchant_id"].astype(str)
        + "\x1f"
        + collaborations["creator_id"].astype(str)
    )
    frame = pd.DataFrame(
        {"key": key.to_numpy(), "posted": collaborations["posted_at"].to_numpy(), "sv": sv}
    )
    frame["row"] = np.arange(len(frame))
    firsts = frame[frame["sv"]].sort_values(["key", "posted", "row"], kind="stable")
    first_rows = firsts.drop_duplicates("key")["row"].to_numpy()
    out = np.zeros(len(frame), dtype=bool)
    out[first_rows] = True
    return pd.Series(out, index=collaborations.index, name="first")


# --------------------------------------------------------------------------- within rows


def _informative_rows(y: np.ndarray, g1: np.ndarray, g2: np.ndarray) -> np.ndarray:
    """Rows that inform the fixed-effects fit, found by dropping the others until none is left.

    An entity that never sold has an effect of minus infinity, and an entity with one row
    (a singleton) fits it exactly: its effect makes ``mu == y``, so the row adds nothing to
    any other score. Dropping both leaves the estimate and its sandwich error unchanged and
    keeps the Newton system well conditioned (singletons are most creators at catalogue size).
    """
    keep = np.ones(y.size, dtype=bool)
    k1 = g1.max() + 1 if g1.size else 0
    k2 = g2.max() + 1 if g2.size else 0
    while True:
        s1 = np.bincount(g1[keep], y[keep], minlength=k1)
        s2 = np.bincount(g2[keep], y[keep], minlength=k2)
        c1 = np.bincount(g1[keep], minlength=k1)
        c2 = np.bincount(g2[keep], minlength=k2)
        new = keep & (s1[g1] > 0) & (s2[g2] > 0) & (c1[g1] > 1) & (c2[g2] > 1)
        if new.sum() == keep.sum():
            return keep
        keep = new


def _nb_loglik(y, mu, kappa):
    """The negative-binomial (NB2) log-likelihood, up to terms free of ``mu``."""
    return float((y * np.log(mu)).sum() - ((y + 1.0 / kappa) * np.log1p(kappa * mu)).sum())


def _curvature(y, mu, kappa):
    """Minus the second derivative of the NB2 log-likelihood in ``log mu``: Newton's weights
    (quadratic convergence where the expected information converges slowly)."""
    return mu * (1.0 + kappa * y) / (1.0 + kappa * mu) ** 2


def _information(g1, g2, x, w, k1, k2):
    """The information of (merchant effects, creator effects, log d) as an operator, ``J' W
    J`` with ``J`` the sparse design (never formed as a matrix), and a Jacobi preconditioner."""
    size = k1 + k2 + 1
    rows = np.arange(x.size)
    jac = scipy.sparse.csr_array(
        (
            np.column_stack([np.ones(x.size), np.ones(x.size), x]).ravel(),
            (np.repeat(rows, 3), np.column_stack([g1, k1 + g2, np.full(x.size, size - 1)]).ravel()),
        ),
        shape=(x.size, size),
    )
    jac_t = jac.T.tocsr()
    ridge = _RIDGE * float(w.mean())
    diag = np.concatenate([np.bincount(g1, w, k1), np.bincount(g2, w, k2), [w @ (x * x)]]) + ridge

    def matvec(v):
        v = np.ravel(v)
        return jac_t @ (w * (jac @ v)) + ridge * v

    op = scipy.sparse.linalg.LinearOperator((size, size), matvec=matvec, dtype=np.float64)
    pre = scipy.sparse.linalg.LinearOperator((size, size), matvec=lambda v: np.ravel(v) / diag)
    return op, pre


def _solve(op, pre, rhs):
    out, _ = scipy.sparse.linalg.cg(op, rhs, M=pre, rtol=_CG_RTOL, maxiter=_MAX_ITER * 10)
    return out


def _fit_two_way(y, n, g1, g2, kappa, theta0):
    """Merchant effects, creator effects and ``log d`` by Newton's method.

    ``E[y] = exp(a1[g1] + a2[g2]) * S(exp(theta), n)``, negative-binomial pseudo-likelihood;
    each step solves the curvature system by preconditioned conjugate gradients, so the
    cost is a few passes over the rows, whatever the number of merchants and creators.
    Returns ``(a1, a2, theta, inv_theta)``; ``inv_theta`` is the inverse information's
    column for ``theta``, for the sandwich standard error.
    """
    k1, k2 = int(g1.max()) + 1, int(g2.max()) + 1
    theta = theta0
    base = geometric_sum(np.exp(theta), n)
    # a start near the answer: a few sweeps of the closed-form Poisson effects
    y1, y2 = np.bincount(g1, y, k1), np.bincount(g2, y, k2)
    a1, a2 = np.zeros(k1), np.zeros(k2)
    for _ in range(_START_SWEEPS):
        a1 = np.log(y1 / np.bincount(g1, np.exp(a2[g2]) * base, k1))
        a2 = np.log(y2 / np.bincount(g2, np.exp(a1[g1]) * base, k2))

    def state(a1, a2, theta):
        mu = np.exp(a1[g1] + a2[g2]) * geometric_sum(np.exp(theta), n)
        return mu, _nb_loglik(y, mu, kappa)

    mu, ll = state(a1, a2, theta)
    for _ in range(_MAX_ITER):
        x = _dlog_geometric_sum(float(np.exp(theta)), n)
        u = (y - mu) / (1.0 + kappa * mu)
        op, pre = _information(g1, g2, x, _curvature(y, mu, kappa), k1, k2)
        step = _solve(
            op, pre, np.concatenate([np.bincount(g1, u, k1), np.bincount(g2, u, k2), [u @ x]])
        )
        # a trust region on the effects (log units), then step halving; a step that does not
        # improve the likelihood is never taken (it would end in overflow)
        t = min(1.0, _MAX_STEP / max(float(np.abs(step).max()), 1e-300))
        while True:
            cand = (
                a1 + t * step[:k1],
                a2 + t * step[k1:-1],
                float(np.clip(theta + t * step[-1], *_THETA_BOUNDS)),
            )
            mu_new, ll_new = state(*cand)
            if ll_new >= ll - 1e-12 * abs(ll) or t < _MIN_STEP:
                break
            t /= 2.0
        if not ll_new >= ll - 1e-12 * abs(ll):
            break
        a1, a2, theta = cand
        done = abs(ll_new - ll) <= 1e-9 * abs(ll) and t * abs(step[-1]) < 1e-5
        mu, ll = mu_new, ll_new
        if done:
            break
    x = _dlog_geometric_sum(float(np.exp(theta)), n)
    op, pre = _information(g1, g2, x, _curvature(y, mu, kappa), k1, k2)
    e = np.zeros(k1 + k2 + 1)
    e[-1] = 1.0
    inv = _solve(op, pre, e)
    return a1, a2, theta, (inv[:k1], inv[k1:-1], float(inv[-1]))


def within_rows_evidence(merchant, creator, videos, gmv) -> Evidence | None:
    """``d_w`` from first collaborations of different sizes (see the module docstring).

    A negative-binomial pseudo-likelihood with a fixed effect per merchant and per creator:
    consistent whatever the noise as long as the mean is right, counting a row as a
    Poisson model would up to the typical GMV of a row and as a Gamma model above it, so
    neither rows without sales nor a few star creators decide the estimate.

    Parameters
    ----------
    merchant, creator : codes per first collaboration.
    videos : short videos in it (>= 1).
    gmv : its GMV (>= 0).

    Returns None when the rows cannot tell (no merchant or creator with first
    collaborations of different sizes that sold something).
    """
    merchant = pd.factorize(np.asarray(merchant))[0]
    creator = pd.factorize(np.asarray(creator))[0]
    n = np.asarray(videos, dtype=np.int64)
    y = np.asarray(gmv, dtype=np.float64)
    keep = _informative_rows(y, merchant, creator)
    g1 = pd.factorize(merchant[keep])[0]
    g2 = pd.factorize(creator[keep])[0]
    n, y = n[keep], y[keep]
    if y.size == 0:
        return None
    # a row informs d only if its merchant or creator has first collaborations of other sizes
    informs = _varies(n, g1) | _varies(n, g2)
    if not informs.any():
        return None
    y = y / y.mean()  # GMV in units of the mean row
    kappa = KAPPA
    a1, a2, theta, (h1, h2, ht) = _fit_two_way(y, n, g1, g2, kappa, 0.0)
    d = float(np.exp(theta))
    mu = np.exp(a1[g1] + a2[g2]) * geometric_sum(d, n)
    x = _dlog_geometric_sum(d, n)
    # sandwich: each row's influence on theta, summed by merchant (its cluster)
    infl = ((y - mu) / (1.0 + kappa * mu)) * (h1[g1] + h2[g2] + ht * x)
    s = np.bincount(g1, infl)
    se_theta = float(np.sqrt(s @ s))
    if not np.isfinite(se_theta) or se_theta <= 0:
        return None
    return Evidence("within_rows", d, d * se_theta, int(informs.sum()))


def _varies(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Per row, whether its group holds more than one distinct value."""
    lo = np.full(group.max() + 1, np.iinfo(np.int64).max)
    hi = np.full(group.max() + 1, np.iinfo(np.int64).min)
    np.minimum.at(lo, group, values)
    np.maximum.at(hi, group, values)
    return (hi > lo)[group]


# --------------------------------------------------------------------------- across rows


def nb_fit(X: np.ndarray, y: np.ndarray, offset: np.ndarray, kappa: float):
    """Coefficients, means and inverse information of ``E[y] = exp(X b + offset)`` under the
    negative-binomial pseudo-likelihood (Newton's method with step halving)."""
    b = np.zeros(X.shape[1])
    b[0] = np.log(max(y.mean(), 1e-12) / np.exp(offset).mean())

    def loglik(b):
        mu = np.exp(X @ b + offset)
        return mu, _nb_loglik(y, mu, kappa)

    mu, ll = loglik(b)
    for _ in range(_MAX_ITER):
        w = _curvature(y, mu, kappa)
        info = (X * w[:, None]).T @ X
        step = np.linalg.lstsq(info, X.T @ ((y - mu) / (1.0 + kappa * mu)), rcond=None)[0]
        t = 1.0
        while True:
            mu_new, ll_new = loglik(b + t * step)
            if ll_new >= ll - 1e-12 * abs(ll) or t < 1e-4:
                break
            t /= 2.0
        b = b + t * step
        done = np.abs(t * step).max() < 1e-9
        mu, ll = mu_new, ll_new
        if done:
            break
    w = _curvature(y, mu, kappa)
    return b, mu, np.linalg.pinv((X * w[:, None]).T @ X)


def across_rows_evidence(
    merchant, first_gmv, first_videos, second_gmv, second_videos, *, within_decay: float
) -> Evidence | None:
    """``d_a`` from each repeated pair's second collaboration, given its first.

    Model: ``E[y2 | y1] = exp(b0 + b1 * log(y1 / S1) + b2 * [y1 == 0] + n1 * log d_a) * S2``
    with ``S = S(within_decay, videos)``: the first outcome per first-video value is the
    control (it absorbs both how good the pair is and the luck that got it repeated); ``n1``,
    the videos of the first collaboration, are the earlier videos the second one follows.

    Parameters
    ----------
    merchant : int codes per repeated pair (for clustering).
    first_gmv, first_videos, second_gmv, second_videos : per repeated pair.
    within_decay : ``d_w``, to put both collaborations in first-video units.

    Returns None with fewer than two distinct first sizes or no second-collaboration sales.
    """
    merchant = pd.factorize(np.asarray(merchant))[0]
    n1 = np.asarray(first_videos, dtype=np.int64)
    n2 = np.asarray(second_videos, dtype=np.int64)
    y1 = np.asarray(first_gmv, dtype=np.float64)
    y2 = np.asarray(second_gmv, dtype=np.float64)
    if y2.size < 3 or np.unique(n1).size < 2 or y2.sum() <= 0:
        return None
    scale = y2.mean()
    y1, y2 = y1 / scale, y2 / scale
    per = y1 / geometric_sum(within_decay, n1)
    zero = per <= 0
    log_per = np.where(zero, 0.0, np.log(np.where(zero, 1.0, per)))
    cols = [np.ones(y2.size), log_per] + ([zero.astype(float)] if zero.any() else [])
    X = np.column_stack([*cols, n1.astype(float)])
    offset = np.log(geometric_sum(within_decay, n2))
    b, mu, inv = nb_fit(X, y2, offset, KAPPA)
    score = X * ((y2 - mu) / (1.0 + KAPPA * mu))[:, None]
    s = np.stack([np.bincount(merchant, score[:, k]) for k in range(X.shape[1])], axis=1)
    cov = inv @ (s.T @ s) @ inv
    theta, se_theta = float(b[-1]), float(np.sqrt(max(cov[-1, -1], 0.0)))
    if not np.isfinite(theta) or not np.isfinite(se_theta) or se_theta == 0:
        return None
    d = float(np.exp(theta))
    return Evidence("across_rows", d, d * se_theta, int(y2.size))


# --------------------------------------------------------------------------- combined


def _posterior(evidence: list[Evidence], prior_mean: float, prior_strength: float):
    """Mean, sd and central interval of ``d`` on a grid over (0, 1)."""
    d = (np.arange(_GRID) + 0.5) / _GRID
    a = prior_mean * prior_strength
    b = (1.0 - prior_mean) * prior_strength
    log_p = (a - 1.0) * np.log(d) + (b - 1.0) * np.log1p(-d)
    for e in evidence:
        log_p += -0.5 * ((np.log(d) - e.log_decay) / e.log_se) ** 2
    p = np.exp(log_p - log_p.max())
    p /= p.sum()
    mean = float(p @ d)
    sd = float(np.sqrt(max(p @ (d - mean) ** 2, 0.0)))
    cdf = np.cumsum(p)
    tail = (1.0 - _LEVEL) / 2.0
    low = float(d[min(np.searchsorted(cdf, tail), _GRID - 1)])
    high = float(d[min(np.searchsorted(cdf, 1.0 - tail), _GRID - 1)])
    return mean, sd, low, high


def estimate_returns(
    collaborations: pd.DataFrame, *, prior_mean: float, prior_strength: float
) -> ReturnsEstimate:
    """The within-collaboration decay of short videos, from a collaboration history.

    Parameters
    ----------
    collaborations : the contract's table (``merchant_id``, ``creator_id``, ``posted_at``,
        ``content_type``, ``videos``, ``gmv_usd``); only short videos are used. Pass only
        the history before the as-of date.
    prior_mean : the prior's mean (``allocation.default_decay``), in (0, 1).
    prior_strength : its weight in pseudo-observations (``allocation.decay_prior_strength``).
    """
    if not 0 < prior_mean < 1:
        raise ValueError(f"prior_mean must be in (0, 1), got {prior_mean}")
    if prior_strength <= 0:
        raise ValueError(f"prior_strength must be > 0, got {prior_strength}")
    rows = _rows(collaborations)
    found: list[Evidence] = []
    first = rows.rank == 0
    within = None
    if first.any():
        within = within_rows_evidence(
            rows.merchant[first], rows.creator[first], rows.videos[first], rows.gmv[first]
        )
    across = None
    second = np.flatnonzero(rows.rank == 1)
    if second.size:
        d_w = within.decay if within is not None else prior_mean
        across = across_rows_evidence(
            rows.merchant[second],
            rows.gmv[second - 1],
            rows.videos[second - 1],
            rows.gmv[second],
            rows.videos[second],
            within_decay=d_w,
        )
    used: list[Evidence] = []
    if within is not None:
        within = Evidence(within.kind, within.decay, within.se, within.rows, used=True)
        used.append(within)
        found.append(within)
    if across is not None:
        agree = within is None or abs(across.log_decay - within.log_decay) <= _Z_AGREE * np.hypot(
            across.log_se, within.log_se
        )
        across = Evidence(across.kind, across.decay, across.se, across.rows, used=bool(agree))
        if agree:
            used.append(across)
        found.append(across)
    source = " + ".join(e.kind.replace("_", " ") for e in used) or "prior"
    mean, sd, low, high = _posterior(used, prior_mean, prior_strength)
    return ReturnsEstimate(
        decay=mean,
        sd=sd,
        low=low,
        high=high,
        level=_LEVEL,
        prior_mean=float(prior_mean),
        prior_strength=float(prior_strength),
        evidence=tuple(found),
        source=source,
    )


def history_returns(collaborations: pd.DataFrame, allocation: AllocationConfig) -> ReturnsEstimate:
    """:func:`estimate_returns` of ``collaborations`` (the history before the as-of date), the
    prior from the ``allocation`` config."""
    return estimate_returns(
        collaborations,
        prior_mean=allocation.default_decay,
        prior_strength=allocation.decay_prior_strength,
    )
