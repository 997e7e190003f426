"""The allocation's own pool: widened where the flow is short, written back into the matches."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from matching.allocation import flow, policy
from matching.allocation import problem as alloc
from matching.allocation.calibration import offer_probability
from matching.allocation.pool import final_matches, widen
from matching.allocation.quota import allocate_quota, fill_floor, quota_problem, seller_fill
from matching.config import load_config

AS_OF = date(2026, 2, 15)


class ScoreRanker:
    """A ranker over a fixed score matrix: retrieval at depth ``d`` is each merchant's ``d``
    best creators, as the real one's deeper lists are."""

    def __init__(self, score: np.ndarray, ids, top_n: int, partner_top_n: int = 0):
        self.score = score
        self.m_ids, self.c_ids = ids
        self.candidates = SimpleNamespace(top_n=top_n, partner_top_n=partner_top_n)
        self.calls: list[tuple[int, int]] = []
        self.scored = 0

    def recommend(self, k, merchants, certified, block=None, depth=None, skip=None):
        self.calls.append((len(merchants), depth))
        done = set() if skip is None else set(skip.itertuples(index=False, name=None))
        rows = []
        for m in merchants:
            top = np.argsort(-self.score[m], kind="stable")[:depth]
            top = np.array([c for c in top if (self.m_ids[m], self.c_ids[c]) not in done], int)
            self.scored += len(top)
            s = self.score[m, top]
            rows.append(
                pd.DataFrame(
                    {
                        "merchant_id": self.m_ids[m],
                        "creator_id": self.c_ids[top],
                        "rank": np.arange(1, len(top) + 1),
                        "score": s,
                        "priority_score": s * (1.5 if certified[m] else 1.0),
                        "certified_super_top": bool(certified[m]),
                        "fit": np.linspace(0.2, 0.01, len(top)),
                    }
                )
            )
        return pd.concat(rows, ignore_index=True)


def market(n_m=4, n_c=400, weekly=1, seed=0, certified=(0, 1)):
    """Merchants who all like the same creators best; creators of ``weekly`` videos a week."""
    rng = np.random.default_rng(seed)
    base = np.sort(rng.gamma(2.0, 50.0, n_c))[::-1]
    score = base[None, :] * rng.uniform(0.9, 1.1, (n_m, n_c))
    m_ids = np.array([f"m{i}" for i in range(n_m)], dtype=object)
    c_ids = np.array([f"c{j:04d}" for j in range(n_c)], dtype=object)
    merchants = pd.DataFrame(
        {
            "merchant_id": m_ids,
            "annual_gmv_usd": 2e7,
            "onboarded_at": pd.Timestamp("2026-02-01"),
            "certified_super_top": [i in certified for i in range(n_m)],
        }
    )
    creators = pd.DataFrame({"creator_id": c_ids, "weekly_video_capacity": weekly})
    return score, (m_ids, c_ids), merchants, creators


def test_widen_deepens_only_the_short_sellers_until_the_flow_covers_the_quota():
    cfg = load_config().replace(allocation={"pool_cap": 400})
    score, ids, merchants, creators = market()
    status = policy.seller_status(merchants, cfg.program, AS_OF)
    ranker = ScoreRanker(score, ids, top_n=40)
    certified = status["certified"].to_numpy(bool)
    pool = widen(ranker, status, creators, cfg, 0.8, certified=certified)
    elig = status[status["eligible"]]
    assert len(elig) == 2 and pool.start == 40
    # 2 sellers x 1,000 videos; each creator makes 6 in the window: the first 40 cannot
    assert pool.max_flow == int(elig["remaining_quota"].sum())
    assert pool.rounds > 1 and (pool.depth > pool.start).all() and pool.depth.max() <= 400
    # every deeper retrieval asked only for the sellers still short, at double the depth
    assert [d for _, d in ranker.calls] == sorted(d for _, d in ranker.calls)
    assert all(d in (40, 80, 160, 320, 400) for _, d in ranker.calls)
    # and scored only the creators it adds: every pair of the pool once
    assert ranker.scored == len(pool.pairs)
    # ranks are each seller's pool order by priority, one row per pair
    for _, g in pool.pairs.groupby("merchant_id"):
        assert g["rank"].tolist() == list(range(1, len(g) + 1))
        assert (np.diff(g["priority_score"].to_numpy()) <= 0).all()
    assert not pool.pairs.duplicated(["merchant_id", "creator_id"]).any()


