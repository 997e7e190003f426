"""MLflow tracking: the only module that talks to MLflow.

Out of the box runs go to MLflow's embedded default store (``sqlite:///mlflow.db`` in
the working directory); set ``MLFLOW_TRACKING_URI`` to use a server.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema

from matching.errors import ConfigError, TrackingError


def pinned_requirements() -> list[str]:
    """The logged model's pip requirements: every core dependency of this distribution,
    pinned to the installed version (logging never resolves an environment: fast, offline).
    ``matching`` itself travels as code in the model (``code_paths``), not as a requirement:
    on the package index ``matching`` is another project."""
    from matching.version import dependency_versions

    return [f"{name}=={v}" for name, v in dependency_versions().items()]


_PROBE_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
"""MLflow's HTTP settings while probing: one attempt, a short timeout."""


class RankerPyfunc(mlflow.pyfunc.PythonModel):
    """A saved model directory served as an MLflow pyfunc.

    The model holds what it learned, not its data: at load it reads the tables it scores
    from ``model_config["data"]`` (a data folder; by default the one it was trained on),
    as of ``model_config["as_of"]`` (default: the day it was trained as of). ``predict``
    takes a frame of ``merchant_id, creator_id`` pairs (ids of those tables) and returns
    their ``score`` and ``fit``.
    """

    def load_context(self, context) -> None:
        from matching.data import load_model, read_inputs

        ranker = load_model(context.artifacts["model_dir"]).ranker
        config = dict(context.model_config or {})
        if not config.get("data"):
            raise ConfigError("the model needs its tables: load it with model_config={'data': DIR}")
        inputs = read_inputs(config["data"])
        as_of = pd.Timestamp(config["as_of"]) if config.get("as_of") else ranker.as_of_
        self.ranker = ranker.with_data(
            inputs.merchants, inputs.creators, inputs.collaborations, as_of
        )

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        from matching.ranking.ranker import pair_positions

        m, c = pair_positions(self.ranker, model_input["merchant_id"], model_input["creator_id"])
        score, fit = self.ranker.score_pairs(m, c)
        return pd.DataFrame({"score": score, "fit": fit})


def _unusable(exc: Exception) -> TrackingError:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    return TrackingError(
        f"MLflow tracking at {mlflow.get_tracking_uri()} is unusable: {first} "
        "(set MLFLOW_TRACKING_URI, or pass --no-tracking)"
    )


def check(experiment: str) -> None:
    """Fail fast when the tracking store cannot be used: one request, no retries, a
    timeout of a few seconds (MLflow's own settings would retry for minutes). Sets the
    active experiment. MLflow's HTTP settings are restored afterwards.

    Raises
    ------
    TrackingError
    """
    with _probing():
        try:
            mlflow.set_experiment(experiment)
        except Exception as exc:  # whatever the store raises (HTTP, SQL, a bad URI)
            raise _unusable(exc) from None


@contextmanager
def _probing() -> Iterator[None]:
    """MLflow's HTTP settings of :data:`_PROBE_ENV` for the block, restored after."""
    saved = {key: os.environ.get(key) for key in _PROBE_ENV}
    os.environ.update(_PROBE_ENV)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def run(
    experiment: str, run_name: str | None = None, enabled: bool = True, nested: bool = False
) -> Iterator[object | None]:
    """An MLflow run (or nothing when tracking is disabled); ``nested``: a child of the
    active run (one trial of ``tune``)."""
    if not enabled:
        yield None
        return
    try:
        mlflow.set_experiment(experiment)
    except Exception as exc:  # any failure to reach the store is the same to the user
        raise _unusable(exc) from None
    with mlflow.start_run(run_name=run_name, nested=nested) as active:
        yield active


def log_params(params: dict) -> None:
    mlflow.log_params({k: (str(v)[:500]) for k, v in params.items()})


def metric_name(name: str) -> str:
    """MLflow-safe metric name (``ndcg@10`` -> ``ndcg_at_10``)."""
    return name.replace("@", "_at_")


def log_metrics(metrics: dict[str, float], step: int | None = None) -> None:
    mlflow.log_metrics({metric_name(k): float(v) for k, v in metrics.items() if v == v}, step=step)


def log_figure(fig, name: str) -> None:
    """Log a matplotlib figure as an image, then close it (a long run must not keep figures)."""
    import matplotlib.pyplot as plt

    mlflow.log_figure(fig, name)
    plt.close(fig)


def log_table(df: pd.DataFrame, name: str) -> None:
    mlflow.log_table(df, name)


def _numbers(record: Mapping, prefix: str = "") -> dict[str, float]:
    """The numeric leaves of nested mappings, by dotted name (lists and text are left out)."""
    out: dict[str, float] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_numbers(value, f"{name}."))
        elif isinstance(value, int | float) and value == value:  # bools too; NaN left out
            out[name] = float(value)
    return out


def log_match(
    experiment: str,
    summary: Mapping,
    params: Mapping[str, object],
    pictures: Mapping[str, bytes],
    run_name: str = "match",
    tables: Mapping[str, pd.DataFrame] | None = None,
    tags: Mapping[str, str] | None = None,
) -> str:
    """Log a ``match`` run: its summary (as ``summary.json`` and its numbers as metrics),
    the config as parameters, its pictures (PNG bytes) as images, its ``tables`` (by
    artifact name, e.g. the fill floor's sweep) and ``tags`` (the model it used,
    :func:`resolve_model`). Returns the run id.

    Raises
    ------
    TrackingError
        When the store cannot be used, before or while logging (one line).
    """
    import io

    from PIL import Image

    check(experiment)
    try:
        with mlflow.start_run(run_name=run_name, tags=dict(tags or {})) as active:
            log_params(params)
            log_metrics(_numbers(summary))
            mlflow.log_dict(dict(summary), "summary.json")
            for name, png in pictures.items():
                mlflow.log_image(Image.open(io.BytesIO(png)), name)
            for name, table in (tables or {}).items():
                mlflow.log_table(table, name)
    except Exception as exc:  # any failure of the store mid-run is the same to the user
        raise _unusable(exc) from None
    return active.info.run_id


