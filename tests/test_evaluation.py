"""Evaluation on a sample of merchants: what train does at catalogue size."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from matching.data.contract import row_positions
from matching.evaluation import offline as evaluation
from matching.jobs.pipeline import evaluation_sample


def test_a_sample_of_everyone_is_the_whole_evaluation_and_a_smaller_one_counts_its_merchants(
    trained, small_market
):
    mk = small_market
    args = (trained, mk.truth, mk.merchants, mk.creators, mk.collaborations)
    everyone = evaluation.evaluate(*args, n_candidates=30)
    pd.testing.assert_frame_equal(
        evaluation.evaluate(*args, n_candidates=30, sample=np.arange(len(mk.merchants))), everyone
    )
    sample = np.arange(0, len(mk.merchants), 3)
    part = evaluation.evaluate(*args, n_candidates=30, sample=sample)
    counts = part[(part["method"] == "model")].set_index("segment")["merchants"]
    assert counts["all"] == len(sample)
    cold = evaluation.segments(mk.merchants, mk.collaborations)["cold_start"]
    assert counts.get("cold_start", 0) == cold[sample].sum()
    assert not part.equals(everyone)


def test_the_priority_sweep_on_a_sample_keeps_slots_as_scarce(trained, small_market):
    mk = small_market
    args = (trained, mk.truth, (1.0, 3.0), mk.merchants, mk.creators)
    everyone = evaluation.priority_tradeoff(*args)
    all_rows = np.arange(len(mk.merchants))
    pd.testing.assert_frame_equal(evaluation.priority_tradeoff(*args, sample=all_rows), everyone)
    half = evaluation.priority_tradeoff(*args, sample=all_rows[::2])
    assert half["total_true_gmv"].lt(everyone["total_true_gmv"]).all()
    assert half["ndcg_non_certified"].between(0, 1).all()


def test_train_samples_merchants_only_beyond_the_cap(fast_config):
    ranking = fast_config.ranking.model_copy(update={"evaluation_merchants": 10})
    assert evaluation_sample(10, ranking) is None
    s = evaluation_sample(50, ranking)
    assert len(s) == 10 == len(np.unique(s)) and s.max() < 50
    np.testing.assert_array_equal(s, evaluation_sample(50, ranking))
    none = fast_config.ranking.model_copy(update={"evaluation_merchants": None})
    assert evaluation_sample(10**6, none) is None


def test_true_top_creators_found_once_serve_both_passes(trained, small_market):
    """The true tops computed once (as train does) give the same evaluation and sweep as
    each pass finding its own; too short a list is refused."""
    mk = small_market
    sample = np.arange(0, len(mk.merchants), 2)
    day = {"as_of": trained.as_of_}
    tops = evaluation.true_tops(mk.truth, mk.merchants, sample=sample, creators=mk.creators, **day)
    args = (trained, mk.truth, mk.merchants, mk.creators, mk.collaborations)
    pd.testing.assert_frame_equal(
        evaluation.evaluate(*args, n_candidates=30, sample=sample, tops=tops, **day),
        evaluation.evaluate(*args, n_candidates=30, sample=sample, **day),
    )
    sweep = (trained, mk.truth, (1.0, 3.0), mk.merchants, mk.creators)
    pd.testing.assert_frame_equal(
        evaluation.priority_tradeoff(*sweep, sample=sample, tops=tops),
        evaluation.priority_tradeoff(*sweep, sample=sample, **day),
    )
    short = evaluation.true_tops(mk.truth, mk.merchants, k=5, sample=sample)
    with pytest.raises(ValueError, match="true top creators"):
        evaluation.evaluate(*args, sample=sample, tops=short)
    with pytest.raises(ValueError, match="true top creators"):
        evaluation.priority_tradeoff(*sweep, sample=sample, tops=short)


def test_one_ranking_pass_serves_the_evaluation_and_the_sweep(trained, small_market):
    """The model's lists ranked once (as train does) give the same evaluation and sweep as
    each pass ranking its own."""
    mk = small_market
    sample = np.arange(1, len(mk.merchants), 2)
    rec = evaluation.model_recommendations(trained, 30, sample)
    assert rec["rank"].max() == evaluation.SWEEP_CANDIDATES
    args = (trained, mk.truth, mk.merchants, mk.creators, mk.collaborations)
    pd.testing.assert_frame_equal(
        evaluation.evaluate(*args, n_candidates=30, sample=sample, recommendations=rec),
        evaluation.evaluate(*args, n_candidates=30, sample=sample),
    )
    sweep = (trained, mk.truth, (1.0, 3.0), mk.merchants, mk.creators)
    pd.testing.assert_frame_equal(
        evaluation.priority_tradeoff(*sweep, sample=sample, recommendations=rec),
        evaluation.priority_tradeoff(*sweep, sample=sample),
    )


@pytest.mark.slow
def test_the_generalisation_benchmark_runs_on_a_tiny_market():
    """The benchmark's truth of another world goes through ``evaluate`` by duck typing (its
    own ``top_creators``): end to end on a tiny market, so a change of that interface shows
    here, not in a hand run."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    args = ["--seeds", "0", "--merchants", "60", "--creators", "600"]
    run = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "generalization.py"), *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=root,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "candidate recall of the true top-50" in run.stdout


def test_the_ideal_lists_hold_only_creators_in_the_catalogue_as_of_the_day(small_market):
    """A creator who joins after the as-of date is in no true top list, and a list naming one
    gains nothing for it."""
    mk = small_market
    day = mk.collaborations["posted_at"].max() + pd.Timedelta(days=1)
    later = mk.creators["joined_at"].to_numpy("datetime64[ns]") > day.to_datetime64()
    assert later.any()
    crow = row_positions(mk.creators["creator_id"], mk.truth.creator_id)
    everyone, _ = evaluation.true_tops(mk.truth, mk.merchants, k=20)
    assert later[np.argsort(crow)][everyone[everyone >= 0]].any()  # the truth rates them
    top, val = evaluation.true_tops(mk.truth, mk.merchants, k=20, creators=mk.creators, as_of=day)
    assert (top >= 0).all() and not later[np.argsort(crow)][top].any()
    assert (np.diff(val, axis=1) <= 1e-12).all()
