"""The allocation by dual decomposition over the creators' capacities, with its gap known.

The alternative to the exact min-cost flow of :mod:`matching.allocation.problem` that splits by
seller, the way LinkedIn's DuaLip solves its matching LPs: relax the constraints that tie
the sellers together (the creators' capacities) with prices, so that what is left splits
into one small problem per seller, and search for the prices. Its allocation comes with a
bound on the optimum, so how far from optimal it may be is known without the exact solve.
On one machine it takes about the exact solve's time and memory (``bench_allocation.py``).

Same problem as :func:`matching.allocation.flow.allocate` (an :class:`AllocationProblem`): the
(pair, segment) arcs, each with a per-video gain ``g_a`` and a capacity ``u_a``; per seller
``sum(x) <= Q_s``; per creator ``c`` and window level ``l``, the videos of the sellers of
levels ``<= l`` at most ``K_c[l]``.

The dual bound
--------------
A price ``mu[c, l] >= 0`` per creator and window level is charged for every video of a
seller whose window level is ``<= l``, so an arc of a seller of level ``lv`` pays
``p_a = sum(mu[c, l] for l >= lv)`` and keeps the reduced gain ``r_a = g_a - p_a``. The
Lagrangian function

    D(mu) = sum_s max { sum_a r_a x_a : 0 <= x_a <= u_a, sum_a x_a <= Q_s }  +  sum mu * K

is, for *any* nonnegative prices, an upper bound on the optimum (weak duality), and each
seller's maximum is a sort: its positive reduced gains, best first, until its quota is
used. The flow polytope is integral, so the LP's optimum is the integer optimum and the
best bound converges to it; ``dual_bound`` is the smallest ``D`` met.

The prices
----------
``D`` is convex and piecewise linear in ``mu``; its subgradient is ``K - load``, the
creators' spare capacity under the sellers' choices at those prices. Two moves search it:

* projected subgradient steps with Polyak's step length (the classic Lagrangian heuristic
  of Held, Wolfe and Crowder, and Fisher): ``mu <- max(0, mu - theta (D - P) / |d|^2 d)``,
  with ``P`` the best feasible value found so far and ``theta`` halved whenever the steps'
  bound has not improved for a while; ``d`` is the subgradient deflected by the previous
  direction (Camerini, Fratta and Maffioli), which damps the zigzag of plain steps;
* every few iterations, the prices that *support* the best allocation just recovered
  (below): a full creator costs the most any seller would gain by one more of its videos
  over that seller's least valuable one (over nothing if the seller has quota left), a
  creator with room nothing. At an optimal allocation these are equilibrium prices, where
  ``D`` equals the optimum; near one, ``D`` there is a tight bound. When it is the best
  bound so far the steps restart from those prices.

On the benchmark's instances the subgradient steps alone left a bound 0.5-1.2% above the
optimum after 300 iterations; with the supporting prices it is within 0.01% in about 30.
DuaLip instead adds a small ridge term to the primal, so that the dual becomes smooth, and
uses accelerated gradient ascent; its dual values then bound the perturbed problem, not
ours. Here every ``D`` evaluated is a valid bound on *this* problem's optimum.

The allocation (the primal)
---------------------------
The sellers' choices at given prices can overload creators. Every few iterations they are
made feasible: per window level, shortest first, each overloaded creator drops its
lowest-gain videos until it fits (dropping never overloads anything else); then the sellers
with quota left propose again, best reduced gain first, to the arcs with room left, and the
overloaded creators drop again, for a few rounds (a deferred acceptance in which creators
keep their most valuable videos). The result is always feasible (quota, every level's
capacity, pair cap) and is valued with the true gains (:meth:`AllocationProblem.pair_value`);
the best one found is returned.

``gap = (dual_bound - primal) / dual_bound``: no allocation is worth more than the bound, so
this one is within ``gap`` of the optimum. Everything is numpy over the arcs, a few sorts
per iteration; deterministic (no randomness; ties in the sorts fall the same way every run).

Examples
--------
>>> import numpy as np
>>> from matching.allocation.problem import AllocationProblem
>>> problem = AllocationProblem(
...     seller=np.array([0, 0, 1, 1]), creator=np.array([0, 1, 0, 1]),
...     value=np.array([10.0, 9.0, 8.0, 0.0]), quota=np.array([1, 1]),
...     capacity=np.array([1, 1]), pair_cap=np.array([1, 1, 1, 1]),
...     decay=0.8, segments=(1, 2, 4, 8, 16))
>>> res = dual_allocate(problem, iterations=50, tol=1e-6)
>>> res.videos.tolist(), res.objective, round(res.dual_bound, 6)
([0, 1, 1, 0], 17.0, 17.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from matching.allocation.flow import AllocationResult, max_flow_limit
from matching.allocation.problem import AllocationProblem, segment_gains

__all__ = ["DualResult", "dual_allocate"]

# Polyak's step multiplier: starts at 1 and is halved after this many iterations without a
# better bound from the steps; below the floor the search stops. (On the benchmark's
# instances, starting at 2 or waiting 30 iterations left larger gaps after 300 iterations.)
_THETA_START = 1.0
_THETA_PATIENCE = 10
_THETA_FLOOR = 1e-4
# The deflection of Camerini, Fratta and Maffioli (1975): each step goes along the
# subgradient plus this multiple of the previous direction's part that it would undo.
_DEFLECTION = 1.5
# Feasible allocations are rebuilt from the prices every this many iterations ...
_RECOVER_EVERY = 10
# ... with at most this many rounds of proposals by the sellers with quota left (on the
# benchmark's instances a third round added nothing, and a fourth never ran).
_REFILL_ROUNDS = 3
# The sellers' sorts use a padded (seller, arc) matrix unless it would hold more than this
# many times the arcs (a few sellers with far longer lists than the rest).
_PAD_LIMIT = 4


@dataclass(frozen=True, eq=False)
class DualResult(AllocationResult):
    """An :class:`~matching.allocation.flow.AllocationResult` (``solver="dual"``, ``objective``
    the feasible allocation's value: the primal) with the dual side of the solve.

    Attributes
    ----------
    dual_bound : float
        The smallest Lagrangian value met: no allocation is worth more.
    gap : float
        ``(dual_bound - objective) / dual_bound``, 0 when the bound is 0.
    iterations : int
        Iterations made (one Lagrangian and one price update each).
    prices : float64 array (C, L)
        The prices (multipliers) of the best bound, per creator and window level.
    """

    dual_bound: float
    gap: float
    iterations: int
    prices: np.ndarray


@dataclass(frozen=True)
class _Arcs:
    """The (pair, segment) arcs worth a video, ordered by seller then pair and segment,
    with the indices the iterations need precomputed."""

    pair: np.ndarray
    seller: np.ndarray
    gain: np.ndarray
    cap: np.ndarray
    key: np.ndarray  # compact creator index * n_levels + the seller's window level
    ccreator: np.ndarray  # compact creator index (creators with an arc only)
    level: np.ndarray
    group_start: np.ndarray  # per arc: position of its seller's first arc
    quota: np.ndarray  # per arc: its seller's quota
    quota_s: np.ndarray  # per seller
    capacity: np.ndarray  # (C', L) capacities of the creators with an arc
    creators: np.ndarray  # (C',) their indices into the problem's creators
    cell: np.ndarray  # per arc: its flat position in the padded (seller, arc) matrix
    row_first: np.ndarray  # per row: its first arc
    row_len: np.ndarray  # per row: its number of arcs
    padded_rows: int
    padded_width: int


def _arcs(problem: AllocationProblem) -> _Arcs:
    start, length, gain = segment_gains(problem)
    eff = np.minimum(
        problem.pair_cap, np.minimum(problem.quota[problem.seller], problem.pair_capacity())
    )
    cap = np.clip(np.minimum(start + length, eff[:, None]) - start, 0, None)
    pair, segment = np.nonzero((cap > 0) & (gain > 0))
    gain, cap = gain[pair, segment], cap[pair, segment]
    order = np.argsort(problem.seller[pair], kind="stable")
    pair, gain, cap = pair[order], gain[order], cap[order]
    seller = problem.seller[pair]
    creators, ccreator = np.unique(problem.creator[pair], return_inverse=True)
    level = problem.seller_level[seller]
    n = seller.size
    new = np.r_[True, seller[1:] != seller[:-1]] if n else np.zeros(0, dtype=bool)
    group_start = np.maximum.accumulate(np.where(new, np.arange(n), 0))
    row_first = np.flatnonzero(new)
    row_len = np.diff(np.r_[row_first, n])
    width = int(row_len.max()) if n else 0
    return _Arcs(
        pair=pair,
        seller=seller,
        gain=gain,
        cap=cap,
        key=ccreator * np.int64(problem.n_levels) + level,
        ccreator=ccreator,
        level=level,
        group_start=group_start,
        quota=problem.quota[seller],
        quota_s=problem.quota,
        capacity=problem.level_capacity[creators].astype(np.float64),
        creators=creators,
        cell=(np.cumsum(new) - 1) * width + np.arange(n) - group_start,
        row_first=row_first,
        row_len=row_len,
        padded_rows=int(row_first.size),
        padded_width=width,
    )


def _group_take(order: np.ndarray, room: np.ndarray, limit: np.ndarray, start: np.ndarray):
    """Along ``order`` (items grouped), fill each group up to its limit with the ``room`` of
    its items in turn. ``limit`` and ``start`` (the position of the group's first item) are
    per position of ``order``. Returns the take, per item."""
    r = room[order]
    before = np.cumsum(r) - r
    before -= before[start]
    take = np.zeros_like(room)
    take[order] = np.clip(limit - before, 0, r)
    return take


def _by_seller(arcs: _Arcs, key: np.ndarray) -> np.ndarray:
    """The arcs' order by seller (kept in its place: position ``i`` of the order is an arc of
    seller ``arcs.seller[i]``), then ``key``; row by row in a padded (seller, arc) matrix
    when that is not much larger than the arcs (several times faster than a lexsort of all
    arcs). Ties are in no particular order, the same every run."""
    if arcs.padded_rows * arcs.padded_width > _PAD_LIMIT * key.size:
        return np.lexsort((key, arcs.seller))
    m = np.full(arcs.padded_rows * arcs.padded_width, np.inf)
    m[arcs.cell] = key
    cols = np.argsort(m.reshape(arcs.padded_rows, arcs.padded_width), axis=1)
    idx = cols + arcs.row_first[:, None]
    return idx[cols < arcs.row_len[:, None]]


def _seller_choice(arcs: _Arcs, reduced: np.ndarray) -> np.ndarray:
    """Each seller's best response to the prices: its positive reduced gains, best first,
    up to its quota (the maximiser inside ``D``)."""
    order = _by_seller(arcs, -reduced)
    take = _group_take(order, arcs.cap, arcs.quota, arcs.group_start)
    return np.where(reduced > 0, take, 0)


def _load(arcs: _Arcs, x: np.ndarray) -> np.ndarray:
    """Per creator and level: the videos of the sellers of that level or shorter."""
    n_c, n_l = arcs.capacity.shape
    per = np.bincount(arcs.key, weights=x, minlength=n_c * n_l).reshape(n_c, n_l)
    return np.cumsum(per, axis=1)


def _price(arcs: _Arcs, mu: np.ndarray) -> np.ndarray:
    """Per arc, what a video pays: the prices of its seller's level and every longer one."""
    return np.cumsum(mu[:, ::-1], axis=1)[:, ::-1].ravel()[arcs.key]


def _grouped_order(group: np.ndarray, key: np.ndarray) -> np.ndarray:
    """The order by ``group`` then ``key``, as ``np.lexsort((key, group))`` but a third of
    its time: one sort of ``key`` for ranks, one of ``group * n + rank`` (ties in no
    particular order, the same every run)."""
    n = key.size
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(key)] = np.arange(n)
    return np.argsort(group * np.int64(n) + rank)


