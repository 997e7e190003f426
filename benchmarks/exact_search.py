"""Exact top lists with faiss against numpy, side by side (run by hand): what made faiss a
core dependency rather than numpy the fallback (``matching.retrieval.ann.exact_tops``).

Random float32 vectors, one thread each; the two searches alternate ``--repeats`` times and
the medians are reported, with the share of each list both find.

    .venv/bin/python benchmarks/exact_search.py [--queries 512] [--creators 200000] \\
        [--dims 48] [--k 300] [--json benchmarks/results/exact_search.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

CHUNK = 65536
"""Creators scored at once by the numpy search (a block of queries x CHUNK scores)."""


def with_faiss(Q: np.ndarray, P: np.ndarray, k: int) -> np.ndarray:
    import faiss

    faiss.omp_set_num_threads(1)
    faiss.cvar.distance_compute_blas_threshold = 1  # as matching.retrieval.ann sets it
    index = faiss.IndexFlatIP(P.shape[1])
    index.add(P)
    return index.search(Q, k)[1]


def with_numpy(Q: np.ndarray, P: np.ndarray, k: int) -> np.ndarray:
    best_s, best_i = None, None
    for s in range(0, len(P), CHUNK):
        scores = Q @ P[s : s + CHUNK].T
        n = min(k, scores.shape[1])
        part = np.argpartition(-scores, n - 1, axis=1)[:, :n]
        top_s, top_i = np.take_along_axis(scores, part, 1), part + s
        if best_s is not None:
            top_s, top_i = np.hstack([best_s, top_s]), np.hstack([best_i, top_i])
            keep = np.argpartition(-top_s, k - 1, axis=1)[:, :k]
            top_s, top_i = np.take_along_axis(top_s, keep, 1), np.take_along_axis(top_i, keep, 1)
        best_s, best_i = top_s, top_i
    return best_i


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=512)
    ap.add_argument("--creators", type=int, default=200_000)
    ap.add_argument("--dims", type=int, default=48)
    ap.add_argument("--k", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    Q = rng.standard_normal((args.queries, args.dims)).astype(np.float32)
    P = rng.standard_normal((args.creators, args.dims)).astype(np.float32)
    times: dict[str, list[float]] = {"faiss": [], "numpy": []}
    found = {}
    with threadpool_limits(1):
        for _ in range(args.repeats):
            for name, search in (("faiss", with_faiss), ("numpy", with_numpy)):
                t = time.perf_counter()
                found[name] = search(Q, P, args.k)
                times[name].append(time.perf_counter() - t)
    both = np.mean(
        [len(np.intersect1d(a, b)) / args.k for a, b in zip(*found.values(), strict=True)]
    )
    median = {name: float(np.median(t)) for name, t in times.items()}
    record = {
        "benchmark": "benchmarks/exact_search.py",
        "args": vars(args),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip(),
        "seconds": times,
        "median_s": median,
        "numpy_over_faiss": median["numpy"] / median["faiss"],
        "lists_in_common": float(both),
    }
    print(
        f"{args.queries} queries x {args.creators:,} creators, top {args.k}, one thread: "
        f"faiss {median['faiss']:.2f} s, numpy {median['numpy']:.2f} s "
        f"({record['numpy_over_faiss']:.1f}x); lists in common {both:.3f}"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
