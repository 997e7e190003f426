"""Does the allocation keep the program's promise, and what do its videos really earn?

On two markets of the built-in generator, the crowded preset (``simulate --scenario crowded``:
sellers who share tastes, creators with little weekly capacity) and the demo's, a ranker is
trained on the history before ``--as-of`` and the eligible sellers' free videos are allocated
as ``match`` does, with one choice changed at a time:

- the candidates: ``display`` (the ``match.top_k`` rows of matches.parquet) or ``widened``
  (the allocation's own pool, :func:`matching.allocation.pool.widen`);
- the objective: ``value`` (GMV if the pair happens) or ``expected`` (times P(the creator
  takes the job), from ``fit``);
- the fill floor ``allocation.min_fill``: 0, 0.5, 0.9.

Every allocation is then valued with the generator's true values and true repeat decay
(``realised``; the generator has no creator who declines, so every placed video is made),
against the best possible: the allocation computed from the true values over each seller's
true best ``--true-top`` creators of the whole catalogue (``best, true top``), and over the
widened pool (``best, pool``). Fill is the share of each seller's remaining quota placed.

Run by hand (a few minutes per market on 2 cores); writes the raw results as JSON:

    .venv/bin/python benchmarks/allocation_realised.py [--markets crowded,demo]
        [--merchants 1000] [--creators 10000] [--as-of 2026-02-15] [--seed 0]
        [--out benchmarks/results/allocation_realised.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from matching.allocation import flow, policy
from matching.allocation.pool import widen
from matching.allocation.quota import allocate_quota, quota_problem
from matching.allocation.returns import geometric_sum, history_returns
from matching.config import load_config
from matching.data.contract import row_positions
from matching.jobs.pipeline import value_calibration
from matching.ranking.ranker import MatchRanker
from matching.simulate import scenario_config, simulate

SIZES = {"demo": (500, 5000)}
"""Markets run at their own size; the others at ``--merchants`` x ``--creators``."""


def market(name: str, args):
    """The market's config, tables and truth, and a ranker trained before the as-of date."""
    cfg = load_config() if name == "demo" else scenario_config(load_config(), name)
    n_m, n_c = SIZES.get(name, (args.merchants, args.creators))
    mk = simulate(cfg, merchants=n_m, creators=n_c, seed=args.seed)
    as_of = pd.Timestamp(args.as_of)
    history = mk.collaborations[mk.collaborations["posted_at"] < as_of]
    ranker = MatchRanker(features=cfg.features, candidates=cfg.candidates, ranking=cfg.ranking)
    ranker.fit(mk.merchants, mk.creators, history, as_of=as_of)
    return cfg, mk.merchants, mk.creators, history, mk.truth, ranker


