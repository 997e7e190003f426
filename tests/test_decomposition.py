"""Tests of the dual decomposition: always feasible, primal <= optimum <= bound, small gap."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import matching.allocation.decomposition
from matching.allocation.decomposition import DualResult, dual_allocate
from matching.allocation.flow import allocate, greedy_allocate
from matching.allocation.problem import AllocationProblem, build_problem
from matching.config import AllocationConfig

SEGMENTS = (1, 2, 4, 8, 16)


def assert_feasible(p: AllocationProblem, videos: np.ndarray) -> None:
    assert videos.dtype == np.int64 and videos.shape == (p.n_pairs,)
    assert np.all(videos >= 0) and np.all(videos <= p.pair_cap)
    assert np.all(np.bincount(p.seller, weights=videos, minlength=p.n_sellers) <= p.quota)
    level = p.seller_level[p.seller]
    for lv in range(p.n_levels):
        upto = np.bincount(p.creator, weights=videos * (level <= lv), minlength=p.n_creators)
        assert np.all(upto <= p.level_capacity[:, lv])


def assert_bounds(p: AllocationProblem, res: DualResult) -> None:
    """Feasible, valued with the true gains, and primal <= exact optimum <= dual bound."""
    assert_feasible(p, res.videos)
    assert res.solver == "dual"
    np.testing.assert_allclose(res.expected_value, p.pair_value(res.videos), rtol=1e-12)
    assert res.objective == pytest.approx(res.expected_value.sum(), rel=1e-12, abs=1e-12)
    assert res.placed == int(res.videos.sum()) <= res.max_flow
    assert np.all(res.videos[p.value == 0] == 0)
    exact = allocate(p).objective
    slack = 1e-9 * max(1.0, exact)
    assert res.objective <= exact + slack
    assert exact <= res.dual_bound + slack
    assert res.gap >= -1e-9
    if res.dual_bound > 0:
        assert res.gap == pytest.approx((res.dual_bound - res.objective) / res.dual_bound)
    assert np.all(res.prices >= 0) and res.prices.shape == p.level_capacity.shape


@st.composite
def problems(draw):
    """Small problems with ties, zero values and caps, quotas and capacities of 0, and
    sellers with windows of different lengths sharing creators."""
    n_sellers = draw(st.integers(1, 5))
    n_creators = draw(st.integers(1, 5))
    cells = [(s, c) for s in range(n_sellers) for c in range(n_creators)]
    chosen = sorted(draw(st.lists(st.sampled_from(cells), unique=True, max_size=len(cells))))
    n = len(chosen)
    values = st.sampled_from([0.0, 0.5, 1.0, 1.0, 2.0, 3.7, 10.0])
    n_levels = draw(st.integers(1, 3))
    weekly = np.array(draw(st.lists(st.integers(0, 6), min_size=n_creators, max_size=n_creators)))
    steps = np.array(draw(st.lists(st.integers(0, 3), min_size=n_levels, max_size=n_levels)))
    level = draw(st.lists(st.integers(0, n_levels - 1), min_size=n_sellers, max_size=n_sellers))
    decay_values = st.sampled_from([0.3, 0.5, 0.8, 0.95, 1.0])
    return AllocationProblem(
        seller=np.array([s for s, _ in chosen], dtype=np.int64),
        creator=np.array([c for _, c in chosen], dtype=np.int64),
        value=np.array(draw(st.lists(values, min_size=n, max_size=n))),
        quota=np.array(draw(st.lists(st.integers(0, 10), min_size=n_sellers, max_size=n_sellers))),
        capacity=weekly[:, None] * np.cumsum(steps + 1)[None, :] // 2,
        pair_cap=np.array(draw(st.lists(st.integers(0, 6), min_size=n, max_size=n)), dtype=int),
        decay=np.array(draw(st.lists(decay_values, min_size=n, max_size=n)))
        if draw(st.booleans())
        else draw(decay_values),
        segments=draw(st.sampled_from([(1,), (1, 2), (2, 3), SEGMENTS])),
        seller_level=np.array(level, dtype=np.int64),
    )


@settings(max_examples=100, deadline=None)
@given(problems(), st.sampled_from([1, 3, 40]))
def test_primal_is_feasible_and_below_the_optimum_and_the_bound_above(p, iterations):
    assert_bounds(p, dual_allocate(p, iterations=iterations, tol=0.0))


def contended(n_sellers: int, candidates: int, seed: int, levels: int = 1) -> AllocationProblem:
    """Sellers competing for a pool of heavy-tailed creators whose capacities bind (the
    benchmark's instances, smaller), optionally with windows of several lengths."""
    rng = np.random.default_rng(seed)
    n_creators = 5 * n_sellers
    quality = rng.lognormal(0.0, 1.5, n_creators)
    weekly = rng.integers(1, 6, n_creators)
    pick = rng.random((n_sellers, n_creators)) * quality < np.quantile(quality, 0.3)
    score = rng.random((n_sellers, n_creators)) + pick
    cand = np.argsort(-score, axis=1, kind="stable")[:, :candidates]
    seller = np.repeat(np.arange(n_sellers), candidates)
    creator = cand.ravel()
    value = rng.lognormal(0.0, 1.0, n_sellers)[seller] * quality[creator]
    value *= rng.lognormal(0.0, 0.5, seller.size)
    quota = rng.integers(20, 60, n_sellers)
    cfg = AllocationConfig(
        segments=SEGMENTS, default_decay=0.8, max_videos_per_pair=40, diversity_cap=0.1
    )
    capacity = weekly[:, None] * (np.arange(levels) + 2)[None, :]
    return build_problem(
        seller,
        creator,
        value,
        quota=quota,
        quota_total=quota,
        capacity=capacity,
        config=cfg,
        seller_level=rng.integers(0, levels, n_sellers),
    )


@pytest.mark.parametrize("levels", [1, 3])
def test_gap_is_small_where_capacities_bind(levels):
    p = contended(40, 30, seed=levels, levels=levels)
    exact = allocate(p)
    assert exact.placed < p.quota.sum()  # the creators' capacities bind
    res = dual_allocate(p, iterations=300, tol=1e-3)
    assert_bounds(p, res)
    assert res.gap <= 1e-3 and res.iterations < 300
    assert res.objective / exact.objective > 0.998
    # two-sided contention is where greedy loses; the decomposition should not
    assert res.objective > greedy_allocate(p).objective


def test_stops_at_the_tolerance_and_is_deterministic():
    p = contended(20, 20, seed=5)
    loose = dual_allocate(p, iterations=300, tol=2e-3)
    assert loose.gap <= 2e-3 and 1 < loose.iterations < 300
    tight = dual_allocate(p, iterations=300, tol=0.0)
    assert tight.gap < loose.gap and tight.iterations > loose.iterations
    again = dual_allocate(p, iterations=300, tol=2e-3)
    assert np.array_equal(loose.videos, again.videos)
    assert loose.dual_bound == again.dual_bound and loose.iterations == again.iterations
    np.testing.assert_array_equal(loose.prices, again.prices)


def test_without_contention_the_first_prices_are_optimal():
    # capacities far above the quotas: zero prices, every seller takes its best, gap 0
    p = contended(10, 10, seed=1)
    p = AllocationProblem(
        seller=p.seller,
        creator=p.creator,
        value=p.value,
        quota=p.quota,
        capacity=np.full(p.n_creators, 10_000),
        pair_cap=p.pair_cap,
        decay=p.decay,
        segments=p.segments,
    )
    res = dual_allocate(p, iterations=100, tol=0.0)
    assert res.iterations == 1
    assert res.gap == pytest.approx(0.0, abs=1e-12)
    assert res.objective == pytest.approx(allocate(p).objective, rel=1e-12)
    assert not res.prices.any()


def test_two_sided_contention_reaches_the_optimum():
    # greedy gives the shared star to seller 0 (10) and leaves seller 1 nothing; optimum 17
    p = AllocationProblem(
        seller=np.array([0, 0, 1]),
        creator=np.array([0, 1, 0]),
        value=np.array([10.0, 9.0, 8.0]),
        quota=np.array([1, 1]),
        capacity=np.array([1, 1]),
        pair_cap=np.array([1, 1, 1]),
        decay=0.8,
        segments=SEGMENTS,
    )
    res = dual_allocate(p, iterations=100, tol=1e-9)
    assert res.videos.tolist() == [0, 1, 1]
    assert res.objective == 17.0 and res.dual_bound == pytest.approx(17.0)


def test_empty_problem_and_bad_arguments():
    p = AllocationProblem(
        seller=np.zeros(0, dtype=np.int64),
        creator=np.zeros(0, dtype=np.int64),
        value=np.zeros(0),
        quota=np.array([3]),
        capacity=np.array([2]),
        pair_cap=np.zeros(0, dtype=np.int64),
        decay=0.8,
        segments=SEGMENTS,
    )
    res = dual_allocate(p)
    assert res.objective == 0.0 and res.dual_bound == 0.0 and res.gap == 0.0
    assert res.iterations == 0 and res.videos.shape == (0,)
    with pytest.raises(ValueError, match="iterations"):
        dual_allocate(p, iterations=0)
    with pytest.raises(ValueError, match="tol"):
        dual_allocate(p, tol=-1.0)


def test_docstring_example():
    result = doctest.testmod(
        matching.allocation.decomposition, optionflags=doctest.NORMALIZE_WHITESPACE
    )
    assert result.attempted and not result.failed


def test_match_allocates_by_the_configured_solver():
    """``allocation.solver`` picks the solver of ``match``'s allocation step (either engine
    calls it), and the report, hence summary.json and the MLflow metrics, carries the bound."""
    import datetime as dt
    import json

    import pandas as pd

    from matching.allocation.policy import seller_status
    from matching.allocation.quota import allocate_quota, solve
    from matching.allocation.summary import RunSummary
    from matching.config import load_config

    cfg = load_config().replace(allocation={"min_fill": 0.0})  # the dual keeps no floor
    as_of = cfg.program.start + dt.timedelta(days=10)
    rng = np.random.default_rng(0)
    merchants = pd.DataFrame(
        {
            "merchant_id": [f"m{i}" for i in range(6)],
            "annual_gmv_usd": np.full(6, 5e7),
            "onboarded_at": pd.to_datetime([cfg.program.start] * 6),
        }
    )
    status = seller_status(merchants, cfg.program, as_of)
    creators = pd.DataFrame(
        {"creator_id": [f"c{i}" for i in range(8)], "weekly_video_capacity": rng.integers(1, 4, 8)}
    )
    pairs = [(m, c) for m in range(6) for c in range(8) if (m + c) % 3]
    matches = pd.DataFrame(
        {
            "merchant_id": [f"m{m}" for m, _ in pairs],
            "creator_id": [f"c{c}" for _, c in pairs],
            "score": rng.lognormal(3.0, 1.0, len(pairs)),
            "certified_super_top": True,
        }
    )
    matches["rank"] = matches.groupby("merchant_id")["score"].rank(ascending=False).astype(int)

    def run(**allocation):
        c = cfg.replace(allocation=allocation)
        return allocate_quota(matches, status, creators, c, 0.8)[1]

    exact, dual = run(solver="exact"), run(solver="dual", dual_tol=0.0)
    assert exact.solver == "min_cost_flow" and exact.dual is None
    # the greedy baseline in its own process beside the solve: the same report
    apart = run(solver="exact", greedy_apart_min_pairs=1)
    assert apart == exact and apart.greedy_expected_gmv_usd > 0
    assert dual.solver == "dual" and dual.dual.iterations >= 1
    assert dual.expected_gmv_usd <= exact.expected_gmv_usd * (1 + 1e-9)
    assert exact.expected_gmv_usd <= dual.dual.bound_usd * (1 + 1e-9)
    assert dual.dual.gap == pytest.approx(1 - dual.expected_gmv_usd / dual.dual.bound_usd)
    summary = json.loads(RunSummary(as_of, 6, 8, len(matches), 6, 1, dual).to_json())
    assert summary["solver"] == "dual" and summary["dual"]["bound_usd"] == dual.dual.bound_usd
    # a fill floor is kept by the min-cost flow only: asked for the dual, it gets that
    floored = run(solver="dual", min_fill=0.5)
    assert floored.solver == "min_cost_flow" and floored.floor_videos > 0

    # auto: the decomposition from dual_min_pairs candidate pairs on
    p = contended(5, 5, seed=0)
    auto = cfg.allocation.model_copy(update={"solver": "auto", "dual_min_pairs": p.n_pairs})
    assert isinstance(solve(p, auto), DualResult)
    bigger = auto.model_copy(update={"dual_min_pairs": p.n_pairs + 1})
    assert solve(p, bigger).solver == "min_cost_flow"
