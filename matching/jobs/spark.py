"""The Spark engine of ``matching match``: the merchants ranked on Apache Spark.

The same library runs inside: the driver reads and validates the inputs and builds the
ranker's snapshot (profiles, retrieval index) exactly as the local engine does; the ranker
is broadcast once, and each partition of merchant row positions is ranked by the same
:meth:`matching.MatchRanker.recommend` through ``mapInPandas``. The matches come back to
the driver, where seller status, calibration, the exact allocation of the eligible sellers'
pairs, the summary and the atomic publish are the local engine's code
(:func:`matching.jobs.pipeline.match` with a :class:`SparkEngine`; the matches reach its writer
as one block, collected whole, where the local engine streams them block by block).

pyspark is imported only here and only when used (the ``matching[spark]`` extra); Spark
needs Java 17 or later.
"""

from __future__ import annotations

import copy
import logging
import os
import shutil
import sys
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from matching import data
from matching.data.contract import MATCHES_COLUMNS, TABLES, row_positions
from matching.errors import ConfigError, DataError

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

    from matching.ranking.ranker import MatchRanker

log = logging.getLogger(__name__)

DEFAULT_MASTER = "local[*]"
"""Spark's master when neither ``--spark-master`` nor spark-submit names one."""
_POSITION = "merchant_row"
"""The merchants' row positions, the column partitioned across the cluster."""
_PANDAS3_NOTICE = "PySpark does not yet fully support pandas"
"""pyspark 4.x's warning on every pandas conversion under pandas 3: nothing a user can act
on, so silenced in the engine (driver and workers) and nowhere else."""
_MATCHES_SCHEMA = (
    f"{_POSITION} long, merchant_id string, creator_id string, rank long, score double, "
    "priority_score double, certified_super_top boolean, fit double"
)


def _pyspark():
    """pyspark, or a one-line error saying how to install it."""
    try:
        import pyspark
    except ImportError:
        raise ConfigError(
            "--engine spark needs pyspark: pip install 'matching[spark]' (and Java 17 or later)"
        ) from None
    return pyspark


def _check_java() -> None:
    """Fail in one line, before Spark's own traceback, when no Java can be found."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return
    if shutil.which("java") is None:
        raise ConfigError(
            "--engine spark needs Java 17 or later: none on PATH and JAVA_HOME is not set "
            "(e.g. apt-get install openjdk-17-jre-headless, or set JAVA_HOME)"
        )


@contextmanager
def quiet_pandas3() -> Iterator[None]:
    """Silence, inside the block only, pyspark's notice that it does not yet fully support
    pandas 3 (:data:`_PANDAS3_NOTICE`)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_PANDAS3_NOTICE, category=FutureWarning)
        yield


def active_session() -> SparkSession | None:
    """The Spark session already running in this process, if any (None without pyspark)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        return None
    return SparkSession.getActiveSession()


def session(
    master: str | None = None,
    *,
    app_name: str = "matching",
    conf: Mapping[str, str] | None = None,
) -> SparkSession:
    """A SparkSession for the engine (the active one under spark-submit).

    ``master`` (a Spark master URL) wins; otherwise the one spark-submit or
    ``spark-defaults.conf`` sets; otherwise :data:`DEFAULT_MASTER`. On a local master the
    Python workers run this interpreter, so they import the same ``matching``.

    Raises
    ------
    ConfigError
        pyspark is not installed, Java is missing, or Spark could not start; one line.
    """
    _pyspark()
    _check_java()
    from py4j.protocol import Py4JError
    from pyspark import SparkConf, SparkContext
    from pyspark.errors import PySparkException
    from pyspark.sql import SparkSession

    if (
        master
        and not master.startswith("local")
        and os.environ.get("SPARK_LOCAL_IP") == "127.0.0.1"
    ):
        log.warning(
            "SPARK_LOCAL_IP is 127.0.0.1 (pandera sets it when unset): executors on other "
            "machines cannot reach this driver; set SPARK_LOCAL_IP to this machine's address "
            "or use spark-submit"
        )
    chosen = master
    try:
        if master is None:
            # Under spark-submit its JVM holds the master (--master, spark-defaults.conf); a
            # SparkConf made before the gateway is up would not see it and fall back to local.
            SparkContext._ensure_initialized()
        settings = SparkConf()
        chosen = master or settings.get("spark.master", DEFAULT_MASTER)
        builder = SparkSession.builder.appName(app_name).master(chosen)
        if chosen.startswith("local"):  # pyspark reads the workers' Python from here only
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = builder.config("spark.sql.execution.arrow.pyspark.enabled", "true")
        if "PYTHONWARNINGS" not in os.environ:
            builder = builder.config(
                "spark.executorEnv.PYTHONWARNINGS", f"ignore:{_PANDAS3_NOTICE}:FutureWarning"
            )
        for key, value in (conf or {}).items():
            builder = builder.config(key, value)
        spark = builder.getOrCreate()
    except (PySparkException, Py4JError, OSError, RuntimeError) as exc:
        raise ConfigError(
            f"Spark could not start on master {chosen!r}: {_first_line(exc)}"
        ) from None
    spark.sparkContext.setLogLevel("WARN")
    log.info("spark: master %s, %d cores", chosen, spark.sparkContext.defaultParallelism)
    return spark


def is_local(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder of this machine (a plain path or a ``file:`` URI), read
    by :mod:`matching.data`; anything else (``s3a://``, ``hdfs://``, ``abfss://``...) is
    read by Spark."""
    text = str(path)
    return "://" not in text or text.startswith("file:")


