"""`matching match` on the local engine and on Spark, side by side in one run.

Both engines match the same simulated market with the same model (trained on a smaller
market, so the comparison is about matching), each in a child process through the CLI; the
table gives wall time and peak RSS of each (the Spark row's RSS is the driver's Python only:
the JVM and the Python workers are other processes) and whether the two wrote the same
tables. Run by hand (never in tests):

    nice -n 10 .venv/bin/python benchmarks/bench_spark.py --size 10000x100000 \\
        --train-size 2000x20000 --master 'local[2]' --work /tmp/bench_spark
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

AS_OF = "2026-03-01"


def _child(cmd: list[str], log: Path) -> tuple[float, float]:
    """Run ``cmd``: its wall time (s) and peak RSS (GiB); a failure stops the benchmark."""
    t0 = time.perf_counter()
    with open(log, "w") as f:
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(p.pid, 0)
    if status:
        sys.exit(f"{' '.join(cmd)} failed; see {log}")
    return time.perf_counter() - t0, usage.ru_maxrss / 2**20


def _size(text: str) -> tuple[int, int]:
    m, c = text.lower().split("x")
    return int(m), int(c)


def _same(a: Path, b: Path, name: str) -> bool:
    keys = ["merchant_id", "creator_id"]
    x = pd.read_parquet(a / name).sort_values(keys, ignore_index=True)
    y = pd.read_parquet(b / name).sort_values(keys, ignore_index=True)
    if list(x.columns) != list(y.columns) or len(x) != len(y):
        return False
    for col in x.columns:
        if pd.api.types.is_float_dtype(x[col]):
            if not np.allclose(x[col], y[col], rtol=1e-9, atol=1e-9):
                return False
        elif x[col].astype(object).tolist() != y[col].astype(object).tolist():
            return False
    return True


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="10000x100000", help="merchants x creators matched")
    ap.add_argument("--train-size", default="2000x20000", help="merchants x creators trained on")
    ap.add_argument("--master", default="local[2]", help="Spark master URL")
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_spark"))
    ap.add_argument("--config", type=Path, default=None, help="a config for train (YAML)")
    args = ap.parse_args(argv)
    cli = [sys.executable, "-m", "matching"]
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    model = work / f"model-{args.train_size}"
    if not (model / "model.json").exists():
        m, c = _size(args.train_size)
        train_data = work / f"data-{args.train_size}"
        _child(
            [
                *cli,
                "simulate",
                "--out",
                str(train_data),
                "--merchants",
                str(m),
                "--creators",
                str(c),
            ],
            work / "simulate-train.log",
        )
        train = [*cli, "train", "--data", str(train_data), "--model-dir", str(model)]
        train += ["--no-tracking"] + (["--config", str(args.config)] if args.config else [])
        _child(train, work / "train.log")
    data = work / f"data-{args.size}"
    if not (data / "merchants.parquet").exists():
        m, c = _size(args.size)
        _child(
            [*cli, "simulate", "--out", str(data), "--merchants", str(m), "--creators", str(c)],
            work / "simulate.log",
        )
    match = [*cli, "match", "--data", str(data), "--model", str(model), "--as-of", AS_OF]
    match += ["--no-tracking"]
    rows = []
    for engine, extra in (
        ("local", []),
        (f"spark {args.master}", ["--engine", "spark", "--spark-master", args.master]),
    ):
        out = work / f"out-{engine.split()[0]}"
        wall, rss = _child([*match, "--out", str(out), *extra], work / f"match-{engine[:5]}.log")
        rows.append({"engine": engine, "wall_s": round(wall, 1), "peak_rss_gib": round(rss, 2)})
    same = all(_same(work / "out-local", work / "out-spark", n) for n in ("matches.parquet",))
    same_alloc = _same(work / "out-local", work / "out-spark", "allocation.parquet")
    print(f"{args.size} matched with a model trained on {args.train_size}, as of {AS_OF}")
    print(pd.DataFrame(rows).to_string(index=False))
    print(f"same matches: {same}; same allocation: {same_alloc}")


if __name__ == "__main__":
    main()
