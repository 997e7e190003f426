"""One contract for every ranker (in the style of implicit's recommender_base_test): the model
and each reference ranker answer ``recommend`` with the contract's matches table, the same way."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from matching import data
from matching.data import validate_inputs
from matching.ranking import baselines
from matching.ranking.baselines import (
    ALSRanker,
    CategoryGMVLeadersRanker,
    CategoryPopularityRanker,
    EASERanker,
    PopularityRanker,
    RandomRanker,
    ReachRanker,
)
from matching.ranking.ranker import MatchRanker, Ranker


class RankerContract:
    """Mix into a test class that defines ``make(fast_config)`` returning an unfitted ranker."""

    K = 7

    def make(self, fast_config):  # pragma: no cover - each test class defines it
        raise NotImplementedError

    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls, fast_config, small_market):
        mk = small_market
        return cls.make(cls, fast_config).fit(mk.merchants, mk.creators, mk.collaborations)

    def test_is_a_ranker(self, fitted):
        assert isinstance(fitted, Ranker)

    def test_recommend_is_the_contract_table(self, fitted, small_market):
        rec = fitted.recommend(k=self.K)
        assert list(rec.columns) == list(data.MATCHES_COLUMNS)
        assert rec["merchant_id"].isin(small_market.merchants["merchant_id"]).all()
        assert rec["creator_id"].isin(small_market.creators["creator_id"]).all()
        assert not rec.duplicated(["merchant_id", "creator_id"]).any()
        assert rec["fit"].between(0, 1).all() and (rec["score"] >= 0).all()

    def test_ranks_are_one_to_k_in_priority_order(self, fitted):
        rec = fitted.recommend(k=self.K)
        ranks = rec.groupby("merchant_id", sort=False)["rank"].agg(list)
        assert all(r == list(range(1, self.K + 1)) for r in ranks)
        assert (rec.groupby("merchant_id")["priority_score"].diff().dropna() <= 1e-12).all()

    def test_every_merchant_is_served_cold_start_included(self, fitted, small_market):
        mk = small_market
        rec = fitted.recommend(k=self.K)
        assert set(rec["merchant_id"]) == set(mk.merchants["merchant_id"])
        cold = ~mk.merchants["merchant_id"].isin(mk.collaborations["merchant_id"])
        assert cold.any()  # the fixture has cold-start merchants to serve

    def test_a_subset_of_merchants_gets_the_same_lists(self, fitted, small_market):
        rows = np.array([3, 0, 11])
        part = fitted.recommend(k=self.K, merchants=rows)
        ids = small_market.merchants["merchant_id"].to_numpy()[rows]
        whole = fitted.recommend(k=self.K)
        whole = whole[whole["merchant_id"].isin(ids)]
        key = ["merchant_id", "rank"]
        pd.testing.assert_frame_equal(
            part.sort_values(key, ignore_index=True), whole.sort_values(key, ignore_index=True)
        )

    def test_exclude_seen_leaves_out_past_partners(self, fitted, small_market):
        h = small_market.collaborations
        rec = fitted.recommend(k=self.K, exclude_seen=True)
        seen = pd.MultiIndex.from_frame(h[["merchant_id", "creator_id"]])
        assert not pd.MultiIndex.from_frame(rec[["merchant_id", "creator_id"]]).isin(seen).any()

    def test_score_pairs_batch_equals_one_at_a_time_and_matches_recommend(
        self, fitted, small_market
    ):
        rec = fitted.recommend(k=3, merchants=np.array([1, 5]))
        m = pd.Index(small_market.merchants["merchant_id"]).get_indexer(rec["merchant_id"])
        c = pd.Index(small_market.creators["creator_id"]).get_indexer(rec["creator_id"])
        score, fit = fitted.score_pairs(m, c)
        np.testing.assert_allclose(score, rec["score"], rtol=1e-9)
        np.testing.assert_allclose(fit, rec["fit"], rtol=1e-9)
        for i in range(len(m)):
            s1, f1 = fitted.score_pairs(m[i : i + 1], c[i : i + 1])
            assert s1[0] == pytest.approx(score[i], rel=1e-12)
            assert f1[0] == pytest.approx(fit[i], rel=1e-12)

    def test_same_data_and_seed_give_the_same_lists(self, fitted, fast_config, small_market):
        mk = small_market
        again = self.make(fast_config).fit(mk.merchants, mk.creators, mk.collaborations)
        pd.testing.assert_frame_equal(fitted.recommend(k=self.K), again.recommend(k=self.K))

    def test_clone_and_get_params(self, fitted, fast_config):
        fresh = self.make(fast_config)
        twin = clone(fitted)
        assert twin.get_params() == fresh.get_params()
        assert not any(k.endswith("_") for k in vars(twin))

    def test_saved_ranker_round_trips(self, fitted, fast_config, small_market, tmp_path):
        """Saved and loaded, a ranker ranks as before; one that holds what it learned and not
        its data (``with_data``) is given the same tables first."""
        data.save_model(fitted, tmp_path / "m", fast_config, {})
        back = data.load_model(tmp_path / "m").ranker
        if hasattr(back, "with_data"):
            mk = small_market
            back = back.with_data(mk.merchants, mk.creators, mk.collaborations, fitted.as_of_)
        pd.testing.assert_frame_equal(back.recommend(k=self.K), fitted.recommend(k=self.K))


class TestMatchRanker(RankerContract):
    def make(self, fast_config):
        return MatchRanker(
            features=fast_config.features,
            candidates=fast_config.candidates,
            ranking=fast_config.ranking,
        )

    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls, trained):
        return trained


class TestMatchRankerLightGBM(RankerContract):
    def make(self, fast_config):
        return MatchRanker(
            features=fast_config.features,
            candidates=fast_config.candidates,
            ranking=fast_config.ranking.model_copy(update={"model": "lgbm"}),
        )


class TestMatchRankerCatBoost(RankerContract):
    def make(self, fast_config):
        return MatchRanker(
            features=fast_config.features,
            candidates=fast_config.candidates,
            ranking=fast_config.ranking.model_copy(update={"model": "catboost"}),
        )


class TestRandom(RankerContract):
    def make(self, fast_config):
        return RandomRanker(random_state=3)


class TestPopularity(RankerContract):
    def make(self, fast_config):
        return PopularityRanker()


class TestCategoryPopularity(RankerContract):
    def make(self, fast_config):
        return CategoryPopularityRanker()


class TestReach(RankerContract):
    def make(self, fast_config):
        return ReachRanker()


class TestCategoryGMVLeaders(RankerContract):
    def make(self, fast_config):
        return CategoryGMVLeadersRanker()


class TestALS(RankerContract):
    def make(self, fast_config):
        return ALSRanker(factors=8, iterations=5, random_state=1)


class TestEASE(RankerContract):
    def make(self, fast_config):
        return EASERanker(l2=50.0)


# --------------------------------------------------------------------------- hidden taste


def _hidden_taste_market(seed: int = 5, n_m: int = 120, n_c: int = 600, n_taste: int = 8):
    """Partner choice driven only by a hidden taste group (no value signal: GMV is flat and
    categories are unrelated to taste): only co-occurrence reveals who goes with whom."""
    rng = np.random.default_rng(seed)
    m_taste, c_taste = rng.integers(0, n_taste, n_m), rng.integers(0, n_taste, n_c)
    appeal = rng.pareto(2.0, n_c) + 0.2  # popularity within a taste, so popularity is a fair rival
    cats = np.array(["home", "toys", "beauty", "sport"])
    merchants = pd.DataFrame(
        {
            "merchant_id": [f"m{i:03d}" for i in range(n_m)],
            "primary_category": cats[rng.integers(0, len(cats), n_m)],
            "annual_gmv_usd": 1e6,
            "avg_price_usd": 20.0,
            "business_type": "seller",
            "onboarded_at": pd.Timestamp("2025-01-01"),
        }
    )
    creators = pd.DataFrame(
        {
            "creator_id": [f"c{i:04d}" for i in range(n_c)],
            "primary_category": cats[rng.integers(0, len(cats), n_c)],
            "followers": 1000,
            "avg_views": 500.0,
            "engagement_rate": 0.05,
            "weekly_video_capacity": 5,
            "joined_at": pd.Timestamp("2025-01-01"),
        }
    )
    rows = []
    days = 360
    for m in range(n_m):
        same = np.flatnonzero(c_taste == m_taste[m])
        other = np.flatnonzero(c_taste != m_taste[m])
        n = rng.poisson(14) + 4
        pick_same = rng.random(n) < 0.9
        p_same, p_other = appeal[same] / appeal[same].sum(), appeal[other] / appeal[other].sum()
        cs = np.where(pick_same, rng.choice(same, n, p=p_same), rng.choice(other, n, p=p_other))
        for c, d in zip(cs, rng.integers(0, days, n), strict=True):
            rows.append((m, c, d))
    r = np.array(rows)
    collabs = pd.DataFrame(
        {
            "merchant_id": merchants["merchant_id"].to_numpy()[r[:, 0]],
            "creator_id": creators["creator_id"].to_numpy()[r[:, 1]],
            "posted_at": pd.Timestamp("2025-02-01") + pd.to_timedelta(r[:, 2], "D"),
            "content_type": "short_video",
            "videos": 1,
            "views": 500,
            "orders": 5,
            "gmv_usd": 100.0,
        }
    ).drop_duplicates(["merchant_id", "creator_id", "posted_at"], ignore_index=True)
    return validate_inputs(merchants, creators, collabs)


@pytest.mark.parametrize("model", ["hgb", "lgbm"])
def test_fit_finds_partners_that_only_co_occurrence_reveals(fast_config, model):
    mk = _hidden_taste_market()
    cut = pd.Timestamp("2025-02-01") + pd.Timedelta(days=300)
    h = mk.collaborations
    later = h[h["posted_at"] >= cut]
    seen = set(
        zip(
            h.loc[h["posted_at"] < cut, "merchant_id"],
            h.loc[h["posted_at"] < cut, "creator_id"],
            strict=True,
        )
    )
    new = later[
        [p not in seen for p in zip(later["merchant_id"], later["creator_id"], strict=True)]
    ]
    truth = new.groupby("merchant_id")["creator_id"].agg(set)

    def precision(rec: pd.DataFrame, by: str) -> float:
        rec = rec[rec["merchant_id"].isin(truth.index)]
        top = (
            rec.sort_values(["merchant_id", by], ascending=[True, by == "rank"])
            .groupby("merchant_id")
            .head(10)
        )
        hits = [c in truth[m] for m, c in zip(top["merchant_id"], top["creator_id"], strict=True)]
        return float(np.sum(hits)) / (10 * len(truth))

    ranking = fast_config.ranking.model_copy(update={"model": model, "validation_days": 60})
    ranker = MatchRanker(
        features=fast_config.features, candidates=fast_config.candidates, ranking=ranking
    )
    ranker.fit(mk.merchants, mk.creators, h, as_of=cut)
    by_fit = precision(ranker.recommend(k=60, exclude_seen=True), "fit")
    pop = PopularityRanker().fit(mk.merchants, mk.creators, h, as_of=cut)
    by_pop = precision(pop.recommend(k=10, exclude_seen=True), "rank")
    assert by_fit > 1.5 * by_pop, (by_fit, by_pop)


def _full_sort_top(ranker, k, exclude_seen):
    """The references' top k by ordering the whole catalogue (what ``_top`` avoids)."""
    m_all = np.arange(len(ranker.merchant_ids_))
    pref = ranker._preference(m_all)
    if exclude_seen:
        pref = np.where(ranker.seen_[m_all].toarray(), -np.inf, pref)
    top = np.argsort(-pref, axis=1, kind="stable")[:, :k]
    val = np.take_along_axis(pref, top, 1)
    keep = np.isfinite(val)
    return ranker.creator_ids_[top[keep]], val[keep]