def _local_path(path: str | os.PathLike) -> Path:
    text = str(path)
    return (
        Path(text.removeprefix("file://").removeprefix("file:")) if is_local(text) else Path(text)
    )


def read_tables(spark: SparkSession, uri: str) -> dict[str, tuple[DataFrame, str]]:
    """The three input tables under ``uri``, each as a Spark DataFrame and its path:
    ``<name>.parquet``, else ``<name>.csv`` (with a header row), as
    :func:`matching.data.read_inputs` finds them.

    Raises
    ------
    DataError
        A table that is missing or that Spark cannot read; one line.
    """
    from py4j.protocol import Py4JError
    from pyspark.errors import AnalysisException, PySparkException

    base = uri.rstrip("/")
    tables = {}
    for name in TABLES:
        path = f"{base}/{name}.parquet"
        try:
            try:
                tables[name] = spark.read.parquet(path), path
                continue
            except AnalysisException as exc:
                if "PATH_NOT_FOUND" not in str(exc):
                    raise
            path = f"{base}/{name}.csv"
            try:
                tables[name] = spark.read.csv(path, header=True, inferSchema=True), path
            except AnalysisException as exc:
                if "PATH_NOT_FOUND" not in str(exc):
                    raise
                raise DataError(f"{base}: no {name}.parquet or {name}.csv") from None
        except (PySparkException, Py4JError) as exc:
            raise DataError(f"{path}: Spark cannot read it: {_first_line(exc)}") from None
    return tables


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def read_inputs(spark: SparkSession, uri: str) -> data.Inputs:
    """The input tables under ``uri`` read by Spark, collected and validated by
    :func:`matching.data.validate_inputs` (the same checks and one-line errors as a local
    folder). The driver needs them whole: the snapshot profiles every merchant and creator."""
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException

    tables = read_tables(spark, uri)
    frames = []
    for name in TABLES:
        frame, path = tables[name]
        try:
            with quiet_pandas3():
                frames.append(frame.toPandas())
        except (PySparkException, Py4JError) as exc:
            raise DataError(f"{path}: Spark cannot read it: {_first_line(exc)}") from None
    return data.validate_inputs(*frames, sources={n: tables[n][1] for n in TABLES})


