import numpy as np
import pandas as pd
import pytest

from matching.data.contract import history_rows
from matching.retrieval.features import PairFeaturizer, PartnerActivity
from matching.retrieval.profiles import CreatorProfiler, MerchantProfiler, history_before
from matching.retrieval.snapshot import build_snapshot

AS_OF = pd.Timestamp("2025-10-01")


def _scrambled_future(h: pd.DataFrame) -> pd.DataFrame:
    """The same history with every collaboration on or after AS_OF changed beyond recognition."""
    h = h.copy()
    late = h["posted_at"] >= AS_OF
    h.loc[late, "gmv_usd"] = h.loc[late, "gmv_usd"] * 1000 + 7
    h.loc[late, "views"] = h.loc[late, "views"] * 3
    return h


def test_profiles_do_not_leak_across_as_of(small_market):
    mk = small_market
    h = mk.collaborations
    assert (h["posted_at"] >= AS_OF).any() and (h["posted_at"] < AS_OF).any()
    for future in (_scrambled_future(h), h[h["posted_at"] < AS_OF]):
        a = CreatorProfiler(as_of=AS_OF).fit(mk.creators, h, mk.merchants).transform(mk.creators)
        b = (
            CreatorProfiler(as_of=AS_OF)
            .fit(mk.creators, future, mk.merchants)
            .transform(mk.creators)
        )
        pd.testing.assert_frame_equal(a, b)
        a = MerchantProfiler(as_of=AS_OF).fit(mk.merchants, h, mk.creators).transform(mk.merchants)
        b = (
            MerchantProfiler(as_of=AS_OF)
            .fit(mk.merchants, future, mk.creators)
            .transform(mk.merchants)
        )
        pd.testing.assert_frame_equal(a, b)


def test_snapshot_features_do_not_leak(small_market, fast_config):
    mk = small_market
    args = (fast_config.features, fast_config.candidates)
    a = build_snapshot(mk.merchants, mk.creators, mk.collaborations, AS_OF, *args)
    b = build_snapshot(
        mk.merchants, mk.creators, _scrambled_future(mk.collaborations), AS_OF, *args
    )
    m = np.repeat(np.arange(len(mk.merchants)), 5)
    c = np.tile(np.arange(5), len(mk.merchants))
    pd.testing.assert_frame_equal(a.pair_features(m, c), b.pair_features(m, c))
    assert np.array_equal(a.retriever.retrieve(), b.retriever.retrieve())


def test_idle_creators_leave_the_factorisations_alone(small_market, fast_config):
    """Creators without history get zero factors and change no one else's (SVD and ALS are
    fitted on the creators with history only)."""
    mk = small_market
    idle = mk.creators.head(40).copy()
    idle["creator_id"] = [f"idle-{i}" for i in range(len(idle))]
    more = pd.concat([mk.creators, idle], ignore_index=True)
    args = (AS_OF, fast_config.features, fast_config.candidates)
    a = build_snapshot(mk.merchants, mk.creators, mk.collaborations, *args).retriever
    b = build_snapshot(mk.merchants, more, mk.collaborations, *args).retriever
    n = len(mk.creators)
    for merchant, creator in [
        ("merchant_factors_", "creator_factors_"),
        ("als_merchant_factors_", "als_creator_factors_"),
    ]:
        assert np.array_equal(getattr(a, merchant), getattr(b, merchant)), merchant
        assert np.array_equal(getattr(a, creator), getattr(b, creator)[:n]), creator
        assert not getattr(b, creator)[n:].any(), creator


def test_shrinkage_pulls_thin_histories_to_the_prior(small_market):
    mk = small_market
    prof = CreatorProfiler(prior_strength=5.0).fit(mk.creators, mk.collaborations, mk.merchants)
    f = prof.transform(mk.creators)
    loose = CreatorProfiler(prior_strength=0.0).fit(mk.creators, mk.collaborations, mk.merchants)
    g = loose.transform(mk.creators)
    thin = (f["log_collabs"] > 0) & (f["log_collabs"] <= np.log1p(1))
    assert thin.any()
    prior = np.log(prof.global_gmv_per_view_ * mk.creators["avg_views"].to_numpy()[thin])
    # shrunk estimates sit between the raw rate and the prior
    assert (
        np.abs(f.loc[thin, "log_gmv_per_video"] - prior)
        <= np.abs(g.loc[thin, "log_gmv_per_video"] - prior) + 1e-9
    ).all()


