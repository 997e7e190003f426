"""The two jobs, composed from the stages: ``train`` and ``match``.

tables -> features -> candidates -> scores -> allocation -> tables. File access
goes through :mod:`matching.data`, MLflow through :mod:`matching.jobs.tracking` (imported by
``train`` only).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from matching import data
from matching.allocation import policy, returns
from matching.allocation.calibration import (
    ValueCalibration,
    fit_value_calibration,
    seller_means,
    uncertainty,
)
from matching.allocation.pool import final_matches, widen
from matching.allocation.quota import allocate_quota, fairness, fill_sweep
from matching.allocation.summary import AllocationReport, RunSummary
from matching.config import Config, RankingConfig, load_config
from matching.data import memory
from matching.data.contract import default_as_of, row_positions
from matching.data.kept import KeptMatches
from matching.data.truth import read_truth
from matching.errors import DataError
from matching.ranking.ranker import MatchRanker, window_starts

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    ranker: MatchRanker
    metrics: dict[str, float]
    report: pd.DataFrame | None  # evaluation against the ground truth, when there is one
    tradeoff: pd.DataFrame | None  # the certified-weight sweep, when there is a ground truth
    model_uri: str | None
    run_id: str | None = None  # the MLflow run, when tracked
    calibration: ValueCalibration | None = None  # saved with the model, applied by match


CALIBRATION_KEY = "value_calibration"
"""The entry of ``model.json`` holding the value calibration ``train`` measured (null: too
few first collaborations in its window); absent when it did not measure one."""
_FIRST_DAY, _LAST_DAY = date(1678, 1, 1), date(2261, 12, 31)
"""The as-of dates pandas can hold with room for the program's windows."""


class Engine(Protocol):
    """Where ``match`` reads its inputs and ranks the merchants; everything else (seller
    status, calibration, allocation, summary, publish) runs in this process the same way.
    :class:`LocalEngine` is the default; :class:`matching.jobs.spark.SparkEngine` runs the ranking
    on Apache Spark. ``recommend_blocks`` gives ``recommend``'s frame in blocks of whole
    merchants, in order, for ``match`` to write as they come."""

    def input_sizes(self, data_dir) -> dict[str, data.TableSize]: ...

    def read_inputs(self, data_dir) -> data.Inputs: ...

    def recommend(
        self,
        ranker: MatchRanker,
        k: int,
        *,
        merchants: np.ndarray | None = None,
        certified: np.ndarray | None = None,
        block: int | None = None,
    ) -> pd.DataFrame: ...

    def recommend_blocks(
        self, ranker: MatchRanker, k: int, *, merchants=None, certified=None, block=None
    ) -> Iterator[pd.DataFrame]: ...


class LocalEngine:
    """This process: the tables read from a local folder, the merchants ranked in blocks."""

    def input_sizes(self, data_dir) -> dict[str, data.TableSize]:
        return data.input_sizes(data_dir)

    def read_inputs(self, data_dir) -> data.Inputs:
        return data.read_inputs(data_dir)

    def recommend(self, ranker, k, *, merchants=None, certified=None, block=None) -> pd.DataFrame:
        return ranker.recommend(k=k, merchants=merchants, certified=certified, block=block)

    def recommend_blocks(self, ranker, k, *, merchants=None, certified=None, block=None):
        return ranker.recommend_blocks(k=k, merchants=merchants, certified=certified, block=block)


# --------------------------------------------------------------------------- train


