"""The allocation step of ``match``: the eligible sellers' matched pairs as an allocation
problem (:func:`quota_problem`), solved (:func:`solve`: exact, or by dual decomposition at
scale) and reported (:func:`allocate_quota`, with the :func:`fairness` figures).
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pandas as pd

from matching import allocation as alloc
from matching import metrics, policy, returns
from matching.calibration import ValueCalibration, seller_means, uncertainty
from matching.config import AllocationConfig, Config
from matching.contract import row_positions
from matching.decomposition import DualResult, dual_allocate
from matching.kept import TOP_SLOTS
from matching.summary import AllocationReport, DualReport, FairnessReport

__all__ = ["TOP_CREATOR_SHARE", "allocate_quota", "fairness", "quota_problem", "solve"]

log = logging.getLogger(__name__)

TOP_CREATOR_SHARE = 0.01
"""The fairness figures' "top creators": the 1% given most videos or most top slots."""


def quota_problem(
    matches: pd.DataFrame,
    status: pd.DataFrame,
    creators: pd.DataFrame,
    config: Config,
    decay: float,
    value: np.ndarray | None = None,
) -> tuple[alloc.AllocationProblem, pd.DataFrame, pd.DataFrame]:
    """The allocation problem of the eligible sellers' matched pairs.

    Each seller uses a creator only until its own window ends: capacity is indexed by the
    sellers' window lengths (:func:`matching.policy.creator_capacity_by_window`).
    ``value`` replaces the pairs' ``score`` (one per row of ``matches``) when given.
    Returns the problem, its pairs (rows of ``matches``) and the eligible sellers (rows of
    ``status``), both in problem order.
    """
    elig = status[status["eligible"]].reset_index(drop=True)
    keep = matches["merchant_id"].isin(elig["merchant_id"]).to_numpy()
    pairs = matches[keep]
    score = pairs["score"].to_numpy(float) if value is None else np.asarray(value, float)[keep]
    s = row_positions(pairs["merchant_id"], elig["merchant_id"])
    c = row_positions(pairs["creator_id"], creators["creator_id"])
    days = elig["days_left"].to_numpy(np.int64)
    windows, level = np.unique(days, return_inverse=True)
    if not windows.size:  # nobody eligible: one empty window level
        windows = np.zeros(1, dtype=np.int64)
    problem = alloc.build_problem(
        s,
        c,
        np.clip(score, 0, None),
        quota=elig["remaining_quota"].to_numpy(np.int64),
        quota_total=elig["quota"].to_numpy(np.int64),
        capacity=policy.creator_capacity_by_window(creators, windows),
        config=config.allocation,
        decay=decay,
        seller_level=level,
    )
    return problem, pairs, elig


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
) -> tuple[pd.DataFrame, AllocationReport]:
    """Assign each eligible seller's remaining free videos across its matched creators.

    ``matches`` needs only the eligible sellers' rows (``merchant_id``, ``creator_id``,
    ``score``) when ``top_slots``, every match ranked within :data:`TOP_SLOTS`, is given for
    the fairness figures (:func:`matching.kept.kept_rows`); by default both come from ``matches``.

    With a ``calibration`` (:func:`matching.pipeline.value_calibration`) the pairs' scores
    are shrunk before allocating (``history``, the collaborations before the as-of date, then
    says how much is known of each creator and seller); ``estimate`` is the decay's
    estimate, reported.
    Returns the ``allocation`` table (its ``expected_gmv_usd`` from the values allocated)
    and its report (objective, placed videos, max-flow limit, greedy baseline, the decay's
    evidence, the calibration, fairness; the solver, and the dual bound when it is the
    decomposition, see :func:`solve`).
    """
    score = np.clip(matches["score"].to_numpy(float), 0, None)
    value = None
    if calibration is not None:
        if history is None:
            raise ValueError("a value calibration needs the history before the as-of date")
        value = calibration.shrink(
            score,
            seller_means(matches["merchant_id"], score),
            uncertainty(matches["creator_id"], history),
            uncertainty(matches["merchant_id"], history, "merchant_id"),
        )
    problem, pairs, elig = quota_problem(matches, status, creators, config, decay, value)
    s, c = problem.seller, problem.creator
    horizon = policy.allocation_horizon(status)
    best = solve(problem, config.allocation)
    greedy = alloc.greedy_allocate(problem)
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
        fairness=fairness(out, status, matches if top_slots is None else top_slots, len(creators)),
        solver=best.solver,
        dual=DualReport(best.dual_bound, best.gap, best.iterations)
        if isinstance(best, DualResult)
        else None,
    )
    return out, report


def solve(problem: alloc.AllocationProblem, config: AllocationConfig) -> alloc.AllocationResult:
    """The allocation by ``config.solver``: the exact min-cost flow, or the dual
    decomposition (``auto``: from ``config.dual_min_pairs`` candidate pairs on)."""
    if config.solver == "dual" or (
        config.solver == "auto" and problem.n_pairs >= config.dual_min_pairs
    ):
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
    return alloc.allocate(problem)


def fairness(
    allocation: pd.DataFrame, status: pd.DataFrame, matches: pd.DataFrame, n_creators: int
) -> FairnessReport:
    """How evenly an allocation shares the free videos: per-seller fill rate, creator
    concentration, certified sellers' shares (:class:`matching.summary.FairnessReport`)."""
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
