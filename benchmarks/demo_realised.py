"""The demo's allocation valued with the simulator's truth: realised GMV against the best
allocation over the same matched pairs, computed from the true values and decay.

Run by hand after ``make demo`` (the demo figures of docs/results.md):

    .venv/bin/python benchmarks/demo_realised.py [--demo demo] [--as-of 2026-03-01]
"""

from __future__ import annotations

import argparse
import dataclasses

import pandas as pd

from matching.allocation import flow, policy
from matching.allocation.quota import quota_problem
from matching.allocation.returns import geometric_sum, history_returns
from matching.config import load_config
from matching.data import read_inputs, read_table
from matching.data.contract import row_positions
from matching.data.truth import read_truth


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo", default="demo", help="the folder make demo wrote")
    ap.add_argument("--as-of", default="2026-03-01", help="the as-of date match was run with")
    args = ap.parse_args(argv)
    cfg = load_config()
    inputs = read_inputs(f"{args.demo}/data")
    truth = read_truth(f"{args.demo}/data")
    as_of = pd.Timestamp(args.as_of)
    matches = read_table(f"{args.demo}/out/matches.parquet")
    placed = read_table(f"{args.demo}/out/allocation.parquet")
    history = inputs.collaborations[inputs.collaborations["posted_at"] < as_of]
    status = policy.seller_status(inputs.merchants, cfg.program, as_of.date())
    decay = history_returns(history, cfg.allocation).decay
    problem, pairs, _ = quota_problem(matches, status, inputs.creators, cfg, decay)
    m = row_positions(pairs["merchant_id"], inputs.merchants["merchant_id"])
    c = row_positions(pairs["creator_id"], inputs.creators["creator_id"])
    value, true_decay = truth.value(m, c), truth.repeat_decay
    best = flow.allocate(dataclasses.replace(problem, value=value, decay=true_decay))
    key = pairs["merchant_id"].astype(str) + "|" + pairs["creator_id"].astype(str)
    placed_key = placed["merchant_id"].astype(str) + "|" + placed["creator_id"].astype(str)
    videos = (
        pd.Series(placed["videos"].to_numpy(), index=placed_key)
        .groupby(level=0)
        .sum()
        .reindex(key)
        .fillna(0)
        .to_numpy()
    )

    def realised(v):
        return float((value * geometric_sum(true_decay, v)).sum())

    print(
        f"true decay {true_decay}; {int(videos.sum()):,} videos placed; realised "
        f"{realised(videos) / 1e6:.2f} M USD; best over the same pairs "
        f"{realised(best.videos) / 1e6:.2f} M; share {realised(videos) / realised(best.videos):.3f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
