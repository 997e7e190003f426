"""Tests of the free-video allocator: optimality, feasibility, baselines, validation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.allocation.flow import (
    allocate,
    floor_limit,
    greedy_allocate,
    lp_allocate,
    max_flow_limit,
)
from matching.allocation.problem import (
    AllocationProblem,
    build_problem,
    pair_caps,
    segment_gains,
    weekly_schedule,
)
from matching.config import AllocationConfig

SEGMENTS = (1, 2, 4, 8, 16)


def problem(
    seller,
    creator,
    value,
    quota,
    capacity,
    pair_cap=None,
    decay=0.8,
    segments=SEGMENTS,
    seller_level=None,
    floor=None,
):
    seller = np.asarray(seller, dtype=np.int64)
    if pair_cap is None:
        pair_cap = np.full(seller.size, 40)
    return AllocationProblem(
        seller=seller,
        creator=np.asarray(creator, dtype=np.int64),
        value=np.asarray(value, dtype=np.float64),
        quota=np.asarray(quota, dtype=np.int64),
        capacity=np.asarray(capacity, dtype=np.int64),
        pair_cap=np.asarray(pair_cap, dtype=np.int64),
        decay=decay,
        segments=segments,
        seller_level=None if seller_level is None else np.asarray(seller_level, dtype=np.int64),
        floor=None if floor is None else np.asarray(floor, dtype=np.int64),
    )


def reference_value(p: AllocationProblem, videos: np.ndarray) -> np.ndarray:
    """The piecewise value of each pair's videos, computed the slow, obvious way."""
    bounds = [0, *p.segments]
    decay = np.broadcast_to(np.asarray(p.decay, dtype=float), (p.n_pairs,))
    out = np.zeros(p.n_pairs)
    for i in range(p.n_pairs):
        cap = int(p.pair_cap[i])
        g = [decay[i] ** (n - 1) for n in range(1, cap + 1)]
        # segment k covers (bounds[k], bounds[k+1]], the last one runs to the cap
        edges = [min(b, cap) for b in bounds] + [cap]
        per_video = np.zeros(cap)
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            if hi > lo:
                per_video[lo:hi] = np.mean(g[lo:hi])
        out[i] = p.value[i] * per_video[: int(videos[i])].sum()
    return out


def assert_feasible(p: AllocationProblem, videos: np.ndarray) -> None:
    assert videos.dtype == np.int64
    assert videos.shape == (p.n_pairs,)
    assert np.all(videos >= 0)
    assert np.all(videos <= p.pair_cap)
    assert np.all(np.bincount(p.seller, weights=videos, minlength=p.n_sellers) <= p.quota)
    # per creator and window level: the videos of sellers whose windows end by then
    level = p.seller_level[p.seller]
    for lv in range(p.n_levels):
        upto = np.bincount(p.creator, weights=videos * (level <= lv), minlength=p.n_creators)
        assert np.all(upto <= p.level_capacity[:, lv])


# --------------------------------------------------------------------------- known answers


def test_greedy_loses_on_two_sided_capacity():
    # sellers A=0, B=1 with one video each; creators X=0 (the star), Y=1, one video each
    p = problem(
        seller=[0, 0, 1, 1],
        creator=[0, 1, 0, 1],
        value=[10.0, 9.0, 8.0, 0.0],
        quota=[1, 1],
        capacity=[1, 1],
    )
    opt, greedy, lp = allocate(p), greedy_allocate(p), lp_allocate(p)
    assert opt.videos.tolist() == [0, 1, 1, 0]  # A-Y and B-X
    assert opt.objective == pytest.approx(17.0)
    assert greedy.videos.tolist() == [1, 0, 0, 0]  # A-X, then nothing fits
    assert greedy.objective == pytest.approx(10.0)
    assert lp.objective == pytest.approx(17.0)
    assert opt.solver == "min_cost_flow" and greedy.solver == "greedy" and lp.solver == "lp"
    assert opt.max_flow == 2 and opt.placed == 2 and greedy.placed == 1


def test_seller_with_zero_quota_gets_nothing():
    p = problem(
        seller=[0, 0, 1], creator=[0, 1, 0], value=[5.0, 3.0, 4.0], quota=[0, 3], capacity=[9, 9]
    )
    r = allocate(p)
    assert r.videos[:2].tolist() == [0, 0]
    assert r.videos[2] == 3


