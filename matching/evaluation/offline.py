"""Offline evaluation against a ground truth, with baselines, segments and the price of priority.

Rankings are scored over ALL creators: a recommended list's true gains are
divided by the best achievable list over the whole catalogue, so creators the
retriever missed count against the model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from matching import metrics
from matching.allocation.flow import allocate
from matching.allocation.problem import AllocationProblem
from matching.data.contract import default_as_of, is_in, known_creators, row_positions
from matching.data.truth import GroundTruth
from matching.ranking.baselines import (
    CategoryGMVLeadersRanker,
    CategoryPopularityRanker,
    PopularityRanker,
    RandomRanker,
    ReachRanker,
)
from matching.ranking.ranker import Ranker

# the baselines, and stronger heuristics reported beside them
BASELINES = ("random", "popularity", "same_category_popularity")
HEURISTICS = ("reach", "category_gmv_leaders")
REFERENCE_RANKERS = {
    "random": RandomRanker,
    "popularity": PopularityRanker,
    "same_category_popularity": CategoryPopularityRanker,
    "reach": ReachRanker,
    "category_gmv_leaders": CategoryGMVLeadersRanker,
}


def ranked_rows(rec: pd.DataFrame, merchant_ids, creator_ids, k: int) -> np.ndarray:
    """A ``recommend`` table as creator positions in ``creator_ids`` per merchant of
    ``merchant_ids``, best first by ``rank``, padded with -1 (unknown ids are an error)."""
    m = row_positions(rec["merchant_id"], merchant_ids)
    c = row_positions(rec["creator_id"], creator_ids)
    if (m < 0).any() or (c < 0).any():
        raise ValueError("the recommendations name merchants or creators unknown to the truth")
    order = np.lexsort((rec["rank"].to_numpy(), m))
    m, c = m[order], c[order]
    pos = np.arange(len(m)) - np.searchsorted(m, m)
    out = np.full((len(merchant_ids), k), -1, dtype=np.int64)
    keep = pos < k
    out[m[keep], pos[keep]] = c[keep]
    return out


def segments(
    merchants: pd.DataFrame, collaborations: pd.DataFrame, as_of=None
) -> dict[str, np.ndarray]:
    """Merchant masks (rows of ``merchants``): all, cold-start (no collaboration before
    ``as_of``), certified."""
    h = collaborations
    if as_of is not None:
        h = h[h["posted_at"] < pd.Timestamp(as_of)]
    cert = merchants.get("certified_super_top")
    return {
        "all": np.ones(len(merchants), bool),
        "cold_start": ~is_in(merchants["merchant_id"], h["merchant_id"]),
        "certified": np.zeros(len(merchants), bool) if cert is None else cert.to_numpy(bool),
    }


def _chosen(n: int, sample: np.ndarray | None) -> np.ndarray:
    """A mask of the ``n`` merchants: those of ``sample`` (row positions), or all."""
    mask = np.ones(n, bool) if sample is None else np.zeros(n, bool)
    if sample is not None:
        mask[np.asarray(sample, dtype=np.int64)] = True
    return mask


N_TRUE = 50
"""How many true top creators per merchant :func:`evaluate` measures candidate recall of."""
K = 10
"""The list length :func:`evaluate` scores."""
SWEEP_CANDIDATES = 50
"""Each merchant's best creators :func:`priority_tradeoff` shares slots out among."""


def model_recommendations(
    ranker: Ranker, n_candidates: int | None = None, sample: np.ndarray | None = None
) -> pd.DataFrame:
    """The ranker's lists for the merchants of ``sample`` (row positions; default all), long
    enough for :func:`evaluate` (with ``n_candidates``) and :func:`priority_tradeoff` at
    their defaults: one ranking pass serves both (``recommendations=``)."""
    k = max(K, n_candidates or 0, SWEEP_CANDIDATES)
    return ranker.recommend(k=k, merchants=sample, certified_weight=1.0)


def _top_ranks(rec: pd.DataFrame, k: int) -> pd.DataFrame:
    return rec[rec["rank"].to_numpy() <= k]


