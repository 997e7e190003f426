"""Time the optimal allocator against the greedy baseline on random instances.

Run by hand (not part of the test suite)::

    python benchmarks/bench_allocation.py [--sizes 1000,10000] [--candidates 100] [--seed 0]

Each instance: S sellers with a quota of 1000 free videos (all remaining), a pool
of 20*S creators with heavy-tailed quality and capacities 5..60, about
``--candidates`` distinct candidate creators per seller (drawn half uniformly,
half by popularity), values = seller scale x creator quality x pair noise (all
lognormal), decay and segments from ``configs/`` (per-pair caps from the
diversity rule). Each size runs in a fresh process so its peak memory (max RSS)
is its own. Prints a markdown table.

A second table runs the dual decomposition (:mod:`matching.allocation.decomposition`, iterations and
tolerance from ``configs/``) on the same instances, each in a fresh process of its own, side
by side with the exact min-cost flow: its value over the optimum, the gap it reports to its
own dual bound, how far that bound is above the optimum, and the time and memory ratios.
``--no-dual`` leaves it out.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import time

import numpy as np

from matching.allocation.decomposition import dual_allocate
from matching.allocation.flow import allocate, greedy_allocate, max_flow_limit, network_size
from matching.allocation.problem import build_problem
from matching.config import load_config


def make_instance(n_sellers: int, candidates: int, seed: int):
    cfg = load_config().allocation
    rng = np.random.default_rng(seed)
    n_creators = 20 * n_sellers
    quality = rng.lognormal(0.0, 1.5, n_creators)
    popularity = quality / quality.sum()
    capacity = rng.integers(5, 61, n_creators)

    draws = int(candidates * 1.5) + 10
    uniform = rng.integers(0, n_creators, (n_sellers, draws // 2))
    popular = rng.choice(n_creators, size=(n_sellers, draws - draws // 2), p=popularity)
    cand = np.concatenate([uniform, popular], axis=1)
    seller = np.repeat(np.arange(n_sellers), cand.shape[1])
    creator = cand.ravel()
    # distinct pairs, then at most `candidates` per seller in random order
    key = np.unique(seller.astype(np.int64) * n_creators + creator)
    seller, creator = key // n_creators, key % n_creators
    order = np.lexsort((rng.random(key.size), seller))
    seller, creator = seller[order], creator[order]
    first = np.searchsorted(seller, np.arange(n_sellers))
    rank = np.arange(seller.size) - first[seller]
    keep = rank < candidates
    seller, creator = seller[keep], creator[keep]

    seller_scale = rng.lognormal(0.0, 1.0, n_sellers)
    value = seller_scale[seller] * quality[creator] * rng.lognormal(0.0, 0.5, seller.size)
    quota = np.full(n_sellers, 1000)
    return build_problem(
        seller, creator, value, quota=quota, quota_total=quota, capacity=capacity, config=cfg
    )


def run_one(args: tuple[int, int, int]) -> dict:
    n_sellers, candidates, seed = args
    problem = make_instance(n_sellers, candidates, seed)
    nodes, arcs = network_size(problem)
    t0 = time.perf_counter()
    limit = max_flow_limit(problem)
    t_maxflow = time.perf_counter() - t0
    t0 = time.perf_counter()
    opt = allocate(problem)
    t_opt = time.perf_counter() - t0
    t0 = time.perf_counter()
    greedy = greedy_allocate(problem)
    t_greedy = time.perf_counter() - t0
    assert opt.max_flow == limit
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {
        "sellers": n_sellers,
        "creators": problem.n_creators,
        "pairs": problem.n_pairs,
        "nodes": nodes,
        "arcs": arcs,
        "t_opt": t_opt,
        "t_greedy": t_greedy,
        "t_maxflow": t_maxflow,
        "ratio": greedy.objective / opt.objective if opt.objective else float("nan"),
        "objective": opt.objective,
        "placed": opt.placed,
        "placed_greedy": greedy.placed,
        "max_flow": limit,
        "peak_mb": peak_mb,
    }


def run_dual(args: tuple[int, int, int]) -> dict:
    n_sellers, candidates, seed = args
    cfg = load_config().allocation
    problem = make_instance(n_sellers, candidates, seed)
    t0 = time.perf_counter()
    res = dual_allocate(problem, iterations=cfg.dual_iterations, tol=cfg.dual_tol)
    t_dual = time.perf_counter() - t0
    return {
        "t_dual": t_dual,
        "value": res.objective,
        "bound": res.dual_bound,
        "gap": res.gap,
        "iterations": res.iterations,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated seller counts")
    parser.add_argument("--candidates", type=int, default=100, help="candidate creators per seller")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-dual", action="store_true", help="skip the dual decomposition")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    print(
        "| sellers | creators | pairs | arcs | min-cost flow s | greedy s | max-flow s "
        "| greedy / optimal | placed (opt) | placed (greedy) | max-flow limit | peak RSS MB |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    ctx = multiprocessing.get_context("spawn")
    exact = {}
    for n in sizes:
        with ctx.Pool(1) as pool:
            r = exact[n] = pool.apply(run_one, ((n, args.candidates, args.seed),))
        print(
            f"| {r['sellers']:,} | {r['creators']:,} | {r['pairs']:,} | {r['arcs']:,} "
            f"| {r['t_opt']:.2f} | {r['t_greedy']:.2f} | {r['t_maxflow']:.2f} | {r['ratio']:.5f} "
            f"| {r['placed']:,} | {r['placed_greedy']:,} | {r['max_flow']:,} | {r['peak_mb']:,.0f} |",
            flush=True,
        )
    if args.no_dual:
        return 0
    cfg = load_config().allocation
    print(
        f"\nDual decomposition ({cfg.dual_iterations} iterations at most, stops at a gap of "
        f"{cfg.dual_tol:g}) against the exact min-cost flow, each in a process of its own:\n"
    )
    print(
        "| sellers | pairs | dual / optimal | reported gap | bound / optimal - 1 | iterations "
        "| dual s | min-cost flow s | time ratio | peak RSS MB (dual / exact) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in sizes:
        with ctx.Pool(1) as pool:
            d = pool.apply(run_dual, ((n, args.candidates, args.seed),))
        e = exact[n]
        print(
            f"| {n:,} | {e['pairs']:,} | {d['value'] / e['objective']:.5f} | {d['gap']:.3%} "
            f"| {d['bound'] / e['objective'] - 1:.3%} | {d['iterations']} | {d['t_dual']:.1f} "
            f"| {e['t_opt']:.1f} | {d['t_dual'] / e['t_opt']:.1f}x "
            f"| {d['peak_mb']:,.0f} / {e['peak_mb']:,.0f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
