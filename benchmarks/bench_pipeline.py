"""Time and memory of the whole job (simulate -> train -> rank -> allocate) at a few sizes.

Side by side in one run, the model's ranking time is shown as a ratio to the cheapest
baseline (same-category popularity), since these machines are noisy. Run by hand:

    .venv/bin/python benchmarks/bench_pipeline.py [--sizes 500x5000,2000x20000]
"""

from __future__ import annotations

import argparse
import resource
import time
from datetime import date

from matching.allocation import policy
from matching.allocation.quota import allocate_quota
from matching.allocation.returns import history_returns
from matching.config import load_config
from matching.ranking.baselines import CategoryPopularityRanker
from matching.ranking.ranker import MatchRanker
from matching.simulate import simulate


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(n_m: int, n_c: int, as_of: date) -> dict:
    cfg = load_config()
    t0 = time.perf_counter()
    mk = simulate(cfg, merchants=n_m, creators=n_c, seed=0)
    t1 = time.perf_counter()
    ranker = MatchRanker(features=cfg.features, candidates=cfg.candidates, ranking=cfg.ranking)
    ranker.fit(mk.merchants, mk.creators, mk.collaborations)
    t2 = time.perf_counter()
    status = policy.seller_status(mk.merchants, cfg.program, as_of)
    matches = ranker.recommend(k=cfg.match.top_k, certified=status["certified"].to_numpy(bool))
    t3 = time.perf_counter()
    CategoryPopularityRanker().fit(mk.merchants, mk.creators, mk.collaborations).recommend(
        k=cfg.match.top_k
    )
    t4 = time.perf_counter()
    decay = history_returns(mk.collaborations, cfg.allocation).decay
    _, report = allocate_quota(matches, status, mk.creators, cfg, decay)
    t5 = time.perf_counter()
    return {
        "merchants": n_m,
        "creators": n_c,
        "collaborations": len(mk.collaborations),
        "simulate_s": t1 - t0,
        "train_s": t2 - t1,
        "rank_s": t3 - t2,
        "rank_vs_baseline": (t3 - t2) / max(t4 - t3, 1e-9),
        "allocate_s": t5 - t4,
        "videos_placed": report.videos_placed,
        "peak_rss_mb": _rss_mb(),
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="500x5000,2000x20000")
    ap.add_argument("--as-of", default="2026-03-01")
    args = ap.parse_args(argv)
    for i, size in enumerate(args.sizes.split(",")):
        r = run(*map(int, size.split("x")), date.fromisoformat(args.as_of))
        if i == 0:
            print("| " + " | ".join(r) + " |")
            print("|" + "---:|" * len(r))
        print(
            "| "
            + " | ".join(f"{v:,.1f}" if isinstance(v, float) else f"{v:,}" for v in r.values())
            + " |",
            flush=True,
        )


if __name__ == "__main__":
    main()