class SparkEngine:
    """The engine :func:`matching.jobs.pipeline.match` uses to rank merchants on Spark.

    Parameters
    ----------
    spark : the session (:func:`session`).
    partitions : partitions of merchants (default: Spark's default parallelism).
    """

    def __init__(self, spark: SparkSession, partitions: int | None = None):
        self.spark = spark
        self.partitions = partitions

    def input_sizes(self, data_dir) -> dict[str, data.TableSize]:
        if is_local(data_dir):
            return data.input_sizes(_local_path(data_dir))
        tables = read_tables(self.spark, str(data_dir))
        return {
            name: data.TableSize(df.count(), len(df.columns)) for name, (df, _) in tables.items()
        }

    def read_inputs(self, data_dir) -> data.Inputs:
        if is_local(data_dir):
            return data.read_inputs(_local_path(data_dir))
        return read_inputs(self.spark, str(data_dir))

    def recommend(self, ranker, k, *, merchants=None, certified=None, block=None) -> pd.DataFrame:
        return recommend(
            self.spark,
            ranker,
            k,
            merchants=merchants,
            certified=certified,
            block=block,
            partitions=self.partitions,
        )

    def recommend_blocks(
        self, ranker, k, *, merchants=None, certified=None, block=None
    ) -> Iterator[pd.DataFrame]:
        """:meth:`recommend`'s frame as one block: Spark's matches are collected on the
        driver whole (``toPandas``) and sorted there, so there is nothing smaller to give."""
        yield self.recommend(ranker, k, merchants=merchants, certified=certified, block=block)


def recommend(
    spark: SparkSession,
    ranker: MatchRanker,
    k: int,
    *,
    merchants: np.ndarray | None = None,
    certified: np.ndarray | None = None,
    block: int | None = None,
    partitions: int | None = None,
) -> pd.DataFrame:
    """:meth:`MatchRanker.recommend` of ``merchants`` (row positions; default all), ranked
    on Spark: the ranker broadcast once, the merchants split into ``partitions``, each
    partition ranked by ``recommend`` in ``mapInPandas``. Returns the same frame, in the same
    order (merchant row, then rank), as the ranker called here would."""
    n = len(ranker.snapshot_.merchants)
    rows = np.arange(n, dtype=np.int64) if merchants is None else np.asarray(merchants, np.int64)
    parts = max(1, min(partitions or spark.sparkContext.defaultParallelism, len(rows) or 1))
    quiet = copy.copy(ranker)
    quiet.progress = False  # executors' progress is Spark's: its UI and console bar
    # the ranker pickles without its data: the snapshot travels beside it
    shipped = spark.sparkContext.broadcast((quiet, quiet.snapshot_, certified))
    start = time.perf_counter()
    log.info("spark: ranking %d merchants in %d partitions (top %d)", len(rows), parts, k)
    try:
        with quiet_pandas3():
            positions = spark.createDataFrame(pd.DataFrame({_POSITION: rows})).repartition(parts)
            ranked = positions.mapInPandas(
                _ranking(shipped, k, block), schema=_MATCHES_SCHEMA
            ).toPandas()
    finally:
        shipped.unpersist()
    log.info("spark: %d matches in %.1f s", len(ranked), time.perf_counter() - start)
    ranked = ranked.sort_values([_POSITION, "rank"], kind="stable", ignore_index=True)
    out = pd.DataFrame(
        {
            "merchant_id": ranked["merchant_id"].to_numpy(dtype=object),
            "creator_id": ranked["creator_id"].to_numpy(dtype=object),
            "rank": ranked["rank"].to_numpy(np.int64),
            "score": ranked["score"].to_numpy(float),
            "priority_score": ranked["priority_score"].to_numpy(float),
            "certified_super_top": ranked["certified_super_top"].to_numpy(bool),
            "fit": ranked["fit"].to_numpy(float),
        }
    )
    return out[list(MATCHES_COLUMNS)]


def _ranking(shipped, k: int, block: int | None):
    """The function each partition runs: its merchants ranked by the broadcast ranker."""

    def rank(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        learned, snapshot, certified = shipped.value
        ranker = learned.with_snapshot(snapshot)
        for batch in batches:
            rows = batch[_POSITION].to_numpy(np.int64)
            if not len(rows):
                continue
            got = ranker.recommend(k=k, merchants=rows, certified=certified, block=block)
            ids = ranker.snapshot_.merchants["merchant_id"]
            # plain numpy columns: Arrow-backed strings arrive chunked past a size, which
            # Spark's Arrow writer refuses ("Cannot convert ChunkedArray to Array")
            out = {_POSITION: row_positions(got["merchant_id"], ids).astype(np.int64)}
            for col in MATCHES_COLUMNS:
                text = col in ("merchant_id", "creator_id")
                out[col] = got[col].to_numpy(dtype=object if text else None)
            yield pd.DataFrame(out)

    return rank
