"""Compiled trees predict exactly as scikit-learn, and ranking with them changes nothing."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from matching.ranking import compiled
from matching.ranking.ranker import MatchRanker

pytestmark = pytest.mark.skipif(
    not compiled.available(), reason="needs the [fast] extra (treelite, tl2cgen) and a C compiler"
)


def data(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    X[rng.random((n, 6)) < 0.05] = np.nan  # missing values take the learned branch
    cols = [f"x{i}" for i in range(6)]
    y = np.sin(np.nan_to_num(X[:, 0])) + np.nan_to_num(X[:, 1]) * 2 + rng.normal(0, 0.1, n)
    return pd.DataFrame(X, columns=cols), y


def test_a_compiled_regressor_and_classifier_predict_bit_for_bit_as_scikit_learn():
    X, y = data()
    reg = HistGradientBoostingRegressor(max_iter=40, random_state=0).fit(X, y)
    clf = HistGradientBoostingClassifier(max_iter=40, random_state=0).fit(X, y > 0)
    frame = data(seed=1)[0]
    # values exactly at split points (the quantised comparison's equality case) and infinities
    splits = reg._predictors[0][0].nodes
    splits = splits[~splits["is_leaf"].astype(bool)]
    frame.iloc[: len(splits), :] = np.nan
    for i, (f, t) in enumerate(zip(splits["feature_idx"], splits["num_threshold"], strict=True)):
        frame.iat[i, f] = t
    frame.iloc[-6:, :] = np.where(np.eye(6) > 0, np.inf, -np.inf)
    new = frame.to_numpy()
    fast_reg = compiled.compile_forest(reg, X.to_numpy(), threads=2)
    fast_clf = compiled.compile_forest(clf, X.to_numpy(), threads=2)
    assert np.array_equal(fast_reg.raw_predict(new), reg._raw_predict(frame))
    assert np.array_equal(fast_reg.predict(new), reg.predict(frame))
    # the fit model's rows are float32: both paths widen them the same way
    new32 = new.astype(np.float32)
    assert np.array_equal(
        fast_clf.predict_proba(new32), clf.predict_proba(frame.astype(np.float32))
    )


def test_what_cannot_be_compiled_is_left_to_scikit_learn():
    X, y = data(500)
    cat = X.assign(x5=(X["x5"] > 0).astype(int))
    model = HistGradientBoostingRegressor(max_iter=5, categorical_features=["x5"]).fit(cat, y)
    assert compiled.compile_forest(model, cat.to_numpy(), 2) is None
    assert compiled.compile_forest(object(), X.to_numpy(), 2) is None


def test_ranking_with_compiled_trees_gives_the_same_matches(fast_config, small_market):
    mk = small_market
    trained = MatchRanker(
        features=fast_config.features,
        candidates=fast_config.candidates,
        ranking=fast_config.ranking.model_copy(update={"value_model": "hgb"}),
    ).fit(mk.merchants, mk.creators, mk.collaborations)

    def ranker(limit):
        r = copy.copy(trained)
        r.ranking = trained.ranking.model_copy(update={"compile_min_pairs": limit})
        return r

    fast = ranker(1)
    got = fast.recommend(k=15)
    assert set(fast._compiled) == {"value", "fit"}
    assert all(f is not None for _, f in fast._compiled.values())
    refit = copy.copy(fast)
    refit._compiled = fast._compiled  # as with_data shares it
    refit.fit_model_ = copy.deepcopy(fast.fit_model_)
    assert refit._forest("value", refit.value_model_.regressor_, None, build=False) is not None
    assert refit._forest("fit", refit.fit_model_, np.zeros((0, 1)), build=False) is None
    pd.testing.assert_frame_equal(got, ranker(None).recommend(k=15), check_exact=True)
    assert not pickle.loads(pickle.dumps(fast)).__dict__.get("_compiled")
