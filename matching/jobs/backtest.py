"""How far to trust the allocation's numbers: an allocation made as of an earlier date,
valued with what the history shows afterwards.

:func:`backtest` runs it: the ranker, the decay and the value
calibration see only the history before the as-of date; the sellers are the merchants that
made short videos in the window after it, each with as many videos to place as it made;
the candidate pairs are the pairs that really worked together then (the only ones whose
outcome is known), each valued by what it realised per first video. Over those same pairs
and quotas (the program's per-pair caps, the creators' weekly capacity over the window)
the backtest compares matching's allocation with greedy's, with what the merchants did,
and with the best allocation computed from the realised outcomes. The best is an
optimistic yardstick: it is chosen knowing each pair's luck.

:func:`backtest` is the job (like :func:`matching.jobs.pipeline.match`: it reads, fits and
allocates); the other functions are its arithmetic.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from matching import data
from matching.allocation import flow, policy
from matching.allocation import problem as alloc
from matching.allocation.calibration import ValueCalibration, seller_means, uncertainty
from matching.allocation.problem import AllocationProblem
from matching.allocation.returns import ReturnsEstimate, geometric_sum, history_returns
from matching.config import Config
from matching.data.contract import SHORT_VIDEO, row_positions
from matching.errors import DataError
from matching.jobs.pipeline import check_history, value_calibration
from matching.ranking.ranker import MatchRanker

__all__ = ["BacktestResult", "Outcome", "backtest", "observed_pairs", "outcomes"]

log = logging.getLogger(__name__)


def observed_pairs(later: pd.DataFrame, decay: float) -> pd.DataFrame:
    """The pairs that made short videos in ``later``, with what they realised.

    Returns one row per (``merchant_id``, ``creator_id``), in id order: ``videos`` made,
    ``gmv_usd`` realised, and ``value_usd``, the realised GMV of a first video (the GMV
    over the videos counted with ``decay`` within each collaboration).
    """
    sv = later[later["content_type"] == SHORT_VIDEO]
    firsts = geometric_sum(decay, sv["videos"].to_numpy(np.int64))
    frame = pd.DataFrame(
        {
            "merchant_id": sv["merchant_id"].to_numpy(dtype=object),
            "creator_id": sv["creator_id"].to_numpy(dtype=object),
            "videos": sv["videos"].to_numpy(np.int64),
            "gmv_usd": sv["gmv_usd"].to_numpy(float),
            "firsts": firsts,
        }
    )
    out = frame.groupby(["merchant_id", "creator_id"], sort=True, as_index=False).sum()
    out["value_usd"] = out["gmv_usd"] / out["firsts"]
    return out.drop(columns="firsts")


@dataclass(frozen=True)
class Outcome:
    """One allocation of the backtest's videos, valued with the realised outcomes.

    Attributes
    ----------
    allocation : which allocation.
    videos : videos it placed.
    pairs : pairs it used.
    predicted_usd : what it expected (None when it predicts nothing).
    realised_usd : what the pairs realised for those videos.
    """

    allocation: str
    videos: int
    pairs: int
    predicted_usd: float | None
    realised_usd: float


def outcomes(
    problem: AllocationProblem,
    allocations: dict[str, tuple[np.ndarray, float | None]],
    realised_value: np.ndarray,
    realised_decay: float,
) -> tuple[Outcome, ...]:
    """Value each allocation (videos per pair of ``problem``, and what it predicted) with
    the pairs' realised first-video values and the realised decay."""
    out = []
    for name, (videos, predicted) in allocations.items():
        videos = np.asarray(videos, dtype=np.int64)
        realised = float((realised_value * geometric_sum(realised_decay, videos)).sum())
        out.append(
            Outcome(
                allocation=name,
                videos=int(videos.sum()),
                pairs=int((videos > 0).sum()),
                predicted_usd=None if predicted is None else float(predicted),
                realised_usd=realised,
            )
        )
    return tuple(out)


@dataclass(frozen=True)
class BacktestResult:
    """What :func:`backtest` found.

    Attributes
    ----------
    as_of, end : the allocation's date and the last day of the window it is valued on.
    sellers, pairs, videos : merchants, pairs and short videos of that window.
    refitted : whether the ranker was refitted on the history before ``as_of`` (the saved
        model had seen later collaborations).
    returns : the decay estimated from the history before ``as_of`` (the allocation's).
    realised_returns : the decay estimated from the history up to ``end`` (the valuation's).
    calibration : the value calibration the allocation used (None: scores as they are).
    outcomes : each allocation, valued; ``"best"`` is the denominator.
    """

    as_of: date
    end: date
    sellers: int
    pairs: int
    videos: int
    refitted: bool
    returns: ReturnsEstimate
    realised_returns: ReturnsEstimate
    calibration: ValueCalibration | None
    outcomes: tuple[Outcome, ...]

    def table(self) -> pd.DataFrame:
        """One row per allocation: videos, pairs, predicted and realised GMV, realised over
        predicted, and realised over the best allocation's."""
        t = pd.DataFrame([o.__dict__ for o in self.outcomes])
        best = t.loc[t["allocation"] == "best", "realised_usd"].iloc[0]
        t["realised_over_predicted"] = t["realised_usd"] / t["predicted_usd"].astype(float)
        t["realised_over_best"] = t["realised_usd"] / best if best > 0 else np.nan
        return t


