"""`matching match --engine spark`: the same outputs as the local engine, on Spark local[2]."""

import importlib.util
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from matching import data
from matching.cli import main
from matching.jobs import pipeline
from matching.simulate import write_marketplace

AS_OF = "2026-03-01"
pytestmark = [  # pyspark 4.x on pandas 3 warns about itself; nothing the tests can act on
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]


def _why_no_spark() -> str | None:
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (pip install 'matching[spark]')"
    home = os.environ.get("JAVA_HOME")
    if not (home and (Path(home) / "bin" / "java").exists()) and shutil.which("java") is None:
        return "Java is not installed (Spark needs Java 17 or later)"
    return None


needs_spark = pytest.mark.skipif(_why_no_spark() is not None, reason=str(_why_no_spark()))


@pytest.fixture(scope="module")
def spark():
    """One small local[2] session for the module: no UI, few shuffle partitions."""
    from matching.jobs import spark as engine

    session = engine.session(
        "local[2]",
        conf={
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.sql.shuffle.partitions": "2",
        },
    )
    yield session
    session.stop()


@pytest.fixture(scope="module")
def folders(tmp_path_factory, small_market, trained, fast_config):
    """The small market's tables and the trained ranker saved as a model directory."""
    root = tmp_path_factory.mktemp("spark")
    write_marketplace(small_market, root / "data")
    data.save_model(trained, root / "model", fast_config, dict(trained.validation_))
    return root


def _same(a: pd.DataFrame, b: pd.DataFrame, keys: list[str]) -> None:
    a = a.sort_values(keys, ignore_index=True)
    b = b.sort_values(keys, ignore_index=True)
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    for col in a.columns:
        if pd.api.types.is_float_dtype(a[col]):
            np.testing.assert_allclose(b[col].to_numpy(), a[col].to_numpy(), rtol=1e-9, atol=1e-9)
        else:
            assert a[col].astype(object).tolist() == b[col].astype(object).tolist(), col


@needs_spark
def test_spark_engine_writes_what_the_local_engine_writes(spark, folders):
    d, m = folders / "data", folders / "model"
    local, remote = folders / "local", folders / "spark"
    pipeline.match(d, m, local, as_of=pd.Timestamp(AS_OF).date())
    code = main(
        [
            "match",
            "--data",
            str(d),
            "--model",
            str(m),
            "--out",
            str(remote),
            "--as-of",
            AS_OF,
            "--no-tracking",
            "--engine",
            "spark",
            "--spark-master",
            "local[2]",
        ]
    )
    assert code == 0
    alloc = pd.read_parquet(local / "allocation.parquet")
    assert len(alloc) > 0  # the comparison covers a real allocation
    _same(
        pd.read_parquet(local / "matches.parquet"),
        pd.read_parquet(remote / "matches.parquet"),
        ["merchant_id", "creator_id"],
    )
    _same(alloc, pd.read_parquet(remote / "allocation.parquet"), ["merchant_id", "creator_id"])
    assert spark.sparkContext._jsc is not None  # the CLI left the caller's session running


@needs_spark
def test_ranking_on_spark_is_the_rankers_own_for_a_subset(spark, trained):
    """Any merchants, any number of partitions: the frame ``recommend`` returns here."""
    from matching.jobs import spark as engine

    rows = np.array([5, 0, 17, 42, 3, 60])
    cert = np.zeros(len(trained.snapshot_.merchants), bool)
    cert[[0, 42]] = True
    want = trained.recommend(k=7, merchants=np.sort(rows), certified=cert)
    got = engine.recommend(spark, trained, 7, merchants=rows, certified=cert, partitions=3)
    pd.testing.assert_frame_equal(got, want)


