"""End to end through the command line, as the README runs it."""

import filecmp
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from matching import data
from matching.cli import main

CHECKER = Path(__file__).resolve().parents[2] / "shared" / "tools" / "contract_check.py"


def _files(folder: Path) -> list[Path]:
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())


def _check(*args: str) -> str:
    if not CHECKER.exists():
        pytest.skip("shared/tools/contract_check.py not found")
    res = subprocess.run([sys.executable, str(CHECKER), *args], capture_output=True, text=True)
    return res.stdout


def test_simulate_is_byte_identical_for_a_seed(tmp_path):
    for name in ("a", "b"):
        assert (
            main(
                [
                    "simulate",
                    "--out",
                    str(tmp_path / name),
                    "--merchants",
                    "40",
                    "--creators",
                    "300",
                    "--seed",
                    "4",
                ]
            )
            == 0
        )
    files = _files(tmp_path / "a")
    assert files == _files(tmp_path / "b") and Path("truth/params.json") in files
    match, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b", files, shallow=False)
    assert not mismatch and not errors
    assert "contract: ok" in _check("inputs", str(tmp_path / "a"))


def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys):
    assert (
        main(["simulate", "--out", str(tmp_path / "d"), "--merchants", "30", "--creators", "200"])
        == 0
    )
    m = pd.read_parquet(tmp_path / "d" / "merchants.parquet")
    m.loc[3, "avg_price_usd"] = -1.0
    m.to_parquet(tmp_path / "d" / "merchants.parquet")
    capsys.readouterr()
    code = main(
        [
            "train",
            "--data",
            str(tmp_path / "d"),
            "--model-dir",
            str(tmp_path / "m"),
            "--no-tracking",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "merchants.parquet" in err[0] and "avg_price_usd" in err[0] and "3" in err[0]
    assert not (tmp_path / "m").exists()


def test_bad_config_is_exit_2(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("ranking:\n  no_such_key: 1\n")
    assert main(["simulate", "--out", str(tmp_path / "d"), "--config", str(cfg)]) == 2
    assert "unknown key" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize(
    ("option", "value", "field"),
    [
        ("--min-fill", "1.5", "min_fill"),
        ("--min-fill", "-0.1", "min_fill"),
        ("--pool-cap", "0", "pool_cap"),
    ],
)
def test_a_floor_outside_0_1_or_a_pool_cap_below_1_is_one_line_exit_2(
    tmp_path, capsys, option, value, field
):
    """Checked before anything is read: the model folder need not even exist."""
    code = main(
        [
            "match",
            "--data",
            str(tmp_path),
            "--model",
            str(tmp_path / "none"),
            "--out",
            str(tmp_path / "o"),
            option,
            value,
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and f"allocation.{field}" in err[0]
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("uri", "said"),
    [
        ("models:/matching-ranker@nobody", "models:/matching-ranker@nobody: cannot be resolved"),
        ("models:/matching-ranker", "expected models:/NAME@ALIAS or models:/NAME/VERSION"),
        ("models:/matching-ranker/latest", "expected models:/NAME@ALIAS or models:/NAME/VERSION"),
        ("runs:/0123456789abcdef/model", "runs:/0123456789abcdef/model: cannot be resolved"),
    ],
)
def test_a_model_uri_that_does_not_resolve_is_one_line_exit_2(
    tmp_path, tracking_uri, capsys, uri, said
):
    """Resolved through MLflow before anything is read: the data folder need not exist."""
    code = main(
        ["match", "--data", str(tmp_path / "d"), "--model", uri, "--out", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and said in err[0], err
    assert not (tmp_path / "o").exists()


def test_an_unreachable_registry_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # nothing listens there
    code = main(
        [
            "match",
            "--data",
            str(tmp_path),
            "--model",
            "models:/m@champion",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "http://127.0.0.1:9" in err[0], err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_simulate_train_match_end_to_end(tmp_path, tracking_uri, fast_config, capsys):
    """The README's main command on a small example, then the pyfunc gives the same scores."""
    cfg = tmp_path / "fast.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {k: fast_config.model_dump(mode="json")[k] for k in ("ranking", "candidates", "match")}
        )
    )
    d, m, o = tmp_path / "data", tmp_path / "model", tmp_path / "out"
    assert (
        main(
            ["simulate", "--out", str(d), "--merchants", "300", "--creators", "1500", "--seed", "2"]
        )
        == 0
    )
    assert main(["train", "--data", str(d), "--model-dir", str(m), "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "NDCG@10" in out and "certified_weight" in out
    assert (
        main(
            ["match", "--data", str(d), "--model", str(m), "--out", str(o), "--as-of", "2026-03-01"]
        )
        == 0
    )
    assert "contract: ok" in _check("outputs", str(o), str(d))
    matches = pd.read_parquet(o / "matches.parquet")
    alloc = pd.read_parquet(o / "allocation.parquet")
    summary = data.read_json(o / "summary.json")
    assert summary["videos_placed"] == int(alloc["videos"].sum()) and summary["matches"] == len(
        matches
    )
    assert summary["eligible_sellers"] >= 1 and summary["videos_placed"] > 0
    assert summary["greedy_expected_gmv_usd"] <= summary["expected_gmv_usd"] + 1e-6
    for name in data.MATCH_PICTURES:  # the run's key pictures, beside the summary
        assert (o / name).read_bytes().startswith(b"\x89PNG")
    # outputs are deterministic
    assert (
        main(
            [
                "match",
                "--data",
                str(d),
                "--model",
                str(m),
                "--out",
                str(tmp_path / "o2"),
                "--as-of",
                "2026-03-01",
            ]
        )
        == 0
    )
    for name in data.OUTPUT_FILES:
        assert filecmp.cmp(o / name, tmp_path / "o2" / name, shallow=False)
    # the registered model, loaded as an MLflow pyfunc, scores like `match` on the training as-of
    # (the day after the last collaboration; profiles such as recency depend on the as-of)
    import mlflow

    assert (
        main(
            [
                "match",
                "--data",
                str(d),
                "--model",
                str(m),
                "--out",
                str(tmp_path / "o3"),
                "--as-of",
                "2026-02-16",
            ]
        )
        == 0
    )
    same_day = pd.read_parquet(tmp_path / "o3" / "matches.parquet").head(200)
    model = mlflow.pyfunc.load_model("models:/matching-ranker@champion")
    got = model.predict(same_day[["merchant_id", "creator_id"]])
    assert np.allclose(got["score"].to_numpy(), same_day["score"].to_numpy(), rtol=1e-12)
    assert np.allclose(got["fit"].to_numpy(), same_day["fit"].to_numpy(), rtol=1e-12)
    # `match` from the registry writes what it writes from the folder, and its tracked run
    # names the model version it used
    registry = "models:/matching-ranker@champion"
    argv = ["match", "--data", str(d), "--out", str(tmp_path / "o4"), "--as-of", "2026-02-16"]
    assert main([*argv, "--model", registry]) == 0
    for name in data.OUTPUT_FILES:
        assert filecmp.cmp(tmp_path / "o3" / name, tmp_path / "o4" / name, shallow=False), name
    version = mlflow.MlflowClient().get_model_version_by_alias("matching-ranker", "champion")
    runs = mlflow.search_runs(
        search_all_experiments=True, filter_string=f"tags.model_uri = '{registry}'"
    )
    assert len(runs) == 1
    assert runs["tags.model_version"].iloc[0] == str(version.version)
    assert runs["tags.model_run_id"].iloc[0] == version.run_id


@pytest.mark.slow
def test_the_installed_command_works_from_any_folder(tmp_path, fast_config):
    """`make demo`'s install, run from a folder outside the project with no MATCHING_CONFIG:
    the defaults come from inside the package."""
    script = Path(sys.executable).parent / "matching"
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "matching"]
    env = {k: v for k, v in os.environ.items() if k != "MATCHING_CONFIG"}
    env["OMP_NUM_THREADS"] = "1"
    root = Path(__file__).resolve().parents[1]
    assert root not in tmp_path.parents and not (tmp_path / "configs").exists()
    (tmp_path / "fast.yaml").write_text(
        yaml.safe_dump(
            {k: fast_config.model_dump(mode="json")[k] for k in ("ranking", "candidates")}
        )
    )

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*command, *args], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
        )

    done = run("simulate", "--out", "d", "--merchants", "60", "--creators", "500")
    assert done.returncode == 0, done.stderr
    done = run("train", "--data", "d", "--model-dir", "m", "--no-tracking", "--config", "fast.yaml")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "m" / "model.json").is_file()
