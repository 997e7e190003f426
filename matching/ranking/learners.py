"""The learners behind ``score`` and ``fit``, and the choice between them (``ranking.model``,
``ranking.value_model``).

- :class:`LogTargetRegressor`: value on a log scale, calibrated back to USD;
- :class:`ListwiseFit`: a learning-to-rank model of each merchant's candidates whose scores
  are calibrated to a probability, so it answers like a classifier;
- :class:`SymmetricTreesRegressor`, :class:`SymmetricTreesClassifier`: CatBoost's symmetric
  (oblivious) trees, whose prediction is a few comparisons and a table lookup per tree
  (docs/scale.md: 0.19 against 0.82 core-seconds for the compiled HistGradientBoosting trees);
- :func:`make_models`: scikit-learn HistGradientBoosting (``hgb``), LightGBM (``lgbm``) or
  CatBoost (``catboost``).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.utils.validation import check_is_fitted

from matching.config import RankingConfig
from matching.threads import openmp_threads


def sampling_corrected(p: np.ndarray, rate: float) -> np.ndarray:
    """Turn P(chosen | chosen or sampled) into P(chosen) when negatives were kept at ``rate``."""
    odds = p / np.clip(1 - p, 1e-12, None) * rate
    return odds / (1 + odds)


class ListwiseFit(ClassifierMixin, BaseEstimator):
    """A learning-to-rank model of each merchant's candidates (e.g. LightGBM lambdarank), with
    its scores mapped to P(chosen) by a logistic calibration on the training rows, so it
    answers ``predict_proba`` like a classifier.

    Parameters
    ----------
    ranker : estimator
        A learning-to-rank estimator whose ``fit`` takes ``group`` (cloned before fitting).

    Attributes
    ----------
    ranker_ : estimator
        The fitted ranker.
    calibrator_ : sklearn.linear_model.LogisticRegression
        Its score mapped to P(chosen).
    classes_ : ndarray
        ``[0, 1]``.
    feature_names_in_ : ndarray of str
        The columns it was fitted on.
    """

    def __init__(self, ranker):
        self.ranker = ranker

    def fit(self, X, y, group):
        """``group``: the sizes of consecutive groups of rows (one merchant's candidates)."""
        from sklearn.linear_model import LogisticRegression

        self.ranker_ = clone(self.ranker).fit(X, y, group=group)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        s = self.ranker_.predict(X)
        self.calibrator_ = LogisticRegression().fit(s[:, None], y)
        self.classes_ = self.calibrator_.classes_
        return self

    def predict_proba(self, X):
        check_is_fitted(self, "ranker_")
        return self.calibrator_.predict_proba(self.ranker_.predict(X)[:, None])

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class LogTargetRegressor(RegressorMixin, BaseEstimator):
    """Regress ``log1p(y)`` (robust to GMV's heavy tail), predict in USD, calibrated so the
    weighted total of predictions equals the observed total (a smearing factor).

    Parameters
    ----------
    regressor : estimator
        The regressor of the log target (cloned before fitting).

    Attributes
    ----------
    regressor_ : estimator
        The fitted regressor (it predicts ``log1p`` of the target).
    calibration_ : float
        The smearing factor applied to ``expm1`` of its predictions.
    feature_names_in_ : ndarray of str
        The columns it was fitted on.
    """

    def __init__(self, regressor):
        self.regressor = regressor

    def fit(self, X, y, sample_weight=None):
        self.regressor_ = clone(self.regressor).fit(X, np.log1p(y), sample_weight=sample_weight)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        raw = np.expm1(self.regressor_.predict(X))
        w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, float)
        self.calibration_ = float(np.sum(w * y) / max(np.sum(w * raw), 1e-12))
        return self

    def predict(self, X):
        check_is_fitted(self, "regressor_")
        return self.from_log(self.regressor_.predict(X))

    def from_log(self, log_prediction: np.ndarray) -> np.ndarray:
        """The prediction in USD from the regressor's (e.g. computed by a compiled copy)."""
        return np.clip(np.expm1(log_prediction), 0, None) * self.calibration_