def log_artifacts(path: str | os.PathLike, artifact_path: str | None = None) -> None:
    mlflow.log_artifacts(str(path), artifact_path)


def log_artifact(path: str | os.PathLike, artifact_path: str | None = None) -> None:
    """Log one file."""
    mlflow.log_artifact(str(path), artifact_path)


def log_model(
    model_dir: str | os.PathLike,
    registered_model: str | None,
    alias: str | None,
    data_dir: str | os.PathLike | None = None,
) -> str:
    """Log the model directory as a pyfunc, register it and point ``alias`` at the new version.
    ``data_dir``, the tables it was trained on, is where the pyfunc reads its data unless
    told otherwise (``model_config``): the model carries the folder's path, not its data."""
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=RankerPyfunc(),
        artifacts={"model_dir": str(Path(model_dir).resolve())},
        model_config={"data": str(Path(data_dir).resolve())} if data_dir else None,
        code_paths=_code_paths(),
        pip_requirements=pinned_requirements(),
        signature=SIGNATURE,
        input_example=_input_example(data_dir),
        registered_model_name=registered_model,
    )
    if registered_model and alias and info.registered_model_version is not None:
        mlflow.MlflowClient().set_registered_model_alias(
            registered_model, alias, info.registered_model_version
        )
    return info.model_uri


SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("string", "merchant_id"), ColSpec("string", "creator_id")]),
    outputs=Schema([ColSpec("double", "score"), ColSpec("double", "fit")]),
)
"""What the pyfunc takes and returns: pairs of ids in, their ``score`` and ``fit`` out."""


def _code_paths() -> list[str]:
    """The package, and in a source tree the default configs beside it (a wheel carries them
    inside the package), as the logged model's code."""
    package = Path(__file__).resolve().parents[1]
    configs = package.parent / "configs"
    return [str(package)] + ([str(configs)] if configs.is_dir() else [])


def _input_example(data_dir) -> pd.DataFrame | None:
    """Two pairs of the training tables, so the logged model shows what it takes."""
    if data_dir is None:
        return None
    from matching.data import read_inputs

    inputs = read_inputs(data_dir)
    return pd.DataFrame(
        {
            "merchant_id": inputs.merchants["merchant_id"].astype(str).head(2).to_numpy(),
            "creator_id": inputs.creators["creator_id"].astype(str).head(2).to_numpy(),
        }
    )


def load_pyfunc(model_uri: str):
    """Load a logged model as a pyfunc (``runs:/...``, ``models:/name@alias`` or a path)."""
    return mlflow.pyfunc.load_model(model_uri)


def resolve_model(uri: str, into: str | os.PathLike) -> tuple[Path, dict[str, str]]:
    """Download the model directory of a logged model (:func:`log_model`) into ``into``.

    Returns the directory ``match`` reads and what identifies the model, as tags for the run
    that uses it: ``model_uri`` and, for a registered model, ``model_name`` and
    ``model_version``; ``model_run_id``, the run that logged it, where known.

    Raises
    ------
    TrackingError
        A malformed URI, an unknown model, version or alias, an unreachable registry, or a
        model that :func:`log_model` did not log (one line).
    """
    from mlflow.models import Model

    info = {"model_uri": uri}
    quiet = logging.getLogger("mlflow")  # a new store's set-up lines are not the user's
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    try:
        with _probing():
            if uri.startswith("models:/"):
                info.update(_registered(uri[len("models:/") :]))
            else:
                info["model_run_id"] = uri[len("runs:/") :].split("/", 1)[0]
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(into)))
            artifacts = Model.load(str(local)).flavors["python_function"].get("artifacts", {})
            folder = local / artifacts["model_dir"]["path"]
    except TrackingError:
        raise
    except KeyError:
        raise TrackingError(f"{uri}: not a model logged by `matching train`") from None
    except Exception as exc:  # the registry's errors: unknown names, HTTP, SQL, bad URIs
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise TrackingError(
            f"{uri}: cannot be resolved through MLflow at {mlflow.get_tracking_uri()}: {first}"
        ) from None
    finally:
        quiet.setLevel(level)
    return folder, info


def _registered(name_ref: str) -> dict[str, str]:
    """``model_name``, ``model_version`` and ``model_run_id`` of ``NAME@ALIAS`` or
    ``NAME/VERSION`` (the part of a ``models:/`` URI after the scheme)."""
    client = mlflow.MlflowClient()
    if "@" in name_ref:
        name, alias = name_ref.split("@", 1)
        version = client.get_model_version_by_alias(name, alias)
    elif "/" in name_ref:
        name, number = name_ref.split("/", 1)
        if not number.isdigit():
            raise TrackingError(
                f"models:/{name_ref}: expected models:/NAME@ALIAS or models:/NAME/VERSION"
            )
        version = client.get_model_version(name, number)
    else:
        raise TrackingError(
            f"models:/{name_ref}: expected models:/NAME@ALIAS or models:/NAME/VERSION"
        )
    return {
        "model_name": version.name,
        "model_version": str(version.version),
        "model_run_id": version.run_id or "",
    }
