"""The two jobs, composed from the stages: ``train`` and ``match``.

tables -> features -> candidates -> scores -> allocation -> tables. File access
goes through :mod:`matching.data`, MLflow through :mod:`matching.tracking`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from matching import allocation as alloc
from matching import data, policy, tracking
from matching.config import Config
from matching.features import _codes
from matching.ranking import MatchRanker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    ranker: MatchRanker
    metrics: dict[str, float]
    report: pd.DataFrame | None  # evaluation against the ground truth, when there is one
    tradeoff: pd.DataFrame | None  # the certified-weight sweep, when there is a ground truth
    model_uri: str | None


def _flat(cfg: Config) -> dict[str, object]:
    return {f"{sec}.{k}": v for sec, vals in cfg.model_dump().items() for k, v in vals.items()}


def train(data_dir: str | os.PathLike, config: Config, model_dir: str | os.PathLike, *,
          track: bool = True, progress: bool = False, evaluate: bool = True) -> TrainResult:  # fmt: skip
    """Fit the ranker on a data folder, evaluate it (against ``truth/`` when present),
    save the model directory and log the run to MLflow."""
    from matching import evaluation, plots

    inputs = data.read_inputs(data_dir)
    with tracking.run(config.tracking.experiment, "train", enabled=track):
        ranker = MatchRanker(features=config.features, candidates=config.candidates,
                             ranking=config.ranking, progress=progress)  # fmt: skip
        ranker.fit(inputs.merchants, inputs.creators, inputs.collaborations)
        metrics = dict(ranker.validation_)
        report = tradeoff = None
        truth = data.read_truth(data_dir) if evaluate else None
        if truth is not None:
            report = evaluation.evaluate(ranker, truth)
            lift = evaluation.lift_over_baselines(report)
            for seg, row in lift.iterrows():
                metrics[f"ndcg@10_{seg}"] = row["model"]
                metrics[f"ndcg@10_{seg}_best_baseline"] = row["best_baseline"]
                metrics[f"ndcg@10_{seg}_lift"] = row["lift"]
                metrics[f"ndcg@10_{seg}_lift_over_heuristic"] = row["lift_over_heuristic"]
            cand = report[report["method"] == "candidates"].set_index("segment")
            metrics["candidate_recall"] = float(cand.iloc[:, -1].get("all", np.nan))
            tradeoff = evaluation.priority_tradeoff(ranker, truth, config.ranking.sweep_weights)
        data.save_model(ranker, model_dir, config, metrics)
        model_uri = None
        if track:
            tracking.log_params(_flat(config))
            tracking.log_metrics(metrics)
            if report is not None:
                tracking.log_table(report, "evaluation.json")
            if tradeoff is not None:
                tracking.log_table(tradeoff, "certified_weight_sweep.json")
                tracking.log_figure(plots.priority_tradeoff(tradeoff).figure, "certified_weight_sweep.png")
            model_uri = tracking.log_model(model_dir, config.tracking.registered_model, config.tracking.alias)
    return TrainResult(ranker, metrics, report, tradeoff, model_uri)


def allocate_quota(matches: pd.DataFrame, status: pd.DataFrame, creators: pd.DataFrame, config: Config,
                   decay: float) -> tuple[pd.DataFrame, dict[str, float]]:  # fmt: skip
    """Assign each eligible seller's remaining free videos across its matched creators.

    Returns the ``allocation`` table and the solver's report (objective, placed
    videos, max-flow limit, greedy baseline).
    """
    elig = status[status["eligible"]].reset_index(drop=True)
    seller_index = pd.Index(elig["merchant_id"].astype(object))
    creator_index = pd.Index(creators["creator_id"].astype(object))
    pairs = matches[matches["merchant_id"].isin(seller_index)]
    s = _codes(pairs["merchant_id"], seller_index)
    c = _codes(pairs["creator_id"], creator_index)
    horizon = policy.allocation_horizon(status)
    problem = alloc.build_problem(
        s, c, np.clip(pairs["score"].to_numpy(float), 0, None),
        quota=elig["remaining_quota"].to_numpy(np.int64), quota_total=elig["quota"].to_numpy(np.int64),
        capacity=policy.creator_capacity(creators, horizon), config=config.allocation, decay=decay,
    )  # fmt: skip
    best = alloc.allocate(problem)
    greedy = alloc.greedy_allocate(problem)
    take = best.videos > 0
    out = pd.DataFrame({
        "merchant_id": pairs["merchant_id"].to_numpy(dtype=object)[take],
        "creator_id": pairs["creator_id"].to_numpy(dtype=object)[take],
        "videos": best.videos[take].astype(np.int64),
        "expected_gmv_usd": best.expected_value[take],
        "window_end": elig["window_end"].to_numpy()[s[take]],
    }).sort_values(["merchant_id", "videos", "creator_id"], ascending=[True, False, True], ignore_index=True)  # fmt: skip
    used_cap = problem.capacity[np.unique(c[take])].sum() if take.any() else 0
    report = {
        "eligible_sellers": int(len(elig)),
        "sellers_served": int(out["merchant_id"].nunique()),
        "remaining_quota": int(elig["remaining_quota"].sum()),
        "videos_placed": int(best.placed),
        "max_flow_limit": int(best.max_flow),
        "expected_gmv_usd": float(best.objective),
        "greedy_expected_gmv_usd": float(greedy.objective),
        "greedy_gap": float(1 - greedy.objective / best.objective) if best.objective > 0 else 0.0,
        "creators_used": int(out["creator_id"].nunique()),
        "creator_utilisation": float(best.placed / used_cap) if used_cap else 0.0,
        "horizon_days": int(horizon),
        "repeat_decay": float(decay),
    }
    return out, report


def history_decay(collaborations: pd.DataFrame, default: float) -> float:
    """The repeat decay of short videos of one pair, estimated from the history."""
    sv = collaborations[collaborations["content_type"] == "short_video"]
    if sv.empty:
        return default
    pair = pd.factorize(sv["merchant_id"].astype(str) + "\x1f" + sv["creator_id"].astype(str))[0]
    order = np.lexsort((sv["posted_at"].to_numpy(), pair))
    videos = sv["videos"].to_numpy(np.int64)[order]
    g = pair[order]
    before = pd.Series(videos).groupby(g).cumsum().to_numpy() - videos
    return alloc.estimate_decay(g, videos, sv["gmv_usd"].to_numpy(float)[order], default=default,
                                prior_videos=before)  # fmt: skip


def match(data_dir: str | os.PathLike, model_dir: str | os.PathLike, out_dir: str | os.PathLike,
          config: Config | None = None, *, top_k: int | None = None, as_of: date | None = None,
          progress: bool = False) -> dict:  # fmt: skip
    """Rank creators for every merchant and allocate the free videos; write both tables
    and ``summary.json`` to ``out_dir`` atomically. Returns the summary."""
    saved = data.load_model(model_dir)
    cfg = config or saved.config
    as_of = as_of or date.today()
    inputs = data.read_inputs(data_dir)
    status = policy.seller_status(inputs.merchants, cfg.program, as_of)
    if not (pd.Timestamp(cfg.program.start) <= pd.Timestamp(as_of) <= pd.Timestamp(cfg.program.end)
            + pd.Timedelta(days=cfg.program.window_days)):  # fmt: skip
        log.warning("as-of %s is outside the program (%s to %s plus the %d-day windows): no seller is "
                    "eligible for free videos; matches are still written", as_of, cfg.program.start,
                    cfg.program.end, cfg.program.window_days)  # fmt: skip
    ranker = saved.ranker.with_data(inputs.merchants, inputs.creators, inputs.collaborations, as_of)
    ranker.progress = progress
    k = top_k or cfg.match.top_k
    matches = ranker.recommend(k=k, certified=status["certified"].to_numpy(bool))
    decay = history_decay(inputs.collaborations[inputs.collaborations["posted_at"] < pd.Timestamp(as_of)],
                          cfg.allocation.default_decay)  # fmt: skip
    allocation, report = allocate_quota(matches, status, inputs.creators, cfg, decay)
    summary = {
        "as_of": as_of.isoformat(),
        "merchants": int(len(inputs.merchants)),
        "creators": int(len(inputs.creators)),
        "matches": int(len(matches)),
        "certified_sellers": int(status["certified"].sum()),
        **report,
        "allocation_rows": int(len(allocation)),
    }
    data.write_outputs(out_dir, matches, allocation, summary)
    return summary
