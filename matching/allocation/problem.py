"""Optimal allocation of the TOP Program's free short videos to creators.

Pure arrays in, arrays out: no pandas, no files. The caller turns the match
tables into integer indices and reads the answer back.

The problem
-----------
Each eligible seller ``s`` has an integer remaining quota ``Q_s`` of free short
videos. Each candidate pair ``(s, c)`` has a value ``v_sc >= 0``, the expected
GMV of the *first* video of that pair. Creator ``c`` can make ``K_c`` videos
over the window, shared by all sellers. Repeat videos of one pair are worth
less: the n-th video is worth ``v_sc * g(n)`` with ``g(n) = decay ** (n - 1)``
(``decay`` in (0, 1], a scalar or one value per pair). Each pair takes at most
``pair_cap`` videos. Maximise the total value subject to

* per seller ``sum(videos) <= Q_s``; per creator ``sum(videos) <= K_c``;
* per pair ``0 <= videos <= pair_cap``, integer.

Placing nothing is allowed; zero-value pairs are never placed.

Each seller's own window
------------------------
A creator's capacity is weekly, and a seller whose free-video window ends in three weeks
can use only those three weeks of a creator. Sellers are grouped into *window levels*
(``seller_level``, e.g. the distinct days left of their windows, shortest first), and
``capacity`` may be a ``(C, L)`` matrix: ``K_c[l]``, what creator ``c`` can make until the
end of level ``l``'s window (cumulative, so non-decreasing in ``l``). The constraint is then,
for every creator and level, ``sum(videos of sellers of level <= l) <= K_c[l]``: exactly
the condition for the videos to be schedulable week by week with each seller's videos
inside its window (give the earliest capacity to the windows that end first;
:func:`weekly_schedule` does). A one-dimensional ``capacity`` is the single-level case.

Diminishing returns, piecewise-linear
-------------------------------------
``g`` is approximated by a concave piecewise-linear function whose slope
changes at the configured breakpoints ``segments = (b_1, ..., b_K)``
(``allocation.segments``, e.g. ``(1, 2, 4, 8, 16)``). With ``b_0 = 0`` the
segments are ``(b_0, b_1], (b_1, b_2], ..., (b_{K-1}, b_K]`` and a last one
``(b_K, pair_cap]``; every segment is clipped to the pair cap (so a pair with
cap 5 has segments ``(0,1], (1,2], (2,4], (4,5]``). Every video of a segment is
worth ``v_sc`` times the mean of ``g(n)`` over the (clipped) segment, so a
filled segment is valued exactly and the per-video gains never increase.
*Every* breakpoint, including the last, is a change of slope: K breakpoints
give up to K + 1 segments.

Per-pair cap and the diversity rule
-----------------------------------
:func:`pair_caps` gives ``min(max_videos_per_pair, max(1, floor(diversity_cap *
Q_total)))`` where ``Q_total`` is the seller's *full* program quota (not what
is left of it, so the cap does not shrink as the quota is used). When
``floor(diversity_cap * Q_total)`` is 0 (a quota smaller than ``1 / diversity_cap``)
the cap is 1, not 0: one video per creator is the most diverse allocation there
is, and a cap of 0 would make a small quota impossible to place at all.

Fill floor
----------
A seller may have a *floor* ``F_s`` (``AllocationProblem.floor``, clipped to ``Q_s``): the
videos to place for it first, where capacity allows. The allocation is then lexicographic:
first the most floor videos ``T = sum_s min(x_s, F_s)`` (``x_s`` the seller's videos), then,
among the allocations reaching that most ``T*``, the most value. Only arcs :func:`allocate`
would use carry videos (positive gains that survive its int64 rounding), so zero-value pairs
still never count. Two phases, both exact flows:

1. ``T*`` is a max flow (:func:`floor_limit`) on the value solve's network with each
   seller's source arc capped at ``min(F_s, supply_s)`` (``supply_s`` what the seller can
   send at all: its quota, or what its arcs carry if less).
2. The value solve gets a *floor hub* node with supply ``T*`` (taken from the source's),
   zero-cost arcs hub -> seller of capacity ``min(F_s, supply_s)``, and the source -> seller
   arcs lose that much capacity. The hub has no bypass to the sink, so exactly ``T*``
   videos go through the hub arcs, at most ``min(x_s, F_s)`` of seller ``s``'s: every flow
   has ``T >= T*``, hence ``T = T*``. Conversely every allocation with ``T = T*`` is a flow
   (``min(x_s, F_s)`` of each seller's videos through the hub, the rest from the source).
   Phase 1 makes it feasible, and the min-cost flow finds the most valuable of these
   allocations: the lexicographic optimum, exactly, with no big-M weights, so the int64
   cost scale is the same as without a floor.

Where capacity cannot give every seller its floor, the shortfall should not fall on whichever
seller is worth least: before the two phases, a bisection of max flows finds the largest
common share ``t`` of the floors that all sellers can have at once, and each seller is sure
of ``floor(t * F_s)`` videos (:func:`floor_guarantee`): its own supply in the flow, a lower
bound on its videos (feasible by construction; a max flow keeps any lower bounds a feasible
flow meets, so ``T*`` is unchanged). Then ``T*``, then value, as above.

Without a floor (all 0) no hub is built: the solve is the plain one.
:func:`lp_allocate` solves the same phases as LPs; :func:`greedy_allocate` is greedy about
the floor too (floors first, then the rest, both by gain).

Solvers
-------
:func:`allocate`
    The exact integer optimum, as a min-cost flow solved by LEMON's network
    simplex: source -> seller (cap ``Q_s``) -> one arc per (pair, segment) (cap =
    the segment's length, cost = minus its per-video gain) -> creator (cap
    ``K_c``) -> sink, plus a zero-cost source -> sink bypass so the flow need
    not be maximal (the solver takes the costs shifted to be non-negative). Concave gains make the segments of a pair fill in order.
    With window levels a creator is a chain of nodes, one per level its sellers
    have, shortest window first: a seller's arcs enter its level's node, and the
    arc leaving level ``l``'s node (to the next level, or to the sink) has
    capacity ``K_c[l]``, so it carries exactly the videos of windows up to ``l``.
    Gains are scaled to int64 costs (see :func:`allocate` for the precision);
    the reported values are always evaluated with the true float gains.
:func:`greedy_allocate`
    Baseline: repeatedly takes the highest feasible marginal gain.
:func:`lp_allocate`
    The LP relaxation with scipy's HiGHS; the network matrix is totally
    unimodular so it has the same optimum. For tests on small instances.
:func:`max_flow_limit`
    The most videos that could be placed ignoring values (a max flow).
:func:`floor_limit`
    The most floor videos any allocation can place (a max flow).

:func:`weekly_schedule`
    Which week each placed video is made in (earliest-deadline-first per creator).

``decay`` is estimated from the history by :mod:`matching.allocation.returns`.

Examples
--------
>>> import numpy as np
>>> problem = AllocationProblem(
...     seller=np.array([0, 0, 1, 1]), creator=np.array([0, 1, 0, 1]),
...     value=np.array([10.0, 9.0, 8.0, 0.0]), quota=np.array([1, 1]),
...     capacity=np.array([1, 1]), pair_cap=np.array([1, 1, 1, 1]),
...     decay=0.8, segments=(1, 2, 4, 8, 16))
>>> allocate(problem).videos.tolist()
[0, 1, 1, 0]
>>> greedy_allocate(problem).objective
10.0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matching.config import AllocationConfig

__all__ = [
    "AllocationProblem",
    "Arcs",
    "arcs_of",
    "build_problem",
    "pair_caps",
    "segment_gains",
    "weekly_schedule",
]

# --------------------------------------------------------------------------- validation


def _int_array(name: str, x, ndim: int = 1) -> np.ndarray:
    """``x`` as a read-only int64 array; floats are accepted only if integral."""
    a = np.asarray(x)
    if a.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array, got shape {a.shape}")
    if a.dtype == bool:
        raise ValueError(f"{name} must hold integers, got booleans")
    if np.issubdtype(a.dtype, np.floating):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} has NaN or infinite entries")
        if np.any(a != np.round(a)):
            raise ValueError(f"{name} must hold integers, got non-integral values")
    elif a.size and not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name} must hold integers, got dtype {a.dtype}")
    out = a.astype(np.int64, copy=True)
    out.setflags(write=False)
    return out


def _float_array(name: str, x) -> np.ndarray:
    a = np.asarray(x)
    if a.size and not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise ValueError(f"{name} must be numeric, got dtype {a.dtype}")
    out = a.astype(np.float64, copy=True)
    if not np.all(np.isfinite(out)):
        raise ValueError(
            f"{name} has NaN or infinite entries (first at {_first(~np.isfinite(out))})"
        )
    out.setflags(write=False)
    return out


def _first(mask: np.ndarray) -> list[int]:
    return np.flatnonzero(mask)[:5].tolist()


def _check_nonnegative(name: str, a: np.ndarray) -> None:
    if np.any(a < 0):
        raise ValueError(f"{name} must be >= 0; negative at positions {_first(a < 0)}")


# --------------------------------------------------------------------------- problem


@dataclass(frozen=True, eq=False)
class AllocationProblem:
    """One allocation instance; validated and copied (read-only) on construction.

    Parameters
    ----------
    seller : int array (P,)
        Per candidate pair, the index of its seller into ``quota``.
    creator : int array (P,)
        Per candidate pair, the index of its creator into ``capacity``.
    value : float array (P,)
        Per pair, ``>= 0``: the value (expected GMV) of the pair's first video.
    quota : int array (S,)
        Per seller, ``>= 0``: the free videos still to place.
    capacity : int array (C,) or (C, L)
        Per creator, ``>= 0``: videos the creator can make over the window; or, per
        creator and window level, what it can make until the end of that level's window
        (non-decreasing along the levels).
    pair_cap : int array (P,)
        Per pair, ``>= 0``: the most videos of that pair (see :func:`pair_caps`).
    decay : float or float array (P,)
        In (0, 1]: the n-th video of a pair is worth ``value * decay ** (n - 1)``.
    segments : tuple of int
        Increasing positive breakpoints of the piecewise-linear returns.
    seller_level : int array (S,), optional
        Per seller, its window level (a column of ``capacity``); all 0 when omitted.
    floor : int array (S,), optional
        Per seller, ``>= 0``: the videos to place *first*, as far as capacity allows (the
        fill floor, see the module docstring); clipped to ``quota``; all 0 when omitted.

    Raises
    ------
    ValueError
        On a wrong shape, an index out of range, a negative or NaN number, a
        decay outside (0, 1], bad segments or a duplicate (seller, creator) pair.
    """

    seller: np.ndarray
    creator: np.ndarray
    value: np.ndarray
    quota: np.ndarray
    capacity: np.ndarray
    pair_cap: np.ndarray
    decay: np.ndarray | float
    segments: tuple[int, ...]
    seller_level: np.ndarray | None = None
    floor: np.ndarray | None = None

    def __post_init__(self) -> None:
        seller = _int_array("seller", self.seller)
        creator = _int_array("creator", self.creator)
        value = _float_array("value", self.value)
        quota = _int_array("quota", self.quota)
        capacity = _int_array("capacity", self.capacity, ndim=np.ndim(self.capacity))
        if capacity.ndim not in (1, 2) or (capacity.ndim == 2 and capacity.shape[1] < 1):
            raise ValueError(
                f"capacity must be (creators,) or (creators, levels), got shape {capacity.shape}"
            )
        if capacity.ndim == 2 and np.any(np.diff(capacity, axis=1) < 0):
            raise ValueError("capacity must be non-decreasing along the window levels")
        n_levels = 1 if capacity.ndim == 1 else capacity.shape[1]
        if self.seller_level is None:
            level = np.zeros(quota.shape[0], dtype=np.int64)
            level.setflags(write=False)
        else:
            level = _int_array("seller_level", self.seller_level)
            if level.shape != quota.shape:
                raise ValueError("seller_level must have one entry per seller, like quota")
            bad = (level < 0) | (level >= n_levels)
            if np.any(bad):
                raise ValueError(
                    f"seller_level must be in [0, {n_levels}); out of range at {_first(bad)}"
                )
        if self.floor is None:
            floor = np.zeros(quota.shape[0], dtype=np.int64)
        else:
            floor = _int_array("floor", self.floor)
            if floor.shape != quota.shape:
                raise ValueError(
                    f"floor must have one entry per seller, like quota ({quota.shape[0]}), "
                    f"got shape {floor.shape}"
                )
            _check_nonnegative("floor", floor)
            floor = np.minimum(floor, quota)
        floor.setflags(write=False)
        pair_cap = _int_array("pair_cap", self.pair_cap)
        n = seller.shape[0]
        for name, a in (("creator", creator), ("value", value), ("pair_cap", pair_cap)):
            if a.shape != (n,):
                raise ValueError(f"{name} must have one entry per pair ({n}), got shape {a.shape}")
        for name, a in (
            ("value", value),
            ("quota", quota),
            ("capacity", capacity),
            ("pair_cap", pair_cap),
        ):
            _check_nonnegative(name, a)
        for name, idx, size in (
            ("seller", seller, quota.size),
            ("creator", creator, capacity.shape[0]),
        ):
            bad = (idx < 0) | (idx >= size)
            if np.any(bad):
                raise ValueError(
                    f"{name} indices must be in [0, {size}); out of range at positions {_first(bad)}"
                )
        if n:
            key = seller * np.int64(capacity.shape[0]) + creator
            order = np.argsort(key, kind="stable")
            dup = np.flatnonzero(key[order][1:] == key[order][:-1])
            if dup.size:
                raise ValueError(
                    f"duplicate (seller, creator) pairs at positions {np.sort(order[dup + 1])[:5].tolist()}"
                )

        decay_arr = _float_array("decay", self.decay)
        if decay_arr.ndim not in (0, 1) or (decay_arr.ndim == 1 and decay_arr.shape != (n,)):
            raise ValueError(
                f"decay must be a scalar or one value per pair ({n}), got shape {decay_arr.shape}"
            )
        if np.any((decay_arr <= 0) | (decay_arr > 1)):
            raise ValueError("decay must be in (0, 1]")
        decay: np.ndarray | float = float(decay_arr) if decay_arr.ndim == 0 else decay_arr

        try:
            segments = tuple(int(b) for b in self.segments)
        except (TypeError, ValueError):
            raise ValueError(
                f"segments must be a sequence of integers, got {self.segments!r}"
            ) from None
        if (
            not segments
            or segments[0] < 1
            or any(b <= a for a, b in zip(segments, segments[1:], strict=False))
            or any(b != s for b, s in zip(segments, self.segments, strict=True))
        ):
            raise ValueError(
                f"segments must be increasing positive integers, got {list(self.segments)}"
            )

        for name, v in (
            ("seller", seller),
            ("creator", creator),
            ("value", value),
            ("quota", quota),
            ("capacity", capacity),
            ("pair_cap", pair_cap),
            ("decay", decay),
            ("segments", segments),
            ("seller_level", level),
            ("floor", floor),
        ):
            object.__setattr__(self, name, v)

    @property
    def n_pairs(self) -> int:
        return int(self.seller.shape[0])

    @property
    def n_sellers(self) -> int:
        return int(self.quota.shape[0])

    @property
    def n_creators(self) -> int:
        return int(self.capacity.shape[0])

    @property
    def n_levels(self) -> int:
        return 1 if self.capacity.ndim == 1 else int(self.capacity.shape[1])

    @property
    def level_capacity(self) -> np.ndarray:
        """``capacity`` as ``(C, L)``: per creator, its capacity to the end of each level."""
        return self.capacity[:, None] if self.capacity.ndim == 1 else self.capacity

    def pair_capacity(self) -> np.ndarray:
        """Per pair, the most its creator can make within its seller's window."""
        return self.level_capacity[self.creator, self.seller_level[self.seller]]

    def pair_value(self, videos: np.ndarray) -> np.ndarray:
        """Value of ``videos`` videos of each pair: the sum of their piecewise gains."""
        videos = _int_array("videos", videos)
        if videos.shape != (self.n_pairs,):
            raise ValueError(f"videos must have one entry per pair ({self.n_pairs})")
        start, length, gain = segment_gains(self)
        used = np.clip(videos[:, None] - start, 0, length)
        return (used * gain).sum(axis=1)


