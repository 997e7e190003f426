"""What match keeps in memory of the matches it streams to disk (matching.data.kept)."""

import numpy as np
import pandas as pd

from matching.allocation.calibration import ValueCalibration
from matching.allocation.policy import seller_status
from matching.allocation.quota import allocate_quota
from matching.config import load_config
from matching.data.kept import TOP_SLOTS, KeptMatches, kept_rows


def blocks_of(matches: pd.DataFrame, merchants_per_block: int) -> list[pd.DataFrame]:
    ids = matches["merchant_id"].unique()
    return [
        matches[matches["merchant_id"].isin(ids[s : s + merchants_per_block])]
        for s in range(0, len(ids), merchants_per_block)
    ]


def ranked(n_merchants: int, k: int, seed: int = 0) -> pd.DataFrame:
    """A matches table: ``k`` creators of 40 for each merchant, best first."""
    rng = np.random.default_rng(seed)
    creators = np.array([f"c{i:02d}" for i in range(40)], dtype=object)
    score = -np.sort(-rng.gamma(2.0, 40.0, (n_merchants, k)), axis=1)
    score[rng.random(score.shape) < 0.05] = 0.0
    score = -np.sort(-score, axis=1)
    return pd.DataFrame(
        {
            "merchant_id": np.repeat([f"m{i:03d}" for i in range(n_merchants)], k),
            "creator_id": np.concatenate(
                [rng.choice(creators, k, replace=False) for _ in range(n_merchants)]
            ),
            "rank": np.tile(np.arange(1, k + 1), n_merchants),
            "score": score.ravel(),
            "priority_score": score.ravel(),
            "certified_super_top": np.repeat(np.arange(n_merchants) % 3 == 0, k),
            "fit": rng.random(n_merchants * k),
        }
    )


def test_kept_rows_are_the_eligible_sellers_pairs_and_the_top_slots():
    block = ranked(6, 14)
    eligible = pd.Index(["m001", "m004", "elsewhere"])
    mine, top = kept_rows(block, eligible)
    assert list(mine.columns) == ["merchant_id", "creator_id", "score", "fit"]
    assert set(mine["merchant_id"]) == {"m001", "m004"} and len(mine) == 2 * 14
    pd.testing.assert_frame_equal(
        mine, block.loc[block["merchant_id"].isin(eligible), mine.columns]
    )
    assert list(top.columns) == ["creator_id", "certified_super_top", "rank"]
    assert len(top) == 6 * TOP_SLOTS and top["rank"].max() == TOP_SLOTS


def test_held_back_sellers_are_kept_but_not_returned_and_their_top_slots_come_later():
    block = ranked(6, 14)
    eligible = pd.Series(["m001", "m004"])
    kept = KeptMatches(eligible, hold_back=True)
    written = kept.add(block)
    assert not written["merchant_id"].isin(eligible).any() and len(written) == 4 * 14
    assert set(kept.eligible()["merchant_id"]) == {"m001", "m004"}
    assert len(kept.top_slots()) == 4 * TOP_SLOTS
    later = block[block["merchant_id"].isin(eligible)]
    assert len(kept.with_top(later)) == 6 * TOP_SLOTS
    assert len(KeptMatches(eligible).add(block)) == len(block)


def test_the_allocation_from_kept_rows_is_the_allocation_from_all_matches():
    """allocate_quota on the eligible sellers' rows (and every top slot, for fairness) gives
    what it gives on the whole matches table: the later steps read nothing else."""
    cfg = load_config()
    matches = ranked(12, 15, seed=1)
    merchants = pd.DataFrame(
        {
            "merchant_id": matches["merchant_id"].unique(),
            "annual_gmv_usd": np.where(np.arange(12) % 4 == 0, 5e7, 1e5),
            "onboarded_at": pd.Timestamp(cfg.program.start),
        }
    )
    status = seller_status(merchants, cfg.program, cfg.program.start)
    assert 0 < status["eligible"].sum() < len(status)
    creators = pd.DataFrame(
        {"creator_id": [f"c{i:02d}" for i in range(40)], "weekly_video_capacity": 3}
    )
    kept = KeptMatches(status.loc[status["eligible"], "merchant_id"])
    for block in blocks_of(matches, 5):
        kept.add(block)
    assert len(kept.eligible()) < len(matches) and kept.rows == len(matches)
    # the value calibration reads each seller's mean score over its rows: all of them kept
    shrink = ValueCalibration(0.1, 0.9, -0.2, 0.6, 0.3, 0.05, 500)
    history = pd.DataFrame(
        {"merchant_id": ["m000"], "creator_id": ["c01"], "content_type": ["short_video"]}
    )
    common = {"calibration": shrink, "history": history}
    whole = allocate_quota(matches, status, creators, cfg, 0.9, **common)
    part = allocate_quota(
        kept.eligible(), status, creators, cfg, 0.9, top_slots=kept.top_slots(), **common
    )
    assert len(whole[0]) > 0
    pd.testing.assert_frame_equal(part[0], whole[0])
    assert part[1] == whole[1]


def test_the_score_sample_is_bounded_fixed_and_counts_every_pair():
    matches = ranked(30, 20, seed=2)
    samples = []
    for per_block in (1, 7, 30):
        kept = KeptMatches(pd.Series([], dtype=object), sample_size=100)
        for block in blocks_of(matches, per_block):
            kept.add(block)
        sample, pairs = kept.score_sample()
        samples.append(sample)
        assert len(sample) == 100 and kept.rows == len(matches)
        assert pairs["pairs"].sum() == len(matches)
        assert pairs["at_zero"].sum() == (matches["score"] <= 0).sum()
    for other in samples[1:]:  # the same rows however the matches came in blocks
        pd.testing.assert_frame_equal(other, samples[0])
    # the 100 pairs of the smallest hashes, in the table's order
    key = pd.util.hash_pandas_object(matches[["merchant_id", "creator_id"]], index=False)
    first = np.sort(np.argsort(key.to_numpy(), kind="stable")[:100])
    want = matches.iloc[first][["merchant_id", "score"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(samples[0], want, check_dtype=False)
    everything = KeptMatches(pd.Series([], dtype=object), sample_size=len(matches))
    for block in blocks_of(matches, 7):
        everything.add(block)
    sample, pairs = everything.score_sample()  # all of them: no sample, the table itself
    assert pairs is None
    pd.testing.assert_frame_equal(sample, matches[["merchant_id", "score"]])
