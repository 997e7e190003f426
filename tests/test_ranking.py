import numpy as np
import pandas as pd
import pytest

from matching import data
from matching.ranking.learners import sampling_corrected
from matching.ranking.ranker import MatchRanker, pair_positions


def test_recommend_follows_the_contract(trained, small_market):
    cert = np.zeros(len(small_market.merchants), bool)
    cert[:5] = True
    rec = trained.recommend(k=10, certified=cert, certified_weight=2.0)
    assert list(rec.columns) == list(data.MATCHES_COLUMNS)
    assert (
        rec.groupby("merchant_id")["rank"]
        .apply(lambda r: list(r) == list(range(1, len(r) + 1)))
        .all()
    )
    assert (rec.groupby("merchant_id")["priority_score"].diff().dropna() <= 1e-12).all()
    assert rec["fit"].between(0, 1).all() and (rec["score"] >= 0).all()
    is_cert = rec["certified_super_top"].to_numpy()
    assert np.allclose(rec["priority_score"][is_cert], 2.0 * rec["score"][is_cert])
    assert np.allclose(rec["priority_score"][~is_cert], rec["score"][~is_cert])
    empty = pd.DataFrame(
        {
            "merchant_id": pd.Series(dtype="string"),
            "creator_id": pd.Series(dtype="string"),
            "videos": pd.Series(dtype="int64"),
            "expected_gmv_usd": pd.Series(dtype=float),
            "window_end": pd.Series(dtype="datetime64[ns]"),
        }
    )
    data.validate_outputs(rec, empty)


def test_recommend_skips_the_pairs_ranked_before(trained):
    """A deeper retrieval that skips the pairs already ranked scores the rest as before."""
    m = np.arange(6)
    full = trained.recommend(k=1000, merchants=m, depth=60)
    skip = full.groupby("merchant_id").head(15)[["merchant_id", "creator_id"]]
    rest = trained.recommend(k=1000, merchants=m, depth=60, skip=skip)
    keys = ["merchant_id", "creator_id"]
    left = full.merge(skip, on=keys, how="left", indicator=True)
    want = left[left["_merge"] == "left_only"].sort_values(keys, ignore_index=True)
    got = rest.sort_values(keys, ignore_index=True)
    assert len(got) == len(full) - len(skip) > 0
    pd.testing.assert_frame_equal(
        got[[*keys, "score", "fit"]], want[[*keys, "score", "fit"]], check_dtype=False
    )


def test_batch_scores_equal_one_at_a_time(trained):
    m = np.array([0, 3, 3, 7])
    c = np.array([5, 1, 9, 2])
    score, fit = trained.score_pairs(m, c)
    for i in range(len(m)):
        s1, f1 = trained.score_pairs(m[i : i + 1], c[i : i + 1])
        assert s1[0] == pytest.approx(score[i], rel=1e-12) and f1[0] == pytest.approx(
            fit[i], rel=1e-12
        )


def test_validation_reports_fit_against_popularity(trained):
    v = trained.validation_
    for key in (
        "val_value_spearman",
        "val_fit_auc",
        "val_fit_recall@10",
        "val_popularity_recall@10",
    ):
        assert key in v and np.isfinite(v[key])


def test_unknown_ids_are_refused(trained):
    with pytest.raises(ValueError, match="unknown"):
        pair_positions(trained, ["nope"], [trained.snapshot_.creators["creator_id"].iloc[0]])


def test_too_little_history_is_a_clear_error(fast_config, small_market):
    mk = small_market
    h = mk.collaborations
    short = h[h["posted_at"] >= h["posted_at"].max() - pd.Timedelta(days=20)]
    r = MatchRanker(
        features=fast_config.features,
        candidates=fast_config.candidates,
        ranking=fast_config.ranking,
    )
    with pytest.raises(ValueError, match="not enough collaboration history"):
        r.fit(mk.merchants, mk.creators, short)


def test_tampered_model_is_refused(trained, fast_config, tmp_path):
    data.save_model(trained, tmp_path / "m", fast_config, {})
    with open(tmp_path / "m" / data.MODEL_FILE, "ab") as f:
        f.write(b"x")
    with pytest.raises(data.DataError, match="do not match"):
        data.load_model(tmp_path / "m")
    with pytest.raises(data.DataError, match="not a model directory"):
        data.load_model(tmp_path)


def test_history_without_gmv_still_learns_who_works_with_whom(fast_config, small_market):
    """Interaction-only data (GMV all zero): no value signal, but fit must beat popularity."""
    mk = small_market
    h = mk.collaborations.assign(gmv_usd=0.0, orders=0)
    r = MatchRanker(
        features=fast_config.features,
        candidates=fast_config.candidates,
        ranking=fast_config.ranking,
    ).fit(mk.merchants, mk.creators, h)
    v = r.validation_
    assert v["val_fit_hit_rate@10"] > v["val_popularity_hit_rate@10"]
    rec = r.recommend(k=5)
    assert (rec["score"] == 0).all()
    # with no value signal, ranks follow fit
    assert (rec.groupby("merchant_id")["fit"].diff().dropna() <= 1e-12).all()


