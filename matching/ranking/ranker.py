"""The ranking model: expected GMV per video of a pairing (``score``), the likelihood the
pair really works together (``fit``), and the certified super-top weight (``priority_score``).

Training is a rolling time split. For each window start ``t`` the profiles,
pair features and retriever are fitted on the history before ``t`` and the
targets are the collaborations inside ``[t, t + W)``; the most recent window
validates, then everything is refitted on all windows.

The history is exposure-biased: an unobserved pair is not a known negative.
Two stages handle that. The *fit* model learns who is chosen among a merchant's
retrieved candidates (the retriever's list is the population; unchosen candidates,
sampled per merchant, are the negatives): with ``ranking.model: hgb`` (the default) a
classifier; with ``lgbm`` a listwise LightGBM lambdarank over each merchant's group, its
scores calibrated to a probability; both corrected for the sampling rate. Its features are
who chose whom (:class:`matching.retrieval.features.PartnerActivity`: both sides' activity over several
horizons, the pair's record; the ALS score, similarity to the merchant's past partners) and
how the pair matches (:data:`matching.retrieval.snapshot.MATCH_FEATURES`). The
*value* model (gradient boosting on log GMV per video, calibrated back to USD; CatBoost's
symmetric trees by default, ``ranking.value_model``, as it scores every candidate) learns
only from observed pairs; optionally (``ranking.exposure_weighting``) weighted by the
clipped inverse of their exposure propensity from the fit model, so rarely-tried kinds
of pairs count for more than their frequency.

Every ranker, this one and the references of :mod:`matching.ranking.baselines`, answers the
:class:`Ranker` protocol.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator
from functools import partial
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted
from tqdm import tqdm

from matching.config import CandidatesConfig, FeaturesConfig, RankingConfig
from matching.data.contract import (
    MATCHES_COLUMNS,
    SHORT_VIDEO,
    default_as_of,
)
from matching.data.memory import RECOMMEND_BLOCK, approximate
from matching.ranking import inspection
from matching.ranking.compiled import compilable, compile_forest
from matching.ranking.learners import ListwiseFit, make_models, sampling_corrected
from matching.ranking.windows import (
    CONTENT_CODES,
    fit_recall,
    validation_metrics,
    window_rows,
    window_starts,
)
from matching.retrieval.snapshot import MATCH_FEATURES, PARTNER_FEATURES, Snapshot, build_snapshot
from matching.threads import in_order

log = logging.getLogger(__name__)
_VALUE_CONSTANTS = {"content_type": float(CONTENT_CODES[SHORT_VIDEO]), "log_videos": 0.0}
"""The value model's inputs of a pair scored for one short video (the first of the pair)."""

_FIT_PAIR_COLUMNS = (*PARTNER_FEATURES, *MATCH_FEATURES)
"""The pair columns the fit model reads (:meth:`Snapshot.partner_columns`)."""

_FILL_ROWS = 1024
"""Rows of a model's input matrix filled at a time, column by column: a block of rows stays
in cache, where whole columns stride through memory (4x slower in a scratch timing)."""


def _matrix(columns: list, n: int, dtype=np.float64) -> np.ndarray:
    """The (n, len(columns)) matrix of ``columns`` (arrays of length n, or scalars)."""
    X = np.empty((n, len(columns)), dtype=dtype)
    arrays = [(j, col) for j, col in enumerate(columns) if not np.isscalar(col)]
    for j, col in enumerate(columns):
        if np.isscalar(col):
            X[:, j] = col
    for s in range(0, n, _FILL_ROWS):
        part = X[s : s + _FILL_ROWS]
        for j, col in arrays:
            part[:, j] = col[s : s + _FILL_ROWS]
    return X


def _frame(columns: list, n: int, names: list[str], dtype=np.float64) -> pd.DataFrame:
    """``columns`` (arrays of length n, or scalars) as a frame of ``dtype`` columns named
    ``names``, each column its own array (column-wise readers such as CatBoost's need no
    matrix)."""
    return pd.DataFrame(
        {
            name: np.full(n, col, dtype) if np.isscalar(col) else np.asarray(col, dtype)
            for name, col in zip(names, columns, strict=True)
        },
        copy=False,
    )