def run(name: str, args) -> dict:
    t0 = time.perf_counter()
    cfg, merchants, creators, history, truth, ranker = market(name, args)
    trained = time.perf_counter() - t0
    as_of = pd.Timestamp(args.as_of)
    status = policy.seller_status(merchants, cfg.program, as_of.date())
    certified = status["certified"].to_numpy(bool)
    eligible = np.flatnonzero(status["eligible"].to_numpy(bool))
    est = history_returns(history, cfg.allocation)
    cal = value_calibration(ranker, merchants, creators, history, as_of, cfg, est.decay)
    display = ranker.recommend(k=cfg.match.top_k, merchants=eligible, certified=certified)
    t = time.perf_counter()
    pool = widen(ranker, status, creators, cfg, est.decay, certified=certified)
    widen_s = time.perf_counter() - t
    true_decay = truth.repeat_decay

    def realised(table: pd.DataFrame) -> float:
        m = row_positions(table["merchant_id"], merchants["merchant_id"])
        c = row_positions(table["creator_id"], creators["creator_id"])
        n = table["videos"].to_numpy(np.int64)
        return float((truth.value(m, c) * geometric_sum(true_decay, n)).sum())

    def best_over(pairs: pd.DataFrame) -> tuple[float, int]:
        value_cfg = cfg.replace(allocation={"min_fill": 0.0})
        problem, kept, _ = quota_problem(pairs, status, creators, value_cfg, true_decay)
        m = row_positions(kept["merchant_id"], merchants["merchant_id"])
        c = row_positions(kept["creator_id"], creators["creator_id"])
        res = flow.allocate(dataclasses.replace(problem, value=truth.value(m, c)))
        return res.objective, res.placed

    top, _ = truth.top_creators(eligible, args.true_top)
    true_top = pd.DataFrame(
        {
            "merchant_id": np.repeat(
                merchants["merchant_id"].to_numpy(dtype=object)[eligible], top.shape[1]
            ),
            "creator_id": creators["creator_id"].to_numpy(dtype=object)[top.ravel()],
            "score": 1.0,
        }
    )
    best_top, best_top_placed = best_over(true_top)
    best_pool, _ = best_over(pool.pairs)
    owed = int(status["remaining_quota"].to_numpy()[eligible].sum())
    rows = []
    for candidates in ("display", "widened"):
        pairs = display if candidates == "display" else pool.pairs
        for objective in ("value", "expected"):
            for floor in (0.0, 0.5, 0.9):
                c = cfg.replace(allocation={"objective": objective, "min_fill": floor})
                t = time.perf_counter()
                table, report = allocate_quota(
                    pairs,
                    status,
                    creators,
                    c,
                    est.decay,
                    calibration=cal,
                    history=history,
                    display=display,
                )
                fill = np.array([s.fill for s in report.sellers])
                value = realised(table)
                rows.append(
                    {
                        "candidates": candidates,
                        "objective": objective,
                        "min_fill": floor,
                        "videos": report.videos_placed,
                        "placed / owed": report.videos_placed / owed,
                        "max-flow limit": report.max_flow_limit,
                        "median fill": float(np.median(fill)),
                        "lowest fill": float(fill.min()),
                        "sellers at floor": float(
                            np.mean([s.reason is None for s in report.sellers])
                        ),
                        "promised (M USD)": report.expected_gmv_usd / 1e6,
                        "realised (M USD)": value / 1e6,
                        "realised / best, true top": value / best_top,
                        "realised / best, pool": value / best_pool,
                        "allocate (s)": time.perf_counter() - t,
                    }
                )
    table = pd.DataFrame(rows)
    info = {
        "market": name,
        "merchants": int(len(merchants)),
        "creators": int(len(creators)),
        "collaborations before as-of": int(len(history)),
        "eligible sellers": int(len(eligible)),
        "owed videos": owed,
        "display pairs": int(len(display)),
        "pool pairs": int(len(pool.pairs)),
        "pool rounds": int(pool.rounds),
        "pool deepest": int(pool.depth.max()) if pool.depth.size else 0,
        "pool max-flow limit": int(pool.max_flow),
        "widen (s)": widen_s,
        "train (s)": trained,
        "best, true top (M USD)": best_top / 1e6,
        "best, true top placed": int(best_top_placed),
        "best, pool (M USD)": best_pool / 1e6,
        "true decay": true_decay,
        "estimated decay": float(est.decay),
        "rows": rows,
    }
    print(
        f"\n## {name}: {len(merchants):,} merchants x {len(creators):,} creators, "
        f"{len(eligible)} eligible sellers owed {owed:,} videos; pool {len(pool.pairs):,} pairs "
        f"in {pool.rounds} rounds (deepest {info['pool deepest']}), max flow {pool.max_flow:,}; "
        f"best over the true top {args.true_top}: {best_top / 1e6:.2f} M USD "
        f"({time.perf_counter() - t0:.0f} s)"
    )
    print(table.to_string(index=False, float_format=lambda v: f"{v:,.3f}"))
    return info


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD"], check=False).returncode
        return out.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--markets", default="crowded,demo")
    ap.add_argument("--merchants", type=int, default=1000)
    ap.add_argument("--creators", type=int, default=10000)
    ap.add_argument("--true-top", type=int, default=400)
    ap.add_argument("--as-of", default=str(date(2026, 2, 15)))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--out", default=str(Path(__file__).parent / "results" / "allocation_realised.json")
    )
    args = ap.parse_args(argv)
    results = {
        "benchmark": "benchmarks/allocation_realised.py",
        "args": vars(args),
        "commit": _commit(),
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "markets": [run(name, args) for name in args.markets.split(",")],
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten {out}")


if __name__ == "__main__":
    main()
