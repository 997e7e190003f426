"""``matching tune``: an Optuna search of the model's settings on a time-validation split.

Each trial trains the ranker as ``train`` does and reads one of its validation metrics
(``tune.metric``, default the newest window's partners found in each merchant's top 10 by
``fit``): the models are fitted on the older rolling windows and scored on the newest one
(:attr:`matching.ranking.ranker.MatchRanker.validation_`). The config's own settings are the
first trial, so the best is never worse than them on that window. The search (the config's
``tune`` section) walks fields of the ``features``, ``candidates`` and ``ranking`` sections;
Optuna's TPE sampler is seeded with ``ranking.random_state``, so the same data, config and
budget give the same trials. With tracking, one ``tune`` run in MLflow holds a child run per
trial. The best settings are written as a YAML file to lay over the defaults (``--config``).
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from matching import data
from matching.config import Config, TuneParam, load_config
from matching.errors import ConfigError, DataError
from matching.jobs.pipeline import training_inputs
from matching.ranking.ranker import MatchRanker

__all__ = ["TuneResult", "configured", "overlay", "suggest", "tune"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TuneResult:
    """What :func:`tune` found."""

    best: dict[str, object]
    """The best trial's settings, by ``section.field``."""
    best_value: float
    baseline_value: float
    """The metric of the config's own settings (trial 0)."""
    metric: str
    trials: pd.DataFrame
    """One row per trial: ``trial``, ``value``, ``seconds``, then each setting by name."""
    path: Path
    """The YAML written: the best settings and every other field that differs from the
    defaults, to pass as ``--config``."""
    run_id: str | None


def _value(config: Config, key: str):
    section, name = key.split(".", 1)
    return getattr(getattr(config, section), name)


def suggest(trial, space: dict[str, TuneParam | None], config: Config) -> dict[str, object]:
    """One trial's settings from ``space`` (``section.field`` -> range or choices); a range
    is of whole numbers where ``config``'s field holds one."""
    out: dict[str, object] = {}
    for key, p in space.items():
        if p is None:  # left out by a file laid over the defaults
            continue
        current = _value(config, key)
        if p.choices is not None:
            out[key] = trial.suggest_categorical(key, list(p.choices))
        elif isinstance(current, int) and not isinstance(current, bool):
            low, high = int(np.ceil(p.low)), int(np.floor(p.high))
            out[key] = trial.suggest_int(key, low, high, log=p.log)
        else:
            out[key] = trial.suggest_float(key, float(p.low), float(p.high), log=p.log)
    return out


def overlay(settings: dict[str, object]) -> dict[str, dict[str, object]]:
    """``section.field`` settings as the nested mapping a config file holds."""
    out: dict[str, dict[str, object]] = {}
    for key, value in settings.items():
        section, name = key.split(".", 1)
        out.setdefault(section, {})[name] = value.item() if hasattr(value, "item") else value
    return out


def configured(config: Config, settings: dict[str, object]) -> Config:
    """``config`` with ``settings`` (``section.field`` -> value) laid over it, validated."""
    try:
        return config.replace(**overlay(settings))
    except ConfigError as exc:
        raise ConfigError(f"tune: the settings {settings} make an invalid config: {exc}") from None


def _differences(config: Config, defaults: Config) -> dict[str, object]:
    """The fields of ``config`` (the ``tune`` section aside) that differ from ``defaults``."""
    mine, base = config.model_dump(mode="json"), defaults.model_dump(mode="json")
    return {
        f"{section}.{name}": value
        for section, fields in mine.items()
        if section != "tune" and isinstance(fields, dict)
        for name, value in fields.items()
        if base.get(section, {}).get(name) != value
    }