def test_unseen_ids_and_categories_get_priors(small_market):
    mk = small_market
    prof = CreatorProfiler().fit(mk.creators, mk.collaborations, mk.merchants)
    new = mk.creators.head(3).copy()
    new["creator_id"] = ["new-1", "new-2", "new-3"]
    new["primary_category"] = ["underwater_basket_weaving"] * 3
    f = prof.transform(new)
    assert (
        (f["log_collabs"] == 0).all()
        and (f["category"] == -1).all()
        and np.isfinite(f.to_numpy()).all()
    )
    mprof = MerchantProfiler().fit(mk.merchants, mk.collaborations, mk.creators)
    nm = mk.merchants.head(2).copy()
    nm["merchant_id"] = ["nm-1", "nm-2"]
    nm["primary_category"] = "brand_new_category"
    mf = mprof.transform(nm)
    assert np.isfinite(mf.drop(columns=["store_rating"]).to_numpy()).all()
    pf = PairFeaturizer().fit(mk.collaborations, mk.merchants, mk.creators, prof.categories_)
    pairs = pf.transform(mf, f, np.array([0, 1]), np.array([0, 2]), prof)
    assert np.isfinite(pairs.to_numpy()).all()


@pytest.mark.parametrize("drop", ["audience_female_share", "store_rating"])
def test_optional_columns_may_be_absent(small_market, drop):
    mk = small_market
    creators = mk.creators.drop(columns=[drop], errors="ignore")
    merchants = mk.merchants.drop(columns=[drop], errors="ignore")
    f = CreatorProfiler().fit(creators, mk.collaborations, merchants).transform(creators)
    g = MerchantProfiler().fit(merchants, mk.collaborations, creators).transform(merchants)
    assert np.isfinite(f.to_numpy()).all() and np.isfinite(g.to_numpy()).all()


def test_partner_activity_counts_by_horizon_and_pair():
    """Counts over each horizon, distinct partners and recencies, by hand on four rows; rows
    on or after as_of are not seen."""
    merchants = pd.DataFrame({"merchant_id": ["m0", "m1"]})
    creators = pd.DataFrame({"creator_id": ["c0", "c1", "c2"]})
    day = pd.Timestamp("2026-01-31")
    history = pd.DataFrame(
        {
            "merchant_id": ["m0", "m0", "m0", "m1", "m1"],
            "creator_id": ["c0", "c0", "c1", "c0", "c2"],
            "posted_at": [day - pd.Timedelta(days=d) for d in (2, 20, 60, 5, -1)],
        }
    )
    act = PartnerActivity(as_of=day, horizons_days=(7, 30)).fit(history, merchants, creators)
    f = act.transform([0, 0, 1, 1], [0, 2, 0, 2])
    np.testing.assert_array_equal(f["m_n7"], [1, 1, 1, 1])
    np.testing.assert_array_equal(f["m_n30"], [2, 2, 1, 1])
    np.testing.assert_array_equal(f["m_n"], [3, 3, 1, 1])
    np.testing.assert_array_equal(f["m_partners"], [2, 2, 1, 1])
    np.testing.assert_array_equal(f["c_n"], [3, 0, 3, 0])
    np.testing.assert_array_equal(f["c_partners"], [2, 0, 2, 0])
    np.testing.assert_array_equal(f["c_recency_days"][[0, 2]], [2, 2])
    np.testing.assert_array_equal(f["c_age_days"][[0, 2]], [20, 20])
    np.testing.assert_array_equal(f["pair_n"], [2, 0, 1, 0])
    np.testing.assert_array_equal(f["pair_recency_days"][[0, 2]], [2, 5])
    assert f["pair_recency_days"][1] > 365 and f["c_recency_days"][1] > 365
    assert all(v.dtype == np.float32 and len(v) == 4 for v in f.values())


def test_shared_rows_give_the_fits_their_own_lookup(small_market):
    """A snapshot looks the history's ids up once (``rows=``); each fit alone looks them up
    itself, to the same profiles, and rows of another history are refused."""
    mk = small_market
    as_of = pd.Timestamp("2026-01-01")
    h = history_before(mk.collaborations, as_of)
    rows = history_rows(h, mk.merchants, mk.creators)
    for make, args in (
        (lambda: CreatorProfiler(as_of=as_of), (mk.creators, h, mk.merchants)),
        (lambda: MerchantProfiler(as_of=as_of), (mk.merchants, h, mk.creators)),
    ):
        alone, shared = make().fit(*args), make().fit(*args, rows=rows)
        pd.testing.assert_frame_equal(alone.transform(args[0]), shared.transform(args[0]))
    alone = PartnerActivity(as_of=as_of).fit(h, mk.merchants, mk.creators)
    shared = PartnerActivity(as_of=as_of).fit(h, mk.merchants, mk.creators, rows=rows)
    m, c = np.arange(10), np.arange(10)
    for name, values in alone.transform(m, c).items():
        np.testing.assert_array_equal(values, shared.transform(m, c)[name])
    with pytest.raises(ValueError, match="positions for"):
        PartnerActivity(as_of=as_of).fit(h, mk.merchants, mk.creators, rows=(m, c))