def test_creator_with_zero_capacity_gets_nothing():
    p = problem(
        seller=[0, 0, 1], creator=[0, 1, 0], value=[5.0, 3.0, 4.0], quota=[4, 4], capacity=[0, 9]
    )
    r = allocate(p)
    assert r.videos[0] == 0 and r.videos[2] == 0
    assert r.videos[1] == 4


def test_seller_with_too_few_creators_is_limited_by_pair_caps():
    p = problem(
        seller=[0, 0],
        creator=[0, 1],
        value=[5.0, 3.0],
        quota=[1000],
        capacity=[500, 500],
        pair_cap=[40, 25],
    )
    for solve in (allocate, greedy_allocate, lp_allocate):
        r = solve(p)
        assert r.videos.tolist() == [40, 25]
        assert r.placed == 65
    assert max_flow_limit(p) == 65


def test_diminishing_returns_spread_videos():
    p = problem(
        seller=[0, 0],
        creator=[0, 1],
        value=[1.0, 1.0],
        quota=[4],
        capacity=[100, 100],
        pair_cap=[4, 4],
        decay=0.5,
    )
    r = allocate(p)
    assert r.videos.tolist() == [2, 2]
    assert r.objective == pytest.approx(2 * (1 + 0.5))


def test_no_decay_fills_the_better_creator():
    p = problem(
        seller=[0, 0],
        creator=[0, 1],
        value=[2.0, 1.0],
        quota=[4],
        capacity=[100, 100],
        pair_cap=[4, 4],
        decay=1.0,
    )
    assert allocate(p).videos.tolist() == [4, 0]


def test_zero_value_pairs_are_not_placed():
    p = problem(
        seller=[0, 0],
        creator=[0, 1],
        value=[0.0, 1.0],
        quota=[10],
        capacity=[10, 10],
        pair_cap=[5, 5],
    )
    for solve in (allocate, greedy_allocate, lp_allocate):
        assert solve(p).videos.tolist() == [0, 5]
    assert max_flow_limit(p) == 10


def test_empty_problems():
    empty = problem(seller=[], creator=[], value=[], quota=[3], capacity=[2])
    for solve in (allocate, greedy_allocate, lp_allocate):
        r = solve(empty)
        assert r.videos.shape == (0,) and r.placed == 0 and r.objective == 0.0 and r.max_flow == 0
    no_quota = problem(seller=[0], creator=[0], value=[1.0], quota=[0], capacity=[2])
    r = allocate(no_quota)
    assert r.videos.tolist() == [0] and r.max_flow == 0
    nothing = problem(seller=[], creator=[], value=[], quota=[], capacity=[])
    assert allocate(nothing).placed == 0


def test_deterministic_and_inputs_untouched():
    p = random_problem(np.random.default_rng(3), n_sellers=6, n_creators=8)
    before = p.value.copy()
    a, b = allocate(p), allocate(p)
    np.testing.assert_array_equal(a.videos, b.videos)
    assert a.objective == b.objective
    np.testing.assert_array_equal(p.value, before)
    assert not a.videos.flags.writeable


# --------------------------------------------------------------------------- segments and caps


def test_segments_are_clipped_to_the_pair_cap_and_extend_past_the_last_breakpoint():
    p = problem(
        seller=[0, 0, 0],
        creator=[0, 1, 2],
        value=[1.0, 1.0, 1.0],
        quota=[1],
        capacity=[1, 1, 1],
        pair_cap=[5, 40, 0],
        decay=0.5,
    )
    start, length, gain = segment_gains(p)
    assert start[0].tolist() == [0, 1, 2, 4, 5, 5]
    assert length[0].tolist() == [1, 1, 2, 1, 0, 0]
    assert length[1].tolist() == [1, 1, 2, 4, 8, 24]  # (16, 40] is its own segment
    assert length[2].tolist() == [0] * 6
    np.testing.assert_allclose(gain[0, :4], [1.0, 0.5, (0.25 + 0.125) / 2, 0.0625])
    assert np.all(np.diff(gain[1]) <= 0)


