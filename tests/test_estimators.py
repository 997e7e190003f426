"""Every estimator keeps scikit-learn's contract (``clone``, ``get_params``, ``set_params``)
and documents, numpydoc-style, each parameter and each attribute it learns."""

import importlib
import pickle
import pkgutil
import re

import numpy as np
import pytest
from sklearn.base import BaseEstimator, clone

import matching
from matching.ranking import baselines
from matching.ranking.learners import (
    ListwiseFit,
    LogTargetRegressor,
    SymmetricTreesClassifier,
    SymmetricTreesRegressor,
)
from matching.ranking.ranker import MatchRanker
from matching.retrieval.candidates import CandidateRetriever
from matching.retrieval.features import PairFeaturizer, PartnerActivity
from matching.retrieval.profiles import CreatorProfiler, MerchantProfiler

BASELINES = [
    baselines.RandomRanker,
    baselines.PopularityRanker,
    baselines.CategoryPopularityRanker,
    baselines.ReachRanker,
    baselines.CategoryGMVLeadersRanker,
    baselines.ALSRanker,
    baselines.EASERanker,
]


@pytest.fixture(scope="module")
def fitted(trained, small_market):
    """A fitted instance of every estimator class of the package."""
    snap = trained.snapshot_
    found = [
        trained,
        snap.creator_profiler,
        snap.merchant_profiler,
        snap.pair_featurizer,
        snap.retriever,
        snap.activity,
        trained.value_model_,
        trained.fit_model_,
    ]
    mk = small_market
    found += [cls().fit(mk.merchants, mk.creators, mk.collaborations) for cls in BASELINES]
    return {type(e): e for e in found}


ESTIMATORS = [
    MatchRanker,
    CreatorProfiler,
    MerchantProfiler,
    PairFeaturizer,
    CandidateRetriever,
    PartnerActivity,
    LogTargetRegressor,
    *BASELINES,
]


def _documented(cls: type, section: str) -> set[str]:
    """Names listed in a numpydoc section of the class's docstring or of its bases'."""
    names: set[str] = set()
    for klass in cls.__mro__:
        doc = klass.__dict__.get("__doc__") or ""
        match = re.search(rf"\n\s*{section}\n\s*-+\n(.*?)(\n\s*\n\s*\w+\n\s*-+\n|\Z)", doc, re.S)
        if match:
            for line in match.group(1).splitlines():
                head = re.match(r"^\s{4}(\w[\w, ]*?) :", line)
                if head:
                    names.update(n.strip() for n in head.group(1).split(","))
    return names


def _learned(est) -> set[str]:
    return {k for k in vars(est) if k.endswith("_") and not k.startswith("_")}


def test_every_estimator_of_the_package_is_checked():
    found = set()
    for info in pkgutil.walk_packages(matching.__path__, "matching."):
        if info.name == "matching.__main__":  # running it runs the command line
            continue
        module = importlib.import_module(info.name)
        found |= {
            obj
            for obj in vars(module).values()
            if isinstance(obj, type)
            and issubclass(obj, BaseEstimator)
            and obj.__module__ == info.name
            and not obj.__name__.startswith("_")
        }
    assert found - {baselines.BaseRanker} == set(ESTIMATORS) | {
        ListwiseFit,
        SymmetricTreesRegressor,
        SymmetricTreesClassifier,
    }


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_clone_and_params(cls, fitted):
    est = fitted[cls]
    params = est.get_params(deep=False)
    twin = clone(est)
    assert type(twin) is cls and not _learned(twin), "a clone is unfitted"
    assert twin.get_params(deep=False).keys() == params.keys()
    for name, value in params.items():
        got = twin.get_params(deep=False)[name]
        assert got == value or isinstance(value, BaseEstimator), name
    assert twin.set_params(**params) is twin


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_documented_numpydoc_style(cls, fitted):
    est = fitted[cls]
    params = set(est.get_params(deep=False))
    missing = params - _documented(cls, "Parameters")
    assert not missing, f"{cls.__name__}: parameters not in its docstring: {sorted(missing)}"
    attributes = _learned(est)
    missing = attributes - _documented(cls, "Attributes")
    assert not missing, f"{cls.__name__}: attributes not in its docstring: {sorted(missing)}"


def test_listwise_fit():
    """The fit model of ``ranking.model: lgbm``: documented, clonable, scores calibrated."""
    import lightgbm as lgb
    import pandas as pd

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=400), "b": rng.normal(size=400)})
    y = (X["a"] + 0.5 * rng.normal(size=400) > 1).astype(int).to_numpy()
    est = ListwiseFit(lgb.LGBMRanker(n_estimators=20, min_child_samples=5, verbose=-1))
    fit_model = est.fit(X, y, group=np.full(20, 20))
    assert not _learned(clone(fit_model))
    assert _learned(fit_model) <= _documented(ListwiseFit, "Attributes")
    assert set(fit_model.get_params(deep=False)) <= _documented(ListwiseFit, "Parameters")
    assert np.all(np.isfinite(fit_model.calibrator_.coef_))
    p = fit_model.predict_proba(X)[:, 1]
    assert np.corrcoef(p, X["a"])[0, 1] > 0.5


@pytest.mark.parametrize("cls", [SymmetricTreesRegressor, SymmetricTreesClassifier])
def test_symmetric_trees(cls):
    """The models of ``ranking.model: catboost``: documented, clonable, and their predictions
    the same on one thread as on two (ranking runs blocks on workers of one thread)."""
    import pandas as pd
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=400), "b": rng.normal(size=400)})
    y = X["a"] + 0.5 * rng.normal(size=400)
    if cls is SymmetricTreesClassifier:
        y = (y > 1).astype(int)
    est = cls(iterations=30, learning_rate=0.2, depth=3).fit(X, y)
    assert not _learned(clone(est))
    assert _learned(est) <= _documented(cls, "Attributes")
    assert set(est.get_params(deep=False)) <= _documented(cls, "Parameters")
    assert list(est.feature_names_in_) == ["a", "b"]
    out = est.predict_proba(X)[:, 1] if hasattr(est, "predict_proba") else est.predict(X)
    assert np.corrcoef(out, X["a"])[0, 1] > 0.5
    with threadpool_limits(1, user_api="openmp"):
        one = est.predict_proba(X)[:, 1] if hasattr(est, "predict_proba") else est.predict(X)
    assert np.array_equal(out, one)
    twin = cls(iterations=30, learning_rate=0.2, depth=3, n_jobs=1).fit(X, y)
    assert np.array_equal(twin.predict(X), est.predict(X))
    again = cls(iterations=30, learning_rate=0.2, depth=3).fit(X, y)
    assert pickle.dumps(again) == pickle.dumps(est)  # no training time, no random guid saved


def test_symmetric_trees_of_a_constant_target_predict_it():
    """CatBoost refuses a constant target (every observed pair's GMV the same); the
    regressor predicts it instead of failing the whole training run."""
    import pandas as pd

    X = pd.DataFrame({"a": np.arange(50.0)})
    est = SymmetricTreesRegressor(iterations=5).fit(X, np.full(50, 2.5))
    assert np.array_equal(est.predict(X.head(7)), np.full(7, 2.5))
    assert est.fit(X, X["a"]).constant_ is None and np.ptp(est.predict(X)) > 0
