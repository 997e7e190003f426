import dataclasses
import hashlib
import json
import sys

import numpy as np
import pandas as pd
import pytest

from matching.cli import main
from matching.config import load_config
from matching.data.truth import GroundTruth
from matching.errors import ConfigError
from matching.simulate import SCENARIOS, scenario_config, simulate


@pytest.fixture(scope="module")
def market():
    return simulate(load_config(), merchants=300, creators=3000, seed=3)


def test_same_seed_same_tables_other_seed_differs():
    cfg = load_config()
    a = simulate(cfg, merchants=80, creators=800, seed=5)
    b = simulate(cfg, merchants=80, creators=800, seed=5)
    c = simulate(cfg, merchants=80, creators=800, seed=6)
    for name in ("merchants", "creators", "collaborations"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    assert not a.collaborations.equals(c.collaborations)


def test_chunking_does_not_change_the_catalogue_shape():
    cfg = load_config()
    small = cfg.replace(simulate={"chunk_size": 64})
    mk = simulate(small, merchants=150, creators=700, seed=2)
    assert len(mk.merchants) == 150 and len(mk.creators) == 700
    assert mk.merchants.merchant_id.is_unique and mk.creators.creator_id.is_unique


def test_certified_share_and_onboarding(market):
    cfg = load_config()
    m = market.merchants
    cert = m.certified_super_top
    assert cert.equals(m.annual_gmv_usd >= cfg.program.certification_gmv_usd)
    assert 0.015 <= cert.mean() <= 0.04
    in_program = m.onboarded_at.between(
        pd.Timestamp(cfg.program.start), pd.Timestamp(cfg.program.end)
    )
    assert in_program[cert].mean() >= 0.5
    assert (m.free_videos_used[~cert] == 0).all()
    assert (m.free_videos_used <= cfg.program.free_videos).all()


def test_creator_profiles_are_plausible(market):
    c = market.creators
    assert c.engagement_rate.between(0.01, 0.15).all()
    small = c.followers < 5000
    assert (c.weekly_video_capacity[small] <= 5).all()
    # heavy tail: the top 1% of creators hold a large share of followers
    f = np.sort(c.followers.to_numpy())[::-1]
    assert f[: len(f) // 100].sum() / f.sum() > 0.1


def test_history_is_exposure_biased_and_has_cold_start(market):
    m, c, h = market.merchants, market.creators, market.collaborations
    cat_m = h.merchant_id.map(m.set_index("merchant_id").primary_category)
    cat_c = h.creator_id.map(c.set_index("creator_id").primary_category)
    same = (cat_m == cat_c).mean()
    chance = (c.primary_category.value_counts(normalize=True) ** 2).sum()
    assert same > 3 * chance
    tried = c.followers[c.creator_id.isin(h.creator_id)].median()
    assert tried > 2 * c.followers.median()
    assert (~m.merchant_id.isin(h.merchant_id)).sum() > 0
    assert (~c.creator_id.isin(h.creator_id)).sum() > 0
    # nobody collaborates before they exist
    on = h.merchant_id.map(m.set_index("merchant_id").onboarded_at)
    joined = h.creator_id.map(c.set_index("creator_id").joined_at)
    assert (h.posted_at >= on).all() and (h.posted_at >= joined).all()


def test_outcomes_track_the_truth(market):
    """Realised GMV of a pair correlates with its true value: the history is informative."""
    t = market.truth
    h = market.collaborations
    mi = pd.Index(t.merchant_id).get_indexer(h.merchant_id)
    ci = pd.Index(t.creator_id).get_indexer(h.creator_id)
    sv = (h.content_type == "short_video").to_numpy()
    expected = t.value_of_videos(mi[sv], ci[sv], h.videos.to_numpy()[sv])
    rho = pd.Series(np.log1p(expected)).corr(
        pd.Series(np.log1p(h.gmv_usd.to_numpy()[sv])), method="spearman"
    )
    assert rho > 0.5


def test_truth_function_properties(market):
    t = market.truth
    m = np.arange(t.n_merchants)
    v = t.value(m[:20, None], np.arange(t.n_creators)[None, :])
    assert v.shape == (20, t.n_creators) and (v > 0).all()
    # broadcast and elementwise agree
    assert np.allclose(v[3, 10:15], t.value(np.full(5, 3), np.arange(10, 15)))
    # diminishing returns
    one, two = t.value_of_videos(0, 0, 1), t.value_of_videos(0, 0, 2)
    assert one < two < 2 * one
    idx, val = t.top_creators(m[:20], 10)
    assert np.allclose(val[:, 0], v.max(1)) and (np.diff(val, axis=1) <= 0).all()


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_truth_top_lists_shrink_their_blocks_to_fit_not_their_answer(market, monkeypatch, n_jobs):
    """A catalogue too large for blocks of 256 merchants in memory is searched a few
    merchants at a time, one after another or side by side, with the same answer."""
    t, m = market.truth, np.arange(40)
    whole = t.top_creators(m, 10)
    # the module (``matching.simulate`` is also the name of its function)
    monkeypatch.setattr(sys.modules["matching.data.truth"], "TRUTH_BLOCK_BYTES", t.n_creators * 500)
    calls = []
    screen = type(t)._screen
    monkeypatch.setattr(
        type(t), "_screen", lambda self, a, b: calls.append(len(a)) or screen(self, a, b)
    )
    small = t.top_creators(m, 10, n_jobs=n_jobs)
    assert max(calls) < 40 and sum(calls) == 40
    assert np.array_equal(whole[0], small[0]) and np.array_equal(whole[1], small[1])


@pytest.mark.parametrize("noise", [None, 0.0, 3.0])
def test_truth_top_lists_are_those_of_valuing_every_creator(market, noise):
    """The screened top lists equal sorting every creator's exact value, bit for bit, also
    when the pair term is large enough to lift creators the screen ranks low."""
    t = market.truth
    if noise is not None:
        t = dataclasses.replace(t, pair_noise_sd=noise)
    m = np.arange(0, t.n_merchants, 7)
    v = t.log_value(m[:, None], np.arange(t.n_creators)[None, :])
    order = np.lexsort((np.broadcast_to(np.arange(t.n_creators), v.shape), -v), axis=1)[:, :25]
    idx, val = t.top_creators(m, 25)
    assert np.array_equal(idx, order)
    assert np.array_equal(val, np.exp(np.take_along_axis(v, order, 1)))


def test_truth_round_trips_through_tables(market):
    t = market.truth
    tables = t.to_tables()
    back = GroundTruth.from_tables(tables["merchants"], tables["creators"], tables["params"])
    m = np.arange(t.n_merchants)[:30, None]
    c = np.arange(t.n_creators)[None, :200]
    assert np.allclose(back.value(m, c), t.value(m, c), rtol=1e-9)


def test_repeats_selected_on_outcome_and_decay_across_collaborations():
    cfg = load_config()
    base = simulate(cfg, merchants=200, creators=1500, seed=4)
    opts = {"repeat_rate": 0.4, "repeat_selection": 3.0, "repeat_story": "across"}
    mk = simulate(cfg.replace(simulate=opts), merchants=200, creators=1500, seed=4)
    h = mk.collaborations
    assert len(h) > 1.2 * len(base.collaborations)
    assert h["posted_at"].max() <= pd.Timestamp(cfg.simulate.history_end)
    pairs = h.groupby(["merchant_id", "creator_id"]).size()
    assert (pairs > 1).mean() > 2 * (
        base.collaborations.groupby(["merchant_id", "creator_id"]).size() > 1
    ).mean()
    # a pair's first collaboration went better when the pair was repeated
    sv = h[h.content_type == "short_video"].sort_values("posted_at", kind="stable")
    first = sv.drop_duplicates(["merchant_id", "creator_id"])
    key = list(zip(first.merchant_id, first.creator_id, strict=True))
    repeated = pairs.loc[key].to_numpy() > 1
    t = mk.truth
    mi = pd.Index(t.merchant_id).get_indexer(first.merchant_id)
    ci = pd.Index(t.creator_id).get_indexer(first.creator_id)
    luck = np.log1p(first.gmv_usd.to_numpy()) - np.log1p(
        t.value_of_videos(mi, ci, first.videos.to_numpy())
    )
    assert luck[repeated].mean() > luck[~repeated].mean() + 0.2
    # across: earlier short videos of the pair make the next ones worth less
    assert t.repeat_story == "across"
    assert t.value_of_videos(0, 0, 2, prior=3) == pytest.approx(
        t.value_of_videos(0, 0, 2) * t.repeat_decay**3
    )
    back = GroundTruth.from_tables(
        **dict(zip(("merchants", "creators", "params"), t.to_tables().values(), strict=True))
    )
    assert back.repeat_story == "across"
    assert "repeat_story" not in base.truth.to_tables()["params"]


# --------------------------------------------------------------------------- crowded market

DEFAULT_FINGERPRINT = "e594b1da852460ee8e2b133be232f34f0675abe620631a142c5067be7c141053"
""":func:`_fingerprint` of the default generator (60 x 500, seed 7), taken before the
crowded-market knobs existed. Changes only on purpose (a new draw, a numpy whose random
streams changed): then every simulated example changes too."""


def _rounded(obj):
    if isinstance(obj, float):
        return float(f"{obj:.9g}")
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_rounded(v) for v in obj]
    return obj


def _fingerprint(mk) -> str:
    """A hash of the tables and the truth, floats to 9 digits (robust to last-bit libm
    differences between machines, not to a changed draw)."""
    h = hashlib.sha256()
    t = mk.truth.to_tables()
    for df in (mk.merchants, mk.creators, mk.collaborations, t["merchants"], t["creators"]):
        h.update(df.to_csv(index=False, float_format="%.9g").encode())
    h.update(json.dumps(_rounded(t["params"]), sort_keys=True).encode())
    return h.hexdigest()


def _top_jaccard(truth, merchants, k=20) -> float:
    """Mean Jaccard similarity of the merchants' true top-k creator lists, over pairs."""
    idx, _ = truth.top_creators(merchants, k)
    sets = [set(row) for row in idx]
    return float(
        np.mean([len(a & b) / len(a | b) for i, a in enumerate(sets) for b in sets[i + 1 :]])
    )


def test_default_knobs_keep_the_generator_byte_for_byte():
    cfg = load_config()
    assert (cfg.simulate.capacity_scale, cfg.simulate.taste_overlap) == (1.0, 0.0)
    assert _fingerprint(simulate(cfg, merchants=60, creators=500, seed=7)) == DEFAULT_FINGERPRINT


def test_crowded_preset_changes_only_the_simulate_section():
    cfg = load_config()
    assert "crowded" in SCENARIOS
    crowded = scenario_config(cfg, "crowded")
    for name in type(cfg).model_fields:
        if name != "simulate":
            assert getattr(crowded, name) == getattr(cfg, name)
    s, d = crowded.simulate, cfg.simulate
    assert s.taste_overlap >= 0.5 and s.capacity_scale < 1
    assert s.certified_share > d.certified_share and s.n_categories <= d.n_categories
    assert (s.merchants, s.creators, s.seed) == (d.merchants, d.creators, d.seed)


def test_unknown_scenario_is_a_config_error_naming_the_known_ones(tmp_path, capsys):
    with pytest.raises(ConfigError, match="crowded"):
        scenario_config(load_config(), "no_such_market")
    out = tmp_path / "d"
    assert main(["simulate", "--out", str(out), "--scenario", "no_such_market"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no_such_market" in err[0] and "crowded" in err[0]
    assert not out.exists()


def test_simulate_cli_with_a_scenario(tmp_path):
    out = tmp_path / "d"
    args = ["simulate", "--out", str(out), "--scenario", "crowded"]
    assert main([*args, "--merchants", "40", "--creators", "300", "--seed", "1"]) == 0
    creators = pd.read_parquet(out / "creators.parquet")
    assert len(creators) == 300 and creators.weekly_video_capacity.max() <= 6


def test_capacity_scale_scales_weekly_capacity_and_nothing_else():
    cfg = load_config()
    base = simulate(cfg, merchants=60, creators=500, seed=7)
    mk = simulate(cfg.replace(simulate={"capacity_scale": 0.3}), merchants=60, creators=500, seed=7)
    cap = base.creators.weekly_video_capacity.to_numpy()
    want = np.maximum(1, np.round(cap * 0.3))
    assert np.array_equal(mk.creators.weekly_video_capacity.to_numpy(), want)
    assert mk.creators.weekly_video_capacity.sum() < 0.5 * cap.sum()
    other = [c for c in base.creators.columns if c != "weekly_video_capacity"]
    pd.testing.assert_frame_equal(mk.creators[other], base.creators[other])
    pd.testing.assert_frame_equal(mk.merchants, base.merchants)
    pd.testing.assert_frame_equal(mk.collaborations, base.collaborations)


def test_taste_overlap_makes_merchants_agree_on_the_best_creators():
    cfg = load_config()
    base = simulate(cfg, merchants=120, creators=1500, seed=7)
    mk = simulate(
        cfg.replace(simulate={"taste_overlap": 0.85}), merchants=120, creators=1500, seed=7
    )
    m = np.arange(0, 120, 3)
    own, shared = _top_jaccard(base.truth, m), _top_jaccard(mk.truth, m)
    assert shared > 2 * own and shared < 0.9  # overlap heavily, yet still differ somewhat
    # only the hidden tastes moved: the observable catalogue is the same, values comparable
    pd.testing.assert_frame_equal(mk.merchants, base.merchants)
    pd.testing.assert_frame_equal(mk.creators, base.creators)
    top_base, top = base.truth.top_creators(m, 1)[1], mk.truth.top_creators(m, 1)[1]
    assert 0.33 < np.median(top) / np.median(top_base) < 3
    assert np.array_equal(mk.truth.m_category, base.truth.m_category)
    # the overlap is folded into the truth's own arrays: its tables round-trip it
    back = GroundTruth.from_tables(*mk.truth.to_tables().values())
    assert np.allclose(
        back.value(m[:, None], np.arange(50)), mk.truth.value(m[:, None], np.arange(50))
    )