def test_gains_are_accurate_for_decay_near_one():
    p = problem(
        seller=[0],
        creator=[0],
        value=[1.0],
        quota=[1],
        capacity=[1],
        pair_cap=[40],
        decay=1 - 1e-13,
    )
    _, length, gain = segment_gains(p)
    np.testing.assert_allclose(gain[0], np.ones(6), rtol=1e-11)


def test_pair_caps_diversity_rule():
    caps = pair_caps([1000, 100, 5, 0, 290], max_videos_per_pair=40, diversity_cap=0.1)
    assert caps.tolist() == [40, 10, 1, 1, 29]
    assert pair_caps([100], 40, 0.29).tolist() == [29]  # 0.29 * 100 = 28.999999999999996


def test_build_problem_from_config():
    cfg = AllocationConfig(
        segments=(1, 2, 4), default_decay=0.7, max_videos_per_pair=30, diversity_cap=0.1
    )
    p = build_problem(
        [0, 1, 1],
        [0, 0, 1],
        [3.0, 2.0, 1.0],
        quota=[800, 20],
        quota_total=[1000, 100],
        capacity=[50, 50],
        config=cfg,
    )
    assert p.pair_cap.tolist() == [30, 10, 10]
    assert p.decay == 0.7
    assert p.segments == (1, 2, 4)
    p2 = build_problem(
        [0], [0], [1.0], quota=[5], quota_total=[5], capacity=[5], config=cfg, decay=np.array([0.9])
    )
    assert p2.decay.tolist() == [0.9] and p2.pair_cap.tolist() == [1]
    assert p.floor.tolist() == [0, 0]
    p3 = build_problem(
        [0, 1],
        [0, 0],
        [1.0, 1.0],
        quota=[5, 3],
        quota_total=[5, 3],
        capacity=[5],
        config=cfg,
        floor=[2, 7],
    )
    assert p3.floor.tolist() == [2, 3]  # clipped to the quota


def test_each_seller_uses_only_its_own_weeks_of_a_creator():
    """Seller A's window ends in 2 weeks, B's in 5; both want the star creator X (3 videos
    a week) and each has a weaker creator of its own. A can use only X's first two weeks."""
    weekly = np.array([3, 10, 10])  # X, A's own creator, B's own creator
    days = np.array([14, 35])  # days left of A's and B's windows
    status_days = np.unique(days)
    p = problem(
        seller=[0, 0, 1, 1],
        creator=[0, 1, 0, 2],
        value=[10.0, 1.0, 9.0, 1.0],
        quota=[8, 20],
        capacity=(weekly[:, None] * status_days[None, :]) // 7,
        seller_level=np.searchsorted(status_days, days),
        decay=1.0,
    )
    opt, lp, greedy = allocate(p), lp_allocate(p), greedy_allocate(p)
    assert opt.objective == pytest.approx(lp.objective, rel=1e-9)
    assert opt.objective >= greedy.objective - 1e-9
    for r in (opt, greedy):
        assert_feasible(p, r.videos)
        assert r.videos[0] <= 6  # X's first two weeks
        assert r.videos[0] + r.videos[2] <= 15  # X's five weeks
    # the optimum: A takes X's two weeks, B the other three; both fill up elsewhere
    assert opt.videos.tolist() == [6, 2, 9, 11]
    # the week-by-week schedule: never more than X makes in a week, each seller in its window
    pair, week, count = weekly_schedule(
        p.seller, p.creator, opt.videos, seller_days=days, weekly=weekly
    )
    per_week = np.zeros((3, 6), dtype=np.int64)
    np.add.at(per_week, (p.creator[pair], week), count)
    assert np.all(per_week <= weekly[:, None])
    assert np.all(week <= np.ceil(days[p.seller[pair]] / 7))
    assert np.bincount(pair, count, minlength=p.n_pairs).tolist() == opt.videos.tolist()
    assert per_week[0, 1:6].tolist() == [3, 3, 3, 3, 3]
    assert count[(pair == 0)].sum() == 6 and week[pair == 0].max() == 2
    # one level with the latest window for everyone (the old model) lets A take more of X
    single = problem(
        seller=[0, 0, 1, 1],
        creator=[0, 1, 0, 2],
        value=[10.0, 1.0, 9.0, 1.0],
        quota=[8, 20],
        capacity=weekly * 35 // 7,
        decay=1.0,
    )
    assert allocate(single).videos[0] == 8
    with pytest.raises(ValueError, match="do not fit"):
        weekly_schedule(p.seller, p.creator, [8, 0, 7, 0], seller_days=days, weekly=weekly)