@pytest.mark.parametrize(
    "cls",
    [
        PopularityRanker,
        CategoryPopularityRanker,
        ReachRanker,
        CategoryGMVLeadersRanker,
        RandomRanker,
    ],
)
@pytest.mark.parametrize("exclude_seen", [False, True])
@pytest.mark.parametrize("sample", [baselines._FLOOR_SAMPLE, 7])
def test_reference_top_k_equals_ordering_the_whole_catalogue(
    cls, exclude_seen, sample, small_market, monkeypatch
):
    monkeypatch.setattr(baselines, "_FLOOR_SAMPLE", sample)  # 7: a sample of every 40th or so
    mk = small_market
    ranker = cls().fit(mk.merchants, mk.creators, mk.collaborations)
    rec = ranker.recommend(k=25, exclude_seen=exclude_seen)
    creators, values = _full_sort_top(ranker, 25, exclude_seen)
    np.testing.assert_array_equal(rec["creator_id"].to_numpy(dtype=object), creators)
    np.testing.assert_array_equal(rec["score"].to_numpy(), values)


@pytest.mark.parametrize("shape", ["uniform", "ties", "sampled_high"])
def test_the_floor_keeps_every_value_at_or_above_each_rows_kth(shape, monkeypatch):
    """Where the sample places a floor too high (the sampled values the largest), the row
    falls back to its exact k-th value; ties at it are all kept."""
    monkeypatch.setattr(baselines, "_FLOOR_SAMPLE", 7)
    rng = np.random.default_rng(0)
    s = rng.random((6, 300)) if shape != "ties" else rng.integers(0, 3, (6, 300)).astype(float)
    if shape == "sampled_high":
        s[:, :: 300 // 7] += 10.0
    k = 25
    row, col = baselines._at_or_above_floor(s, k)
    kth = np.sort(s, axis=1)[:, -k]
    got = np.zeros(s.shape, bool)
    got[row, col] = True
    np.testing.assert_array_equal(got | (s < kth[:, None]), np.ones(s.shape, bool))
    if shape == "sampled_high":  # the floor was the exact k-th: nothing below it kept
        np.testing.assert_array_equal(got, s >= kth[:, None])


@pytest.mark.parametrize("n_jobs", [1, 2])
@pytest.mark.parametrize("cls", [RandomRanker, PopularityRanker, CategoryPopularityRanker])
def test_reference_rankers_shrink_their_blocks_to_fit_a_large_catalogue(
    cls, small_market, monkeypatch, n_jobs
):
    """A reference ranker scores every creator for each list of a block: above the memory
    of a block (1M creators: 1,024 merchants were 8 GB a copy) it ranks fewer at a time,
    one block after another or side by side, with the same lists, and each list once (a
    category's for all of its merchants)."""
    from matching.data import memory

    mk = small_market
    ranker = cls().fit(mk.merchants, mk.creators, mk.collaborations)
    whole = ranker.recommend(k=10)
    whole_unseen = ranker.recommend(k=10, exclude_seen=True)
    per_row = len(mk.creators) * memory.DENSE_CELL_BYTES
    monkeypatch.setattr(memory, "REFERENCE_BLOCK_MB", 3 * per_row / 2**20)
    tops = []
    real_top = type(ranker)._top
    monkeypatch.setattr(
        type(ranker), "_top", lambda self, mb, *a: tops.append(len(mb)) or real_top(self, mb, *a)
    )
    small = ranker.recommend(k=10, n_jobs=n_jobs)
    lists = {
        RandomRanker: len(mk.merchants),
        PopularityRanker: 1,
        CategoryPopularityRanker: mk.merchants["primary_category"].nunique(),
    }[cls]
    assert max(tops) <= 3 and sum(tops) == lists
    pd.testing.assert_frame_equal(whole, small)
    small_unseen = ranker.recommend(k=10, exclude_seen=True, n_jobs=n_jobs)
    pd.testing.assert_frame_equal(whole_unseen, small_unseen)