def _true_top(
    truth: GroundTruth,
    mrow: np.ndarray,
    chosen: np.ndarray,
    k: int,
    n_jobs: int = 1,
    known: np.ndarray | None = None,
):
    """``truth.top_creators`` of the chosen merchants only (a pass over every creator each,
    ``n_jobs`` blocks of them side by side), among the ``known`` creators (truth rows) when
    given; the others' rows are -1 and 0."""
    k = min(k, truth.n_creators)
    top, val = np.full((len(mrow), k), -1, dtype=np.int64), np.zeros((len(mrow), k))
    top[chosen], val[chosen] = truth.top_creators(mrow[chosen], k, n_jobs=n_jobs, known=known)
    return top, val


def _catalogue(truth: GroundTruth, creators: pd.DataFrame, as_of) -> np.ndarray:
    """Per truth creator row, whether it is in the catalogue as of ``as_of``
    (:func:`matching.data.contract.known_creators`): who can be listed, and so be best."""
    known = np.zeros(truth.n_creators, dtype=bool)
    known[row_positions(creators["creator_id"], truth.creator_id)] = known_creators(creators, as_of)
    return known


def true_tops(
    truth: GroundTruth,
    merchants: pd.DataFrame,
    k: int = N_TRUE,
    sample: np.ndarray | None = None,
    n_jobs: int = 1,
    *,
    creators: pd.DataFrame | None = None,
    as_of=None,
) -> tuple[np.ndarray, np.ndarray]:
    """The truly best ``k`` creators (truth rows) and their values for each merchant row of
    ``sample`` (default all; the other rows -1 and 0): a pass over every creator for each
    merchant (on ``n_jobs`` threads), so :func:`evaluate` and :func:`priority_tradeoff` can
    share one (``tops=``). With ``creators`` and ``as_of``, among the creators in the
    catalogue as of that date only (those who join later cannot be listed yet)."""
    mrow = row_positions(merchants["merchant_id"], truth.merchant_id)
    known = None if creators is None else _catalogue(truth, creators, as_of)
    return _true_top(truth, mrow, _chosen(len(merchants), sample), k, n_jobs, known)


