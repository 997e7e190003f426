"""Looking inside a fitted ranker: which features drove one pair's score, and which the value
model relies on over many pairs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matching.ranking.ranker import MatchRanker


def explain(ranker: MatchRanker, m: np.ndarray, c: np.ndarray, top: int = 8) -> pd.DataFrame:
    """Which features drove each pair's score: for every feature, the change of the pair's
    log score when that feature alone is set to its median over the merchant's candidates
    (positive: the pair's value of the feature raised its score).

    Returns one row per (pair, feature) for the ``top`` features of each pair by size.
    """
    m, c = np.asarray(m), np.asarray(c)
    X = ranker.snapshot_.pair_features(m, c)
    base = np.log1p(ranker.predict_value(X))
    cand = ranker.snapshot_.retriever.retrieve(np.unique(m))
    mm = np.repeat(np.unique(m), cand.shape[1])
    mm, cc = mm[cand.ravel() >= 0], cand.ravel()[cand.ravel() >= 0]
    ref = ranker.snapshot_.pair_features(mm, cc)
    ref["_m"] = mm
    median = ref.groupby("_m").median()
    cols = [f for f in ranker.value_features_ if f in X.columns]
    rows = []
    for f in cols:
        Xf = X.copy()
        Xf[f] = median.loc[m, f].to_numpy()
        delta = base - np.log1p(ranker.predict_value(Xf))
        rows.append(
            pd.DataFrame(
                {
                    "pair": np.arange(len(m)),
                    "feature": f,
                    "value": X[f].to_numpy(),
                    "median": Xf[f].to_numpy(),
                    "contribution": delta,
                }
            )
        )
    out = pd.concat(rows, ignore_index=True)
    out["size"] = out["contribution"].abs()
    out = out.sort_values(["pair", "size", "feature"], ascending=[True, False, True], kind="stable")
    out = out.groupby("pair").head(top).drop(columns="size").reset_index(drop=True)
    ids = ranker.snapshot_
    out.insert(
        1, "merchant_id", ids.merchants["merchant_id"].to_numpy(dtype=object)[m][out["pair"]]
    )
    out.insert(2, "creator_id", ids.creators["creator_id"].to_numpy(dtype=object)[c][out["pair"]])
    return out


def feature_importance(
    ranker: MatchRanker, m: np.ndarray, c: np.ndarray, *, n_repeats: int = 5, random_state: int = 0
) -> pd.DataFrame:
    """Which features the value model relies on for these pairs: each feature in turn is
    shuffled over the pairs, and the model's log score moves away from what it was
    (:func:`sklearn.inspection.permutation_importance`, the unshuffled log score as the
    target, so the importance is the loss of R²).

    Returns a frame indexed by feature: ``mean`` and ``std`` over ``n_repeats`` shuffles.
    """
    from sklearn.inspection import permutation_importance

    X = ranker.value_features(m, c)
    log_model = ranker.value_model_.regressor_
    imp = permutation_importance(
        log_model, X, log_model.predict(X), n_repeats=n_repeats, random_state=random_state
    )
    return pd.DataFrame({"mean": imp.importances_mean, "std": imp.importances_std}, index=X.columns)
