"""Scoring rate of each boosted-trees library as both models (``fit`` and value), side by
side in one process (run by hand; issue 32: one library for both models, by measurement).

For each family (``hgb``: scikit-learn's HistGradientBoosting, not compiled; ``lgbm``:
LightGBM; ``catboost``), a ranker is trained with ``ranking.model`` the family and
``value_model`` null (the same), on one simulated market. Then, in turn (family by family,
``--repeats`` rounds), the same random pairs are scored (``score_pairs``: the pair features
and both models) and featurised alone (``pair_features``): the rate is the pairs over the
difference, both models' predictions. The medians and the ratios to the first family are
printed, and written with ``--json``. The compiled hgb trees of large ranking runs
(``ranking.compile_min_pairs``) are ``bench_scale.py``'s to measure.

    .venv/bin/python benchmarks/tree_libraries.py [--merchants 1000] [--creators 5000] \\
        [--pairs 500000] [--repeats 5] [--json benchmarks/results/tree_libraries.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time
from pathlib import Path

import numpy as np

from matching.config import load_config
from matching.ranking.ranker import MatchRanker
from matching.simulate import simulate

FAMILIES = ("hgb", "lgbm", "catboost")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--merchants", type=int, default=1000)
    ap.add_argument("--creators", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--pairs", type=int, default=500_000, help="random pairs scored")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    cfg = load_config()
    mk = simulate(cfg, merchants=args.merchants, creators=args.creators, seed=args.seed)
    rankers, train_s = {}, {}
    for family in FAMILIES:
        t = time.perf_counter()
        rankers[family] = MatchRanker(
            features=cfg.features,
            candidates=cfg.candidates,
            ranking=cfg.ranking.model_copy(update={"model": family, "value_model": None}),
        ).fit(mk.merchants, mk.creators, mk.collaborations)
        train_s[family] = time.perf_counter() - t
        print(f"{family}: trained in {train_s[family]:.1f} s", flush=True)
    rng = np.random.default_rng(args.seed)
    m = rng.integers(0, len(mk.merchants), args.pairs)
    c = rng.integers(0, len(mk.creators), args.pairs)
    runs: dict[str, list[float]] = {f: [] for f in FAMILIES}
    for r in rankers.values():  # warm up
        r.score_pairs(m[:1000], c[:1000])
    for _ in range(args.repeats):
        for f, r in rankers.items():
            t = time.perf_counter()
            r.snapshot_.pair_features(m, c)
            features = time.perf_counter() - t
            t = time.perf_counter()
            r.score_pairs(m, c)
            scored = time.perf_counter() - t
            runs[f].append(args.pairs / max(scored - features, 1e-9))
    rate = {f: float(np.median(v)) for f, v in runs.items()}
    first = FAMILIES[0]
    for f in FAMILIES:
        print(
            f"{f:9s} {rate[f] / 1e6:6.2f} M pairs/s by both models (x{rate[f] / rate[first]:.2f} "
            f"of {first}); trained in {train_s[f]:.1f} s",
            flush=True,
        )
    if args.json:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
        out = {
            "benchmark": f"benchmarks/tree_libraries.py --merchants {args.merchants} "
            f"--creators {args.creators} --seed {args.seed} --repeats {args.repeats}",
            "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
            "commit": commit,
            "pairs": args.pairs,
            "rate_pairs_per_s": runs,
            "median_pairs_per_s": rate,
            "ratio_to_" + first: {f: rate[f] / rate[first] for f in FAMILIES},
            "train_s": train_s,
        }
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