def evaluate(
    ranker: Ranker,
    truth: GroundTruth,
    merchants: pd.DataFrame,
    creators: pd.DataFrame,
    collaborations: pd.DataFrame,
    *,
    as_of=None,
    k: int = K,
    n_true: int = N_TRUE,
    n_candidates: int | None = None,
    random_state: int = 0,
    sample: np.ndarray | None = None,
    tops: tuple[np.ndarray, np.ndarray] | None = None,
    recommendations: pd.DataFrame | None = None,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """NDCG@k, recall@k, MAP@k and coverage of a fitted ranker and the reference rankers
    (fitted here on the same tables before ``as_of``, ranking ``n_jobs`` blocks of merchants
    side by side), per segment, from what each one's ``recommend`` returns.

    With ``n_candidates``, also the recall of the true top-``n_true`` in the ranker's top
    ``n_candidates`` (row ``method == "candidates"``; for :class:`MatchRanker` with
    ``candidates.top_n``, its retrieval). ``sample``: row positions of the merchants
    evaluated (default all; the ``merchants`` column counts those evaluated). ``tops``:
    :func:`true_tops` of the same merchants and sample, at least ``max(k, n_true)`` long.
    ``recommendations``: the ranker's lists for the sample at certified weight 1, at least
    ``max(k, n_candidates)`` long (:func:`model_recommendations`), when ranked already.

    The catalogue is that of ``as_of`` (default: the day after the last collaboration, as
    the rankers'): a creator who joins later is in no ideal list, and listing one gains
    nothing (``tops`` should be :func:`true_tops` with the same ``creators`` and ``as_of``).
    """
    mrow = row_positions(merchants["merchant_id"], truth.merchant_id)
    crow = row_positions(creators["creator_id"], truth.creator_id)
    if (mrow < 0).any() or (crow < 0).any():
        raise ValueError("the merchants and creators are not those of this ground truth")
    chosen = _chosen(len(merchants), sample)
    want = min(max(k, n_true), truth.n_creators)
    day = as_of if as_of is not None else default_as_of(collaborations)
    known = _catalogue(truth, creators, day)
    true_top, true_val = (
        tops if tops is not None else _true_top(truth, mrow, chosen, want, known=known)
    )
    if true_top.shape[1] < want:
        raise ValueError(f"tops: {true_top.shape[1]} true top creators given, {want} needed")
    true_top, true_val = true_top[:, :want], true_val[:, :want]
    to_row = np.full(len(truth.creator_id), -1, dtype=np.int64)
    to_row[crow] = np.arange(len(crow))
    true_top = np.where(true_top >= 0, to_row[true_top], -1)
    m_ids = merchants["merchant_id"].to_numpy(dtype=object)
    c_ids = creators["creator_id"].to_numpy(dtype=object)
    width = max(k, n_candidates or 0)
    if recommendations is None:
        recommendations = ranker.recommend(k=width, merchants=sample, certified_weight=1.0)
    model = ranked_rows(_top_ranks(recommendations, width), m_ids, c_ids, width)
    lists = {"model": model[:, :k]}
    for name, cls in REFERENCE_RANKERS.items():
        ref = cls(random_state=random_state) if name == "random" else cls()
        ref.fit(merchants, creators, collaborations, as_of=as_of)
        found = ref.recommend(k=k, merchants=sample, n_jobs=n_jobs)
        lists[name] = ranked_rows(found, m_ids, c_ids, k)
    segs = {seg: mask & chosen for seg, mask in segments(merchants, collaborations, as_of).items()}
    rows = []
    for name, ranked in lists.items():
        safe = np.where(ranked >= 0, ranked, 0)
        listed = (ranked >= 0) & known[crow[safe]]
        gains = np.where(listed, truth.value(mrow[:, None], crow[safe]), 0.0)
        ndcg = metrics.ndcg_at_k(gains, true_val, k)
        rec = metrics.recall_at_k(ranked, true_top[:, :k], k)
        ap = metrics.average_precision_at_k(ranked, true_top[:, :k], k)
        for seg, mask in segs.items():
            if mask.any():
                rows.append(
                    {
                        "method": name,
                        "segment": seg,
                        "merchants": int(mask.sum()),
                        f"ndcg@{k}": float(np.nanmean(ndcg[mask])),
                        f"recall@{k}": float(np.nanmean(rec[mask])),
                        f"map@{k}": float(np.nanmean(ap[mask])),
                        "coverage": metrics.catalogue_coverage(ranked[mask], len(crow)),
                    }
                )
    if n_candidates:
        crec = metrics.recall_at_k(model, true_top[:, :n_true], n_candidates)
        for seg, mask in segs.items():
            if mask.any():
                rows.append(
                    {
                        "method": "candidates",
                        "segment": seg,
                        "merchants": int(mask.sum()),
                        f"recall@{n_candidates}_of_true_top{n_true}": float(np.nanmean(crec[mask])),
                    }
                )
    return pd.DataFrame(rows)


def lift_over_baselines(report: pd.DataFrame, k: int = 10) -> pd.DataFrame:
    """Per segment: the model's NDCG@k against the best baseline and the best heuristic."""
    col = f"ndcg@{k}"
    piv = report[report["method"] != "candidates"].pivot(
        index="segment", columns="method", values=col
    )
    base, heur = piv[list(BASELINES)], piv[list(BASELINES + HEURISTICS)]
    return pd.DataFrame(
        {
            "model": piv["model"],
            "best_baseline": base.max(axis=1),
            "best_baseline_name": base.idxmax(axis=1),
            "lift": piv["model"] / base.max(axis=1),
            "best_heuristic": heur.max(axis=1),
            "best_heuristic_name": heur.idxmax(axis=1),
            "lift_over_heuristic": piv["model"] / heur.max(axis=1),
        }
    )


def priority_tradeoff(
    ranker: Ranker,
    truth: GroundTruth,
    weights,
    merchants: pd.DataFrame,
    creators: pd.DataFrame,
    slots: int = K,
    candidates: int = SWEEP_CANDIDATES,
    top_creator_share: float = 0.05,
    sample: np.ndarray | None = None,
    tops: tuple[np.ndarray, np.ndarray] | None = None,
    recommendations: pd.DataFrame | None = None,
    as_of=None,
) -> pd.DataFrame:
    """The price of priority: for each certified weight, creators' weekly slots are given out
    optimally by ``priority_score`` (each merchant wants ``slots`` creators, each creator has
    its weekly capacity); then per weight: NDCG@slots of non-certified merchants, certified
    sellers' share of the top creators' slots (by reach), and the total true GMV of the
    assignment. Reads only the ranker's ``recommend``.

    ``sample``: row positions of the merchants taking part (default all); each creator's
    capacity is then scaled to the sample's share of the merchants (rounded up), so slots
    stay as scarce as in the whole market. ``tops``: :func:`true_tops` of the same
    merchants and sample, at least ``slots`` long. ``recommendations``: the ranker's lists
    for the sample at certified weight 1, at least ``candidates`` long
    (:func:`model_recommendations`), when ranked already. With ``as_of``, the catalogue is
    that of the date, as in :func:`evaluate`.
    """
    m_ids = merchants["merchant_id"].to_numpy(dtype=object)
    c_ids = creators["creator_id"].to_numpy(dtype=object)
    mrow = row_positions(m_ids, truth.merchant_id)
    crow = row_positions(c_ids, truth.creator_id)
    col = merchants.get("certified_super_top")
    cert = np.zeros(len(merchants), bool) if col is None else col.to_numpy(bool)
    if recommendations is None:
        recommendations = ranker.recommend(k=candidates, merchants=sample, certified_weight=1.0)
    rec = _top_ranks(recommendations, candidates)
    m = row_positions(rec["merchant_id"], m_ids)
    c = row_positions(rec["creator_id"], c_ids)
    score = rec["score"].to_numpy()
    capacity = creators["weekly_video_capacity"].to_numpy(np.int64)
    chosen = _chosen(len(merchants), sample)
    if sample is not None:
        share = chosen.sum() / max(len(merchants), 1)
        capacity = np.ceil(capacity * share).astype(np.int64)
    reach = creators["avg_views"].to_numpy(float)
    top = reach >= np.quantile(reach, 1 - top_creator_share)
    want = min(slots, truth.n_creators)
    known = None if as_of is None else _catalogue(truth, creators, as_of)
    _, ideal = tops if tops is not None else _true_top(truth, mrow, chosen, want, known=known)
    if ideal.shape[1] < want:
        raise ValueError(f"tops: {ideal.shape[1]} true top creators given, {want} needed")
    ideal = ideal[:, :want]
    true_v = truth.value(mrow[m], crow[c])
    if known is not None:  # a creator yet to join makes nothing
        true_v = np.where(known[crow[c]], true_v, 0.0)
    rows = []
    for w in weights:
        prio = np.where(cert[m], score * w, score)
        prob = AllocationProblem(
            seller=m,
            creator=c,
            value=np.clip(prio, 0, None),
            quota=np.full(len(merchants), slots),
            capacity=capacity,
            pair_cap=np.ones(len(m), np.int64),
            decay=1.0,
            segments=(1,),
        )
        got = allocate(prob).videos > 0
        # each merchant's assigned creators in model order, as a ranked list
        ranked_gain = np.zeros((len(merchants), slots))
        order = np.lexsort((-score[got], m[got]))
        mg, vg = m[got][order], true_v[got][order]
        pos = np.arange(len(mg)) - np.searchsorted(mg, mg)
        ranked_gain[mg, pos] = vg
        ndcg = metrics.ndcg_at_k(ranked_gain, ideal, slots)
        top_slots = got & top[c]
        rows.append(
            {
                "certified_weight": float(w),
                "ndcg_non_certified": float(np.nanmean(ndcg[~cert & chosen])),
                "ndcg_certified": float(np.nanmean(ndcg[cert & chosen]))
                if (cert & chosen).any()
                else float("nan"),
                "certified_share_of_top_slots": float(cert[m[top_slots]].mean())
                if top_slots.any()
                else 0.0,
                "total_true_gmv": float(true_v[got].sum()),
            }
        )
    return pd.DataFrame(rows)
