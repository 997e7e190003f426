"""The backtest: an allocation made as of an earlier date, valued with what came after."""

from datetime import date

import numpy as np
import pandas as pd
import pytest

from matching import data
from matching.allocation.returns import geometric_sum
from matching.cli import main
from matching.errors import DataError
from matching.jobs import pipeline
from matching.jobs.backtest import backtest, observed_pairs
from matching.simulate import simulate, write_marketplace


def test_observed_pairs_count_a_pairs_videos_in_first_videos():
    later = pd.DataFrame(
        {
            "merchant_id": ["m", "m", "m", "n"],
            "creator_id": ["c", "c", "d", "c"],
            "posted_at": pd.to_datetime(["2026-01-01"] * 4),
            "content_type": ["short_video", "short_video", "live", "short_video"],
            "videos": [2, 1, 1, 3],
            "gmv_usd": [19.0, 10.0, 99.0, 0.0],
        }
    )
    pairs = observed_pairs(later, 0.9)
    assert pairs[["merchant_id", "creator_id", "videos"]].values.tolist() == [
        ["m", "c", 3],
        ["n", "c", 3],
    ]
    assert pairs["value_usd"].tolist() == pytest.approx([29.0 / (1.9 + 1.0), 0.0])


@pytest.mark.slow
def test_backtest_values_an_earlier_allocation_with_what_came_after(tmp_path, fast_config):
    d, m = tmp_path / "data", tmp_path / "model"
    write_marketplace(simulate(fast_config, merchants=120, creators=800, seed=2), d)
    pipeline.train(d, fast_config, m, track=False, evaluate=False)
    res = backtest(d, m, date(2025, 12, 1), days=45)
    assert res.refitted  # the saved model had seen the window: refitted on the history before
    assert res.end == date(2026, 1, 14)
    t = res.table().set_index("allocation")
    assert list(t.index) == [
        "matching",
        "matching, scores as they are",
        "greedy",
        "as the merchants did",
        "best",
    ]
    best = t.loc["best", "realised_usd"]
    for name in ("matching", "matching, scores as they are", "greedy"):
        assert 0 < t.loc[name, "realised_usd"] <= best * (1 + 1e-9)
        assert t.loc[name, "videos"] <= res.videos
        assert np.isfinite(t.loc[name, "realised_over_predicted"])
    assert t.loc["as the merchants did", "videos"] == res.videos
    # the realised value is what the pairs made per first video, counted with the decay
    h = data.read_inputs(d).collaborations
    later = h[(h["posted_at"] >= "2025-12-01") & (h["posted_at"] < "2026-01-15")]
    pairs = observed_pairs(later, res.realised_returns.decay)
    assert len(pairs) == res.pairs
    did = (pairs["value_usd"] * geometric_sum(res.realised_returns.decay, pairs["videos"])).sum()
    assert t.loc["as the merchants did", "realised_usd"] == pytest.approx(did)
    with pytest.raises(DataError, match="no short videos"):
        backtest(d, m, date(2026, 3, 1))
    assert main(["backtest", "--data", str(d), "--model", str(m), "--as-of", "2026-03-01"]) == 2
