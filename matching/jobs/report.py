"""Text reports: what the CLI prints and the notebooks show, for a data folder, a run and a
backtest. Pure functions of library objects to strings."""

from __future__ import annotations

from collections import Counter

import pandas as pd

from matching import data
from matching.allocation.summary import RunSummary
from matching.config import Config


def summarize_inputs(inputs: data.Inputs, config: Config) -> str:
    """A short human summary of a validated data folder (printed by ``simulate`` and ``validate``)."""
    m, c, h = inputs.merchants, inputs.creators, inputs.collaborations
    cert = (
        m["certified_super_top"]
        if "certified_super_top" in m
        else m["annual_gmv_usd"] >= config.program.certification_gmv_usd
    )
    start, end = pd.Timestamp(config.program.start), pd.Timestamp(config.program.end)
    in_prog = m["onboarded_at"].between(start, end)
    lines = [
        f"merchants       {len(m):>10,}  ({int(cert.sum()):,} certified super-top, "
        f"{int((cert & in_prog).sum()):,} of them onboarded in the program)",
        f"creators        {len(c):>10,}  ({int(c['creator_id'].isin(h['creator_id']).sum()):,} with history)",
        f"collaborations  {len(h):>10,}  "
        + (
            f"({h['posted_at'].min():%Y-%m-%d} to {h['posted_at'].max():%Y-%m-%d}, "
            f"GMV {h['gmv_usd'].sum():,.0f} USD)"
            if len(h)
            else "(none)"
        ),
        f"cold-start merchants (no history): {int((~m['merchant_id'].isin(h['merchant_id'])).sum()):,}",
    ]
    o = inputs.offers
    if o is not None:
        answered = o["accepted"].notna()
        lines.append(
            f"offers          {len(o):>10,}  ({int(answered.sum()):,} answered, "
            f"{int(o['accepted'].fillna(False).sum()):,} accepted)"
        )
    return "\n".join(lines)


def format_summary(summary: RunSummary) -> str:
    """The run summary of ``matching match`` as a short table (printed by ``match``)."""
    a = summary.allocation
    rows = [
        ("as of", summary.as_of.isoformat()),
        ("merchants matched", f"{summary.merchants:,} ({summary.matches:,} matches)"),
        ("eligible sellers", f"{a.eligible_sellers:,} of {summary.certified_sellers:,} certified"),
        ("sellers served", f"{a.sellers_served:,}"),
        (
            "videos placed",
            f"{a.videos_placed:,} of {a.remaining_quota:,} remaining quota "
            f"(max-flow limit {a.max_flow_limit:,}"
            + (
                ""
                if a.max_flow_limit_display is None
                else f"; of the display lists alone {a.max_flow_limit_display:,}"
            )
            + ")",
        ),
        (
            "expected GMV",
            f"{a.expected_gmv_usd:,.0f} USD (greedy: "
            f"{a.greedy_expected_gmv_usd:,.0f}, gap {100 * a.greedy_gap:.2f}%"
            + (
                f", placing {a.greedy_floor_placed:,} of the {a.floor_videos:,} floor videos"
                if a.greedy_floor_placed < a.floor_placed
                else ""
            )
            + ")",
        ),
        ("creators used", f"{a.creators_used:,} (utilisation {100 * a.creator_utilisation:.1f}%)"),
    ]
    if a.dual is not None:
        rows.insert(
            -1,
            (
                "solver",
                f"dual decomposition, {a.dual.iterations} iterations: within "
                f"{100 * a.dual.gap:.3f}% of the optimum (bound {a.dual.bound_usd:,.0f} USD)",
            ),
        )
    if a.returns is not None:
        r = a.returns
        rows.append(
            (
                "repeat decay",
                f"{r.decay:.3f} ({100 * r.level:.0f}% interval {r.low:.3f}-{r.high:.3f}, "
                f"from {r.source})",
            )
        )
    if a.value_calibration is not None and a.expected_gmv_uncalibrated_usd is not None:
        rows.append(
            (
                "values shrunk",
                f"slope {a.value_calibration.slope:.3f}; expected GMV as scored "
                f"{a.expected_gmv_uncalibrated_usd:,.0f} USD",
            )
        )
    if a.objective == "expected" and a.expected_gmv_if_taken_usd is not None:
        rows.append(
            (
                "objective",
                f"expected GMV: P(creator takes the job, from fit) x value; "
                f"{a.expected_gmv_if_taken_usd:,.0f} USD if every job is taken",
            )
        )
    if a.pool is not None:
        p = a.pool
        rows.append(
            (
                "allocation pool",
                f"{p.pairs:,} pairs in {p.rounds} retrieval(s); {p.sellers_widened:,} sellers "
                f"widened, deepest {p.depth_max:,} creators (cap {p.pool_cap:,})",
            )
        )
    if a.sellers:
        under = Counter(s.reason for s in a.sellers if s.reason is not None)
        why = ", ".join(f"{n} {r}" for r, n in sorted(under.items())) or "none"
        rows.append(
            (
                "promise",
                f"floor {100 * a.min_fill:.0f}%: {a.floor_placed:,} of {a.floor_videos:,} floor "
                f"videos placed; sellers under the floor: {why}",
            )
        )
    f = a.fairness
    if f is not None and f.fill_rate_min is not None and f.creator_gini is not None:
        rows.append(
            (
                "fairness",
                f"fill rate min {100 * f.fill_rate_min:.0f}%, median "
                f"{100 * f.fill_rate_median:.0f}%; creator Gini {f.creator_gini:.2f}, "
                f"top 1% make {100 * f.top_1pct_creator_share:.0f}%",
            )
        )
    return "\n".join(f"{k:18s} {v}" for k, v in rows)


def format_backtest(res) -> str:
    """The backtest of ``matching backtest`` as a short report and a table."""
    est, real = res.returns, res.realised_returns
    lines = [
        f"allocated as of {res.as_of} with the history before it"
        + (" (ranker refitted on it)" if res.refitted else ""),
        f"valued with the {(res.end - res.as_of).days + 1} days to {res.end}: {res.sellers:,} sellers, "
        f"{res.pairs:,} pairs that worked together, {res.videos:,} short videos",
        f"decay used {est.decay:.3f} (sd {est.sd:.3f}, from {est.source}); "
        f"with the window's history {real.decay:.3f}",
        "values "
        + (
            f"calibrated: slope {res.calibration.slope:.3f} on {res.calibration.rows:,} "
            "collaborations"
            if res.calibration is not None
            else "as scored (no calibration)"
        ),
        "",
    ]
    table = res.table()
    table["predicted_usd"] = table["predicted_usd"].map(
        lambda v: "" if v is None or v != v else f"{v:,.0f}"
    )
    table["realised_usd"] = table["realised_usd"].map(lambda v: f"{v:,.0f}")
    for col in ("realised_over_predicted", "realised_over_best"):
        table[col] = table[col].map(lambda v: "" if v != v else f"{v:.3f}")
    return "\n".join(lines) + table.to_string(index=False)
