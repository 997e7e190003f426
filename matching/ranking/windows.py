"""The ranker's training windows: the rows each window gives the two models (every chosen
pair and sampled unchosen candidates), and the held-out metrics of the newest window."""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd

from matching.config import RankingConfig
from matching.data.contract import CONTENT_TYPES, row_positions
from matching.data.memory import SAMPLE_BLOCK, approximate
from matching.retrieval.snapshot import Snapshot
from matching.threads import in_order

CONTENT_CODES = {name: code for code, name in enumerate(CONTENT_TYPES)}
"""The contract's content types as the models' integer codes."""
KEY_MERCHANTS = 1 << 10
"""Merchants of a sampling block whose negatives are ordered by one exact integer key (the
merchant above the 53 bits of its random double, in an int64); above, by ``np.lexsort``."""


def window_rows(
    snap: Snapshot,
    history: pd.DataFrame,
    end: pd.Timestamp,
    neg_per_pos: int,
    rng: np.random.Generator,
    n_jobs: int = 1,
):
    """Value rows (observed collaborations) and fit rows (chosen vs sampled candidates)."""
    w = history[(history["posted_at"] >= snap.as_of) & (history["posted_at"] < end)]
    mi = row_positions(w["merchant_id"], snap.merchants["merchant_id"])
    ci = row_positions(w["creator_id"], snap.creators["creator_id"])
    ok = (mi >= 0) & (ci >= 0)
    w, mi, ci = w[ok], mi[ok], ci[ok]
    value = None
    if len(w):
        Xv = snap.pair_features(mi, ci)
        Xv["content_type"] = w["content_type"].map(CONTENT_CODES).to_numpy(float)
        Xv["log_videos"] = np.log(w["videos"].to_numpy(float))
        videos = w["videos"].to_numpy(float)
        value = (
            Xv,
            w["gmv_usd"].to_numpy(float) / videos,
            videos,
            snap.partner_features(mi, ci, Xv),
        )
    # fit rows: chosen pairs against unchosen candidates of the same merchants, grouped by
    # merchant (a listwise model ranks each group), up to neg_per_pos negatives per positive
    n_c = len(snap.creators)
    pos_key = np.unique(mi.astype(np.int64) * n_c + ci)
    pm = np.unique(mi)
    fit = None
    if len(pm):
        # the merchants' candidates a block at a time (side by side on threads), sampled in
        # order: each negative's random key is its place in one stream, so the draws depend
        # on neither the blocks nor the threads; only the sampled rows are kept
        blocks = [pm[s : s + SAMPLE_BLOCK] for s in range(0, len(pm), SAMPLE_BLOCK)]
        cands = in_order(
            snap.retriever.retrieve,
            blocks,
            n_jobs,
            side_by_side=approximate(snap.retriever, n_c),
        )
        drawn = [
            _sample_block(snap, b, cand, pos_key, neg_per_pos, rng)
            for b, cand in zip(blocks, cands, strict=True)
        ]
        keys = np.concatenate([d[0] for d in drawn])
        y = np.concatenate([d[1] for d in drawn])
        by = np.lexsort((keys, keys // n_c))
        keys, y = keys[by], y[by]
        Xf = snap.partner_features(keys // n_c, keys % n_c)
        rate = int((y == 0).sum()) / max(sum(d[2] for d in drawn), 1)
        fit = (Xf, y, rate, pos_key, np.unique(keys // n_c, return_counts=True)[1])
    return value, fit


def _sample_block(
    snap: Snapshot, pm, cand: np.ndarray, pos_key, neg_per_pos: int, rng: np.random.Generator
):
    """The fit rows of merchants ``pm`` (sorted) of candidates ``cand``: every chosen
    candidate and up to ``neg_per_pos`` unchosen ones per chosen one, drawn at random;
    ``(keys, y, unchosen)``, keys ``merchant * n_creators + creator``, ``unchosen`` the
    candidates drawn from."""
    n_c = len(snap.creators)
    ck = (pm[:, None].astype(np.int64) * n_c + cand)[cand >= 0]
    # the chosen pairs of these merchants only (sorted keys, merchant first): tested against
    # all of the window's, np.isin sorted every one of them again for each block
    lo, hi = np.searchsorted(pos_key, np.array([pm[0], pm[-1] + 1], dtype=np.int64) * n_c)
    pos_key = pos_key[lo:hi]
    # the rows are the merchant's candidates, as fit will rank them: a partner the
    # retriever missed is not a row (as a positive with features unlike any candidate's,
    # it would teach that being retrieved means not being chosen)
    at = np.searchsorted(pos_key, ck)  # pos_key is sorted: no sort of the candidates (np.isin)
    chosen = (
        pos_key[np.minimum(at, len(pos_key) - 1)] == ck if len(pos_key) else np.zeros(len(ck), bool)
    )
    pos, neg = ck[chosen], ck[~chosen]
    quota = neg_per_pos * np.bincount(np.searchsorted(pm, pos // n_c), minlength=len(pm))
    group = np.searchsorted(pm, neg // n_c)
    r = rng.random(len(neg))  # multiples of 2**-53
    if len(pm) <= KEY_MERCHANTS:  # by merchant, then r: np.lexsort's order, 4x faster
        order = np.argsort(group << 53 | (r * 2.0**53).astype(np.int64), kind="stable")
    else:
        order = np.lexsort((r, group))
    place = np.arange(len(order)) - np.searchsorted(group[order], group[order])
    take = np.sort(order[place < quota[group[order]]])
    keys = np.concatenate([pos, neg[take]])
    return keys, np.r_[np.ones(len(pos)), np.zeros(len(take))], len(neg)


def window_starts(
    first: pd.Timestamp, as_of: pd.Timestamp, ranking: RankingConfig
) -> list[pd.Timestamp]:
    """Starts of the rolling training windows, newest first: up to ``n_windows`` windows of
    ``validation_days`` ending at ``as_of``, each starting after the first collaboration."""
    span = pd.Timedelta(days=ranking.validation_days)
    return [as_of - span * j for j in range(1, ranking.n_windows + 1) if as_of - span * j > first]


def fit_recall(
    snap: Snapshot, fit_model, pos_key: np.ndarray, ranking: RankingConfig, k: int = 10
) -> dict[str, float]:
    """Held-out: how well ranking each merchant's candidates by ``fit`` finds the creators it
    actually chose next, against ranking all creators by past popularity (GMV). Measured on a
    fixed sample of ``ranking.evaluation_merchants`` of the window's merchants when there are
    more (``val_fit_recall_merchants`` says how many), as ``train``'s evaluation is."""
    from matching import metrics

    n_c = len(snap.creators)
    out = {}
    qm = np.unique(pos_key // n_c)
    cap = ranking.evaluation_merchants
    if cap is not None and len(qm) > cap:
        rng = np.random.default_rng(ranking.random_state)
        pos_key = pos_key[np.isin(pos_key // n_c, rng.choice(qm, cap, replace=False))]
        out["val_fit_recall_merchants"] = float(cap)
    qm, start = np.unique(pos_key // n_c, return_index=True)
    counts = np.diff(np.r_[start, len(pos_key)])
    relevant = np.full((len(qm), counts.max()), -1, dtype=np.int64)
    relevant[
        np.repeat(np.arange(len(qm)), counts), np.arange(len(pos_key)) - np.repeat(start, counts)
    ] = pos_key % n_c
    blocks = [qm[s : s + SAMPLE_BLOCK] for s in range(0, len(qm), SAMPLE_BLOCK)]
    by_fit = np.concatenate(
        list(
            in_order(
                partial(_top_by_fit, snap, fit_model, k=k),
                blocks,
                ranking.n_jobs,
                side_by_side=approximate(snap.retriever, n_c),
            )
        )
    )
    cp = snap.creator_profiler
    popular = np.lexsort(
        (-cp.category_gmv_.sum(1), -cp.category_collabs_.sum(1))
    )  # most collaborations
    by_pop = np.tile(popular[:k], (len(qm), 1))
    return out | {
        f"val_fit_recall@{k}": float(np.nanmean(metrics.recall_at_k(by_fit, relevant, k))),
        f"val_popularity_recall@{k}": float(np.nanmean(metrics.recall_at_k(by_pop, relevant, k))),
        f"val_fit_hit_rate@{k}": float(np.nanmean(metrics.hit_rate_at_k(by_fit, relevant, k))),
        f"val_popularity_hit_rate@{k}": float(
            np.nanmean(metrics.hit_rate_at_k(by_pop, relevant, k))
        ),
    }


def _top_by_fit(snap: Snapshot, fit_model, qm: np.ndarray, *, k: int) -> np.ndarray:
    """Each merchant's ``k`` candidates ranked first by ``fit_model``."""
    cand = snap.retriever.retrieve(qm)
    X = snap.partner_features(np.repeat(qm, cand.shape[1]), np.clip(cand, 0, None).ravel())
    p = fit_model.predict_proba(X[fit_model.feature_names_in_])[:, 1].reshape(cand.shape)
    p = np.where(cand >= 0, p, -np.inf)  # padding (duplicates of the two pools) last
    return np.take_along_axis(cand, np.argsort(-p, axis=1, kind="stable")[:, :k], 1)


def validation_metrics(value, fit, rate, window) -> dict[str, float]:
    """Held-out metrics on the most recent window."""
    from scipy.stats import spearmanr
    from sklearn.metrics import mean_poisson_deviance, roc_auc_score

    out: dict[str, float] = {}
    v, f = window
    if v is not None and len(v[1]) > 2 and np.ptp(v[1]) > 0:
        pred = value.predict(v[0][value.feature_names_in_])
        out["val_value_spearman"] = float(spearmanr(pred, v[1]).statistic)
        out["val_value_poisson_deviance"] = float(
            mean_poisson_deviance(v[1], np.clip(pred, 1e-9, None), sample_weight=v[2])
        )
    if f is not None and len(np.unique(f[1])) == 2:
        out["val_fit_auc"] = float(
            roc_auc_score(f[1], fit.predict_proba(f[0][fit.feature_names_in_])[:, 1])
        )
    return out
