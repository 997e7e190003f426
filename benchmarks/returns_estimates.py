"""How close does the decay estimate land to the truth, under each generative story?

For each story of ``matching.simulate`` (decay within collaborations; across them, the n-th
short video of a pair over its history; either with follow-ups selected on how the last
collaboration sold) and each true decay, a few seeds of a market dense enough for the
estimate to be precise (the test's: 1,000 merchants x 2,000 creators, 40 collaborations a
year each), and the estimate of :func:`matching.allocation.returns.estimate_returns` against the
truth, with the estimator this version replaced (pair fixed effects over all of a pair's
collaborations, see ``allocation_realised.old_decay``) beside it. Run by hand:

    .venv/bin/python benchmarks/returns_estimates.py [--seeds 3] [--merchants 1000] [--creators 2000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from allocation_realised import old_decay

from matching.allocation.returns import estimate_returns
from matching.config import load_config
from matching.simulate import simulate

STORIES = {
    "within rows": ("within", 0.0, 0.0),
    "across rows": ("across", 0.3, 0.0),
    "within rows, repeats selected on outcome": ("within", 0.3, 2.0),
    "across rows, repeats selected on outcome": ("across", 0.3, 2.0),
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--merchants", type=int, default=1000)
    ap.add_argument("--creators", type=int, default=2000)
    ap.add_argument("--decays", default="0.7,0.85,0.95")
    args = ap.parse_args(argv)
    cfg = load_config()
    rows = []
    for story, (kind, rate, selection) in STORIES.items():
        for decay in (float(d) for d in args.decays.split(",")):
            for seed in range(args.seeds):
                c = cfg.replace(
                    simulate={
                        "repeat_story": kind,
                        "repeat_rate": rate,
                        "repeat_selection": selection,
                        "repeat_decay": decay,
                        "collabs_per_merchant": 40,
                    }
                )
                mk = simulate(c, merchants=args.merchants, creators=args.creators, seed=seed)
                t = time.perf_counter()
                est = estimate_returns(
                    mk.collaborations,
                    prior_mean=cfg.allocation.default_decay,
                    prior_strength=cfg.allocation.decay_prior_strength,
                )
                rows.append(
                    {
                        "story": story,
                        "true decay": decay,
                        "estimate": est.decay,
                        "sd": est.sd,
                        "covered": est.low <= decay <= est.high,
                        "source": est.source,
                        "before": old_decay(mk.collaborations, cfg.allocation.default_decay),
                        "seconds": time.perf_counter() - t,
                    }
                )
    t = pd.DataFrame(rows)
    t["error"] = t["estimate"] - t["true decay"]
    out = t.groupby(["story", "true decay"], sort=False).agg(
        estimate=("estimate", "mean"),
        worst_error=("error", lambda e: e.abs().max()),
        sd=("sd", "mean"),
        covered=("covered", "mean"),
        source=("source", lambda s: s.mode().iloc[0]),
        before=("before", "mean"),
        seconds=("seconds", "mean"),
    )
    print(
        f"{args.seeds} seeds each, {args.merchants:,} merchants x {args.creators:,} creators; "
        "worst_error is the largest |estimate - truth| over the seeds; covered is the share "
        "of seeds whose 90% interval holds the truth"
    )
    print(out.round(3).to_string())
    print(
        f"largest error: {np.abs(t['error']).max():.3f}; never 1.0: {bool((t['estimate'] < 1).all())}"
    )


if __name__ == "__main__":
    main()