def test_widen_stops_at_the_cap_and_the_promise_says_why():
    cfg = load_config().replace(allocation={"pool_cap": 60, "min_fill": 0.9})
    score, ids, merchants, creators = market()
    status = policy.seller_status(merchants, cfg.program, AS_OF)
    ranker = ScoreRanker(score, ids, top_n=40)
    pool = widen(ranker, status, creators, cfg, 0.8, certified=status["certified"].to_numpy())
    assert pool.depth.max() == 60 and pool.max_flow < 2000
    table, report = allocate_quota(pool.pairs, status, creators, cfg, 0.8)
    assert report.videos_placed == report.max_flow_limit
    reasons = {s.reason for s in report.sellers}
    # 60 creators x 6 videos is 360 < a floor of 900, whoever else uses them
    assert reasons == {"too few candidates"}
    assert [s.owed for s in report.sellers] == [1000, 1000]


def test_final_matches_keep_the_display_list_and_every_placed_pair_in_priority_order():
    cfg = load_config().replace(allocation={"pool_cap": 400})
    score, ids, merchants, creators = market()
    status = policy.seller_status(merchants, cfg.program, AS_OF)
    ranker = ScoreRanker(score, ids, top_n=40)
    pool = widen(ranker, status, creators, cfg, 0.8, certified=status["certified"].to_numpy())
    table, report = allocate_quota(pool.pairs, status, creators, cfg, 0.8)
    rows = final_matches(pool.pairs, table, top_k=10)
    placed = set(zip(table["merchant_id"], table["creator_id"], strict=True))
    assert placed <= set(zip(rows["merchant_id"], rows["creator_id"], strict=True))
    for _, g in rows.groupby("merchant_id"):
        assert g["rank"].iloc[:10].tolist() == list(range(1, 11))
        assert g["rank"].is_unique and g["rank"].is_monotonic_increasing
        assert (np.diff(g["priority_score"].to_numpy()) <= 0).all()
    assert report.videos_placed == 2000


def test_the_floor_lifts_the_starved_seller_at_a_measured_price():
    """Two sellers, one creator pool: by value alone the better-paying seller takes the
    capacity; with a floor each gets its share first, and the sweep prices it."""
    from matching.allocation.quota import fill_sweep

    cfg = load_config().replace(allocation={"min_fill": 0.0, "objective": "value"})
    score, ids, merchants, creators = market(n_m=2, n_c=80, weekly=2)
    score[1] *= 0.02  # seller m1's pairs are worth a fiftieth
    status = policy.seller_status(merchants, cfg.program, AS_OF)
    pool = widen(
        ScoreRanker(score, ids, top_n=80),
        status,
        creators,
        cfg,
        0.8,
        certified=np.zeros(2, bool),
    )
    _, free = allocate_quota(pool.pairs, status, creators, cfg, 0.8)
    floored = cfg.replace(allocation={"min_fill": 0.5})
    _, fair = allocate_quota(pool.pairs, status, creators, floored, 0.8)
    fills = [s.fill for s in free.sellers]
    assert fills[1] < 0.5 <= fills[0]
    assert min(s.fill for s in fair.sellers) >= 0.5 - 1e-9
    assert fair.floor_placed == fair.floor_videos
    assert fair.expected_gmv_usd < free.expected_gmv_usd
    sweep = fill_sweep(pool.pairs, status, creators, floored, 0.8, floors=[0.0, 0.5, 1.0])
    assert sweep["expected_gmv_usd"].iloc[0] == pytest.approx(free.expected_gmv_usd)
    assert sweep["expected_gmv_usd"].iloc[1] == pytest.approx(fair.expected_gmv_usd)
    assert (np.diff(sweep["expected_gmv_usd"]) <= 1e-6).all()
    assert sweep["gmv_vs_no_floor"].iloc[0] == 1.0


def test_the_expected_objective_is_value_times_the_offer_probability():
    cfg = load_config()
    score, ids, merchants, creators = market(n_m=2, n_c=50, weekly=7)
    status = policy.seller_status(merchants, cfg.program, AS_OF)
    pairs = ScoreRanker(score, ids, top_n=50).recommend(
        50, np.arange(2), np.zeros(2, bool), depth=50
    )
    _, by_value = allocate_quota(
        pairs, status, creators, cfg.replace(allocation={"objective": "value"}), 0.8
    )
    _, expected = allocate_quota(pairs, status, creators, cfg, 0.8)
    p, shift = offer_probability(pairs["fit"], cfg.allocation.offer_acceptance)
    assert expected.objective == "expected" and expected.offer_logit_shift == pytest.approx(shift)
    assert expected.expected_gmv_usd <= expected.expected_gmv_if_taken_usd
    problem, _, _ = quota_problem(pairs, status, creators, cfg, 0.8, pairs["score"] * p)
    assert expected.expected_gmv_usd == pytest.approx(flow.allocate(problem).objective)
    assert by_value.objective == "value" and by_value.offer_logit_shift is None