def check_history(
    collaborations: pd.DataFrame, ranking: RankingConfig, source: str = "collaborations"
) -> None:
    """Refuse, before any fitting, a history too short for the rolling training windows
    (up to ``ranking.n_windows`` windows of ``ranking.validation_days`` days, ending the day
    after the last collaboration): at least two must start after the first collaboration,
    and one older than the most recent must hold collaborations."""
    if collaborations.empty:
        raise DataError(f"{source}: no collaborations; training learns from the history")
    posted = collaborations["posted_at"]
    first, last = posted.min(), posted.max()
    as_of = default_as_of(collaborations)
    span = pd.Timedelta(days=ranking.validation_days)
    starts = window_starts(first, as_of, ranking)
    if len(starts) < 2 or not any(((posted >= t) & (posted < t + span)).any() for t in starts[1:]):
        raise DataError(
            f"{source}: the history ({first:%Y-%m-%d} to {last:%Y-%m-%d}) is too short to train: training needs "
            f"at least two {ranking.validation_days}-day windows after the first collaboration, and "
            "collaborations in a window before the most recent one (ranking.validation_days, ranking.n_windows)"
        )


def _output_folder(path: str | os.PathLike) -> Path:
    """``path`` as a folder to write into, refused early when it is something else."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise DataError(f"{path}: not a folder")
    return path


def flat_params(cfg: Config) -> dict[str, object]:
    """Every field of ``cfg`` by ``section.field``: the parameters a tracked run logs."""
    sections = cfg.model_dump().items()  # a section added later may be None in an old model's
    return {f"{sec}.{k}": v for sec, vals in sections if vals for k, v in vals.items()}


def evaluation_sample(n_merchants: int, ranking: RankingConfig) -> np.ndarray | None:
    """Row positions of the merchants ``train`` evaluates: a fixed sample of
    ``ranking.evaluation_merchants`` when there are more, else None (all of them)."""
    cap = ranking.evaluation_merchants
    if cap is None or n_merchants <= cap:
        return None
    rng = np.random.default_rng(ranking.random_state)
    sample = np.sort(rng.choice(n_merchants, cap, replace=False))
    log.info("evaluating on a sample of %d of the %d merchants", cap, n_merchants)
    return sample


def training_inputs(data_dir, config: Config, track: bool) -> tuple[data.Inputs, int]:
    """The inputs a fit reads and the planned block size, after the cheap checks that fail
    first: the tracking store (when ``track``), the memory plan, then the length of the
    history (``train`` and ``tune``)."""
    from matching.jobs import tracking

    if track:
        tracking.check(config.tracking.experiment)
    block = memory.plan_blocks(data.input_sizes(data_dir), config.candidates, config.ranking)
    inputs = data.read_inputs(data_dir)
    source = inputs.sources.get("collaborations", "collaborations")
    check_history(inputs.collaborations, config.ranking, source)
    return inputs, block


def train(
    data_dir: str | os.PathLike,
    config: Config,
    model_dir: str | os.PathLike,
    *,
    track: bool = True,
    progress: bool = False,
    evaluate: bool = True,
) -> TrainResult:
    """Fit the ranker on a data folder, evaluate it (against ``truth/`` when present),
    save the model directory and log the run to MLflow.

    Cheap checks come first, so a bad run fails before any fitting: the tracking store
    (when ``track``), the memory plan, the inputs, the length of the history.
    """
    # MLflow is imported only where it is used, so `match` starts faster
    from matching.evaluation import offline as evaluation
    from matching.jobs import tracking
    from matching.jobs.plots import model as model_plots

    _output_folder(model_dir)
    inputs, block = training_inputs(data_dir, config, track)
    candidates = config.candidates.model_copy(update={"block_size": block})
    with tracking.run(config.tracking.experiment, "train", enabled=track) as active:
        ranker = MatchRanker(
            features=config.features,
            candidates=candidates,
            ranking=config.ranking,
            progress=progress,
        )
        ranker.fit(inputs.merchants, inputs.creators, inputs.collaborations)
        metrics = dict(ranker.validation_)
        calibration = None
        if config.allocation.calibrate_values:
            # measured once here, from the newest window's snapshot fit already built, and
            # saved with the model: match applies it without building a past snapshot again
            calibration = value_calibration(
                ranker,
                inputs.merchants,
                inputs.creators,
                inputs.collaborations,
                ranker.as_of_,
                config,
                returns.history_returns(inputs.collaborations, config.allocation).decay,
                block,
                past=ranker.at_window(),
            )
        del ranker.window_snapshot_  # its memory is the evaluation's now
        report = tradeoff = None
        truth = read_truth(data_dir) if evaluate else None
        if truth is not None:
            sample = evaluation_sample(len(inputs.merchants), config.ranking)
            if sample is not None:
                metrics["evaluation_merchants"] = len(sample)
            # the truly best creators of the catalogue as of the model's day, once for both
            catalogue = {"creators": inputs.creators, "as_of": ranker.as_of_}
            tops = evaluation.true_tops(
                truth, inputs.merchants, sample=sample, n_jobs=config.ranking.n_jobs, **catalogue
            )
            n_candidates = config.candidates.top_n + config.candidates.partner_top_n
            # and the model's lists, ranked once for both passes
            rec = evaluation.model_recommendations(ranker, n_candidates, sample)
            report = evaluation.evaluate(
                ranker,
                truth,
                inputs.merchants,
                inputs.creators,
                inputs.collaborations,
                as_of=ranker.as_of_,
                n_candidates=n_candidates,
                sample=sample,
                tops=tops,
                recommendations=rec,
                n_jobs=config.ranking.n_jobs,
            )
            lift = evaluation.lift_over_baselines(report)
            for seg, row in lift.iterrows():
                metrics[f"ndcg@10_{seg}"] = row["model"]
                metrics[f"ndcg@10_{seg}_best_baseline"] = row["best_baseline"]
                metrics[f"ndcg@10_{seg}_lift"] = row["lift"]
                metrics[f"ndcg@10_{seg}_lift_over_heuristic"] = row["lift_over_heuristic"]
            cand = report[report["method"] == "candidates"].set_index("segment")
            metrics["candidate_recall"] = float(cand.iloc[:, -1].get("all", np.nan))
            tradeoff = evaluation.priority_tradeoff(
                ranker,
                truth,
                config.ranking.sweep_weights,
                inputs.merchants,
                inputs.creators,
                sample=sample,
                tops=tops,
                recommendations=rec,
            )
            del rec
        extra = {}
        if config.allocation.calibrate_values:  # measured; None when the window was too thin
            extra[CALIBRATION_KEY] = (
                None if calibration is None else dataclasses.asdict(calibration)
            )
        data.save_model(ranker, model_dir, config, metrics, extra)
        model_uri = run_id = None
        if track:
            run_id = active.info.run_id
            tracking.log_params(flat_params(config))
            tracking.log_metrics(metrics)
            if report is not None:
                tracking.log_table(report, "evaluation.json")
            if tradeoff is not None:
                tracking.log_table(tradeoff, "certified_weight_sweep.json")
                tracking.log_figure(
                    model_plots.priority_tradeoff(tradeoff).figure, "certified_weight_sweep.png"
                )
            model_uri = tracking.log_model(
                model_dir, config.tracking.registered_model, config.tracking.alias, data_dir
            )
    return TrainResult(ranker, metrics, report, tradeoff, model_uri, run_id, calibration)


def value_calibration(
    ranker: MatchRanker,
    merchants: pd.DataFrame,
    creators: pd.DataFrame,
    history: pd.DataFrame,
    as_of,
    config: Config,
    decay: float,
    block: int | None = None,
    engine: Engine | None = None,
    past: MatchRanker | None = None,
) -> ValueCalibration | None:
    """Calibrate the ranker's values against the optimiser's curse
    (:class:`matching.ValueCalibration`) on the pairs that first worked together in
    the ``ranking.validation_days`` before ``as_of``, scored from the history before them
    (``past``: the ranker on that history when it is at hand, as :meth:`MatchRanker.at_window`
    right after training; else built here).

    ``history`` must hold only collaborations before ``as_of``. The value model has seen
    these outcomes in training (the features have not), so the shrinkage it measures is if
    anything too small. At most ``allocation.calibration_merchants`` sellers of the window
    (a fixed sample) take part. None when the window holds too few first collaborations. ``block``:
    merchants ranked at a time (:func:`matching.data.memory.plan_blocks`); ``engine`` ranks them
    (default :class:`LocalEngine`).
    """
    start = pd.Timestamp(as_of) - pd.Timedelta(days=config.ranking.validation_days)
    first = returns.first_collaborations(history).to_numpy()
    window = history[first & (history["posted_at"] >= start).to_numpy()]
    if window.empty:
        return None
    sellers = window["merchant_id"].unique()
    cap = config.allocation.calibration_merchants
    if cap is not None and len(sellers) > cap:
        # a fixed sample of sellers: their candidates are ranked again, a second pass over
        # the catalogue otherwise
        rng = np.random.default_rng(config.ranking.random_state)
        sample = rng.choice(np.sort(sellers.astype(str)), cap, replace=False)
        window = window[window["merchant_id"].astype(str).isin(sample).to_numpy()]
        log.info(
            "value calibration on a sample of %d of the window's %d sellers", cap, len(sellers)
        )
    before = history[history["posted_at"] < start]
    if past is None:
        past = ranker.with_data(merchants, creators, before, start)
    elif past.snapshot_.as_of != start:
        raise ValueError(
            f"value calibration: the past ranker is as of {past.snapshot_.as_of}, not {start}"
        )
    m = row_positions(window["merchant_id"], merchants["merchant_id"])
    c = row_positions(window["creator_id"], creators["creator_id"])
    score, _ = past.score_pairs(m, c)
    engine = engine or LocalEngine()
    candidates = engine.recommend(past, config.match.top_k, merchants=np.unique(m), block=block)
    mean = (
        pd.Series(
            seller_means(candidates["merchant_id"], candidates["score"]),
            index=candidates["merchant_id"].to_numpy(),
        )
        .groupby(level=0)
        .first()
    )
    return fit_value_calibration(
        score,
        mean.reindex(window["merchant_id"].to_numpy()).to_numpy(),
        uncertainty(window["creator_id"], before),
        uncertainty(window["merchant_id"], before, "merchant_id"),
        window["gmv_usd"].to_numpy(float),
        window["videos"].to_numpy(np.int64),
        decay=decay,
        merchant=m,
    )


def match(
    data_dir: str | os.PathLike,
    model_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    config: Config | None = None,
    *,
    top_k: int | None = None,
    as_of: date | None = None,
    progress: bool = False,
    track: bool = False,
    engine: Engine | None = None,
    min_fill: float | None = None,
    pool_cap: int | None = None,
) -> RunSummary:
    """Rank creators for every merchant and allocate the free videos; write both tables,
    ``summary.json`` and the run's pictures to ``out_dir`` as one unit
    (:func:`matching.data.publish`). Returns the summary as written.

    Nothing is written unless the whole run succeeds: the matches stream into a hidden file
    of ``out_dir`` as they are ranked (:class:`matching.data.MatchesStream`), removed on any
    error; only what later steps read is held (:class:`matching.data.kept.KeptMatches`). An as-of
    date outside the program is not an error: a warning, matches as usual and an empty
    allocation. With ``track`` the summary, its figures and the pictures are logged to MLflow
    once the outputs are written; a tracking store that cannot be used is a warning, never a
    failed run. ``engine`` reads the inputs and ranks the merchants (default: local).
    ``min_fill`` and ``pool_cap`` override the config's ``allocation`` fields of that name
    (a value out of range is a :class:`matching.errors.ConfigError`).
    """
    with contextlib.ExitStack() as cleanup:  # the staged matches, removed unless published
        return _match(
            data_dir,
            model_dir,
            out_dir,
            config,
            top_k,
            as_of,
            progress,
            track,
            engine,
            cleanup,
            {"min_fill": min_fill, "pool_cap": pool_cap},
        )


def _match(
    data_dir, model_dir, out_dir, config, top_k, as_of, progress, track, engine, cleanup, changes
):
    """:func:`match`; what it stages on disk is registered with ``cleanup`` (an ExitStack)."""
    if top_k is not None and top_k < 1:
        raise DataError(f"top_k must be at least 1, got {top_k}")
    changes = {k: v for k, v in changes.items() if v is not None}
    if changes:  # checked before the model is read
        (config or load_config()).replace(allocation=changes)
    model_tags = {}
    if data.is_model_uri(model_dir):
        from matching.jobs import tracking  # MLflow is imported only when used

        staged = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="matching-model-")))
        model_dir, model_tags = tracking.resolve_model(str(model_dir), staged)
        log.info("model %s resolved to %s", model_tags["model_uri"], model_dir)
    trained = data.saved_config(model_dir)  # the plan fails, if it must, before the load
    cfg = config or trained
    if changes:
        cfg = cfg.replace(allocation=changes)
    as_of = as_of or date.today()
    if not _FIRST_DAY <= as_of <= _LAST_DAY:
        raise DataError(f"as-of {as_of} is outside the years {_FIRST_DAY.year}..{_LAST_DAY.year}")
    out = _output_folder(out_dir)
    data.recover(
        out, data.OUTPUT_FILES
    )  # a run killed while writing left a journal or temporary files
    engine = engine or LocalEngine()
    block = memory.plan_blocks(engine.input_sizes(data_dir), trained.candidates)
    saved = data.load_model(model_dir)
    block = min(block, saved.ranker.candidates.block_size)  # as training planned it
    inputs = engine.read_inputs(data_dir)
    log.info(
        "read %d merchants, %d creators, %d collaborations",
        len(inputs.merchants),
        len(inputs.creators),
        len(inputs.collaborations),
    )
    status = policy.seller_status(inputs.merchants, cfg.program, as_of)
    if not (
        pd.Timestamp(cfg.program.start)
        <= pd.Timestamp(as_of)
        <= pd.Timestamp(cfg.program.end) + pd.Timedelta(days=cfg.program.window_days)
    ):
        log.warning(
            "as-of %s is outside the program (%s to %s plus the %d-day windows): no seller is "
            "eligible for free videos; matches are still written",
            as_of,
            cfg.program.start,
            cfg.program.end,
            cfg.program.window_days,
        )
    later = int((inputs.collaborations["posted_at"] >= pd.Timestamp(as_of)).sum())
    if later:
        log.info("%d collaborations posted on or after the as-of date %s are ignored", later, as_of)
    ranker = saved.ranker.with_data(inputs.merchants, inputs.creators, inputs.collaborations, as_of)
    ranker.progress = progress
    k = top_k or cfg.match.top_k
    stream = cleanup.enter_context(data.MatchesStream(out, cfg.match.row_group_rows))
    eligible = status["eligible"].to_numpy(bool)
    # with its own pool, an eligible seller's rows are written after the allocation: its
    # display list may come from deeper, and every pair given videos must be among them
    widened = cfg.allocation.pool == "widened" and bool(eligible.any())
    kept = KeptMatches(status.loc[eligible, "merchant_id"], hold_back=widened)
    certified = status["certified"].to_numpy(bool)
    for ranked in engine.recommend_blocks(ranker, k, certified=certified, block=block):
        written = kept.add(ranked)
        if len(written):
            stream.write(written)
    log.info("ranked: %d matches", stream.rows)
    history = inputs.collaborations[inputs.collaborations["posted_at"] < pd.Timestamp(as_of)]
    estimate = returns.history_returns(history, cfg.allocation)
    found = None
    if widened:
        found = widen(
            ranker, status, inputs.creators, cfg, estimate.decay, certified=certified, block=block
        )
    # the catalogue's snapshot (factors, profiles, indexes) is done with: a value
    # calibration measured here builds its own, of the past, from the saved models
    del ranker
    saved.ranker.progress = progress
    calibration = None
    wanted = cfg.allocation.calibrate_values and status["eligible"].any()
    if wanted and CALIBRATION_KEY in saved.meta:  # measured by train: a property of the model
        coefficients = saved.meta[CALIBRATION_KEY]
        calibration = None if coefficients is None else ValueCalibration(**coefficients)
    elif wanted:  # a model trained without calibrate_values: measured here, before the as-of
        calibration = value_calibration(
            saved.ranker,
            inputs.merchants,
            inputs.creators,
            history,
            as_of,
            cfg,
            estimate.decay,
            block,
            engine,
        )
    display = kept.eligible()
    candidates = display if found is None else found.pairs
    worth = {"calibration": calibration, "history": history, "display": display}
    allocation, report = allocate_quota(
        candidates,
        status,
        inputs.creators,
        cfg,
        estimate.decay,
        estimate=estimate,
        top_slots=kept.top_slots(),
        pool=None if found is None else found.report(cfg.allocation.pool_cap),
        **worth,
    )
    if found is not None:
        final = final_matches(found.pairs, allocation, k)
        stream.write(final)
        report = dataclasses.replace(
            report,
            fairness=fairness(allocation, status, kept.with_top(final), len(inputs.creators)),
        )
    log.info("allocated: %d videos to %d pairs", report.videos_placed, len(allocation))
    sweep = None
    if track and eligible.any():  # the price of fairness, for the tracked run
        if len(candidates) <= cfg.allocation.fill_sweep_max_pairs:
            sweep = fill_sweep(candidates, status, inputs.creators, cfg, estimate.decay, **worth)
        else:
            log.info(
                "the fill floor's sweep is not logged: %d candidate pairs, more than "
                "allocation.fill_sweep_max_pairs (%d)",
                len(candidates),
                cfg.allocation.fill_sweep_max_pairs,
            )
    summary = RunSummary(
        as_of=as_of,
        merchants=int(len(inputs.merchants)),
        creators=int(len(inputs.creators)),
        matches=int(stream.rows),
        certified_sellers=int(status["certified"].sum()),
        allocation_rows=int(len(allocation)),
        allocation=report,
    )
    pictures = _pictures(kept, allocation, status, inputs, report)
    tracked = dict(pictures)
    if sweep is not None:
        from matching.jobs.plots import allocation as allocation_plots
        from matching.jobs.plots.common import png_bytes

        tracked["fill_sweep.png"] = png_bytes(allocation_plots.fill_sweep(sweep))
    if track:
        from matching.jobs import tracking  # MLflow is imported only when used

        try:
            tracking.check(cfg.tracking.experiment)
        except tracking.TrackingError as exc:
            log.warning("%s: this run is not tracked", exc)
            track = False
    written = data.write_outputs(out, stream, allocation, summary, pictures)
    if track:
        try:
            params = {**flat_params(cfg), "match.as_of": as_of.isoformat(), "match.top_k": k}
            tables = {} if sweep is None else {"fill_sweep.json": sweep}
            tracking.log_match(
                cfg.tracking.experiment,
                written.to_dict(),
                params,
                tracked,
                tables=tables,
                tags=model_tags,
            )
        except tracking.TrackingError as exc:
            log.warning("%s: the outputs are written, the run is not tracked", exc)
    return written


def _pictures(
    kept: KeptMatches, allocation, status, inputs, report: AllocationReport
) -> dict[str, bytes]:
    """The run's key pictures, as PNG bytes by the file names of :data:`data.MATCH_PICTURES`."""
    from matching.jobs.plots import allocation as allocation_plots
    from matching.jobs.plots import model as model_plots
    from matching.jobs.plots.common import png_bytes

    sample, pairs = kept.score_sample()
    axes = (
        model_plots.score_distribution(sample, inputs.merchants, pairs=pairs),
        allocation_plots.allocation_per_seller(allocation, status),
        allocation_plots.creator_utilisation(allocation, inputs.creators, report.horizon_days),
        allocation_plots.greedy_gap(report),
        allocation_plots.fairness(allocation, status, report)[0],
        allocation_plots.promise(report),
    )
    return {name: png_bytes(ax) for name, ax in zip(data.MATCH_PICTURES, axes, strict=True)}
