"""MLflow tracking: the only module that talks to MLflow.

Out of the box runs go to MLflow's embedded default store (``sqlite:///mlflow.db`` in
the working directory); set ``MLFLOW_TRACKING_URI`` to use a server.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
import pandas as pd

# explicit requirements: logging never resolves the environment (fast, offline)
PIP_REQUIREMENTS = ["matching", "scikit-learn", "pandas", "numpy", "scipy", "pyarrow", "pyyaml", "pydantic"]


class TrackingError(RuntimeError):
    """The tracking server cannot be used."""


class RankerPyfunc(mlflow.pyfunc.PythonModel):
    """A saved model directory served as an MLflow pyfunc.

    ``predict`` takes a frame of ``merchant_id, creator_id`` pairs (ids known to
    the model's snapshot) and returns their ``score`` and ``fit``.
    """

    def load_context(self, context) -> None:
        from matching.data import load_model

        self.ranker = load_model(context.artifacts["model_dir"]).ranker

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        from matching.ranking import pair_positions

        m, c = pair_positions(self.ranker, model_input["merchant_id"], model_input["creator_id"])
        score, fit = self.ranker.score_pairs(m, c)
        return pd.DataFrame({"score": score, "fit": fit})


@contextmanager
def run(experiment: str, run_name: str | None = None, enabled: bool = True) -> Iterator[object | None]:
    """An MLflow run (or nothing when tracking is disabled)."""
    if not enabled:
        yield None
        return
    try:
        mlflow.set_experiment(experiment)
    except Exception as exc:  # any failure to reach the store is the same to the user
        uri = mlflow.get_tracking_uri()
        raise TrackingError(f"MLflow tracking at {uri} is unusable: {str(exc).splitlines()[0][:200]}"
                            " (set MLFLOW_TRACKING_URI or pass --no-tracking)") from None  # fmt: skip
    with mlflow.start_run(run_name=run_name) as active:
        yield active


def log_params(params: dict) -> None:
    mlflow.log_params({k: (str(v)[:500]) for k, v in params.items()})


def metric_name(name: str) -> str:
    """MLflow-safe metric name (``ndcg@10`` -> ``ndcg_at_10``)."""
    return name.replace("@", "_at_")


def log_metrics(metrics: dict[str, float], step: int | None = None) -> None:
    mlflow.log_metrics({metric_name(k): float(v) for k, v in metrics.items() if v == v}, step=step)


def log_figure(fig, name: str) -> None:
    mlflow.log_figure(fig, name)


def log_table(df: pd.DataFrame, name: str) -> None:
    mlflow.log_table(df, name)


def log_artifacts(path: str | os.PathLike, artifact_path: str | None = None) -> None:
    mlflow.log_artifacts(str(path), artifact_path)


def log_model(model_dir: str | os.PathLike, registered_model: str | None, alias: str | None) -> str:
    """Log the model directory as a pyfunc, register it and point ``alias`` at the new version."""
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=RankerPyfunc(),
        artifacts={"model_dir": str(Path(model_dir).resolve())},
        pip_requirements=PIP_REQUIREMENTS,
        registered_model_name=registered_model,
    )
    if registered_model and alias and info.registered_model_version is not None:
        mlflow.MlflowClient().set_registered_model_alias(registered_model, alias, info.registered_model_version)
    return info.model_uri


def load_pyfunc(model_uri: str):
    """Load a logged model as a pyfunc (``runs:/...``, ``models:/name@alias`` or a path)."""
    return mlflow.pyfunc.load_model(model_uri)

