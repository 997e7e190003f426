"""The learners behind ``score`` and ``fit``, and the choice between them (``ranking.model``).

- :class:`LogTargetRegressor`: value on a log scale, calibrated back to USD;
- :class:`ListwiseFit`: a learning-to-rank model of each merchant's candidates whose scores
  are calibrated to a probability, so it answers like a classifier;
- :func:`make_models`: scikit-learn HistGradientBoosting (``hgb``) or LightGBM (``lgbm``).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.utils.validation import check_is_fitted

from matching.config import RankingConfig


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
        self.feature_names_in_ = self.regressor_.feature_names_in_
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


def make_models(ranking: RankingConfig):
    """The value regressor and the fit model of ``ranking.model``."""
    r = ranking
    if r.model == "lgbm":
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
        return LogTargetRegressor(lgb.LGBMRegressor(**common)), ListwiseFit(
            lgb.LGBMRanker(objective="lambdarank", **common)
        )
    common = {
        "learning_rate": r.learning_rate,
        "max_iter": r.max_iter,
        "max_leaf_nodes": r.max_leaf_nodes,
        "random_state": r.random_state,
        "early_stopping": False,
    }
    return LogTargetRegressor(
        HistGradientBoostingRegressor(**common)
    ), HistGradientBoostingClassifier(**common)