def pair_caps(quota_total, max_videos_per_pair: int, diversity_cap: float) -> np.ndarray:
    """Per-seller cap on the videos of any one creator.

    ``min(max_videos_per_pair, max(1, floor(diversity_cap * quota_total)))``; the
    floor gets a 1e-9 tolerance so ``0.29 * 100`` counts as 29. A floor of 0 becomes
    1 (see the module docstring). Index the result by ``seller`` to get per-pair caps.
    """
    q = _int_array("quota_total", quota_total)
    _check_nonnegative("quota_total", q)
    share = np.floor(diversity_cap * q + 1e-9).astype(np.int64)
    return np.minimum(int(max_videos_per_pair), np.maximum(1, share))


def build_problem(
    seller,
    creator,
    value,
    *,
    quota,
    quota_total,
    capacity,
    config: AllocationConfig,
    decay=None,
    seller_level=None,
    floor=None,
) -> AllocationProblem:
    """An :class:`AllocationProblem` with caps, decay and segments from the config.

    Parameters
    ----------
    seller, creator, value : per candidate pair (see :class:`AllocationProblem`).
    quota : per seller, the free videos left (``seller_status(...)["remaining_quota"]``).
    quota_total : per seller, the full program quota (``program.free_videos``); it drives
        the diversity cap.
    capacity : per creator, the videos it can make over the allocation horizon
        (``policy.creator_capacity``); or per creator and window level
        (``policy.creator_capacity_by_window``).
    config : the ``allocation`` section of the configuration.
    decay : scalar or per pair; ``config.default_decay`` when None.
    seller_level : per seller, its window level (a column of a 2-D ``capacity``).
    floor : per seller, the videos to place first where capacity allows (the fill floor);
        none when None.
    """
    seller_arr = _int_array("seller", seller)
    quota_total_arr = _int_array("quota_total", quota_total)
    quota_arr = _int_array("quota", quota)
    if quota_total_arr.shape != quota_arr.shape:
        raise ValueError("quota_total must have one entry per seller, like quota")
    if seller_arr.size and (seller_arr.min() < 0 or seller_arr.max() >= quota_arr.size):
        raise ValueError(f"seller indices must be in [0, {quota_arr.size})")
    caps = pair_caps(quota_total_arr, config.max_videos_per_pair, config.diversity_cap)
    return AllocationProblem(
        seller=seller_arr,
        creator=creator,
        value=value,
        quota=quota_arr,
        capacity=capacity,
        pair_cap=caps[seller_arr],
        decay=config.default_decay if decay is None else decay,
        segments=tuple(config.segments),
        seller_level=seller_level,
        floor=floor,
    )