def test_max_flow_limit():
    # three sellers all want the same two creators
    p = problem(
        seller=[0, 0, 1, 2],
        creator=[0, 1, 0, 1],
        value=[1.0, 1.0, 1.0, 1.0],
        quota=[5, 5, 5],
        capacity=[3, 4],
        pair_cap=[2, 2, 9, 9],
    )
    assert max_flow_limit(p) == 7
    r = allocate(p)
    assert r.max_flow == 7 and r.placed == 7


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"value": [1.0, -1.0]}, "value must be >= 0"),
        ({"value": [1.0, np.nan]}, "NaN"),
        ({"value": [1.0]}, "one entry per pair"),
        ({"quota": [-1]}, "quota must be >= 0"),
        ({"capacity": [1, -2]}, "capacity must be >= 0"),
        ({"pair_cap": [1, 1.5]}, "integers"),
        ({"creator": [0, 2]}, "out of range"),
        ({"seller": [0, -1]}, "out of range"),
        ({"creator": [1, 1]}, "duplicate"),
        ({"decay": 0.0}, "decay"),
        ({"decay": [0.5, 1.2]}, "decay"),
        ({"decay": [0.5, 0.5, 0.5]}, "decay"),
        ({"segments": (2, 2)}, "segments"),
        ({"segments": ()}, "segments"),
        ({"segments": (0, 1)}, "segments"),
        ({"segments": (1, 2.5)}, "segments"),
        ({"capacity": [[2, 1], [2, 2]]}, "non-decreasing"),
        ({"capacity": [[1, 2], [2, 2]], "seller_level": [2]}, "seller_level"),
        ({"capacity": [[1, 2], [2, 2]], "seller_level": [0, 1]}, "one entry per seller"),
        ({"floor": [-1]}, "floor must be >= 0"),
        ({"floor": [1, 1]}, "floor must have one entry per seller"),
        ({"floor": 1}, "floor must be a 1-D array"),
        ({"floor": [1.5]}, "floor must hold integers"),
    ],
)
def test_invalid_inputs_raise_value_error(change, message):
    args = {
        "seller": [0, 0],
        "creator": [0, 1],
        "value": [1.0, 2.0],
        "quota": [3],
        "capacity": [2, 2],
        "pair_cap": [2, 2],
        "decay": 0.8,
        "segments": SEGMENTS,
    }
    args.update(change)
    with pytest.raises(ValueError, match=message):
        AllocationProblem(
            **{k: (np.asarray(v) if isinstance(v, list) else v) for k, v in args.items()}
        )


# --------------------------------------------------------------------------- random instances


def random_problem(rng: np.random.Generator, n_sellers: int, n_creators: int) -> AllocationProblem:
    density = rng.uniform(0.3, 0.9)
    mask = rng.random((n_sellers, n_creators)) < density
    seller, creator = np.nonzero(mask)
    n = seller.size
    value = rng.lognormal(0.0, 1.0, n) * (rng.random(n) > 0.1)
    return problem(
        seller=seller,
        creator=creator,
        value=value,
        quota=rng.integers(0, 30, n_sellers),
        capacity=rng.integers(0, 25, n_creators),
        pair_cap=rng.integers(0, 20, n),
        decay=rng.uniform(0.3, 1.0, n),
        segments=(1, 2, 4, 8),
    )


@pytest.mark.parametrize("seed", range(20))
def test_min_cost_flow_matches_the_lp_optimum(seed):
    rng = np.random.default_rng(seed)
    p = random_problem(rng, n_sellers=int(rng.integers(2, 8)), n_creators=int(rng.integers(2, 10)))
    opt, lp, greedy = allocate(p), lp_allocate(p), greedy_allocate(p)
    assert opt.objective == pytest.approx(lp.objective, rel=1e-6, abs=1e-9)
    assert opt.objective >= greedy.objective - 1e-9 * max(1.0, greedy.objective)
    # the LP's vertex solution is integral and has the same value
    assert_feasible(p, lp.videos)
    assert lp.expected_value.sum() == pytest.approx(lp.objective, rel=1e-6, abs=1e-9)
    assert_feasible(p, opt.videos)


