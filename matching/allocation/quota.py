"""The allocation step of ``match``: the eligible sellers' matched pairs as an allocation
problem (:func:`quota_problem`), solved (:func:`solve`: exact, or by dual decomposition at
scale) and reported (:func:`allocate_quota`, with the :func:`fairness` figures).
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pandas as pd

from matching import metrics
from matching.allocation import flow, policy, returns
from matching.allocation import problem as alloc
from matching.allocation.calibration import (
    ValueCalibration,
    offer_probability,
    seller_means,
    uncertainty,
)
from matching.allocation.decomposition import DualResult, dual_allocate
from matching.allocation.summary import (
    AllocationReport,
    DualReport,
    FairnessReport,
    PoolReport,
    SellerFill,
)
from matching.background import InProcess
from matching.config import AllocationConfig, Config
from matching.data.contract import row_positions
from matching.data.kept import TOP_SLOTS

__all__ = [
    "TOP_CREATOR_SHARE",
    "allocate_quota",
    "fairness",
    "fill_floor",
    "fill_sweep",
    "pair_worth",
    "quota_problem",
    "seller_fill",
    "solve",
]

log = logging.getLogger(__name__)

TOP_CREATOR_SHARE = 0.01
"""The fairness figures' "top creators": the 1% given most videos or most top slots."""


def fill_floor(remaining_quota, min_fill: float) -> np.ndarray:
    """Per seller, the videos placed first where capacity allows: ``ceil(min_fill * remaining)``
    (1e-9 of tolerance, so 0.9 of 1,000 is 900)."""
    q = np.asarray(remaining_quota, dtype=np.int64)
    return np.minimum(q, np.ceil(min_fill * q - 1e-9).astype(np.int64))


def quota_problem(
    matches: pd.DataFrame,
    status: pd.DataFrame,
    creators: pd.DataFrame,
    config: Config,
    decay: float,
    value: np.ndarray | None = None,
    *,
    min_fill: float | None = None,
) -> tuple[alloc.AllocationProblem, pd.DataFrame, pd.DataFrame]:
    """The allocation problem of the eligible sellers' matched pairs.

    Each seller uses a creator only until its own window ends: capacity is indexed by the
    sellers' window lengths (:func:`matching.allocation.policy.creator_capacity_by_window`).
    ``value`` replaces the pairs' ``score`` (one per row of ``matches``) when given. Each
    seller's floor is :func:`fill_floor` of ``min_fill`` (default ``allocation.min_fill``).
    Returns the problem, its pairs (rows of ``matches``) and the eligible sellers (rows of
    ``status``), both in problem order. The problem's creators are the pairs' creators, in
    catalogue order.
    """
    elig = status[status["eligible"]].reset_index(drop=True)
    keep = matches["merchant_id"].isin(elig["merchant_id"]).to_numpy()
    pairs = matches[keep]
    score = pairs["score"].to_numpy(float) if value is None else np.asarray(value, float)[keep]
    s = row_positions(pairs["merchant_id"], elig["merchant_id"])
    # the problem's creators are the pairs' own, in catalogue order: its capacity table is
    # (creators x window levels), too big to build for a whole catalogue on every call
    used, c = np.unique(
        row_positions(pairs["creator_id"], creators["creator_id"]), return_inverse=True
    )
    days = elig["days_left"].to_numpy(np.int64)
    windows, level = np.unique(days, return_inverse=True)
    if not windows.size:  # nobody eligible: one empty window level
        windows = np.zeros(1, dtype=np.int64)
    remaining = elig["remaining_quota"].to_numpy(np.int64)
    fill = config.allocation.min_fill if min_fill is None else min_fill
    problem = alloc.build_problem(
        s,
        c,
        np.clip(score, 0, None),
        quota=remaining,
        quota_total=elig["quota"].to_numpy(np.int64),
        capacity=policy.creator_capacity_by_window(creators.iloc[used], windows),
        config=config.allocation,
        decay=decay,
        seller_level=level,
        floor=fill_floor(remaining, fill) if fill > 0 else None,
    )
    return problem, pairs, elig