def backtest(
    data_dir: str | os.PathLike,
    model_dir: str | os.PathLike,
    as_of: date,
    config: Config | None = None,
    *,
    days: int | None = None,
    progress: bool = False,
) -> BacktestResult:
    """Allocate as of ``as_of`` with only the history before it, and value the allocation
    with what the ``days`` after it show (default ``program.window_days``); see
    :mod:`matching.jobs.backtest`.

    The saved model is used as it is when it was trained on no later collaboration;
    otherwise a ranker with its settings is refitted on the history before ``as_of``
    (logged), so nothing from the window leaks into the allocation.

    Raises
    ------
    matching.errors.DataError
        When the window holds no short-video collaboration, or the history before
        ``as_of`` is too short to train on.
    """
    saved = data.load_model(model_dir)
    cfg = config or saved.config
    days = cfg.program.window_days if days is None else days
    if days < 1:
        raise DataError(f"days must be at least 1, got {days}")
    inputs = data.read_inputs(data_dir)
    posted = inputs.collaborations["posted_at"]
    start, end = pd.Timestamp(as_of), pd.Timestamp(as_of) + pd.Timedelta(days=days)
    before = inputs.collaborations[posted < start]
    later = inputs.collaborations[(posted >= start) & (posted < end)]
    if not (later["content_type"] == SHORT_VIDEO).any():
        raise DataError(
            f"collaborations: no short videos from {start:%Y-%m-%d} to {end:%Y-%m-%d} "
            "to value an allocation with (choose an earlier --as-of)"
        )
    refitted = bool(saved.ranker.as_of_ > start)
    if refitted:
        log.info(
            "the model was trained on collaborations up to %s: refitting a ranker with its "
            "settings on the history before %s",
            f"{saved.ranker.as_of_:%Y-%m-%d}",
            as_of,
        )
        check_history(before, cfg.ranking)
        ranker = MatchRanker(
            features=cfg.features,
            candidates=cfg.candidates,
            ranking=cfg.ranking,
            progress=progress,
        ).fit(inputs.merchants, inputs.creators, before, as_of=start)
    else:
        ranker = saved.ranker.with_data(inputs.merchants, inputs.creators, before, start)
    estimate = history_returns(before, cfg.allocation)
    calibration = None
    if cfg.allocation.calibrate_values:
        calibration = value_calibration(
            ranker, inputs.merchants, inputs.creators, before, start, cfg, estimate.decay
        )
    realised_returns = history_returns(inputs.collaborations[posted < end], cfg.allocation)
    pairs = observed_pairs(later, realised_returns.decay)
    m = row_positions(pairs["merchant_id"], inputs.merchants["merchant_id"])
    c = row_positions(pairs["creator_id"], inputs.creators["creator_id"])
    score, _ = ranker.score_pairs(m, c)
    sellers, s = np.unique(m, return_inverse=True)
    quota = np.bincount(s, pairs["videos"].to_numpy(np.int64)).astype(np.int64)
    problem = alloc.build_problem(
        s,
        c,
        np.clip(score, 0, None),
        quota=quota,
        quota_total=np.full(sellers.size, cfg.program.free_videos),
        capacity=policy.creator_capacity(inputs.creators, days),
        config=cfg.allocation,
        decay=estimate.decay,
    )
    shrunk = problem
    if calibration is not None:
        candidates = ranker.recommend(k=cfg.match.top_k, merchants=sellers)
        means = (
            pd.Series(
                seller_means(candidates["merchant_id"], candidates["score"]),
                index=candidates["merchant_id"].to_numpy(),
            )
            .groupby(level=0)
            .first()
        )
        shrunk = dataclasses.replace(
            problem,
            value=calibration.shrink(
                score,
                means.reindex(pairs["merchant_id"].to_numpy()).to_numpy(),
                uncertainty(pairs["creator_id"], before),
                uncertainty(pairs["merchant_id"], before, "merchant_id"),
            ),
        )
    ours, raw, greedy = (
        flow.allocate(shrunk),
        flow.allocate(problem),
        flow.greedy_allocate(shrunk),
    )
    realised = pairs["value_usd"].to_numpy(float)
    best = flow.allocate(dataclasses.replace(problem, value=realised, decay=realised_returns.decay))
    found = outcomes(
        problem,
        {
            "matching": (ours.videos, ours.objective),
            "matching, scores as they are": (raw.videos, raw.objective),
            "greedy": (greedy.videos, greedy.objective),
            "as the merchants did": (pairs["videos"].to_numpy(np.int64), None),
            "best": (best.videos, None),
        },
        realised,
        realised_returns.decay,
    )
    return BacktestResult(
        as_of=as_of,
        end=(end - pd.Timedelta(days=1)).date(),
        sellers=int(sellers.size),
        pairs=int(len(pairs)),
        videos=int(quota.sum()),
        refitted=refitted,
        returns=estimate,
        realised_returns=realised_returns,
        calibration=calibration,
        outcomes=found,
    )
