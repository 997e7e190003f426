"""Does the allocation survive its own estimates? Realised value against the best possible.

Issue 10's scenario, on two generators: returns diminish *within* a collaboration (a row of
k videos earns less than k times one) and the pairs that sold well are the ones repeated.

- ``ours``: ``matching.simulate`` with ``repeat_story=within``, ``repeat_rate``,
  ``repeat_selection``;
- ``alt``: ``benchmarks/generalization.alt_market``, built differently (embeddings, no
  optional columns, mostly random exposure), with the same two stories.

For each, the ranker is trained on the history and the eligible sellers' free videos are
allocated as of ``--as-of`` over matching's own matched pairs. Every allocation of those
same pairs is then valued with the generator's true values and true decay:

- ``matching``: this version (decay from :mod:`matching.returns`, values shrunk against the
  optimiser's curse);
- ``matching, no shrinkage``: the same decay, the ranker's scores as they are;
- ``matching before``: the decay of the estimator this version replaces (pair fixed effects
  over all of a pair's collaborations), scores as they are;
- ``greedy``: greedy on this version's values and decay;
- ``greedy by popularity, true decay``: greedy on the creator's past GMV in the seller's
  category, told the true decay (the issue's baseline);
- ``best``: the allocation computed from the true values and decay (the denominator).

Run by hand (a few minutes per market on 2 cores):

    .venv/bin/python benchmarks/allocation_realised.py [--markets ours,alt] [--decay 0.7]
        [--merchants 2000] [--creators 20000] [--as-of 2026-02-15]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from datetime import date
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from generalization import alt_market

from matching import allocation as alloc
from matching import calibration, policy
from matching.config import load_config
from matching.contract import SHORT_VIDEO, row_positions
from matching.pipeline import history_returns, value_calibration
from matching.quota import quota_problem
from matching.ranking import MatchRanker
from matching.returns import geometric_sum
from matching.simulate import simulate


def old_decay(collaborations: pd.DataFrame, default: float) -> float:
    """The estimator this version replaced: log GMV of every short-video collaboration, a
    fixed effect per pair, ``d`` shared by the videos within and across collaborations."""
    sv = collaborations[collaborations["content_type"] == SHORT_VIDEO]
    pair = pd.factorize(sv["merchant_id"].astype(str) + "|" + sv["creator_id"].astype(str))[0]
    order = np.lexsort((sv["posted_at"].to_numpy(), pair))
    g, n = pair[order], sv["videos"].to_numpy(np.int64)[order]
    y = sv["gmv_usd"].to_numpy(float)[order]
    o = pd.Series(n).groupby(g).cumsum().to_numpy() - n
    keep = y > 0
    g, n, y, o = g[keep], n[keep], np.log(y[keep]), o[keep]
    g = pd.factorize(g)[0]
    design = o * (n.max() + 1) + n
    lo = pd.Series(design).groupby(g).transform("min").to_numpy()
    hi = pd.Series(design).groupby(g).transform("max").to_numpy()
    rows = hi > lo
    if int(rows.sum() - np.unique(g[rows]).size) < 30:
        return default
    g, n, y, o = pd.factorize(g[rows])[0], n[rows], y[rows], o[rows]
    cnt = np.bincount(g)

    def demean(x):
        return x - (np.bincount(g, x) / cnt)[g]

    y_c = demean(y)
    grid = np.linspace(0.05, 1.0, 96)
    ssr = [((y_c - demean(o * np.log(d) + np.log(geometric_sum(d, n)))) ** 2).sum() for d in grid]
    return float(grid[int(np.argmin(ssr))])


def popularity_values(collaborations, merchants, creators, pairs) -> np.ndarray:
    """Per pair: the creator's past GMV in the seller's primary category (plus a little of
    its GMV elsewhere, to break ties)."""
    cat = merchants.set_index("merchant_id")["primary_category"]
    h = collaborations.assign(category=collaborations["merchant_id"].map(cat))
    by_cat = h.groupby(["creator_id", "category"])["gmv_usd"].sum()
    total = h.groupby("creator_id")["gmv_usd"].sum()
    key = pd.MultiIndex.from_arrays([pairs["creator_id"], pairs["merchant_id"].map(cat)])
    same = by_cat.reindex(key).fillna(0.0).to_numpy()
    return same + 1e-3 * total.reindex(pairs["creator_id"]).fillna(0.0).to_numpy() + 1e-9


def market(name: str, args):
    cfg = load_config()
    if name == "ours":
        cfg = cfg.replace(
            simulate={
                "repeat_story": "within",
                "repeat_decay": args.decay,
                "repeat_rate": args.repeat_rate,
                "repeat_selection": args.repeat_selection,
            }
        )
        mk = simulate(cfg, merchants=args.merchants, creators=args.creators, seed=args.seed)
        return cfg, mk.merchants, mk.creators, mk.collaborations, mk.truth
    inputs, truth = alt_market(
        args.merchants,
        args.creators,
        args.seed,
        decay=args.decay,
        repeat_rate=args.repeat_rate,
        repeat_selection=args.repeat_selection,
        program_sellers=args.program_sellers,
    )
    return cfg, inputs.merchants, inputs.creators, inputs.collaborations, truth


def trained(name: str, args):
    """The market and a ranker trained on its history before the as-of date (cached in
    ``--cache`` when given: training is most of the time)."""
    key = f"{name}-{args.merchants}x{args.creators}-d{args.decay}-r{args.repeat_rate}"
    key += f"-s{args.repeat_selection}-p{args.program_sellers}-{args.as_of}-{args.seed}.joblib"
    path = Path(args.cache) / key if args.cache else None
    if path is not None and path.exists():
        return joblib.load(path)
    cfg, merchants, creators, history, truth = market(name, args)
    as_of = pd.Timestamp(args.as_of)
    history = history[history["posted_at"] < as_of]
    ranker = MatchRanker(features=cfg.features, candidates=cfg.candidates, ranking=cfg.ranking)
    ranker.fit(merchants, creators, history, as_of=as_of)
    out = (cfg, merchants, creators, history, truth, ranker)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(out, path)
    return out


def run(name: str, args) -> pd.DataFrame:
    t0 = time.perf_counter()
    cfg, merchants, creators, history, truth, ranker = trained(name, args)
    as_of = pd.Timestamp(args.as_of)
    status = policy.seller_status(merchants, cfg.program, as_of.date())
    matches = ranker.recommend(k=cfg.match.top_k, certified=status["certified"].to_numpy(bool))
    est = history_returns(history, cfg.allocation)
    problem, pairs, elig = quota_problem(matches, status, creators, cfg, est.decay)
    m = row_positions(pairs["merchant_id"], merchants["merchant_id"])
    c = row_positions(pairs["creator_id"], creators["creator_id"])
    true_value, true_decay = truth.value(m, c), truth.repeat_decay

    def realised(videos):
        return float((true_value * geometric_sum(true_decay, videos)).sum())

    best = alloc.allocate(dataclasses.replace(problem, value=true_value, decay=true_decay))
    d_old = old_decay(history, cfg.allocation.default_decay)
    cal = value_calibration(ranker, merchants, creators, history, as_of, cfg, est.decay)
    score = pairs["score"].to_numpy(float)
    shrunk = problem
    if cal is not None:
        shrunk = dataclasses.replace(
            problem,
            value=cal.shrink(
                score,
                calibration.seller_means(pairs["merchant_id"], score),
                calibration.uncertainty(pairs["creator_id"], history),
                calibration.uncertainty(pairs["merchant_id"], history, "merchant_id"),
            ),
        )
    popular = dataclasses.replace(
        problem,
        value=popularity_values(history, merchants, creators, pairs),
        decay=true_decay,
    )
    solutions = {
        "matching": alloc.allocate(shrunk),
        "matching, no shrinkage": alloc.allocate(problem),
        "matching before": alloc.allocate(dataclasses.replace(problem, decay=d_old)),
        "greedy": alloc.greedy_allocate(shrunk),
        "greedy by popularity, true decay": alloc.greedy_allocate(popular),
        "best": best,
    }
    rows = []
    for label, r in solutions.items():
        value = realised(r.videos)
        promised = (
            r.objective if label not in ("best", "greedy by popularity, true decay") else None
        )
        rows.append(
            {
                "allocation": label,
                "videos": r.placed,
                "pairs used": int((r.videos > 0).sum()),
                "promised (M USD)": None if promised is None else promised / 1e6,
                "realised (M USD)": value / 1e6,
                "realised / best": value / realised(best.videos),
            }
        )
    out = pd.DataFrame(rows)
    print(
        f"\n## {name}: {len(merchants):,} merchants x {len(creators):,} creators, "
        f"{len(history):,} collaborations, {len(elig)} eligible sellers, "
        f"{int(elig['remaining_quota'].sum()):,} free videos, {len(pairs):,} matched pairs "
        f"({time.perf_counter() - t0:.0f} s)"
    )
    print(
        f"true decay {true_decay}; estimated {est.decay:.3f} (sd {est.sd:.3f}, from {est.source}; "
        + ", ".join(f"{e.kind} {e.decay:.3f}+-{e.se:.3f}" for e in est.evidence)
        + f"); the estimator before: {d_old:.3f}"
    )
    print(f"value calibration: {cal}")
    print(out.to_string(index=False, float_format=lambda v: f"{v:,.3f}"))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--markets", default="ours,alt")
    ap.add_argument("--merchants", type=int, default=2000)
    ap.add_argument("--creators", type=int, default=20000)
    ap.add_argument("--decay", type=float, default=0.7)
    ap.add_argument("--repeat-rate", type=float, default=0.3)
    ap.add_argument("--repeat-selection", type=float, default=2.0)
    ap.add_argument("--program-sellers", type=int, default=40, help="alt market only")
    ap.add_argument("--as-of", default=str(date(2026, 2, 15)))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", default=None, help="folder to keep trained rankers in")
    args = ap.parse_args(argv)
    for name in args.markets.split(","):
        run(name, args)


if __name__ == "__main__":
    main()