def pair_worth(
    matches: pd.DataFrame,
    config: Config,
    *,
    calibration: ValueCalibration | None = None,
    history: pd.DataFrame | None = None,
    display: pd.DataFrame | None = None,
) -> tuple[np.ndarray, np.ndarray | None, float | None]:
    """What each pair of ``matches`` is worth to the allocator, per first video.

    Returns ``(value, p_take, shift)``: the value if the pair happens (``score``, shrunk by
    ``calibration`` when given, each seller's mean read from its ``display`` rows, the lists
    the calibration was measured on, default ``matches``); with ``allocation.objective:
    expected``, P(the creator takes the offered job) (:func:`matching.allocation.calibration.offer_probability`
    of ``fit``, its median pair that of the ``display`` rows, default ``matches``) and its
    logit shift, else None (also when ``matches`` has no ``fit``: a warning). ``matches`` and
    ``display`` should hold the eligible sellers' rows only.
    The allocator maximises ``value * p_take``.
    """
    score = np.clip(matches["score"].to_numpy(float), 0, None)
    value = score
    if calibration is not None:
        if history is None:
            raise ValueError("a value calibration needs the history before the as-of date")
        shown = matches if display is None else display
        means = pd.Series(
            seller_means(shown["merchant_id"], np.clip(shown["score"].to_numpy(float), 0, None)),
            index=shown["merchant_id"].to_numpy(dtype=object),
        )
        means = means[~means.index.duplicated()]
        mean = means.reindex(matches["merchant_id"].to_numpy(dtype=object)).to_numpy(float)
        if np.isnan(mean).any():  # a seller without display rows: its own pairs' mean
            own = seller_means(matches["merchant_id"], score)
            mean = np.where(np.isnan(mean), own, mean)
        value = calibration.shrink(
            score,
            mean,
            uncertainty(matches["creator_id"], history),
            uncertainty(matches["merchant_id"], history, "merchant_id"),
        )
    if config.allocation.objective != "expected":
        return value, None, None
    if "fit" not in matches.columns:
        log.warning("allocation.objective is expected but the matches have no fit: by value")
        return value, None, None
    shown = display if display is not None and "fit" in display.columns else matches
    p, shift = offer_probability(
        matches["fit"].to_numpy(float),
        config.allocation.offer_acceptance,
        reference=shown["fit"].to_numpy(float),
    )
    return value, p, shift


def allocate_quota(
    matches: pd.DataFrame,
    status: pd.DataFrame,
    creators: pd.DataFrame,
    config: Config,
    decay: float,
    *,
    estimate: returns.ReturnsEstimate | None = None,
    calibration: ValueCalibration | None = None,
    history: pd.DataFrame | None = None,
    top_slots: pd.DataFrame | None = None,
    display: pd.DataFrame | None = None,
    pool: PoolReport | None = None,
) -> tuple[pd.DataFrame, AllocationReport]:
    """Assign each eligible seller's remaining free videos across its candidate creators.

    ``matches`` holds the candidate pairs (``merchant_id``, ``creator_id``, ``score``, and
    ``fit`` for the expected objective): the eligible sellers' display rows, or their own
    pool (:func:`matching.allocation.pool.widen`), then ``display`` is the display rows (the value
    calibration's seller means, the display list's max-flow limit) and ``pool`` says how the
    pool was found. ``top_slots``, every match ranked within :data:`TOP_SLOTS`, feeds the
    fairness figures (:func:`matching.data.kept.kept_rows`); by default both come from ``matches``.

    The pairs' worth is :func:`pair_worth`; each seller's :func:`fill_floor` of
    ``allocation.min_fill`` is placed first where capacity allows, then value decides
    (:func:`matching.allocation.flow.allocate`). ``estimate`` is the decay's estimate, reported.
    Returns the ``allocation`` table (its ``expected_gmv_usd`` what the allocator maximised)
    and its report (objective, placed videos, max-flow limits, greedy baseline, the decay's
    evidence, the calibration, fairness, each seller's fill and why it is short; the solver,
    and the dual bound when it is the decomposition, see :func:`solve`).
    """
    fair_rows = matches if top_slots is None else top_slots
    eligible = status.loc[status["eligible"].to_numpy(bool), "merchant_id"]
    matches = matches[matches["merchant_id"].isin(eligible).to_numpy()]
    value, p_take, shift = pair_worth(
        matches, config, calibration=calibration, history=history, display=display
    )
    worth = value if p_take is None else value * p_take
    problem, pairs, elig = quota_problem(matches, status, creators, config, decay, worth)
    s, c = problem.seller, problem.creator
    horizon = policy.allocation_horizon(status)
    best, greedy = _solve_with_baseline(problem, config.allocation)
    take = best.videos > 0
    out = pd.DataFrame(
        {
            "merchant_id": pairs["merchant_id"].to_numpy(dtype=object)[take],
            "creator_id": pairs["creator_id"].to_numpy(dtype=object)[take],
            "videos": best.videos[take].astype(np.int64),
            "expected_gmv_usd": best.expected_value[take],
            "window_end": elig["window_end"].to_numpy()[s[take]],
        }
    ).sort_values(
        ["merchant_id", "videos", "creator_id"], ascending=[True, False, True], ignore_index=True
    )
    used_cap = problem.level_capacity[np.unique(c[take]), -1].sum() if take.any() else 0
    raw = dataclasses.replace(problem, value=np.clip(pairs["score"].to_numpy(float), 0, None))
    if_taken = dataclasses.replace(problem, value=np.clip(value, 0, None))
    display_flow = None
    if display is not None:
        display_flow = flow.max_flow_limit(
            quota_problem(display, status, creators, config, decay, min_fill=0.0)[0]
        )
    report = AllocationReport(
        eligible_sellers=int(len(elig)),
        sellers_served=int(out["merchant_id"].nunique()),
        remaining_quota=int(elig["remaining_quota"].sum()),
        videos_placed=int(best.placed),
        max_flow_limit=int(best.max_flow),
        expected_gmv_usd=float(best.objective),
        greedy_expected_gmv_usd=float(greedy.objective),
        greedy_gap=float(1 - greedy.objective / best.objective) if best.objective > 0 else 0.0,
        creators_used=int(out["creator_id"].nunique()),
        creator_utilisation=float(best.placed / used_cap) if used_cap else 0.0,
        horizon_days=int(horizon),
        repeat_decay=float(decay),
        returns=estimate,
        value_calibration=calibration,
        expected_gmv_uncalibrated_usd=float(raw.pair_value(best.videos).sum())
        if problem.n_pairs
        else 0.0,
        fairness=fairness(out, status, fair_rows, len(creators)),
        solver=best.solver,
        dual=DualReport(best.dual_bound, best.gap, best.iterations)
        if isinstance(best, DualResult)
        else None,
        objective="value" if p_take is None else "expected",
        offer_logit_shift=shift,
        expected_gmv_if_taken_usd=float(if_taken.pair_value(best.videos).sum())
        if problem.n_pairs
        else 0.0,
        min_fill=float(config.allocation.min_fill),
        floor_videos=int(problem.floor.sum()),
        floor_placed=int(best.floor_placed),
        greedy_floor_placed=int(greedy.floor_placed),
        max_flow_limit_display=display_flow,
        pool=pool,
        sellers=seller_fill(problem, elig, best.videos),
    )
    return out, report


