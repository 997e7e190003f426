"""Diminishing returns estimated from a history: within and across collaborations, the
selection of which pairs are repeated, the prior and the uncertainty."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from matching.allocation.calibration import (
    ValueCalibration,
    fit_value_calibration,
    seller_means,
    uncertainty,
)
from matching.allocation.returns import (
    across_rows_evidence,
    estimate_returns,
    first_collaborations,
    geometric_sum,
    within_rows_evidence,
)
from matching.config import load_config
from matching.jobs.pipeline import value_calibration
from matching.simulate import simulate


def test_geometric_sum():
    assert geometric_sum(0.5, 3) == pytest.approx(1.75)
    assert geometric_sum(1.0, 4) == 4.0
    np.testing.assert_allclose(geometric_sum(0.9, np.array([1, 2])), [1.0, 1.9])


def first_rows(rng, decay, n_rows=8000, merchants=300, creators=3000):
    """First collaborations: merchant and creator levels, a pair term, log-normal outcome
    noise and Poisson orders, like real GMV; the size of a collaboration is random."""
    m = rng.integers(0, merchants, n_rows)
    c = np.minimum(rng.zipf(1.6, n_rows), creators) - 1  # a few creators are everywhere
    n = 1 + rng.poisson(1.5, n_rows)
    level = rng.normal(0, 0.8, merchants)[m] + rng.normal(0, 1.2, creators)[c]
    mean = np.exp(level + rng.normal(0, 0.5, n_rows)) * geometric_sum(decay, n)
    gmv = rng.poisson(mean * rng.lognormal(-0.18, 0.6, n_rows)).astype(float)
    return m, c, n, gmv


@pytest.mark.parametrize("decay", [0.6, 0.9])
def test_within_rows_evidence_recovers_the_decay(decay):
    m, c, n, gmv = first_rows(np.random.default_rng(1), decay)
    e = within_rows_evidence(m, c, n, gmv)
    assert e.kind == "within_rows"
    assert e.decay == pytest.approx(decay, abs=0.04)
    assert 0 < e.se < 0.05


def test_singletons_and_sellers_that_barely_sold_change_nothing_and_never_overflow():
    """Entities with one row fit it exactly and add nothing; a catalogue-size history is
    mostly such creators, plus sellers whose few sales make their effects weakly determined:
    the fit must neither change nor wander off to where ``exp`` overflows (it once did, and
    spent its 500 Newton steps there)."""
    rng = np.random.default_rng(3)
    m, c, n, gmv = first_rows(rng, 0.75)
    base = within_rows_evidence(m, c, n, gmv)
    k = 4000
    m2 = np.r_[m, rng.integers(0, 300, k)]
    c2 = np.r_[c, 10_000 + np.arange(k)]  # each a creator of its own
    n2 = np.r_[n, 1 + rng.poisson(1.5, k)]
    gmv2 = np.r_[gmv, rng.poisson(2.0, k) + 1.0]
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        more = within_rows_evidence(m2, c2, n2, gmv2)
    assert more.decay == pytest.approx(base.decay, rel=1e-6)
    assert more.se == pytest.approx(base.se, rel=1e-4)
    # a seller whose only sale is a hundred-thousandth of a typical row
    weak = np.r_[m, 1000, 1000], np.r_[c, 0, 1], np.r_[n, 1, 3], np.r_[gmv, 1e-5, 0.0]
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert within_rows_evidence(*weak).decay == pytest.approx(base.decay, abs=0.01)


def test_within_rows_evidence_needs_collaborations_of_different_sizes():
    m, c, _, gmv = first_rows(np.random.default_rng(2), 0.7, n_rows=500)
    assert within_rows_evidence(m, c, np.ones_like(m), gmv) is None
    assert within_rows_evidence(m, c, np.full(m.size, 3), np.zeros(m.size)) is None


def repeated_pairs(rng, within, across, selection, n_pairs=40_000):
    """Each pair's first collaboration, and a second one for the pairs repeated: with
    ``selection`` > 0, the better the first went (per video), the likelier the repeat."""
    value = rng.lognormal(0.0, 1.2, n_pairs)
    n1 = 1 + rng.poisson(1.5, n_pairs)
    y1 = rng.poisson(value * geometric_sum(within, n1) * rng.lognormal(-0.18, 0.6, n_pairs))
    per_video = np.log1p(y1 / n1)
    p = 0.3 * 2 / (1 + np.exp(-selection * (per_video - per_video.mean())))
    rep = rng.random(n_pairs) < p
    n2 = 1 + rng.poisson(1.5, n_pairs)
    mean2 = value * geometric_sum(within, n2) * across**n1
    y2 = rng.poisson(mean2 * rng.lognormal(-0.18, 0.6, n_pairs))
    merchant = rng.integers(0, 500, n_pairs)
    return merchant[rep], y1[rep].astype(float), n1[rep], y2[rep].astype(float), n2[rep]


@pytest.mark.parametrize("across", [1.0, 0.8])
def test_across_rows_evidence_sees_through_repeats_selected_on_outcome(across):
    rng = np.random.default_rng(3)
    merchant, y1, n1, y2, n2 = repeated_pairs(rng, within=0.8, across=across, selection=3.0)
    e = across_rows_evidence(merchant, y1, n1, y2, n2, within_decay=0.8)
    assert e.decay == pytest.approx(across, abs=0.04)
    # the plain comparison of a repeated pair's second collaboration with its first sees
    # decay where there is none: the first was lucky, that is why the pair was repeated
    naive = np.log((y2 / geometric_sum(0.8, n2)).sum() / (y1 / geometric_sum(0.8, n1)).sum())
    assert np.exp(naive / n1.mean()) < across - 0.03


def history(rows):
    return pd.DataFrame(
        rows,
        columns=["merchant_id", "creator_id", "posted_at", "content_type", "videos", "gmv_usd"],
    ).astype({"posted_at": "datetime64[ns]"})


def test_without_evidence_the_estimate_is_the_prior():
    empty = history([])
    est = estimate_returns(empty, prior_mean=0.8, prior_strength=10)
    assert est.source == "prior" and est.evidence == ()
    assert est.decay == pytest.approx(0.8, abs=1e-3)
    assert est.low < 0.8 < est.high
    lives = history(
        [["m", "c", "2026-01-01", "live", 1, 10.0], ["m", "d", "2026-01-02", "live", 1, 5.0]]
    )
    assert estimate_returns(lives, prior_mean=0.7, prior_strength=10).source == "prior"
    with pytest.raises(ValueError, match="prior_mean"):
        estimate_returns(empty, prior_mean=1.0, prior_strength=10)


def test_first_collaborations_are_per_pair_and_short_videos_only():
    h = history(
        [
            ["m", "c", "2026-01-05", "short_video", 2, 10.0],
            ["m", "c", "2026-01-01", "short_video", 1, 10.0],
            ["m", "d", "2026-01-01", "live", 1, 10.0],
            ["m", "d", "2026-01-03", "short_video", 1, 10.0],
        ]
    )
    assert first_collaborations(h).tolist() == [False, True, False, True]


def market(story, selected, decay, merchants=1000, creators=2000):
    """A history dense enough that each evidence is precise to about 0.02."""
    cfg = load_config().replace(
        simulate={
            "repeat_story": story,
            "repeat_rate": 0.3 if (story == "across" or selected) else 0.0,
            "repeat_selection": 2.0 if selected else 0.0,
            "repeat_decay": decay,
            "collabs_per_merchant": 40,
        }
    )
    return simulate(cfg, merchants=merchants, creators=creators, seed=0)


def test_no_decay_is_never_estimated_as_one():
    mk = market("within", selected=True, decay=1.0, merchants=400, creators=800)
    est = estimate_returns(mk.collaborations, prior_mean=0.8, prior_strength=10)
    assert 0.9 < est.decay < 1.0 and est.high < 1.0
    assert est.low <= est.decay <= est.high and est.sd > 0
    assert "within_rows" in [e.kind for e in est.evidence if e.used]


@pytest.mark.slow
@pytest.mark.parametrize("decay", [0.7, 0.85, 0.95])
@pytest.mark.parametrize(
    ("story", "selected"),
    [("within", False), ("across", False), ("within", True), ("across", True)],
    ids=["within-rows", "across-rows", "within-rows-repeats-selected", "across-repeats-selected"],
)
def test_the_estimate_lands_near_the_truth_under_each_story(story, selected, decay):
    est = estimate_returns(
        market(story, selected, decay).collaborations, prior_mean=0.8, prior_strength=10
    )
    assert abs(est.decay - decay) < 0.05, est
    assert est.decay < 1.0
    used = {e.kind for e in est.evidence if e.used}
    assert "within_rows" in used
    if story == "within" and decay <= 0.85:
        # collaborations decay within but not across: the across evidence disagrees, unused
        assert "across_rows" not in used


def noisy_scores(rng, noise_known, noise_unknown, n=20_000):
    """Collaborations whose true value a ranker saw with noise: less for creators with a
    history (``u`` small) than for new ones (``u`` = 1)."""
    seller = rng.integers(0, 400, n)
    level = rng.normal(3.0, 0.5, 400)[seller]
    true = level + rng.normal(0, 0.8, n)
    u = np.where(rng.random(n) < 0.5, 1.0, 1.0 / 21)
    noise = np.where(u == 1.0, noise_unknown, noise_known)
    score = np.exp(true + rng.normal(0, 1, n) * noise)
    videos = 1 + rng.poisson(1.0, n)
    gmv = rng.poisson(np.exp(true) * geometric_sum(0.8, videos) * rng.lognormal(-0.18, 0.6, n))
    return seller, score, u, gmv.astype(float), videos, np.exp(true)


def test_value_calibration_shrinks_noisy_scores_and_more_the_uncertain_ones():
    rng = np.random.default_rng(5)
    seller, score, u, gmv, videos, true = noisy_scores(rng, noise_known=0.2, noise_unknown=0.8)
    mean = seller_means(seller, score)
    cal = fit_value_calibration(
        score, mean, u, np.zeros(u.size), gmv, videos, decay=0.8, merchant=seller
    )
    # best linear predictor of log value from a noisy score: var(true) / var(score)
    assert cal.slope + cal.uncertain_slope / 21 == pytest.approx(
        0.8**2 / (0.8**2 + 0.2**2), abs=0.08
    )
    assert cal.slope + cal.uncertain_slope == pytest.approx(0.8**2 / (0.8**2 + 0.8**2), abs=0.08)
    shrunk = cal.shrink(score, mean, u, np.zeros(u.size))
    # the pairs an optimiser would pick (the top decile of scores) are over-predicted
    # as scored, and close to right once shrunk
    top = score >= np.quantile(score, 0.9)
    assert score[top].sum() / true[top].sum() > 1.3
    assert shrunk[top].sum() / true[top].sum() == pytest.approx(1.0, abs=0.15)
    assert (
        fit_value_calibration(
            score[:10],
            mean[:10],
            u[:10],
            u[:10],
            gmv[:10],
            videos[:10],
            decay=0.8,
            merchant=seller[:10],
        )
        is None
    )


def test_a_calibration_never_stretches_a_sellers_values():
    cal = ValueCalibration(
        intercept=0.0,
        seller_slope=1.0,
        new_seller=0.0,
        slope=1.4,
        uncertain_slope=0.0,
        slope_se=0.1,
        rows=100,
    )
    score = np.array([1.0, 10.0, 100.0])
    mean = seller_means([0, 0, 0], score)
    np.testing.assert_allclose(cal.shrink(score, mean, np.zeros(3), np.zeros(3)), score)


def test_uncertainty_counts_short_videos_of_each_id():
    h = history(
        [
            ["m", "c", "2026-01-01", "short_video", 1, 1.0],
            ["m", "c", "2026-01-02", "short_video", 1, 1.0],
            ["m", "d", "2026-01-02", "live", 1, 1.0],
        ]
    )
    np.testing.assert_allclose(uncertainty(["c", "d", "x"], h), [1 / 3, 1.0, 1.0])
    np.testing.assert_allclose(uncertainty(["m"], h, "merchant_id"), [1 / 3])


def test_sellers_levels_are_pulled_together_never_stretched_apart():
    rng = np.random.default_rng(6)
    seller, score, u, _, videos, true = noisy_scores(rng, noise_known=0.1, noise_unknown=0.1)
    mean = seller_means(seller, score)
    # the sellers who score higher realise even more: a slope of 1.5 between their levels
    stretched = true * np.exp(0.5 * (mean - mean.mean()))
    gmv = rng.poisson(stretched * geometric_sum(0.8, videos)).astype(float)
    cal = fit_value_calibration(
        score, mean, u, np.zeros(u.size), gmv, videos, decay=0.8, merchant=seller
    )
    assert cal.seller_slope == 1.0
    assert 0.8 < cal.slope <= 1.05


def test_value_calibration_samples_the_windows_sellers_beyond_its_cap(trained, small_market):
    """At catalogue size the calibration ranks a fixed sample of sellers, not all again; a cap
    the window does not reach changes nothing."""
    mk, cfg = small_market, load_config()
    as_of = mk.collaborations["posted_at"].max() + pd.Timedelta(days=1)
    window_start = as_of - pd.Timedelta(days=cfg.ranking.validation_days)
    sellers = mk.collaborations.loc[
        mk.collaborations["posted_at"] >= window_start, "merchant_id"
    ].nunique()

    def calibrate(cap):
        c = cfg.replace(allocation={"calibration_merchants": cap})
        return value_calibration(
            trained, mk.merchants, mk.creators, mk.collaborations, as_of, c, decay=0.8
        )

    everyone = calibrate(None)
    assert calibrate(sellers) == everyone
    sample = calibrate(max(sellers // 3, 1))
    assert sample is not None and sample != everyone
    assert calibrate(max(sellers // 3, 1)) == sample  # the same sample every time


def test_the_training_windows_snapshot_calibrates_as_one_built_again(
    trained, small_market, fast_config
):
    """``train`` calibrates from the newest window's snapshot ``fit`` kept
    (:meth:`MatchRanker.at_window`): the same coefficients as a past snapshot built anew."""
    mk, cfg = small_market, fast_config
    as_of = trained.as_of_

    def calibrate(past):
        return value_calibration(
            trained, mk.merchants, mk.creators, mk.collaborations, as_of, cfg, 0.8, past=past
        )

    kept = calibrate(trained.at_window())
    assert kept is not None and kept == calibrate(None)
    with pytest.raises(ValueError, match="past ranker is as of"):
        calibrate(trained)  # today's snapshot is not the window's past