@st.composite
def windowed_problems(draw):
    """Sellers with windows of different lengths sharing creators (cumulative capacities)."""
    base = draw(problems())
    n_levels = draw(st.integers(1, 3))
    weekly = np.asarray(base.capacity)
    steps = np.array(draw(st.lists(st.integers(0, 3), min_size=n_levels, max_size=n_levels)))
    capacity = weekly[:, None] * np.cumsum(steps + 1)[None, :] // 2
    level = draw(
        st.lists(st.integers(0, n_levels - 1), min_size=base.n_sellers, max_size=base.n_sellers)
    )
    return problem(
        seller=base.seller,
        creator=base.creator,
        value=base.value,
        quota=base.quota,
        capacity=capacity,
        pair_cap=base.pair_cap,
        decay=base.decay,
        segments=base.segments,
        seller_level=level,
    )


@settings(max_examples=50, deadline=None)
@given(windowed_problems())
def test_windowed_allocations_are_feasible_and_match_the_lp(p):
    opt, greedy, lp = allocate(p), greedy_allocate(p), lp_allocate(p)
    for r in (opt, greedy):
        assert_feasible(p, r.videos)
        assert r.placed <= r.max_flow
    assert opt.objective == pytest.approx(lp.objective, rel=1e-9, abs=1e-9)
    assert opt.objective >= greedy.objective - 1e-9 * max(1.0, greedy.objective)
    assert opt.max_flow == max_flow_limit(p)


@st.composite
def problems(draw):
    n_sellers = draw(st.integers(1, 4))
    n_creators = draw(st.integers(1, 4))
    cells = [(s, c) for s in range(n_sellers) for c in range(n_creators)]
    chosen = draw(st.lists(st.sampled_from(cells), unique=True, max_size=len(cells)))
    chosen.sort()
    n = len(chosen)
    values = st.sampled_from([0.0, 0.5, 1.0, 1.0, 2.0, 3.7, 10.0])  # ties on purpose
    per_pair_decay = draw(st.booleans())
    decay_values = st.sampled_from([0.3, 0.5, 0.8, 0.95, 1.0])
    return problem(
        seller=[s for s, _ in chosen],
        creator=[c for _, c in chosen],
        value=draw(st.lists(values, min_size=n, max_size=n)),
        quota=draw(st.lists(st.integers(0, 8), min_size=n_sellers, max_size=n_sellers)),
        capacity=draw(st.lists(st.integers(0, 8), min_size=n_creators, max_size=n_creators)),
        pair_cap=draw(st.lists(st.integers(0, 6), min_size=n, max_size=n)),
        decay=draw(st.lists(decay_values, min_size=n, max_size=n))
        if per_pair_decay
        else draw(decay_values),
        segments=draw(st.sampled_from([(1,), (1, 2), (1, 2, 4), (2, 3), SEGMENTS])),
    )


@settings(max_examples=50, deadline=None)
@given(problems())
def test_allocations_are_feasible_and_optimal(p):
    opt, greedy = allocate(p), greedy_allocate(p)
    for r in (opt, greedy):
        assert_feasible(p, r.videos)
        np.testing.assert_allclose(
            r.expected_value, reference_value(p, r.videos), rtol=1e-9, atol=1e-12
        )
        assert r.objective == pytest.approx(r.expected_value.sum(), rel=1e-12, abs=1e-12)
        assert r.placed == int(r.videos.sum()) <= r.max_flow
        assert np.all(r.videos[p.value == 0] == 0)
    assert opt.objective >= greedy.objective - 1e-9 * max(1.0, greedy.objective)
    assert opt.objective == pytest.approx(lp_allocate(p).objective, rel=1e-9, abs=1e-9)
    assert opt.max_flow == max_flow_limit(p)