class _SymmetricTrees(BaseEstimator):
    """A CatBoost model as a scikit-learn estimator: ``feature_names_in_`` once fitted, and
    predictions on as many threads as the caller may use (one in a worker of
    :func:`matching.threads.in_order`: CatBoost's pool is its own, not the OpenMP one
    threadpoolctl limits). Its predictions do not depend on the thread count, nor does its
    training (tested); it trains on ``n_jobs`` threads.

    Parameters
    ----------
    iterations : int
        Trees, one per boosting round (``ranking.max_iter``).
    learning_rate : float
        Shrinkage of each tree (``ranking.learning_rate``).
    depth : int
        Depth of every tree: each is ``depth`` comparisons, one per level, and a table of
        ``2 ** depth`` leaves (``ranking.tree_depth``).
    random_state : int
        CatBoost's ``random_seed``.
    n_jobs : int
        Threads to train on.

    Attributes
    ----------
    model_ : catboost.CatBoost or None
        The fitted CatBoost model (None for a constant target: see ``constant_``).
    feature_names_in_ : ndarray of str
        The columns it was fitted on.
    """

    _kind = ""

    def __init__(self, iterations=300, learning_rate=0.06, depth=6, random_state=0, n_jobs=2):
        self.iterations = iterations
        self.learning_rate = learning_rate
        self.depth = depth
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X, y, sample_weight=None):
        import catboost

        self.model_ = getattr(catboost, self._kind)(
            iterations=self.iterations,
            learning_rate=self.learning_rate,
            depth=self.depth,
            random_seed=self.random_state,
            thread_count=self.n_jobs,
            verbose=0,
            allow_writing_files=False,
        ).fit(X, y, sample_weight=sample_weight)
        meta = self.model_.get_metadata()
        del meta["train_finish_time"], meta["model_guid"]  # a saved model is the same bytes
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def predict(self, X):
        check_is_fitted(self, "model_")
        return self.model_.predict(X, thread_count=openmp_threads())


class SymmetricTreesRegressor(RegressorMixin, _SymmetricTrees):
    """CatBoost's regressor of symmetric trees (squared error).

    Attributes
    ----------
    constant_ : float or None
        The target, when every training row had the same one (CatBoost refuses to fit a
        constant; it is then the prediction), else None.
    """

    _kind = "CatBoostRegressor"

    def fit(self, X, y, sample_weight=None):
        y = np.asarray(y, dtype=float)
        self.constant_ = float(y[0]) if len(y) and np.ptp(y) == 0 else None
        if self.constant_ is None:
            return super().fit(X, y, sample_weight)
        self.model_ = None
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def predict(self, X):
        check_is_fitted(self, "feature_names_in_")
        if self.constant_ is not None:
            return np.full(len(X), self.constant_)
        return super().predict(X)


class SymmetricTreesClassifier(ClassifierMixin, _SymmetricTrees):
    """CatBoost's binary classifier of symmetric trees (log loss).

    Attributes
    ----------
    classes_ : ndarray
        The classes seen in fit.
    """

    _kind = "CatBoostClassifier"

    def fit(self, X, y, sample_weight=None):
        super().fit(X, y, sample_weight)
        self.classes_ = np.asarray(self.model_.classes_)
        return self

    def predict_proba(self, X):
        check_is_fitted(self, "model_")
        return self.model_.predict_proba(X, thread_count=openmp_threads())


def _family(name: str, r: RankingConfig) -> tuple:
    """The (log-value regressor, fit model) of one family of trees, unfitted."""
    if name == "lgbm":
        import lightgbm as lgb

        common = {
            "n_estimators": r.max_iter,
            "learning_rate": r.learning_rate,
            "num_leaves": r.max_leaf_nodes,
            "random_state": r.random_state,
            "n_jobs": r.n_jobs,
            "deterministic": True,
            "force_row_wise": True,
            "verbose": -1,
        }
        return lgb.LGBMRegressor(**common), ListwiseFit(
            lgb.LGBMRanker(objective="lambdarank", **common)
        )
    if name == "catboost":
        common = {
            "iterations": r.max_iter,
            "learning_rate": r.learning_rate,
            "depth": r.tree_depth,
            "random_state": r.random_state,
            "n_jobs": r.n_jobs,
        }
        return SymmetricTreesRegressor(**common), SymmetricTreesClassifier(**common)
    common = {
        "learning_rate": r.learning_rate,
        "max_iter": r.max_iter,
        "max_leaf_nodes": r.max_leaf_nodes,
        "random_state": r.random_state,
        "early_stopping": False,
    }
    return HistGradientBoostingRegressor(**common), HistGradientBoostingClassifier(**common)


def make_models(ranking: RankingConfig):
    """The value regressor of ``ranking.value_model`` (default: ``ranking.model``) and the
    fit model of ``ranking.model``."""
    value, _ = _family(ranking.value_model or ranking.model, ranking)
    _, fit = _family(ranking.model, ranking)
    return LogTargetRegressor(value), fit