def seller_fill(
    problem: alloc.AllocationProblem, elig: pd.DataFrame, videos: np.ndarray
) -> tuple[SellerFill, ...]:
    """Each eligible seller's promise: owed, placed, fill, its floor, its pool, and for a
    seller under its floor the first reason that holds: ``too few candidates`` (its pool's
    creators could not make the floor even if no other seller used them, whatever the
    window), ``days left`` (they could over the whole horizon, not before its window ends),
    ``creator capacity`` (they could, but other sellers use them)."""
    n = problem.n_sellers
    s = problem.seller
    placed = np.bincount(s, weights=videos, minlength=n).astype(np.int64)
    alone_window = np.minimum(problem.pair_cap, problem.pair_capacity())
    alone_horizon = np.minimum(problem.pair_cap, problem.level_capacity[problem.creator, -1])
    window = np.bincount(s, weights=alone_window, minlength=n)
    horizon = np.bincount(s, weights=alone_horizon, minlength=n)
    pool = np.bincount(s, minlength=n)
    floor = problem.floor
    short = placed < floor
    reason = np.where(
        ~short,
        None,
        np.where(
            horizon < floor,
            "too few candidates",
            np.where(window < floor, "days left", "creator capacity"),
        ),
    )
    owed = problem.quota
    return tuple(
        SellerFill(
            merchant_id=str(m),
            owed=int(q),
            placed=int(p),
            fill=float(p / q) if q else 1.0,
            floor=int(f),
            pool_creators=int(k),
            reason=r,
        )
        for m, q, p, f, k, r in zip(
            elig["merchant_id"].to_numpy(dtype=object),
            owed,
            placed,
            floor,
            pool,
            reason,
            strict=True,
        )
    )


def fill_sweep(
    matches: pd.DataFrame,
    status: pd.DataFrame,
    creators: pd.DataFrame,
    config: Config,
    decay: float,
    floors=None,
    **worth,
) -> pd.DataFrame:
    """The price of fairness: the exact allocation at each floor (default
    ``allocation.fill_sweep``), one row each: the floor, expected GMV and its ratio to the
    allocation without a floor, videos placed, floor videos owed and placed, the lowest and
    median fill. ``worth`` goes to :func:`pair_worth` (``calibration``, ``history``,
    ``display``)."""
    floors = config.allocation.fill_sweep if floors is None else floors
    value, p_take, _ = pair_worth(matches, config, **worth)
    value = value if p_take is None else value * p_take
    rows = []
    for f in floors:
        problem, _, _ = quota_problem(matches, status, creators, config, decay, value, min_fill=f)
        res = flow.allocate(problem)
        placed = np.bincount(problem.seller, weights=res.videos, minlength=problem.n_sellers)
        fill = placed / np.maximum(problem.quota, 1)
        rows.append(
            {
                "min_fill": float(f),
                "expected_gmv_usd": res.objective,
                "videos_placed": res.placed,
                "floor_videos": int(problem.floor.sum()),
                "floor_placed": res.floor_placed,
                "fill_min": float(fill.min()) if fill.size else np.nan,
                "fill_median": float(np.median(fill)) if fill.size else np.nan,
            }
        )
    out = pd.DataFrame(rows)
    base = out.loc[out["min_fill"] == 0, "expected_gmv_usd"]
    ref = float(base.iloc[0]) if len(base) else float(out["expected_gmv_usd"].max())
    out["gmv_vs_no_floor"] = out["expected_gmv_usd"] / ref if ref > 0 else np.nan
    return out