def test_explain_names_the_features_that_moved_a_score(trained):
    ex = trained.explain(np.array([0, 1]), np.array([3, 4]), top=5)
    assert set(ex["pair"]) == {0, 1} and (ex.groupby("pair").size() == 5).all()
    assert np.isfinite(ex["contribution"]).all()
    # sorted by size within each pair
    assert (
        ex.groupby("pair")["contribution"].apply(
            lambda s: (np.diff(s.abs().to_numpy()) <= 1e-12).all()
        )
    ).all()


def test_value_features_and_feature_importance(trained):
    m, c = np.array([0, 1, 2, 2, 5, 8]), np.array([4, 1, 7, 3, 0, 2])
    X = trained.value_features(m, c)
    assert list(X.columns) == trained.value_features_
    score, _ = trained.score_pairs(m, c)
    assert np.array_equal(trained.value_model_.predict(X), score)  # what score_pairs scores
    imp = trained.feature_importance(m, c, n_repeats=2, random_state=0)
    assert list(imp.index) == trained.value_features_ and list(imp.columns) == ["mean", "std"]
    assert imp["mean"].abs().sum() > 0


def test_scores_of_many_pairs_are_those_of_the_feature_frames(trained):
    """The models' input matrices are filled a block of rows at a time: over several blocks
    (and a partial last one) the scores are those of the feature frames."""
    rng = np.random.default_rng(3)
    snap = trained.snapshot_
    m = rng.integers(0, len(snap.merchants), 2500)
    c = rng.integers(0, len(snap.creators), 2500)
    score, fit = trained.score_pairs(m, c)
    np.testing.assert_array_equal(score, trained.value_model_.predict(trained.value_features(m, c)))
    frame = snap.partner_features(m, c)[trained.fit_features_]
    p = trained.fit_model_.predict_proba(frame)[:, 1]
    np.testing.assert_array_equal(fit, sampling_corrected(p, trained.fit_sampling_rate_))


def test_the_als_score_is_computed_once_and_is_the_same_feature(trained):
    """The pair columns take the ALS score from the sources' scores: bit for bit what the
    collaborative features compute on their own (the inner product of the factors)."""
    snap = trained.snapshot_
    m = np.repeat(np.arange(5), 30)
    c = np.tile(np.arange(30) * 11 % len(snap.creators), 5)
    cols = snap.pair_columns(m, c)
    ret = snap.retriever
    alone = ret.collaborative_features(m, c)
    own = np.einsum("ik,ik->i", ret.als_merchant_factors_[m], ret.als_creator_factors_[c])
    np.testing.assert_array_equal(alone["als"], own)
    for name, values in alone.items():
        np.testing.assert_array_equal(cols[name], values)
    np.testing.assert_array_equal(cols["src_als"], own)
    # the vectors every pair reads are float32 (half the bytes gathered per candidate)
    assert ret.als_creator_factors_.dtype == ret.creator_factors_.dtype == np.float32
    assert alone["partner_similarity"].dtype == np.float32


def test_recommend_scores_what_the_frames_score(trained):
    """The hot path (numpy columns, fit only where it can change the top k) gives the rows
    and values the feature frames give."""
    snap = trained.snapshot_
    m = np.repeat(np.arange(6), 40)
    c = np.tile(np.arange(40) * 7 % len(snap.creators), 6)
    frame = snap.pair_features(m, c)
    cols = snap.pair_columns(m, c)
    assert set(cols) == set(frame.columns)
    for name in frame.columns:
        np.testing.assert_array_equal(cols[name], frame[name].to_numpy())
    value = trained.value_model_.predict(
        frame.assign(content_type=0.0, log_videos=0.0)[trained.value_features_]
    )
    fit = trained.fit_model_.predict_proba(
        snap.partner_features(m, c, frame)[trained.fit_features_]
    )[:, 1]
    score, p = trained.score_pairs(m, c)
    np.testing.assert_array_equal(score, value)
    np.testing.assert_array_equal(np.argsort(p, kind="stable"), np.argsort(fit, kind="stable"))
    rec = trained.recommend(k=7, merchants=np.arange(6))
    mi = pair_positions(trained, rec["merchant_id"], rec["creator_id"])
    s2, f2 = trained.score_pairs(*mi)
    np.testing.assert_array_equal(rec["score"].to_numpy(), s2)
    np.testing.assert_array_equal(rec["fit"].to_numpy(), f2)


