"""What-if scenarios: one lever at a time, each an allocation on the same matches."""

from datetime import date

import pytest

from matching.allocation import policy, quota
from matching.evaluation import scenarios

AS_OF = date(2026, 3, 15)  # two sellers of the small market are in their free-video window


@pytest.fixture(scope="module")
def run(trained, small_market, fast_config):
    status = policy.seller_status(small_market.merchants, fast_config.program, AS_OF)
    matches = trained.recommend(k=20, certified=status["certified"].to_numpy(bool))
    return fast_config, matches


def test_one_at_a_time_labels_each_lever():
    got = scenarios.one_at_a_time(free_videos=[250, 2000], decays=[0.5], capacity_factors=[2.0])
    assert [s.label for s in got] == [
        "free videos per seller = 250",
        "free videos per seller = 2000",
        "repeat decay = 0.5",
        "creator capacity = 2",
    ]
    assert got[0].config == {"program": {"free_videos": 250}} and got[2].decay == 0.5


def test_what_if_reallocates_the_same_matches(run, small_market):
    cfg, matches = run
    m, c = small_market.merchants, small_market.creators
    levers = scenarios.one_at_a_time(
        free_videos=[10, cfg.program.free_videos], capacity_factors=[0.0, 1.0]
    )
    table = scenarios.what_if(matches, m, c, cfg, AS_OF, 0.8, levers)
    assert list(table["label"]) == [s.label for s in levers]
    # the scenario that changes nothing is the allocation itself
    status = policy.seller_status(m, cfg.program, AS_OF)
    _, report = quota.allocate_quota(matches, status, c, cfg, 0.8)
    for row in (table.iloc[1], table.iloc[3]):
        assert row[list(report.to_dict())].to_dict() == report.to_dict()
    assert report.videos_placed > 0, "the example must place videos to tell the levers apart"
    assert table.iloc[0]["videos_placed"] <= min(10 * report.eligible_sellers, report.videos_placed)
    assert table.iloc[2]["videos_placed"] == 0  # no capacity, no videos
    assert (c["weekly_video_capacity"] == small_market.creators["weekly_video_capacity"]).all()
