"""The TOP Program's rules (matching.allocation.policy) on tiny hand-built frames.

Every date and number is derived from the loaded config, so the tests hold for any
program terms in ``configs/``.
"""

from __future__ import annotations

import datetime as dt
import doctest
import logging
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import matching.allocation.policy
from matching.allocation.policy import (
    REASONS,
    STATUS_COLUMNS,
    allocation_horizon,
    certified,
    creator_capacity,
    seller_status,
)
from matching.config import ProgramConfig, load_config

DAY = dt.timedelta(days=1)
COLUMNS = [
    "merchant_id",
    "certified",
    "onboarded_in_program",
    "window_start",
    "window_end",
    "commission_reduction",
    "commission_window_end",
    "quota",
    "free_videos_used",
    "remaining_quota",
    "eligible",
    "days_left",
    "reason",
]


@pytest.fixture(scope="module")
def program() -> ProgramConfig:
    return load_config().program


def merchants(onboarded, gmv=None, *, program: ProgramConfig, **extra) -> pd.DataFrame:
    """A merchants frame as read_inputs returns it; certified by GMV unless told."""
    onboarded = list(onboarded)
    if gmv is None:
        gmv = [program.certification_gmv_usd * 2] * len(onboarded)
    return pd.DataFrame(
        {
            "merchant_id": [f"m{i}" for i in range(len(onboarded))],
            "annual_gmv_usd": np.asarray(gmv, dtype="float64"),
            "onboarded_at": pd.to_datetime(onboarded).astype("datetime64[ns]"),
            **extra,
        }
    )


def last_day(program: ProgramConfig, onboarded: dt.date) -> dt.date:
    return onboarded + (program.window_days - 1) * DAY


