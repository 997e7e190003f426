"""The run summary: a typed record whose JSON keeps the keys readers of summary.json use."""

import json
from dataclasses import FrozenInstanceError, dataclass, replace
from datetime import date

import pytest

from matching.allocation.summary import AllocationReport, OutputFile, RunSummary

REPORT = AllocationReport(
    eligible_sellers=2,
    sellers_served=1,
    remaining_quota=30,
    videos_placed=25,
    max_flow_limit=25,
    expected_gmv_usd=1234.5,
    greedy_expected_gmv_usd=1200.0,
    greedy_gap=0.0279,
    creators_used=4,
    creator_utilisation=0.5,
    horizon_days=40,
    repeat_decay=0.8,
)
SUMMARY = RunSummary(date(2026, 3, 1), 10, 100, 200, 3, 7, REPORT)
KEYS = set(
    [
        "as_of",
        "merchants",
        "creators",
        "matches",
        "certified_sellers",
        "allocation_rows",
        "eligible_sellers",
        "sellers_served",
        "remaining_quota",
        "videos_placed",
        "max_flow_limit",
        "expected_gmv_usd",
        "greedy_expected_gmv_usd",
        "greedy_gap",
        "creators_used",
        "creator_utilisation",
        "horizon_days",
        "repeat_decay",
        "returns",
        "value_calibration",
        "expected_gmv_uncalibrated_usd",
        "fairness",
        "solver",
        "dual",
        "objective",
        "offer_logit_shift",
        "expected_gmv_if_taken_usd",
        "min_fill",
        "floor_videos",
        "floor_placed",
        "greedy_floor_placed",
        "max_flow_limit_display",
        "pool",
        "sellers",
    ]
)


def test_json_is_flat_with_the_keys_readers_use():
    text = SUMMARY.to_json()
    assert text.endswith("}\n")
    got = json.loads(text)
    assert set(got) == KEYS
    assert got["as_of"] == "2026-03-01" and got["videos_placed"] == 25
    written = replace(SUMMARY, outputs={"matches.parquet": OutputFile(200, "ab" * 32)})
    assert json.loads(written.to_json())["outputs"] == {
        "matches.parquet": {"rows": 200, "sha256": "ab" * 32}
    }


@dataclass(frozen=True)
class _Shadowing(AllocationReport):
    merchants: int = 0


def test_frozen_and_no_field_shadows_another():
    with pytest.raises(FrozenInstanceError):
        SUMMARY.matches = 3  # type: ignore[misc]
    clashing = replace(SUMMARY, allocation=_Shadowing(**REPORT.to_dict(), merchants=1))
    with pytest.raises(ValueError, match="share names"):
        clashing.to_dict()


def test_the_printed_summary_says_how_close_the_dual_solver_came():
    """``match`` prints the dual decomposition's gap and bound; the exact solver adds no row."""
    from matching.allocation.summary import DualReport
    from matching.jobs.report import format_summary

    assert "solver" not in format_summary(SUMMARY)
    dual = replace(
        SUMMARY,
        allocation=replace(REPORT, solver="dual", dual=DualReport(1240.0, 0.0044, 9)),
    )
    line = [x for x in format_summary(dual).splitlines() if x.startswith("solver")]
    assert line == [
        "solver             dual decomposition, 9 iterations: within 0.440% of the optimum "
        "(bound 1,240 USD)"
    ]


def test_the_printed_summary_says_when_greedy_beats_the_optimum_by_breaking_the_floor():
    from matching.jobs.report import format_summary

    kept = {"floor_videos": 20, "floor_placed": 20, "greedy_floor_placed": 20}
    floored = replace(SUMMARY, allocation=replace(REPORT, **kept))
    assert "floor videos)" not in format_summary(floored)
    broken = replace(
        SUMMARY,
        allocation=replace(
            REPORT,
            floor_videos=20,
            floor_placed=20,
            greedy_floor_placed=14,
            greedy_expected_gmv_usd=1300.0,
            greedy_gap=-0.053,
        ),
    )
    (line,) = [x for x in format_summary(broken).splitlines() if x.startswith("expected GMV")]
    assert "gap -5.30%, placing 14 of the 20 floor videos)" in line