def test_offer_probability_keeps_fits_order_and_puts_the_median_at_the_acceptance():
    fit = np.array([0.001, 0.01, 0.03, 0.2, 0.6])
    p, shift = offer_probability(fit, 0.7)
    assert (np.diff(p) > 0).all() and p[2] == pytest.approx(0.7)
    q, _ = offer_probability(fit, 0.7, reference=np.full(3, 0.03))
    np.testing.assert_allclose(p, q)
    odds = p / (1 - p) / (fit / (1 - fit))
    np.testing.assert_allclose(odds, np.exp(shift))


def test_fill_floor_and_seller_reasons():
    assert fill_floor([1000, 7, 0], 0.9).tolist() == [900, 7, 0]
    assert fill_floor([1000], 0.0).tolist() == [0]
    # seller 0: two creators of 3 a week, 14 days left of a 60-day horizon
    problem = alloc.AllocationProblem(
        seller=np.array([0, 0, 1]),
        creator=np.array([0, 1, 1]),
        value=np.array([1.0, 1.0, 1.0]),
        quota=np.array([20, 50]),
        capacity=np.array([[6, 25], [6, 25]]),
        pair_cap=np.array([40, 40, 40]),
        decay=0.8,
        segments=(1, 2, 4),
        seller_level=np.array([0, 1]),
        floor=np.array([18, 45]),
    )
    res = flow.allocate(problem)
    elig = pd.DataFrame({"merchant_id": ["short", "long"]})
    fill = seller_fill(problem, elig, res.videos)
    # "short" could have 50 over the horizon but 12 in its window; "long" 25 < 45 alone
    assert [f.reason for f in fill] == ["days left", "too few candidates"]
    assert [f.pool_creators for f in fill] == [2, 1]


@pytest.mark.slow
def test_on_a_crowded_market_the_pool_keeps_the_promise_exactly(fast_config):
    """Where the display lists cannot place the videos, the widened pool does, with every
    seller at or above its floor where capacity allows, and the flow is the LP's optimum."""
    from matching.allocation.quota import pair_worth
    from matching.ranking.ranker import MatchRanker
    from matching.simulate import scenario_config, simulate

    cfg = scenario_config(fast_config, "crowded")
    mk = simulate(cfg, merchants=200, creators=2000, seed=5)
    as_of = pd.Timestamp(AS_OF)
    history = mk.collaborations[mk.collaborations["posted_at"] < as_of]
    ranker = MatchRanker(features=cfg.features, candidates=cfg.candidates, ranking=cfg.ranking)
    ranker.fit(mk.merchants, mk.creators, history, as_of=as_of)
    status = policy.seller_status(mk.merchants, cfg.program, AS_OF)
    certified = status["certified"].to_numpy(bool)
    rows = np.flatnonzero(status["eligible"].to_numpy(bool))
    display = ranker.recommend(k=cfg.match.top_k, merchants=rows, certified=certified)
    pool = widen(ranker, status, mk.creators, cfg, 0.8, certified=certified)
    _, shown = allocate_quota(display, status, mk.creators, cfg, 0.8, display=display)
    _, report = allocate_quota(pool.pairs, status, mk.creators, cfg, 0.8, display=display)
    owed = report.remaining_quota
    assert shown.videos_placed < 0.8 * owed <= report.max_flow_limit_display + 0.8 * owed
    assert report.max_flow_limit_display == shown.max_flow_limit
    assert np.median([s.fill for s in report.sellers]) >= 0.98
    assert report.floor_placed == flow.floor_limit(
        quota_problem(pool.pairs, status, mk.creators, cfg, 0.8)[0]
    )
    assert all((s.placed >= s.floor) == (s.reason is None) for s in report.sellers)
    value, p_take, _ = pair_worth(pool.pairs, cfg, display=display)
    problem, _, _ = quota_problem(pool.pairs, status, mk.creators, cfg, 0.8, value * p_take)
    exact, lp = flow.allocate(problem), flow.lp_allocate(problem)
    assert exact.objective == pytest.approx(report.expected_gmv_usd)
    assert exact.objective == pytest.approx(lp.objective, rel=1e-6)  # HiGHS's tolerance
    assert exact.floor_placed == lp.floor_placed == report.floor_placed