@runtime_checkable
class Ranker(Protocol):
    """What every ranker answers (the model and the references of :mod:`matching.ranking.baselines`),
    so evaluation and benchmarks can take any of them and read only what ``recommend`` returns.

    - ``fit(merchants, creators, collaborations, as_of=None)`` learns from the collaborations
      posted before ``as_of`` and returns the ranker;
    - ``recommend(k, merchants=None, *, exclude_seen=False, certified_weight=None)`` gives
      the contract's matches table: the top ``k`` creators of each merchant (row positions
      of the fitted merchants table; all by default, cold-start ones included), ``rank``
      1 = best; ``exclude_seen`` leaves out each merchant's past partners;
    - ``score_pairs(m, c)`` gives ``(score, fit)`` of pairs given as row positions;
    - persistence is :func:`matching.data.save_model` / :func:`matching.data.load_model`.
    """

    def fit(self, merchants, creators, collaborations, as_of=None) -> Ranker: ...

    def recommend(
        self, k: int = 100, merchants=None, *, exclude_seen: bool = False, certified_weight=None
    ) -> pd.DataFrame: ...

    def score_pairs(self, m: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


class MatchRanker(BaseEstimator):
    """Scores merchant x creator pairings: ``score`` (expected GMV of one short video, USD),
    ``fit`` (likelihood the pair works together) and ``priority_score``.

    Parameters
    ----------
    features, candidates, ranking : FeaturesConfig, CandidatesConfig, RankingConfig
        The config's sections for the profiles, the retrieval and the models.
    progress : bool, default False
        Show progress bars while training and ranking.

    Attributes
    ----------
    value_model_ : LogTargetRegressor
        The value model (``score``), fitted on every training window.
    fit_model_ : estimator
        The fit model (``fit``): a classifier, or a :class:`~matching.ranking.learners.ListwiseFit`.
    fit_sampling_rate_ : float
        The share of unchosen candidates the fit model saw (its probabilities are corrected
        for it).
    value_features_, fit_features_ : list of str
        The columns each model takes.
    snapshot_ : Snapshot
        Profiles, pair featuriser and retriever as of ``as_of_``: the data scoring reads,
        built from the tables (:func:`~matching.retrieval.snapshot.build_snapshot`). Not
        saved with the model: a saved ranker holds what it learned, and meets its data
        through :meth:`with_data` (or :meth:`with_snapshot`).
    window_snapshot_ : Snapshot
        The same as of the newest training window's start, ``as_of_ - validation_days``:
        what :meth:`at_window` scores from. Not saved with the model (dropped on pickling).
    as_of_ : pandas.Timestamp
        The day the model was trained as of.
    validation_ : dict of str to float
        Held-out metrics of the most recent window (``val_*``).

    Examples
    --------
    >>> from matching import load_config, simulate
    >>> cfg = load_config()
    >>> mk = simulate(cfg, merchants=60, creators=600, seed=0)
    >>> r = MatchRanker(features=cfg.features, candidates=cfg.candidates, ranking=cfg.ranking)
    >>> r = r.fit(mk.merchants, mk.creators, mk.collaborations)
    >>> r.recommend(k=5).shape[1]
    7
    """

    def __init__(
        self,
        *,
        features: FeaturesConfig,
        candidates: CandidatesConfig,
        ranking: RankingConfig,
        progress: bool = False,
    ):
        self.features = features
        self.candidates = candidates
        self.ranking = ranking
        self.progress = progress

    # -- training -----------------------------------------------------------------------
    def _snapshot(self, merchants, creators, collaborations, as_of) -> Snapshot:
        """The tables' profiles and retriever from their history before ``as_of``."""
        return build_snapshot(
            merchants,
            creators,
            collaborations,
            as_of,
            self.features,
            self.candidates,
            self.ranking.random_state,
        )

    def _models(self):
        """The value regressor and the fit model of ``ranking.model``."""
        return make_models(self.ranking)

    def _stack(self, windows):
        vals = [v for v, _ in windows if v is not None]
        fits = [f for _, f in windows if f is not None]
        Xv = pd.concat([v[0] for v in vals], ignore_index=True) if vals else None
        yv = np.concatenate([v[1] for v in vals]) if vals else None
        wv = np.concatenate([v[2] for v in vals]) if vals else None
        Xf = pd.concat([f[0] for f in fits], ignore_index=True) if fits else None
        yf = np.concatenate([f[1] for f in fits]) if fits else None
        groups = np.concatenate([f[4] for f in fits]) if fits else None
        rate = float(np.mean([f[2] for f in fits])) if fits else 1.0
        return Xv, yv, wv, Xf, yf, groups, rate

    def _fit_models(self, windows):
        Xv, yv, wv, Xf, yf, groups, rate = self._stack(windows)
        if Xv is None or Xf is None or len(np.unique(yf)) < 2:
            raise ValueError(
                "not enough collaboration history to train: need collaborations in at least "
                "two time windows (see ranking.validation_days / n_windows)"
            )
        value, fit = self._models()
        if isinstance(fit, ListwiseFit):
            fit.fit(Xf, yf, group=groups)
        else:
            fit.fit(Xf, yf)
        weight = wv.copy()
        if self.ranking.exposure_weighting:
            Xp = pd.concat([v[3] for v, _ in windows if v is not None], ignore_index=True)
            p = fit.predict_proba(Xp[Xf.columns])[:, 1]
            cap = self.ranking.max_exposure_weight
            weight *= np.clip(np.mean(p) / np.clip(p, 1e-6, None), 1 / cap, cap)
        value.fit(
            Xv.drop(columns=[f for f in PARTNER_FEATURES if f in Xv]), yv, sample_weight=weight
        )
        return value, fit, rate

    def fit(
        self,
        merchants: pd.DataFrame,
        creators: pd.DataFrame,
        collaborations: pd.DataFrame,
        as_of=None,
    ):
        """Train on the history before ``as_of`` (default: the day after the last collaboration)."""
        r = self.ranking
        if as_of is None:
            as_of = default_as_of(collaborations)
            if as_of is None:
                raise ValueError("no collaborations: nothing to learn from")
        as_of = pd.Timestamp(as_of)
        rng = np.random.default_rng(r.random_state)
        span = pd.Timedelta(days=r.validation_days)
        first = collaborations["posted_at"].min() if len(collaborations) else as_of
        starts = window_starts(first, as_of, r)
        windows, recent = [], None
        for start in tqdm(starts, desc="training windows", disable=not self.progress):
            snap = self._snapshot(merchants, creators, collaborations, start)
            windows.append(
                window_rows(
                    snap, collaborations, start + span, r.negatives_per_positive, rng, r.n_jobs
                )
            )
            if recent is None:  # the newest window's, to validate on
                recent = snap
            # the others go once their rows are drawn: the loop variable would hold one
            # through the next window's build and the fits (three snapshots at once, not two)
            del snap
        if len(windows) < 2:
            raise ValueError(
                "not enough collaboration history to train: need at least two time windows of "
                f"{r.validation_days} days before {as_of.date()}"
            )
        # validate on the most recent window, trained on the older ones
        value, fit, rate = self._fit_models(windows[1:])
        self.validation_ = validation_metrics(value, fit, rate, windows[0])
        if windows[0][1] is not None:
            self.validation_.update(fit_recall(recent, fit, windows[0][1][3], r))
        self.value_model_, self.fit_model_, self.fit_sampling_rate_ = self._fit_models(windows)
        self.value_features_ = list(self.value_model_.feature_names_in_)
        self.fit_features_ = list(self.fit_model_.feature_names_in_)
        self.snapshot_ = self._snapshot(merchants, creators, collaborations, as_of)
        self.window_snapshot_ = recent
        self.as_of_ = as_of
        log.info("trained on %d windows; validation %s", len(windows), self.validation_)
        return self

    def with_data(
        self, merchants: pd.DataFrame, creators: pd.DataFrame, collaborations: pd.DataFrame, as_of
    ) -> MatchRanker:
        """A copy whose profiles and retriever are rebuilt from these tables' history before
        ``as_of`` (the learned models are kept): how a saved model meets new data."""
        check_is_fitted(self, "value_model_")
        return self._scoring_from(self._snapshot(merchants, creators, collaborations, as_of))

    def with_snapshot(self, snapshot: Snapshot) -> MatchRanker:
        """A copy scoring from ``snapshot``, built already (another ranker's ``snapshot_``,
        or :func:`~matching.retrieval.snapshot.build_snapshot` of the tables); the learned
        models are kept."""
        check_is_fitted(self, "value_model_")
        return self._scoring_from(snapshot)

    def at_window(self) -> MatchRanker:
        """A copy scoring from the history before the newest training window (the learned
        models are kept): what ``with_data(..., as_of_ - validation_days)`` on the training
        tables returns, without building it again. Only right after :meth:`fit`."""
        check_is_fitted(self, "value_model_")
        if getattr(self, "window_snapshot_", None) is None:
            raise ValueError("at_window: the window's snapshot is not kept in a saved model")
        return self._scoring_from(self.window_snapshot_)

    def _scoring_from(self, snapshot: Snapshot) -> MatchRanker:
        new = copy.copy(self)
        new._compiled = self.__dict__.setdefault("_compiled", {})  # compiled trees are shared
        new.snapshot_ = snapshot
        return new

    # -- scoring ------------------------------------------------------------------------
    def score_pairs(self, m: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(score, fit)`` of pairs given as merchant and creator row positions."""
        check_is_fitted(self, "value_model_")
        return self._score_columns(np.asarray(m), np.asarray(c))

    def _score_columns(self, m: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(score, fit)`` of pairs, their features gathered as numpy columns."""
        cols = self._pair_columns(m, c)
        return self._value_of(cols, len(m)), self._fit_of(m, c, cols)

    def _pair_columns(
        self, m: np.ndarray, c: np.ndarray, fit: bool = True
    ) -> dict[str, np.ndarray]:
        """The pair columns the value model reads and, with ``fit``, the fit model's too
        (:meth:`Snapshot.pair_columns`)."""
        names = [f for f in self.value_features_ if f not in _VALUE_CONSTANTS]
        return self.snapshot_.pair_columns(m, c, [*names, *(_FIT_PAIR_COLUMNS if fit else ())])

    def _forest(self, which: str, model, X: np.ndarray, build: bool):
        """``model`` compiled to native code (:mod:`matching.ranking.compiled`): compiled once per
        fitted model when ``build`` (a large ranking run), then reused; None to use ``model``."""
        cache = self.__dict__.setdefault("_compiled", {})  # shared by with_data's copies
        if cache.get(which, (None,))[0] is not model and build and len(X):
            cache[which] = (model, compile_forest(model, X, self.ranking.n_jobs))
        held, forest = cache.get(which, (None, None))
        return forest if held is model else None  # a refit model is not the one compiled

    def _value_of(self, cols: dict[str, np.ndarray], n: int, compile: bool = False) -> np.ndarray:
        """The value model on its columns in the order it was fitted on: one float64 matrix
        for HistGradientBoosting (compiled or not), columns of a frame for other models."""
        columns = [
            _VALUE_CONSTANTS[f] if f in _VALUE_CONSTANTS else cols[f] for f in self.value_features_
        ]
        model = self.value_model_
        log_model = getattr(model, "regressor_", None)
        if not compilable(log_model):
            return model.predict(_frame(columns, n, self.value_features_))
        X = _matrix(columns, n)
        forest = self._forest("value", log_model, X, compile)
        if forest is not None:
            return model.from_log(forest.predict(X))
        return model.predict(pd.DataFrame(X, columns=self.value_features_))

    def _fit_of(
        self, m: np.ndarray, c: np.ndarray, cols: dict[str, np.ndarray], compile: bool = False
    ) -> np.ndarray:
        """The fit model on its float32 columns in the order it was fitted on (one matrix for
        HistGradientBoosting)."""
        part = self.snapshot_.partner_columns(m, c, cols)
        columns = [part[name] for name in self.fit_features_]
        model = self.fit_model_
        if not compilable(model):
            p = model.predict_proba(_frame(columns, len(m), self.fit_features_, np.float32))
        else:
            X = _matrix(columns, len(m), np.float32)
            forest = self._forest("fit", model, X, compile)
            if forest is not None:
                p = forest.predict_proba(X)
            else:
                p = model.predict_proba(pd.DataFrame(X, columns=self.fit_features_))
        return sampling_corrected(p[:, 1], self.fit_sampling_rate_)

    def __getstate__(self):
        # A pickled ranker is what was learned: the snapshots are data, rebuilt from the
        # tables (with_data) where the ranker meets them; compiled trees are native
        # libraries of this process, rebuilt where needed.
        drop = ("_compiled", "window_snapshot_", "snapshot_")
        return {k: v for k, v in super().__getstate__().items() if k not in drop}

    def __copy__(self) -> MatchRanker:
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)  # a copy keeps its data; only pickling drops it
        return new

    def __getattr__(self, name: str):
        # reached only when the attribute is missing
        if name == "snapshot_" and "value_model_" in self.__dict__:
            raise AttributeError(
                "this ranker holds what it learned, not its data: give it the tables with "
                "with_data(merchants, creators, collaborations, as_of) first"
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def explain(self, m: np.ndarray, c: np.ndarray, top: int = 8) -> pd.DataFrame:
        """Which features drove each pair's score (:func:`matching.ranking.inspection.explain`)."""
        check_is_fitted(self, "value_model_")
        return inspection.explain(self, m, c, top)

    def value_features(self, m: np.ndarray, c: np.ndarray) -> pd.DataFrame:
        """The value model's input for pairs given as merchant and creator row positions,
        featurised as :meth:`score_pairs` scores them: one short video, the first of the pair."""
        check_is_fitted(self, "value_model_")
        return self._value_input(self.snapshot_.pair_features(np.asarray(m), np.asarray(c)))

    def feature_importance(
        self, m: np.ndarray, c: np.ndarray, *, n_repeats: int = 5, random_state: int = 0
    ) -> pd.DataFrame:
        """Which features the value model relies on for these pairs
        (:func:`matching.ranking.inspection.feature_importance`)."""
        check_is_fitted(self, "value_model_")
        return inspection.feature_importance(
            self, m, c, n_repeats=n_repeats, random_state=random_state
        )

    def _value_input(self, X: pd.DataFrame) -> pd.DataFrame:
        X = X.assign(content_type=float(CONTENT_CODES[SHORT_VIDEO]), log_videos=0.0)
        return X[self.value_features_]

    def predict_value(self, X: pd.DataFrame) -> np.ndarray:
        """Expected GMV of one short video (the first of the pair) for pair features ``X``
        (:meth:`Snapshot.pair_features`)."""
        return self.value_model_.predict(self._value_input(X))

    def _predict_fit(self, X: pd.DataFrame) -> np.ndarray:
        p = self.fit_model_.predict_proba(X[self.fit_features_])[:, 1]
        return sampling_corrected(p, self.fit_sampling_rate_)

    def _rank_block(self, mb, *, k, retrieve, certified, weight, c_ids, c_place, compile):
        """The top ``k`` of the merchant rows ``mb`` (one block of :meth:`recommend`), with
        merchant row positions in ``m``; ``retrieve`` gives their candidates."""
        snap = self.snapshot_
        cand = retrieve(mb)
        valid = cand >= 0
        mm, cc = np.broadcast_to(mb[:, None], cand.shape)[valid], cand[valid]
        cols = self._pair_columns(mm, cc, fit=False)
        score = self._value_of(cols, len(mm), compile)
        cert = certified[mm]
        prio = np.where(cert, score * weight, score)
        # fit only orders pairs of equal priority: it is needed for (and computed on) the
        # pairs whose priority reaches their merchant's k-th best, which hold the top k; the
        # rest rank after them
        grid = np.full(cand.shape, -np.inf)
        grid[valid] = prio
        kth = min(k, cand.shape[1]) - 1
        cut = -np.partition(-grid, kth, axis=1)[:, kth] if kth >= 0 else np.full(len(mb), np.inf)
        need = np.flatnonzero(prio >= np.broadcast_to(cut[:, None], cand.shape)[valid])
        mn, cn = mm[need], cc[need]
        sub = {name: values[need] for name, values in cols.items() if name in _FIT_PAIR_COLUMNS}
        rest = [name for name in _FIT_PAIR_COLUMNS if name not in sub]
        sub.update(snap.pair_columns(mn, cn, rest))
        fit = self._fit_of(mn, cn, sub, compile)
        # rank within merchant by priority; equal value goes to the likelier partner,
        # then creator id for determinism; keep the top k
        order = np.lexsort((c_place[cn], -fit, -prio[need], mn))
        rank = np.arange(len(order)) - np.searchsorted(mn[order], mn[order])
        top = order[rank < k]
        keep = need[top]
        return pd.DataFrame(
            {
                "m": mm[keep],
                "creator_id": c_ids[cc[keep]],
                "score": score[keep],
                "priority_score": prio[keep],
                "certified_super_top": cert[keep],
                "fit": fit[top],
                "rank": rank[rank < k] + 1,
            }
        )

    def recommend(
        self,
        k: int = 100,
        merchants: np.ndarray | None = None,
        certified: np.ndarray | None = None,
        certified_weight: float | None = None,
        block: int | None = None,
        *,
        exclude_seen: bool = False,
        depth: int | None = None,
        skip: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """Top-``k`` creators of each merchant (row positions ``merchants``), contract columns.

        ``certified`` flags each merchant row of the snapshot (default: the table's column, or
        none); ``exclude_seen`` leaves out each merchant's past partners, ``skip`` (a frame of
        ``merchant_id``, ``creator_id``) the pairs ranked before. Merchants are retrieved
        (``depth`` creators each when given, deeper than the candidate pools:
        :meth:`CandidateRetriever.retrieve`) and ranked ``block`` at a time (default:
        :data:`matching.data.memory.RECOMMEND_BLOCK`, at most ``candidates.block_size``), which
        bounds memory, not the result (:func:`matching.data.memory.plan_blocks` sizes it); the
        blocks are :meth:`recommend_blocks`', concatenated.
        """
        frames = list(
            self.recommend_blocks(
                k=k,
                merchants=merchants,
                certified=certified,
                certified_weight=certified_weight,
                block=block,
                exclude_seen=exclude_seen,
                depth=depth,
                skip=skip,
            )
        )
        if not frames:
            empty = pd.DataFrame({c: [] for c in ("m", *MATCHES_COLUMNS) if c != "merchant_id"})
            return self._with_ids(empty, self.snapshot_.ids[0])
        return pd.concat(frames, ignore_index=True)

    def recommend_blocks(
        self,
        k: int = 100,
        merchants: np.ndarray | None = None,
        certified: np.ndarray | None = None,
        certified_weight: float | None = None,
        block: int | None = None,
        *,
        exclude_seen: bool = False,
        depth: int | None = None,
        skip: pd.DataFrame | None = None,
    ) -> Iterator[pd.DataFrame]:
        """:meth:`recommend`, one block of merchants at a time, in order: each frame holds
        every row of its merchants, so a caller can write the blocks as they come and hold
        only one (and the few ranked ahead on threads)."""
        check_is_fitted(self, "value_model_")
        snap = self.snapshot_
        if block is None:
            block = min(RECOMMEND_BLOCK, self.candidates.block_size)
        m_all = np.arange(len(snap.merchants)) if merchants is None else np.asarray(merchants)
        if certified is None:
            col = snap.merchants.get("certified_super_top")
            certified = np.zeros(len(snap.merchants), bool) if col is None else col.to_numpy(bool)
        weight = self.ranking.certified_weight if certified_weight is None else certified_weight
        m_ids, c_ids, c_place = snap.ids  # ties go to the smaller creator id: c_place
        # compiling pays for itself on a run of this many pairs (ranking.compile_min_pairs)
        limit = self.ranking.compile_min_pairs
        width = min(self.candidates.top_n + self.candidates.partner_top_n, len(c_ids))
        compile = limit is not None and len(m_all) * width >= limit
        rank = partial(
            self._rank_block,
            k=k,
            retrieve=partial(
                snap.retriever.retrieve,
                block_size=block,
                exclude_seen=exclude_seen,
                depth=depth,
                skip=None if skip is None else snap.marks(skip),
            ),
            certified=certified,
            weight=weight,
            c_ids=c_ids,
            c_place=c_place,
            compile=compile,
        )
        blocks = [m_all[s : s + block] for s in range(0, len(m_all), block)]
        bar = tqdm(
            total=len(m_all), desc="ranking merchants", unit="merchant", disable=not self.progress
        )
        # side by side only with the approximate search: the dense search's blocks are
        # sized to fit in memory one at a time
        ranked = in_order(
            rank,
            blocks,
            self.ranking.n_jobs,
            side_by_side=approximate(snap.retriever, len(c_ids)),
        )
        try:
            for mb, frame in zip(blocks, ranked, strict=True):
                bar.update(len(mb))
                yield self._with_ids(frame, m_ids)
        finally:
            ranked.close()
            bar.close()

    @staticmethod
    def _with_ids(frame: pd.DataFrame, m_ids) -> pd.DataFrame:
        """A ranked block's merchant row positions ``m`` as ``merchant_id``; contract columns."""
        frame.insert(0, "merchant_id", m_ids[frame.pop("m").to_numpy(int)])
        return frame[list(MATCHES_COLUMNS)]


def pair_positions(ranker: MatchRanker, merchant_ids, creator_ids) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of ids in the ranker's snapshot; unknown ids are an error."""
    return ranker.snapshot_.positions(merchant_ids, creator_ids)