# --------------------------------------------------------------------------- gains


def _geometric_sum(decay: np.ndarray, start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """``sum(decay ** (n - 1) for n in start+1 .. start+length)``, accurate for decay near 1."""
    log_d = np.log1p(decay - 1.0)  # exact argument: decay - 1 has no rounding for decay in [0.5, 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.expm1(length * log_d) / np.expm1(log_d)
    ratio = np.where(log_d == 0.0, length.astype(np.float64), ratio)
    return np.exp(start * log_d) * ratio


def segment_gains(problem: AllocationProblem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pair and segment: first-video offset, length (clipped to the pair cap), per-video gain.

    Returns three ``(P, K + 1)`` arrays ``start`` (int), ``length`` (int) and ``gain``
    (float); segment k of pair p covers videos ``start+1 .. start+length`` and each is
    worth ``gain`` (0 where the segment is empty).
    """
    b = np.asarray(problem.segments, dtype=np.int64)
    starts = np.concatenate([[0], b])
    ends = np.concatenate([b, [np.iinfo(np.int64).max]])
    cap = problem.pair_cap[:, None]
    start = np.minimum(starts[None, :], cap)
    length = np.minimum(ends[None, :], cap) - start
    decay = np.broadcast_to(np.asarray(problem.decay, dtype=np.float64), (problem.n_pairs,))
    total = _geometric_sum(decay[:, None], start, length)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(length > 0, total / np.maximum(length, 1), 0.0)
    return start, length, problem.value[:, None] * mean


@dataclass(frozen=True)
class Arcs:
    """The (pair, segment) arcs worth building: positive gain and positive capacity."""

    pair: np.ndarray  # int64 per arc
    segment: np.ndarray  # int64 per arc
    capacity: np.ndarray  # int64 per arc
    gain: np.ndarray  # float64 per arc, per video


def arcs_of(problem: AllocationProblem) -> Arcs:
    """Arcs in (pair, segment) order.

    An arc's capacity is its segment clipped to ``min(pair_cap, Q_s, K_c)``, since no
    pair can take more than its seller's quota or its creator's capacity; gains stay
    those of the pair cap, so this pruning does not change the problem.
    """
    start, length, gain = segment_gains(problem)
    eff = np.minimum(
        problem.pair_cap, np.minimum(problem.quota[problem.seller], problem.pair_capacity())
    )
    cap = np.clip(np.minimum(start + length, eff[:, None]) - start, 0, None)
    keep = (cap > 0) & (gain > 0)
    pair, segment = np.nonzero(keep)
    return Arcs(pair=pair, segment=segment, capacity=cap[keep], gain=gain[keep])


# --------------------------------------------------------------------------- schedule


def weekly_schedule(seller, creator, videos, *, seller_days, weekly):
    """When each placed video is made: per creator, earliest deadline first.

    Creator ``c`` can make ``floor(weekly[c] * t / 7)`` videos in the first ``t`` days of
    the horizon (the as-of day is day 1), so week ``w`` (days ``7w - 6 .. 7w``) holds
    ``weekly[c]`` of them, and a seller with ``seller_days[s]`` days left can use the first
    ``floor(weekly[c] * seller_days[s] / 7)``. Each creator's capacity goes first to the
    sellers whose windows end first (then by pair order). An allocation that satisfies
    the window levels' capacities (:class:`AllocationProblem` with
    ``policy.creator_capacity_by_window``) always fits.

    Parameters
    ----------
    seller, creator, videos : per pair: seller index, creator index, videos placed.
    seller_days : per seller, the days left in its window.
    weekly : per creator, its weekly video capacity.

    Returns
    -------
    pair, week, count : int arrays, one entry per pair and week with videos (week 1 is
        the as-of week), ordered by pair then week.

    Raises
    ------
    ValueError
        If a creator's videos do not fit in its sellers' windows.
    """
    seller = _int_array("seller", seller)
    creator = _int_array("creator", creator)
    videos = _int_array("videos", videos)
    days = _int_array("seller_days", seller_days)
    weekly = _int_array("weekly", weekly)
    placed = np.flatnonzero(videos > 0)
    empty = np.zeros(0, dtype=np.int64)
    if placed.size == 0:
        return empty, empty, empty
    deadline = days[seller[placed]]
    order = placed[np.lexsort((placed, deadline, creator[placed]))]
    c, v = creator[order], videos[order]
    end = np.cumsum(v)
    first = np.r_[True, c[1:] != c[:-1]]
    start = end - v
    base = np.maximum.accumulate(np.where(first, start, 0))
    start, end = start - base, end - base  # units [start, end) of the creator's capacity
    room = (weekly[c] * days[seller[order]]) // 7
    if np.any(end > room):
        bad = order[end > room][:5].tolist()
        raise ValueError(f"videos do not fit in their sellers' windows (pairs {bad})")
    unit = np.arange(int(end.sum() - start.sum())) - np.repeat(np.cumsum(v) - v, v)
    unit = unit + np.repeat(start, v)
    week = unit // np.repeat(weekly[c], v) + 1  # unit u is made in week ceil((u + 1) / weekly)
    pair = np.repeat(order, v)
    key = np.unique(pair * np.int64(week.max() + 1) + week, return_counts=True)
    return key[0] // (week.max() + 1), key[0] % (week.max() + 1), key[1].astype(np.int64)
