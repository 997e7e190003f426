"""Saved model directories: a fitted ranker (``ranker.joblib``) and its description
(``model.json``: versions, config, metrics, file hashes, a checksum of itself), written as
one unit and refused on load when anything does not match.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matching.config import Config
from matching.data.atomic import JOURNAL, publish, writer_of
from matching.data.io import json_default, read_json
from matching.data.messages import first_line
from matching.errors import DataError

log = logging.getLogger(__name__)

__all__ = [
    "MODEL_FILE",
    "MODEL_META",
    "MODEL_URI_SCHEMES",
    "SavedModel",
    "is_model_uri",
    "load_model",
    "meta_checksum",
    "save_model",
    "saved_config",
]

MODEL_FILE = "ranker.joblib"
MODEL_META = "model.json"


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _file_hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of the model folder's files: all but model.json and hidden files."""
    return {
        p.name: _sha256_file(p)
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name != MODEL_META and not p.name.startswith(".")
    }


def meta_checksum(meta: dict) -> str:
    """SHA-256 of a model description (``model.json``) without its own checksum (an
    integrity check: it catches edits and corruption, not an adversary, who can recompute
    it)."""
    body = {k: v for k, v in meta.items() if k != "meta_sha256"}
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, default=json_default).encode()
    ).hexdigest()


_MODEL_EXTRAS = ("fast",)
"""Extras whose libraries a saved model may use (compiled trees), recorded when installed."""


def _dependency_versions() -> dict[str, str]:
    """Every library a model is saved with: this distribution's core requirements and the
    installed ones of :data:`_MODEL_EXTRAS`, by name."""
    from matching.version import dependency_versions

    return dependency_versions(_MODEL_EXTRAS)


def _major_minor(text: str) -> list[str]:
    return str(text).split(".")[:2]


_COMPRESS = ("lz4", 1)
"""How ``ranker.joblib`` is compressed: LZ4 writes the 1.7 GB ranker of a 100,000 x
1,000,000 catalogue in 2.9 s (612 MB) and reads it in 6.2 s, where zlib at level 3 took
21.4 s (505 MB) and 11 s (joblib reads either)."""


@dataclass(frozen=True)
class SavedModel:
    ranker: Any
    config: Any
    meta: dict


def save_model(
    ranker: Any,
    model_dir: str | os.PathLike,
    config: Any,
    metrics: dict,
    extra: dict | None = None,
) -> None:
    """Save a fitted ranker as one unit (:func:`~matching.data.atomic.publish`): ``ranker.joblib`` and
    ``model.json`` recording the library version, the versions of the libraries pickled
    with it, the config, the metrics, ``extra`` entries (the value calibration measured at
    training), the SHA-256 of the folder's files and a checksum of itself."""
    import io

    import joblib

    from matching.version import __version__

    buf = io.BytesIO()
    joblib.dump(ranker, buf, compress=_COMPRESS)
    blob = buf.getvalue()
    folder = Path(model_dir)
    files = _file_hashes(folder) if folder.is_dir() else {}
    files[MODEL_FILE] = hashlib.sha256(blob).hexdigest()
    meta = {
        "library_version": __version__,
        "dependencies": _dependency_versions(),
        "config": config.model_dump(mode="json"),
        "metrics": metrics,
        **(extra or {}),
        "files": dict(sorted(files.items())),
    }
    meta["meta_sha256"] = meta_checksum(meta)
    text = (
        json.dumps(meta, sort_keys=True, indent=2, ensure_ascii=False, default=json_default) + "\n"
    )
    publish(folder, {MODEL_FILE: writer_of(blob), MODEL_META: writer_of(text.encode("utf-8"))})


MODEL_URI_SCHEMES = ("models:/", "runs:/")
"""A model named by MLflow (registered or logged) rather than by its folder."""


def is_model_uri(model: str | os.PathLike) -> bool:
    """Whether ``model`` names a logged or registered model (``models:/NAME@ALIAS``,
    ``models:/NAME/VERSION``, ``runs:/RUN_ID/PATH``: :mod:`matching.jobs.tracking` resolves
    it) rather than a model directory."""
    return str(model).startswith(MODEL_URI_SCHEMES)


_META_KEYS = ("library_version", "dependencies", "config", "files", "meta_sha256")