def test_docstring_examples():
    result = doctest.testmod(matching.allocation.policy, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


# ------------------------------------------------------------------ program period


@pytest.mark.parametrize(
    ("where", "in_program"),
    [
        ("first day", True),
        ("last day", True),
        ("day before start", False),
        ("day after end", False),
    ],
)
def test_onboarding_period_is_inclusive_at_both_ends(program, where, in_program):
    day = {
        "first day": program.start,
        "last day": program.end,
        "day before start": program.start - DAY,
        "day after end": program.end + DAY,
    }[where]
    s = seller_status(merchants([day], program=program), program, as_of=day)
    assert s["onboarded_in_program"].tolist() == [in_program]
    assert s["eligible"].tolist() == [in_program]
    assert s["quota"].tolist() == [program.free_videos if in_program else 0]
    assert s["reason"].tolist() == ["eligible" if in_program else "onboarded outside program"]


# ------------------------------------------------------------------ the window


def test_window_counts_onboarding_day_as_day_one(program):
    s = seller_status(merchants([program.start], program=program), program, program.start)
    row = s.iloc[0]
    assert row["window_start"] == pd.Timestamp(program.start)
    assert row["window_end"] == pd.Timestamp(last_day(program, program.start))
    assert (row["window_end"] - row["window_start"]).days + 1 == program.window_days
    assert row["days_left"] == program.window_days


def test_window_ending_on_as_of_is_still_eligible_and_the_day_after_is_not(program):
    frame = merchants([program.start], program=program)
    end = last_day(program, program.start)

    on = seller_status(frame, program, end).iloc[0]
    assert on["eligible"]
    assert on["days_left"] == 1
    assert on["reason"] == "eligible"
    assert on["commission_reduction"] == program.commission_reduction

    after = seller_status(frame, program, end + DAY).iloc[0]
    assert not after["eligible"]
    assert after["days_left"] == 0
    assert after["reason"] == "window ended"
    assert after["commission_reduction"] == 0.0
    assert after["remaining_quota"] == program.free_videos  # unused quota is lost, not spent


def test_onboarded_after_as_of_is_not_yet_onboarded(program):
    s = seller_status(merchants([program.end], program=program), program, program.end - DAY)
    assert s["reason"].tolist() == ["not yet onboarded"]
    assert s["days_left"].tolist() == [0]
    assert s["commission_reduction"].tolist() == [0.0]
    # the seller is in the program and will have a quota once onboarded
    assert s["quota"].tolist() == [program.free_videos]


def test_reason_is_the_first_failing_rule(program):
    before = program.start - DAY
    gmv = [0.0, program.certification_gmv_usd * 2]
    s = seller_status(
        merchants([before, program.end + DAY], gmv, program=program), program, program.start
    )
    # not certified wins over outside program; outside program wins over not yet onboarded
    assert s["reason"].tolist() == ["not certified", "onboarded outside program"]
    assert set(s["reason"]) <= set(REASONS)


# ------------------------------------------------------------------ quota


@pytest.mark.parametrize("extra", [0, 1, 250])
def test_quota_used_up_or_overused_leaves_zero_not_negative(program, extra):
    used = program.free_videos + extra
    frame = merchants([program.start], program=program, free_videos_used=np.array([used]))
    s = seller_status(frame, program, program.start).iloc[0]
    assert s["quota"] == program.free_videos
    assert s["free_videos_used"] == used
    assert s["remaining_quota"] == 0
    assert not s["eligible"]
    assert s["days_left"] == 0
    assert s["reason"] == "quota used up"


def test_partly_used_quota(program):
    frame = merchants([program.start], program=program, free_videos_used=np.array([1]))
    s = seller_status(frame, program, program.start).iloc[0]
    assert s["remaining_quota"] == program.free_videos - 1
    assert s["eligible"] == (program.free_videos - 1 > 0)


def test_free_videos_used_absent_defaults_to_zero(program):
    s = seller_status(merchants([program.start], program=program), program, program.start)
    assert s["free_videos_used"].tolist() == [0]
    assert s["remaining_quota"].tolist() == [program.free_videos]


def test_uncertified_or_outside_program_have_no_quota(program):
    gmv = [0.0, program.certification_gmv_usd * 2]
    frame = merchants([program.start, program.start - DAY], gmv, program=program)
    s = seller_status(frame, program, program.start)
    assert s["quota"].tolist() == [0, 0]
    assert s["remaining_quota"].tolist() == [0, 0]


# ------------------------------------------------------------------ certification


def test_certified_derived_from_gmv_at_threshold_counts(program, caplog):
    t = program.certification_gmv_usd
    frame = merchants([program.start] * 3, [t, np.nextafter(t, -np.inf), t * 10], program=program)
    with caplog.at_level(logging.INFO, logger="matching.allocation.policy"):
        got = certified(frame, program)
    assert got.tolist() == [True, False, True]
    assert got.dtype == bool
    assert got.index.equals(frame.index)
    assert any("derived" in r.getMessage() for r in caplog.records)


def test_certified_column_wins_over_gmv(program):
    frame = merchants(
        [program.start] * 2,
        [0.0, program.certification_gmv_usd * 10],
        program=program,
        certified_super_top=[True, False],
    )
    s = seller_status(frame, program, program.start)
    assert s["certified"].tolist() == [True, False]
    assert s["reason"].tolist() == ["eligible", "not certified"]
    assert s["commission_window_end"].isna().tolist() == [False, True]


def test_missing_values_in_certified_column_fall_back_to_gmv(program):
    frame = merchants(
        [program.start] * 3,
        [program.certification_gmv_usd, 0.0, 0.0],
        program=program,
        certified_super_top=pd.array([None, None, True], dtype="boolean"),
    )
    assert certified(frame, program).tolist() == [True, False, True]


def test_commission_reduction_only_for_certified_inside_their_window(program):
    gmv = [program.certification_gmv_usd * 2, 0.0]
    frame = merchants([program.start, program.start], gmv, program=program)
    s = seller_status(frame, program, program.start)
    assert s["commission_reduction"].tolist() == [program.commission_reduction, 0.0]
    assert s["commission_window_end"].iloc[0] == s["window_end"].iloc[0]
    assert pd.isna(s["commission_window_end"].iloc[1])


# ------------------------------------------------------------------ no number in code


def test_other_program_terms_change_the_outcome():
    cfg = load_config().replace(
        program={
            "start": dt.date(2030, 5, 1),
            "end": dt.date(2030, 5, 10),
            "certification_gmv_usd": 500.0,
            "window_days": 3,
            "free_videos": 7,
            "commission_reduction": 0.25,
        }
    )
    program = cfg.program
    frame = pd.DataFrame(
        {
            "merchant_id": ["a", "b", "c", "d"],
            "annual_gmv_usd": [500.0, 499.0, 900.0, 900.0],
            "onboarded_at": pd.to_datetime(
                ["2030-05-01", "2030-05-01", "2030-04-30", "2030-05-10"]
            ),
            "free_videos_used": np.array([2, 0, 0, 7], dtype=np.int64),
        }
    )
    s = seller_status(frame, program, dt.date(2030, 5, 3))
    assert s["certified"].tolist() == [True, False, True, True]
    assert s["onboarded_in_program"].tolist() == [True, True, False, True]
    assert (
        s["window_end"].tolist()
        == pd.to_datetime(["2030-05-03", "2030-05-03", "2030-05-02", "2030-05-12"]).tolist()
    )
    assert s["quota"].tolist() == [7, 0, 0, 7]
    assert s["remaining_quota"].tolist() == [5, 0, 0, 0]
    assert s["commission_reduction"].tolist() == [0.25, 0.0, 0.0, 0.0]
    assert s["days_left"].tolist() == [1, 0, 0, 0]
    assert s["reason"].tolist() == [
        "eligible",
        "not certified",
        "onboarded outside program",
        "not yet onboarded",
    ]
    # the default terms give a different answer on the same frame
    default = seller_status(frame, load_config().program, dt.date(2030, 5, 3))
    assert not default.equals(s)


# ------------------------------------------------------------------ shape and purity


def test_columns_types_order_and_index(program):
    frame = merchants([program.start, program.end, program.start - DAY], program=program).set_index(
        pd.Index([30, 10, 20])
    )
    s = seller_status(frame, program, program.end)
    assert list(s.columns) == COLUMNS == list(STATUS_COLUMNS)
    assert s.index.equals(frame.index)
    assert s["merchant_id"].tolist() == frame["merchant_id"].tolist()
    for col in ("certified", "onboarded_in_program", "eligible"):
        assert s[col].dtype == bool
    for col in ("quota", "free_videos_used", "remaining_quota", "days_left"):
        assert s[col].dtype == np.int64
    for col in ("window_start", "window_end", "commission_window_end"):
        assert s[col].dtype == "datetime64[ns]"
    assert s["commission_reduction"].dtype == np.float64


def test_inputs_are_not_mutated(program):
    frame = merchants(
        [program.start, program.end], program=program, free_videos_used=np.array([3, 0])
    )
    before = frame.copy(deep=True)
    seller_status(frame, program, program.start)
    certified(frame, program)
    pd.testing.assert_frame_equal(frame, before)

    creators = pd.DataFrame({"creator_id": ["c"], "weekly_video_capacity": np.array([3])})
    snapshot = creators.copy(deep=True)
    creator_capacity(creators, 10)
    pd.testing.assert_frame_equal(creators, snapshot)


def test_as_of_accepts_timestamps_and_strings(program):
    frame = merchants([program.start], program=program)
    want = seller_status(frame, program, program.start)
    for as_of in (
        pd.Timestamp(program.start),
        program.start.isoformat(),
        dt.datetime.combine(program.start, dt.time(15, 30)),
    ):
        pd.testing.assert_frame_equal(seller_status(frame, program, as_of), want)


def test_unknown_onboarding_day_is_outside_the_program(program):
    frame = merchants([program.start, None], program=program)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = seller_status(frame, program, program.start)
    assert s["reason"].tolist() == ["eligible", "onboarded outside program"]
    assert s["window_end"].isna().tolist() == [False, True]
    assert s["days_left"].tolist() == [program.window_days, 0]


def test_missing_required_column_is_a_clear_error(program):
    with pytest.raises(ValueError, match="onboarded_at"):
        seller_status(
            pd.DataFrame({"merchant_id": ["a"], "annual_gmv_usd": [1.0]}), program, program.start
        )


# ------------------------------------------------------------------ capacity and horizon


def test_creator_capacity_floors_and_never_goes_negative():
    creators = pd.DataFrame(
        {"creator_id": list("abcd"), "weekly_video_capacity": np.array([7, 3, 0, 10])}
    )
    got = creator_capacity(creators, 10)
    assert got.dtype == np.int64
    assert got.tolist() == [10, 4, 0, 14]  # 70/7, 30/7 = 4.28, 0, 100/7 = 14.28
    assert creator_capacity(creators, 0).tolist() == [0, 0, 0, 0]
    assert creator_capacity(creators, -5).tolist() == [0, 0, 0, 0]
    negative = pd.DataFrame({"weekly_video_capacity": np.array([-3])})
    assert creator_capacity(negative, 7).tolist() == [0]


def test_allocation_horizon_is_the_latest_eligible_window(program):
    later = program.start + 5 * DAY
    frame = merchants([program.start, later, program.start - DAY], program=program)
    s = seller_status(frame, program, later)
    assert s["eligible"].tolist() == [True, True, False]
    assert allocation_horizon(s) == program.window_days  # the later seller: its day 1
    assert allocation_horizon(s) == s["days_left"].max()
    none = seller_status(frame, program, program.start - 2 * DAY)
    assert allocation_horizon(none) == 0
    assert allocation_horizon(s.iloc[:0]) == 0


# ------------------------------------------------------------------ property


@st.composite
def markets(draw):
    """Raw draws, turned into a frame relative to the program in the test."""
    n = draw(st.integers(1, 12))
    return {
        "gmv_factor": draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 3.0]), min_size=n, max_size=n)),
        "onboard_offset": draw(st.lists(st.floats(-0.2, 1.2), min_size=n, max_size=n)),
        "certified": draw(st.none() | st.lists(st.booleans(), min_size=n, max_size=n)),
        "used_share": draw(st.none() | st.lists(st.floats(0, 1.1), min_size=n, max_size=n)),
        "as_of_offset": draw(st.floats(-0.2, 1.2)),
    }