@needs_spark
def test_spark_reads_the_tables_with_the_same_validation(spark, folders, tmp_path):
    """Tables read by Spark (as from a lake path) pass the same checks as a local folder."""
    from matching.jobs import spark as engine

    got = engine.read_inputs(spark, str(folders / "data"))
    want = data.read_inputs(folders / "data")
    for name in ("merchants", "creators", "collaborations"):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(want, name), check_dtype=False)
    bad = tmp_path / "bad"
    shutil.copytree(folders / "data", bad)
    m = pd.read_parquet(bad / "merchants.parquet")
    m.loc[3, "avg_price_usd"] = -1.0
    m.to_parquet(bad / "merchants.parquet")
    with pytest.raises(data.DataError, match="avg_price_usd") as err:
        engine.read_inputs(spark, str(bad))
    assert "merchants.parquet" in str(err.value) and "\n" not in str(err.value)
    (bad / "creators.parquet").unlink()
    with pytest.raises(data.DataError, match="no creators.parquet or creators.csv"):
        engine.read_inputs(spark, str(bad))


def test_spark_options_are_checked_in_one_line(folders, tmp_path, capsys, monkeypatch):
    common = ["match", "--data", str(folders / "data"), "--model", str(folders / "model")]
    out = ["--out", str(tmp_path / "o"), "--no-tracking"]
    capsys.readouterr()
    assert main([*common, *out, "--engine", "dask"]) == 2
    assert main([*common, *out, "--spark-master", "local[2]"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "--engine" in err[0] and "--spark-master" in err[1]
    # no Java (or no pyspark): one line saying what to install, nothing written
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    assert main([*common, *out, "--engine", "spark"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and ("Java" in err[0] or "pyspark" in err[0])
    assert not (tmp_path / "o").exists()


@needs_spark
def test_the_registered_model_scores_pairs_in_spark_udf(
    spark, trained, folders, tracking_uri, tmp_path
):
    """The `mlflow.pyfunc.spark_udf` example of docs/spark.md: the registered model, applied to a
    Spark DataFrame of pairs, gives the ranker's own scores (on its training as-of)."""
    import mlflow
    from pyspark.sql import functions as F

    from matching.jobs import tracking

    with tracking.run("spark-udf", "train"):
        tracking.log_model(folders / "model", "matching-ranker", "champion", folders / "data")
    want = trained.recommend(k=5)
    want.to_parquet(tmp_path / "pairs.parquet")

    # docs/spark.md's example, on these pairs
    predict = mlflow.pyfunc.spark_udf(
        spark,
        "models:/matching-ranker@champion",
        result_type="score double, fit double",
        env_manager="local",
    )
    pairs = spark.read.parquet(str(tmp_path / "pairs.parquet")).select("merchant_id", "creator_id")
    scored = pairs.withColumn("pred", predict(F.struct("merchant_id", "creator_id")))
    got = scored.select("merchant_id", "creator_id", "pred.*").toPandas()

    got = got.merge(want, on=["merchant_id", "creator_id"], suffixes=("", "_ranker"))
    assert len(got) == len(want) > 0
    np.testing.assert_allclose(got["score"], got["score_ranker"], rtol=1e-12)
    np.testing.assert_allclose(got["fit"], got["fit_ranker"], rtol=1e-12)


@needs_spark
@pytest.mark.slow
def test_spark_submit_chooses_the_master(tmp_path):
    """Under spark-submit, the session is on spark-submit's master, not a local default (on
    a cluster that would leave the executors idle and rank on the driver)."""
    import subprocess
    import sys

    script = tmp_path / "which.py"
    script.write_text(
        "from matching.jobs import spark\n"
        "s = spark.session(conf={'spark.ui.enabled': 'false'})\n"
        "print('MASTER', s.sparkContext.master)\n"
        "s.stop()\n"
    )
    submit = Path(sys.executable).parent / "spark-submit"
    if not submit.is_file():
        pytest.skip("spark-submit is not beside this Python")
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    done = subprocess.run(
        [str(submit), "--master", "local[1]", str(script)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert "MASTER local[1]" in done.stdout, done.stderr[-2000:]