def saved_config(model_dir: str | os.PathLike) -> Config:
    """The config a model directory was trained with, read from its ``model.json`` alone,
    without unpickling the ranker: what ``match`` plans its memory with before it loads the
    model. Refused, with a :class:`DataError`, as :func:`load_model` refuses the directory's
    description (its files' hashes and the ranker are checked only by :func:`load_model`).
    """
    return _read_meta(Path(model_dir))[1]


def load_model(model_dir: str | os.PathLike) -> SavedModel:
    """Load a model directory saved by :func:`save_model`.

    Refused, with a :class:`DataError`: a folder that is not a model directory, or whose
    save was interrupted; a ``model.json`` that was edited or is corrupt (its checksum);
    a model saved by another major.minor version of ``matching`` or of scikit-learn
    (pickles do not cross those); a recorded config that this version does not accept;
    files that do not match their recorded SHA-256; a ``ranker.joblib`` that cannot be
    unpickled here. Only load model directories you trust: ``ranker.joblib`` is a
    pickle, and the hashes detect accidents, not attacks.
    """
    import pickle

    import joblib

    folder = Path(model_dir)
    meta, config = _read_meta(folder)
    if _file_hashes(folder) != meta["files"]:
        raise DataError(f"{folder}: model files do not match the hashes recorded in {MODEL_META}")
    try:
        with open(folder / MODEL_FILE, "rb") as f:
            ranker = joblib.load(f)
    except (
        OSError,
        EOFError,
        pickle.UnpicklingError,
        ImportError,
        AttributeError,
        ValueError,
    ) as exc:
        raise DataError(f"{folder / MODEL_FILE}: cannot load: {first_line(exc)}") from None
    from matching.version import installed_versions

    # by name: a model served from a copy of the code that is not installed checks them too
    changed = _changed(meta["dependencies"], installed_versions(meta["dependencies"]))
    if changed:
        log.warning(
            "%s: saved with %s; installed here: %s (its scores may differ slightly: train "
            "again to match)",
            folder,
            ", ".join(f"{name} {was}" for name, was, _ in changed),
            ", ".join(f"{name} {now}" for name, _, now in changed),
        )
    return SavedModel(ranker, config, meta)


def _changed(saved: dict, installed: dict) -> list[tuple[str, str, str]]:
    """``(library, saved version, installed version or "none")`` where they differ."""
    return [
        (name, str(was), str(installed.get(name, "none")))
        for name, was in sorted(saved.items())
        if str(installed.get(name, "none")) != str(was)
    ]


def _read_meta(folder: Path) -> tuple[dict, Config]:
    """The checked ``model.json`` of a model directory and its config (:func:`load_model`'s
    refusals, but for the files' hashes and the unpickling)."""
    import sklearn
    from pydantic import ValidationError

    from matching.version import __version__

    if not folder.is_dir():
        raise DataError(f"{folder}: model directory not found")
    if (folder / JOURNAL).exists():
        raise DataError(
            f"{folder}: its last save was interrupted ({JOURNAL} is present); "
            "train again into this directory"
        )
    meta_path = folder / MODEL_META
    if not meta_path.is_file():
        raise DataError(
            f"{folder}: not a model directory (no {MODEL_META}); train one with `matching train`"
        )
    meta = read_json(meta_path)
    missing = (
        [k for k in _META_KEYS if k not in meta] if isinstance(meta, dict) else list(_META_KEYS)
    )
    if missing:
        raise DataError(
            f"{meta_path}: not a model description saved by this version (missing {missing}); "
            "train the model again"
        )
    if meta["meta_sha256"] != meta_checksum(meta):
        raise DataError(
            f"{meta_path}: edited or corrupted (its checksum does not match its content)"
        )
    saved = str(meta["library_version"])
    if _major_minor(saved) != _major_minor(__version__):
        raise DataError(
            f"{folder}: model saved by matching {saved}, incompatible with {__version__}; "
            "train it again"
        )
    pickled = str(meta["dependencies"].get("scikit-learn", "?"))
    if _major_minor(pickled) != _major_minor(sklearn.__version__):
        raise DataError(
            f"{folder}: model saved with scikit-learn {pickled}, incompatible with the installed "
            f"{sklearn.__version__}; train it again"
        )
    try:
        config = Config.model_validate(meta["config"])
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        raise DataError(
            f"{meta_path}: its config is not valid for this version ({where}: {err['msg']})"
        ) from None
    return meta, config