@settings(max_examples=100, deadline=None)
@given(case=markets())
def test_status_invariants(program, case):
    # offsets are fractions of the span from program start to the last possible window end
    span = (program.end - program.start).days + program.window_days
    day = lambda f: program.start + round(f * span) * DAY  # noqa: E731
    n = len(case["gmv_factor"])
    cols = {
        "merchant_id": [f"m{i}" for i in range(n)],
        "annual_gmv_usd": [f * program.certification_gmv_usd for f in case["gmv_factor"]],
        "onboarded_at": pd.to_datetime([day(f) for f in case["onboard_offset"]]),
    }
    if case["certified"] is not None:
        cols["certified_super_top"] = case["certified"]
    if case["used_share"] is not None:
        cols["free_videos_used"] = np.array(
            [round(f * program.free_videos) for f in case["used_share"]], dtype=np.int64
        )
    frame, as_of = pd.DataFrame(cols), day(case["as_of_offset"])

    s = seller_status(frame, program, as_of)
    assert len(s) == len(frame)
    assert ((s["remaining_quota"] >= 0) & (s["remaining_quota"] <= s["quota"])).all()
    assert s["quota"].isin([0, program.free_videos]).all()
    e = s[s["eligible"]]
    assert e["certified"].all()
    assert e["onboarded_in_program"].all()
    assert (e["remaining_quota"] > 0).all()
    assert ((e["days_left"] >= 1) & (e["days_left"] <= program.window_days)).all()
    assert (e["window_start"] <= pd.Timestamp(as_of)).all()
    assert (e["window_end"] >= pd.Timestamp(as_of)).all()
    assert (s.loc[~s["eligible"], "days_left"] == 0).all()
    assert ((s["reason"] == "eligible") == s["eligible"]).all()
    assert set(s["reason"]) <= set(REASONS)
    assert (s.loc[~s["certified"], "commission_reduction"] == 0).all()
    assert allocation_horizon(s) == (int(e["days_left"].max()) if len(e) else 0)