@pytest.mark.parametrize("search", ["exact", "ann"])
@pytest.mark.parametrize("n_jobs", [1, 2])
def test_blocks_ranked_side_by_side_give_the_same_table(trained, n_jobs, search):
    """Small blocks, one after another or (approximate search) on two threads, rank exactly
    as one block does, in the same row order, with and without past partners."""
    import copy

    if search == "ann":
        pytest.importorskip("faiss")
    ranker = copy.copy(trained)
    ranker.ranking = trained.ranking.model_copy(update={"n_jobs": n_jobs})
    ranker.snapshot_ = copy.copy(trained.snapshot_)
    retriever = copy.copy(trained.snapshot_.retriever)
    retriever.search = search
    object.__setattr__(ranker.snapshot_, "retriever", retriever)
    for exclude_seen in (False, True):
        whole = ranker.recommend(k=7, exclude_seen=exclude_seen)
        blocks = ranker.recommend(k=7, block=9, exclude_seen=exclude_seen)
        pd.testing.assert_frame_equal(blocks, whole)
        # one by one, as match writes them: whole merchants, each in one block, in order
        parts = list(ranker.recommend_blocks(k=7, block=9, exclude_seen=exclude_seen))
        assert len(parts) == -(-len(ranker.snapshot_.merchants) // 9)
        seen = [m for part in parts for m in part["merchant_id"].unique()]
        assert len(seen) == len(set(seen))
        pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), whole)
    early = ranker.recommend_blocks(k=7, block=9)
    next(early)
    early.close()  # a caller may stop early: the blocks ranked ahead are dropped


def test_fit_recall_is_measured_on_a_fixed_sample_of_a_large_windows_merchants(
    trained, small_market, fast_config
):
    """The validation's fit recall ranks every merchant of the newest window again: above
    ``ranking.evaluation_merchants`` it takes a fixed sample of them, and says so."""
    from matching.data.contract import row_positions
    from matching.ranking.ranker import fit_recall

    snap, mk = trained.window_snapshot_, small_market
    w = mk.collaborations[mk.collaborations["posted_at"] >= snap.as_of]
    m = row_positions(w["merchant_id"], snap.merchants["merchant_id"])
    c = row_positions(w["creator_id"], snap.creators["creator_id"])
    key = np.unique(m.astype(np.int64) * len(snap.creators) + c)
    n_m = len(np.unique(m))

    def recall(cap, keys=key):
        ranking = fast_config.ranking.model_copy(update={"evaluation_merchants": cap})
        return fit_recall(snap, trained.fit_model_, keys, ranking)

    everyone = recall(None)
    assert recall(n_m) == everyone and "val_fit_recall_merchants" not in everyone
    sample = recall(5)
    assert sample["val_fit_recall_merchants"] == 5 and sample == recall(5)
    chosen = np.unique(key // len(snap.creators))
    rng = np.random.default_rng(fast_config.ranking.random_state)
    kept = key[np.isin(key // len(snap.creators), rng.choice(chosen, 5, replace=False))]
    assert {k: v for k, v in sample.items() if k != "val_fit_recall_merchants"} == recall(
        None, kept
    )


def test_training_rows_depend_on_neither_the_blocks_nor_the_threads(
    fast_config, small_market, monkeypatch
):
    """The windows' candidates retrieved a few merchants at a time on two threads (the
    approximate search) give the training rows, so the validation and the models, of one
    block on one thread; so do negatives ordered by ``np.lexsort``."""
    pytest.importorskip("faiss")
    import matching.ranking.windows as ranking_module

    mk = small_market

    def fit(n_jobs):
        return MatchRanker(
            features=fast_config.features,
            candidates=fast_config.candidates.model_copy(update={"search": "ann"}),
            ranking=fast_config.ranking.model_copy(update={"n_jobs": n_jobs}),
        ).fit(mk.merchants, mk.creators, mk.collaborations)

    monkeypatch.setattr(ranking_module, "SAMPLE_BLOCK", 10**6)
    one = fit(1)
    monkeypatch.setattr(ranking_module, "SAMPLE_BLOCK", 7)
    many = fit(2)
    # and the negatives ordered by np.lexsort rather than one integer key: the same order
    monkeypatch.setattr(ranking_module, "KEY_MERCHANTS", 0)
    lexsorted = fit(2)
    m = np.repeat(np.arange(len(mk.merchants)), 5)
    c = np.tile(np.arange(5), len(mk.merchants))
    for other in (many, lexsorted):
        assert one.validation_ == other.validation_
        for a, b in zip(one.score_pairs(m, c), other.score_pairs(m, c), strict=True):
            np.testing.assert_array_equal(a, b)