def _repair(arcs: _Arcs, x: np.ndarray) -> np.ndarray:
    """``x`` with each overloaded creator's lowest-gain videos dropped, level by level
    (shortest window first: a drop only ever lowers loads, so a level once fitted stays so)."""
    x = x.copy()
    for lv in range(arcs.capacity.shape[1]):
        excess = _load(arcs, x)[:, lv] - arcs.capacity[:, lv]
        if not np.any(excess > 0):
            continue
        cand = np.flatnonzero((x > 0) & (arcs.level <= lv) & (excess[arcs.ccreator] > 0))
        idx = cand[_grouped_order(arcs.ccreator[cand], arcs.gain[cand])]  # lowest gains first
        c = arcs.ccreator[idx]
        new = np.r_[True, c[1:] != c[:-1]]
        start = np.maximum.accumulate(np.where(new, np.arange(c.size), 0))
        x[idx] -= _group_take(np.arange(idx.size), x[idx], excess[c], start)
    return x


def _dual_value(arcs: _Arcs, mu: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """``D(mu)``, the sellers' choices that attain it, and the arcs' reduced gains."""
    reduced = arcs.gain - _price(arcs, mu)
    x = _seller_choice(arcs, reduced)
    return float(reduced @ x + (mu * arcs.capacity).sum()), x, reduced


def _recover(arcs: _Arcs, x: np.ndarray, reduced: np.ndarray) -> np.ndarray:
    """A feasible allocation from the sellers' choices ``x``: repaired, then refilled by the
    sellers with quota left (best reduced gain first), repaired again, for a few rounds."""
    x = _repair(arcs, x)
    order = _by_seller(arcs, -reduced)
    for _ in range(_REFILL_ROUNDS):
        left = arcs.quota - np.bincount(arcs.seller, weights=x)[arcs.seller]
        slack = arcs.capacity - _load(arcs, x)
        # a video of level lv uses the room of every level from lv on
        room_cl = np.minimum.accumulate(slack[:, ::-1], axis=1)[:, ::-1].ravel()
        room = np.minimum(arcs.cap - x, room_cl[arcs.key])
        room = np.where((room > 0) & (left > 0), room, 0.0)
        if not room.any():
            break
        x = _repair(arcs, x + _group_take(order, room, left, arcs.group_start))
    return x


def _supporting_prices(arcs: _Arcs, x: np.ndarray) -> np.ndarray:
    """Prices under which the feasible allocation ``x`` is close to every seller's best
    response: a creator (window level) with no room left costs the most any seller would
    gain by one more of its videos over that seller's least valuable video (over nothing if
    the seller has quota left); a creator with room costs nothing."""
    n_c, n_l = arcs.capacity.shape
    slack = arcs.capacity - _load(arcs, x)
    full = (np.minimum.accumulate(slack[:, ::-1], axis=1)[:, ::-1].ravel() <= 0)[arcs.key]
    n_s = arcs.quota_s.size
    worst = np.full(n_s, np.inf)
    np.minimum.at(worst, arcs.seller[x > 0], arcs.gain[x > 0])
    used = np.bincount(arcs.seller, weights=x, minlength=n_s)
    # what one more video must beat: the seller's least valuable one if its quota is used
    threshold = np.where(used >= arcs.quota_s, np.clip(worst, 0, None), 0.0)
    bid = arcs.gain - threshold[arcs.seller]
    lose = (x < arcs.cap) & full & (bid > 0)
    price = np.zeros(n_c * n_l)
    np.maximum.at(price, arcs.key[lose], bid[lose])
    # a shorter window pays at least what a longer one does: prices are sums over levels
    price = np.maximum.accumulate(price.reshape(n_c, n_l)[:, ::-1], axis=1)[:, ::-1]
    return price - np.c_[price[:, 1:], np.zeros(n_c)]


def _videos(problem: AllocationProblem, arcs: _Arcs, x: np.ndarray) -> np.ndarray:
    return np.rint(np.bincount(arcs.pair, weights=x, minlength=problem.n_pairs)).astype(np.int64)


def dual_allocate(
    problem: AllocationProblem,
    *,
    iterations: int = 300,
    tol: float = 1e-3,
    progress: bool = False,
) -> DualResult:
    """A feasible allocation and an upper bound on the optimum, by dual decomposition.

    See the module docstring for the method. Stops when the relative gap is at most
    ``tol``, after ``iterations`` price updates, or when the step multiplier has shrunk
    to nothing. Deterministic: the same problem gives the same result.

    Parameters
    ----------
    problem : the allocation instance.
    iterations : the most price updates.
    tol : the relative gap ``(bound - value) / bound`` at which to stop.
    progress : show a progress bar with the current gap.

    Returns
    -------
    DualResult
        The best feasible allocation found (``objective`` its value with the true gains),
        the best bound, the gap and the prices.
    """
    if iterations < 1:
        raise ValueError(f"iterations must be at least 1, got {iterations}")
    if tol < 0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    arcs = _arcs(problem)
    mu = np.zeros(arcs.capacity.shape)
    best_mu = mu
    best_videos = np.zeros(problem.n_pairs, dtype=np.int64)
    best_value, best_bound = 0.0, 0.0 if arcs.pair.size == 0 else np.inf
    theta, stale, it = _THETA_START, 0, 0
    own_best, restarted = np.inf, False
    direction = np.zeros(arcs.capacity.shape)
    bar = tqdm(total=iterations, desc="dual allocation", disable=not progress or not arcs.pair.size)
    while arcs.pair.size and it < iterations:
        it += 1
        bound, x, reduced = _dual_value(arcs, mu)
        # the sellers' choices at freshly supported prices are worth recovering at once
        recover, restarted = restarted or (it - 1) % _RECOVER_EVERY == 0, False
        if bound < best_bound:
            best_bound, best_mu = bound, mu
        if bound < own_best:
            own_best, stale = bound, 0
        else:
            stale += 1
        subgradient = arcs.capacity - _load(arcs, x)
        # a price at 0 with spare capacity cannot move: not part of the step
        subgradient[(mu <= 0) & (subgradient > 0)] = 0.0
        norm = float((subgradient * subgradient).sum())
        if recover or norm == 0.0 or it == iterations:
            y = _recover(arcs, x, reduced)
            videos = _videos(problem, arcs, y)
            value = float(problem.pair_value(videos).sum())
            if value > best_value:
                best_value, best_videos = value, videos
            # the prices that support this allocation: a bound, and a restart if a better one
            support = _supporting_prices(arcs, y)
            b = _dual_value(arcs, support)[0]
            if b < best_bound:
                best_bound, best_mu = b, support
                mu, direction, own_best, restarted = support, np.zeros_like(mu), b, True
        gap = _gap(best_bound, best_value)
        bar.update()
        bar.set_postfix(gap=f"{gap:.2%}", refresh=False)
        if gap <= tol or norm == 0.0:
            break
        if stale >= _THETA_PATIENCE:
            theta, stale = theta / 2, 0
            if theta < _THETA_FLOOR:
                break
        if restarted:
            continue
        direction = _deflect(subgradient, direction)
        step = theta * (bound - best_value) / float((direction * direction).sum())
        mu = np.maximum(0.0, mu - step * direction)
    bar.close()
    expected = problem.pair_value(best_videos) if problem.n_pairs else np.zeros(0)
    prices = np.zeros(problem.level_capacity.shape)
    prices[arcs.creators] = best_mu
    for a in (best_videos, expected, prices):
        a.setflags(write=False)
    return DualResult(
        videos=best_videos,
        expected_value=expected,
        objective=float(expected.sum()),
        placed=int(best_videos.sum()),
        max_flow=max_flow_limit(problem),
        solver="dual",
        dual_bound=float(best_bound),
        gap=_gap(best_bound, best_value),
        iterations=it,
        prices=prices,
    )


def _deflect(subgradient: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """The step's direction: the subgradient, plus as much of the previous direction as
    cancels the zigzag when the two point against each other."""
    prev = float((previous * previous).sum())
    along = float((subgradient * previous).sum())
    beta = max(0.0, -_DEFLECTION * along / prev) if prev else 0.0
    return subgradient + beta * previous


def _gap(bound: float, value: float) -> float:
    return float((bound - value) / bound) if bound > 0 else 0.0