def _solve_with_baseline(
    problem: alloc.AllocationProblem, config: AllocationConfig
) -> tuple[flow.AllocationResult, flow.AllocationResult]:
    """:func:`solve` and the greedy baseline; from ``greedy_apart_min_pairs`` pairs on the
    baseline runs in its own process meanwhile (both hold the GIL; on 2 cores at 100k x 1M
    this takes most of its ~6 s off the run)."""
    limit = config.greedy_apart_min_pairs
    if limit is None or problem.n_pairs < limit:
        return solve(problem, config), flow.greedy_allocate(problem)
    with InProcess(flow.greedy_allocate, problem, name="greedy baseline") as greedy:
        best = solve(problem, config)
        return best, greedy.result()


def solve(problem: alloc.AllocationProblem, config: AllocationConfig) -> flow.AllocationResult:
    """The allocation by ``config.solver``: the exact min-cost flow, or the dual
    decomposition (``auto``: from ``config.dual_min_pairs`` candidate pairs on; never with a
    fill floor, which only the min-cost flow keeps)."""
    dual = config.solver == "dual" or (
        config.solver == "auto" and problem.n_pairs >= config.dual_min_pairs
    )
    if dual and problem.floor.any():
        log.warning("the dual decomposition has no fill floor: allocating by min-cost flow")
        dual = False
    if dual:
        log.info("allocating %d candidate pairs by dual decomposition", problem.n_pairs)
        res = dual_allocate(problem, iterations=config.dual_iterations, tol=config.dual_tol)
        log.info(
            "dual decomposition: %.6g expected GMV, bound %.6g (gap %.3f%%) after %d iterations",
            res.objective,
            res.dual_bound,
            100 * res.gap,
            res.iterations,
        )
        return res
    return flow.allocate(problem)


def fairness(
    allocation: pd.DataFrame, status: pd.DataFrame, matches: pd.DataFrame, n_creators: int
) -> FairnessReport:
    """How evenly an allocation shares the free videos: per-seller fill rate, creator
    concentration, certified sellers' shares (:class:`matching.allocation.summary.FairnessReport`)."""
    elig = status[status["eligible"].to_numpy(bool)]
    placed = allocation["videos"].groupby(allocation["merchant_id"].astype(object)).sum()
    quota = elig["remaining_quota"].to_numpy(float)
    got = placed.reindex(elig["merchant_id"].to_numpy(dtype=object), fill_value=0).to_numpy(float)
    fill = got / np.maximum(quota, 1)
    videos = allocation["videos"].groupby(allocation["creator_id"].astype(object)).sum().to_numpy()
    catalogue = np.zeros(max(n_creators, videos.size))
    catalogue[: videos.size] = videos
    certified = pd.Series(
        status["certified"].to_numpy(bool), index=status["merchant_id"].to_numpy(dtype=object)
    )
    cert_videos = allocation["videos"].to_numpy(float) @ certified.reindex(
        allocation["merchant_id"].to_numpy(dtype=object), fill_value=False
    ).to_numpy(float)
    top = matches[matches["rank"] <= TOP_SLOTS]
    slots = top["creator_id"].value_counts()
    leaders = slots.index[: max(1, int(np.ceil(TOP_CREATOR_SHARE * n_creators)))]
    lead = top[top["creator_id"].isin(leaders)]

    def number(x: float) -> float | None:
        return None if not np.isfinite(x) else float(x)

    return FairnessReport(
        fill_rate_min=number(fill.min()) if fill.size else None,
        fill_rate_median=number(np.median(fill)) if fill.size else None,
        sellers_filled=number((got >= quota).mean()) if fill.size else None,
        creator_gini=number(metrics.gini(videos)) if videos.size else None,
        creator_hhi=number(metrics.herfindahl(videos)) if videos.size else None,
        top_1pct_creator_share=number(metrics.top_share(catalogue, TOP_CREATOR_SHARE))
        if videos.size
        else None,
        certified_video_share=number(cert_videos / videos.sum()) if videos.size else None,
        certified_top_slot_share=number(lead["certified_super_top"].mean()) if len(lead) else None,
    )