def tune(
    data_dir: str | os.PathLike,
    config: Config,
    out_path: str | os.PathLike,
    *,
    trials: int | None = None,
    timeout_s: float | None = None,
    track: bool = True,
    progress: bool = False,
) -> TuneResult:
    """Search the model's settings on a data folder (see the module docstring) and write the
    best as a config file at ``out_path``. ``trials`` and ``timeout_s`` override the config's
    ``tune.trials`` and ``tune.timeout_s`` (stop starting trials after that many seconds).

    Cheap checks come first, as in ``train``: the budget, the output path, the tracking
    store, the memory plan, the inputs, the length of the history.
    """
    import optuna

    from matching.jobs import tracking
    from matching.jobs.plots import model as model_plots

    defaults = load_config()
    spec = config.tune or defaults.tune  # a saved model's config has no tune section
    n_trials = spec.trials if trials is None else trials
    if n_trials < 1:
        raise ConfigError(f"tune: trials must be at least 1, got {n_trials}")
    timeout_s = spec.timeout_s if timeout_s is None else timeout_s
    if timeout_s is not None and timeout_s <= 0:
        raise ConfigError(f"tune: the timeout must be positive, got {timeout_s}")
    out_path = Path(out_path)
    if out_path.is_dir() or out_path.suffix.lower() not in (".yaml", ".yml"):
        raise DataError(f"{out_path}: tune writes a YAML file (name it *.yaml)")
    inputs, block = training_inputs(data_dir, config, track)
    own = {key: _value(config, key) for key, p in spec.space.items() if p is not None}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=config.ranking.random_state)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.enqueue_trial(own)  # the config's own settings first: the bar to beat
    outside = [
        f"{key}={value} ({p.low:g}..{p.high:g})"
        for key, value in own.items()
        if (p := spec.space[key]).choices is None and not p.low <= value <= p.high
    ]
    if outside:
        log.info("trial 0 keeps the config's own settings outside the space: %s", outside)
    seconds: dict[int, float] = {}
    bar = tqdm(total=n_trials, desc="tuning", unit="trial", disable=not progress)

    def objective(trial) -> float:
        settings = suggest(trial, spec.space, config)
        cfg = configured(config, settings)
        start = time.perf_counter()
        name = f"trial {trial.number}"
        with tracking.run(cfg.tracking.experiment, name, enabled=track, nested=True):
            ranker = MatchRanker(
                features=cfg.features,
                candidates=cfg.candidates.model_copy(update={"block_size": block}),
                ranking=cfg.ranking,
            )
            ranker.fit(inputs.merchants, inputs.creators, inputs.collaborations)
            metrics = ranker.validation_
            if spec.metric not in metrics:
                raise ConfigError(
                    f"tune.metric: {spec.metric!r} is not a validation metric of train "
                    f"(it has {', '.join(sorted(metrics))})"
                )
            if track:
                tracking.log_params(settings)
                tracking.log_metrics(metrics)
        seconds[trial.number] = time.perf_counter() - start
        value = float(metrics[spec.metric])
        log.info("tune %s: %s %.4f with %s", name, spec.metric, value, settings)
        bar.update(1)
        return value

    with tracking.run(config.tracking.experiment, "tune", enabled=track) as active:
        try:
            with warnings.catch_warnings():  # trial 0 outside the space: said above, once
                warnings.filterwarnings("ignore", "Fixed parameter .* is out of range")
                study.optimize(objective, n_trials=n_trials, timeout=timeout_s)
        finally:
            bar.close()
        done = [t for t in study.trials if t.value is not None]
        table = pd.DataFrame(
            [
                {"trial": t.number, "value": t.value, "seconds": seconds.get(t.number, np.nan)}
                | t.params
                for t in done
            ]
        )
        best = study.best_trial
        result_cfg = configured(config, best.params)
        written = _differences(result_cfg, defaults)
        header = (
            f"# matching tune: the best of {len(done)} trials by {spec.metric} on the validation "
            f"window, {best.value:.6g} (the settings tuned from: {done[0].value:.6g}).\n"
            "# Lay it over the defaults: matching train --config THIS_FILE ...\n"
        )
        data.write_yaml(overlay(written), out_path, header)
        run_id = None
        if track:
            run_id = active.info.run_id
            tracking.log_params(
                {"tune.metric": spec.metric, "tune.trials": len(done)}
                | {
                    f"tune.space.{k}": v.model_dump(exclude_none=True)
                    for k, v in spec.space.items()
                }
            )
            tracking.log_params({f"best.{k}": v for k, v in best.params.items()})
            tracking.log_metrics(
                {"best_value": best.value, "baseline_value": done[0].value, "trials": len(done)}
            )
            tracking.log_table(table, "trials.json")
            tracking.log_figure(
                model_plots.tune_history(table, spec.metric).figure, "tune_history.png"
            )
            tracking.log_artifact(out_path)
    return TuneResult(
        best=dict(best.params),
        best_value=float(best.value),
        baseline_value=float(done[0].value),
        metric=spec.metric,
        trials=table,
        path=out_path,
        run_id=run_id,
    )