def test_the_match_problem_gives_each_seller_its_own_window():
    """Two certified sellers onboarded 3 and 6 weeks before the as-of date share a creator
    who makes 2 videos a week: the earlier one has 3 weeks of it left, the later one 6."""
    import datetime as dt

    import pandas as pd

    from matching.allocation.policy import seller_status
    from matching.allocation.quota import allocate_quota, quota_problem
    from matching.config import load_config

    cfg = load_config().replace(allocation={"min_fill": 0.0})  # by value alone
    as_of = cfg.program.start + dt.timedelta(days=cfg.program.window_days - 21)
    merchants = pd.DataFrame(
        {
            "merchant_id": ["early", "late"],
            "annual_gmv_usd": [5e7, 5e7],
            "onboarded_at": pd.to_datetime(
                [cfg.program.start, cfg.program.start + dt.timedelta(days=21)]
            ),
        }
    )
    status = seller_status(merchants, cfg.program, as_of)
    assert status["days_left"].tolist() == [21, 42]
    creators = pd.DataFrame({"creator_id": ["star", "other"], "weekly_video_capacity": [2, 20]})
    matches = pd.DataFrame(
        {
            "merchant_id": ["early", "early", "late"],
            "creator_id": ["star", "other", "star"],
            "rank": [1, 2, 1],
            "score": [100.0, 1.0, 90.0],
            "certified_super_top": [True, True, True],
        }
    )
    problem, pairs, _ = quota_problem(matches, status, creators, cfg, decay=0.99)
    assert problem.level_capacity.tolist() == [[6, 12], [60, 120]]
    assert problem.seller_level.tolist() == [0, 1]
    table, report = allocate_quota(matches, status, creators, cfg, 0.99)
    star = table[table["creator_id"] == "star"].set_index("merchant_id")["videos"]
    assert star["early"] == 6 and star["late"] == 6  # 3 weeks each of the star's 6
    pair, week, count = weekly_schedule(
        problem.seller,
        problem.creator,
        allocate(problem).videos,
        seller_days=status["days_left"].to_numpy(),
        weekly=creators["weekly_video_capacity"].to_numpy(),
    )
    per_week = np.zeros((2, 7), dtype=np.int64)
    np.add.at(per_week, (problem.creator[pair], week), count)
    assert per_week[0].tolist() == [0, 2, 2, 2, 2, 2, 2] and np.all(per_week <= [[2], [20]])
    assert report.fairness.certified_video_share == 1.0


# --------------------------------------------------------------------------- fill floor


def floor_placed(p: AllocationProblem, videos: np.ndarray) -> int:
    per_seller = np.bincount(p.seller, weights=videos, minlength=p.n_sellers)
    return int(np.minimum(per_seller, p.floor).sum())


def test_floor_gives_a_starved_seller_its_floor_at_a_known_loss():
    """A values the star X (2 videos) at 10 a video and its own Y (1 video) at 3; B values X
    at 4 and has nothing else. Both have a quota of 2. The value optimum gives X to A
    (20) and B nothing; a floor of 1 for B costs 20 - (10 + 3 + 4) = 3, a floor of 2
    costs 20 - (3 + 2 * 4) = 9."""
    args = {
        "seller": [0, 0, 1],
        "creator": [0, 1, 0],
        "value": [10.0, 3.0, 4.0],
        "quota": [2, 2],
        "capacity": [2, 1],
        "decay": 1.0,
    }
    free = allocate(problem(**args))
    assert free.videos.tolist() == [2, 0, 0] and free.objective == pytest.approx(20.0)
    assert free.floor_placed == 0
    cases = [  # floor, the most floor videos, videos, value, greedy's videos
        ([0, 1], 1, [1, 1, 1], 17.0, [1, 1, 1]),
        # X's two videos and Y's one: all there are; greedy gives A both X first
        ([2, 1], 3, [1, 1, 1], 17.0, [2, 0, 0]),
        ([0, 2], 2, [0, 1, 2], 11.0, [0, 1, 2]),
        ([2, 0], 2, [2, 0, 0], 20.0, [2, 0, 0]),  # the value optimum already meets it: no loss
    ]
    for floor, limit, videos, value, greedy_videos in cases:
        p = problem(**args, floor=floor)
        opt, lp = allocate(p), lp_allocate(p)
        assert floor_limit(p) == opt.floor_placed == lp.floor_placed == limit
        assert opt.videos.tolist() == videos
        assert opt.objective == pytest.approx(value) and lp.objective == pytest.approx(value)
        # the greedy baseline places floors first too, greedily
        greedy = greedy_allocate(p)
        assert greedy.videos.tolist() == greedy_videos
        assert greedy.floor_placed == floor_placed(p, greedy.videos) <= opt.floor_placed


