"""The exact allocation's min-cost flow: LEMON's network simplex (``pylmcf``, what
``matching.allocation.flow.allocate`` uses) against OR-Tools' cost scaling (what it used
before), side by side on the same network (run by hand).

The problem is a crowded one generated here (sellers sharing a popular head of creators,
weekly capacities, windows of different lengths, a 0.95 fill floor), or one saved by a run
(``--problem``: a pickled ``AllocationProblem``). Both solvers get the very same arcs,
costs and supplies; the two alternate ``--repeats`` times, the medians are reported with
the two objectives (they must agree: both are exact).

    .venv/bin/python benchmarks/min_cost_flow.py [--sellers 654] [--pool 1000] \\
        [--creators 6600] [--problem FILE.pkl] [--json benchmarks/results/min_cost_flow.json]
"""

from __future__ import annotations

import argparse
import json
import pickle
import platform
import subprocess
import time
from pathlib import Path

import numpy as np

from matching.allocation import flow
from matching.allocation.problem import AllocationProblem, build_problem
from matching.config import load_config


def crowded_problem(n_sellers: int, pool: int, n_creators: int, seed: int) -> AllocationProblem:
    """Sellers drawing their pools from one popular head (Zipf-like weights), creators of
    1-5 videos a week, each seller's window 7-60 days, quotas near the program's 1,000."""
    rng = np.random.default_rng(seed)
    weight = 1.0 / np.arange(1, n_creators + 1) ** 0.8
    weight /= weight.sum()
    seller = np.repeat(np.arange(n_sellers), pool)
    creator = np.concatenate(
        [rng.choice(n_creators, pool, replace=False, p=weight) for _ in range(n_sellers)]
    )
    taste = rng.lognormal(0.0, 0.5, n_creators)
    value = rng.lognormal(0.0, 1.0, seller.size) * taste[creator] * 100.0
    days = rng.integers(7, 61, n_sellers)
    windows, level = np.unique(days, return_inverse=True)
    weekly = rng.integers(1, 6, n_creators)
    capacity = weekly[:, None] * windows[None, :] // 7
    quota = rng.integers(800, 1001, n_sellers)
    return build_problem(
        seller,
        creator,
        value,
        quota=quota,
        quota_total=np.full(n_sellers, 1000),
        capacity=capacity,
        config=load_config().allocation,
        seller_level=level,
        floor=np.ceil(0.95 * quota).astype(np.int64),
    )


def or_tools_min_cost_flow(n_nodes, tails, heads, caps, costs, supplies) -> np.ndarray:
    """``flow._min_cost_flow``'s contract on OR-Tools' ``SimpleMinCostFlow``."""
    from ortools.graph.python import min_cost_flow

    mcf = min_cost_flow.SimpleMinCostFlow()
    mcf.add_arcs_with_capacity_and_unit_cost(
        tails.astype(np.int32), heads.astype(np.int32), caps.astype(np.int64), costs
    )
    nodes = np.flatnonzero(supplies)
    mcf.set_nodes_supplies(nodes.astype(np.int32), supplies[nodes])
    status = mcf.solve()
    if status != mcf.OPTIMAL:
        raise RuntimeError(f"OR-Tools min-cost flow failed with status {status}")
    return np.asarray(mcf.flows(np.arange(tails.size, dtype=np.int32)), dtype=np.int64)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sellers", type=int, default=654)
    ap.add_argument("--pool", type=int, default=1000)
    ap.add_argument("--creators", type=int, default=6600)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--problem", default=None, help="a pickled AllocationProblem instead")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    if args.problem:
        problem = pickle.loads(Path(args.problem).read_bytes())
    else:
        problem = crowded_problem(args.sellers, args.pool, args.creators, args.seed)
    nodes, arcs = flow.network_size(problem)
    print(f"{problem.n_pairs:,} pairs, {nodes:,} nodes, {arcs:,} arcs")
    lemon = flow._min_cost_flow
    solvers = {"lemon": lemon, "ortools": or_tools_min_cost_flow}
    times: dict[str, list[float]] = {name: [] for name in solvers}
    found = {}
    for _ in range(args.repeats):
        for name, solver in solvers.items():
            flow._min_cost_flow = solver  # the same network, another solver
            try:
                t = time.perf_counter()
                found[name] = flow.allocate(problem)
                times[name].append(time.perf_counter() - t)
            finally:
                flow._min_cost_flow = lemon
            print(f"{name:8s} {times[name][-1]:7.1f} s  {found[name].objective:,.2f}", flush=True)
    median = {name: float(np.median(t)) for name, t in times.items()}
    objectives = {name: float(r.objective) for name, r in found.items()}
    record = {
        "benchmark": "benchmarks/min_cost_flow.py",
        "args": vars(args),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip(),
        "pairs": problem.n_pairs,
        "nodes": nodes,
        "arcs": arcs,
        "seconds": times,
        "median_seconds": median,
        "ortools_over_lemon": median["ortools"] / median["lemon"],
        "objective": objectives,
        "videos_placed": {name: int(r.placed) for name, r in found.items()},
        "note": "allocate() as a whole (set-up, the floor's max flows, the solve), one thread",
    }
    print(json.dumps({k: record[k] for k in ("median_seconds", "ortools_over_lemon")}))
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