def test_floor_respects_window_levels():
    """B's window is the short one: only X's first video is within it, so a floor of 2 for
    B reaches 1, and A (long window) keeps the rest of X."""
    p = problem(
        seller=[0, 1],
        creator=[0, 0],
        value=[10.0, 1.0],
        quota=[3, 2],
        capacity=[[1, 3]],
        seller_level=[1, 0],
        decay=1.0,
        floor=[0, 2],
    )
    opt = allocate(p)
    assert floor_limit(p) == 1
    assert opt.videos.tolist() == [2, 1] and opt.floor_placed == 1
    assert opt.objective == pytest.approx(21.0)
    assert lp_allocate(p).objective == pytest.approx(21.0)


def test_unreachable_floor_is_not_an_error():
    # seller 0 wants 5 but its creators make 3; seller 1's only pair is worth nothing
    p = problem(
        seller=[0, 0, 1],
        creator=[0, 1, 1],
        value=[2.0, 1.0, 0.0],
        quota=[8, 4],
        capacity=[2, 1],
        floor=[5, 4],
    )
    opt, lp = allocate(p), lp_allocate(p)
    assert floor_limit(p) == 3 < int(p.floor.sum())
    assert opt.floor_placed == lp.floor_placed == 3
    assert opt.videos.tolist() == [2, 1, 0]  # zero-value pairs still never placed
    assert_feasible(p, opt.videos)


def test_floor_is_clipped_to_the_quota_and_read_only():
    p = problem(seller=[0], creator=[0], value=[1.0], quota=[3], capacity=[9], floor=[10])
    assert p.floor.tolist() == [3]
    assert not p.floor.flags.writeable
    assert allocate(p).floor_placed == floor_limit(p) == 3
    assert problem(seller=[], creator=[], value=[], quota=[2], capacity=[]).floor.tolist() == [0]


@pytest.mark.parametrize("seed", range(10))
def test_zero_floor_is_the_plain_solve(seed):
    rng = np.random.default_rng(seed)
    p = random_problem(rng, n_sellers=int(rng.integers(2, 8)), n_creators=int(rng.integers(2, 10)))
    zero = dataclasses.replace(p, floor=np.zeros(p.n_sellers, dtype=np.int64))
    for solve in (allocate, lp_allocate, greedy_allocate):
        a, b = solve(p), solve(zero)
        np.testing.assert_array_equal(a.videos, b.videos)
        assert a.objective == b.objective
        assert a.floor_placed == b.floor_placed == 0
    assert floor_limit(zero) == 0


@st.composite
def floored_problems(draw):
    """Small problems, with window levels or not, and a floor per seller (some 0, some
    above the quota, some beyond what the creators can make)."""
    base = draw(st.one_of(problems(), windowed_problems()))
    floor = draw(st.lists(st.integers(0, 10), min_size=base.n_sellers, max_size=base.n_sellers))
    return dataclasses.replace(base, floor=np.asarray(floor, dtype=np.int64))


@settings(max_examples=75, deadline=None)
@given(floored_problems())
def test_floor_is_lexicographic_and_matches_the_lp(p):
    opt, lp = allocate(p), lp_allocate(p)
    limit = floor_limit(p)
    for r in (opt, lp):
        assert_feasible(p, r.videos)
        assert r.floor_placed == floor_placed(p, r.videos)
        assert np.all(r.videos[p.value == 0] == 0)
    # first the most floor videos, the same for both ...
    assert opt.floor_placed == lp.floor_placed == limit <= int(p.floor.sum())
    # ... then the most value among the allocations that place them
    assert opt.objective == pytest.approx(lp.objective, rel=1e-6, abs=1e-9)
    free = dataclasses.replace(p, floor=None)
    assert opt.objective <= allocate(free).objective + 1e-9 * max(1.0, opt.objective)
    assert opt.placed <= opt.max_flow
