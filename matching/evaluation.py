"""Offline evaluation against a ground truth, with baselines, segments and the price of priority.

Rankings are scored over ALL creators: a recommended list's true gains are
divided by the best achievable list over the whole catalogue, so creators the
retriever missed count against the model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from matching import metrics
from matching.allocation import AllocationProblem, allocate
from matching.contract import row_positions
from matching.ranking import MatchRanker, pair_positions
from matching.simulate import GroundTruth

# the baselines, and stronger heuristics reported beside them
BASELINES = ("random", "popularity", "same_category_popularity")
HEURISTICS = ("reach", "category_gmv_leaders")


def _rows(ranker: MatchRanker, truth: GroundTruth) -> tuple[np.ndarray, np.ndarray]:
    """Truth row of each snapshot merchant and creator (the same tables in the same order)."""
    snap = ranker.snapshot_
    m = row_positions(snap.merchants["merchant_id"], truth.merchant_id)
    c = row_positions(snap.creators["creator_id"], truth.creator_id)
    if (m < 0).any() or (c < 0).any():
        raise ValueError("the model's merchants and creators are not those of this ground truth")
    return m, c


def baseline_rankings(ranker: MatchRanker, k: int, random_state: int = 0) -> dict[str, np.ndarray]:
    """Top-``k`` creator rows per merchant for the baselines and heuristics, from the same history.

    random; popularity (most past collaborations, then followers); same-category
    popularity (the same, among creators of the merchant's primary category, then
    the rest); reach (average views); category GMV leaders (past GMV made in the
    merchant's category, then reach).
    """
    snap = ranker.snapshot_
    n_m, n_c = len(snap.merchants), len(snap.creators)
    rng = np.random.default_rng(random_state)
    out = {"random": np.argsort(rng.random((n_m, n_c)), axis=1)[:, :k]}
    reach = snap.C["log_views"].to_numpy()
    collabs = snap.C["log_collabs"].to_numpy()
    followers = snap.C["log_followers"].to_numpy()
    popular = np.lexsort((np.arange(n_c), -followers, -collabs))
    out["popularity"] = np.tile(popular[:k], (n_m, 1))
    out["reach"] = np.tile(np.lexsort((np.arange(n_c), -reach))[:k], (n_m, 1))
    cat_gmv = snap.creator_profiler.category_gmv_
    mcat, ccat = snap.M["category"].to_numpy(), snap.C["category"].to_numpy()
    same = np.empty((n_m, k), dtype=np.int64)
    leaders = np.empty((n_m, k), dtype=np.int64)
    for cat in np.unique(mcat):
        rows = mcat == cat
        in_cat = ccat[popular] == cat
        same[rows] = np.concatenate([popular[in_cat], popular[~in_cat]])[:k]
        there = cat_gmv[:, cat] if cat >= 0 else cat_gmv.sum(1)
        leaders[rows] = np.lexsort((np.arange(n_c), -reach, -there))[:k]
    out["same_category_popularity"] = same
    out["category_gmv_leaders"] = leaders
    return out


def model_rankings(ranker: MatchRanker, k: int) -> np.ndarray:
    """The model's top-``k`` creator rows per merchant (no certified weight: pure value)."""
    snap = ranker.snapshot_
    rec = ranker.recommend(k=k, certified_weight=1.0)
    ranked = np.full((len(snap.merchants), k), -1, dtype=np.int64)
    m, c = pair_positions(ranker, rec["merchant_id"], rec["creator_id"])
    ranked[m, rec["rank"].to_numpy() - 1] = c
    return ranked


def segments(ranker: MatchRanker) -> dict[str, np.ndarray]:
    """Merchant masks: all, cold-start (no history before as-of), certified."""
    snap = ranker.snapshot_
    cert = snap.merchants.get("certified_super_top")
    return {
        "all": np.ones(len(snap.merchants), bool),
        "cold_start": (snap.M["log_collabs"] == 0).to_numpy(),
        "certified": np.zeros(len(snap.merchants), bool) if cert is None else cert.to_numpy(bool),
    }


def evaluate(
    ranker: MatchRanker, truth: GroundTruth, k: int = 10, n_true: int = 50
) -> pd.DataFrame:
    """NDCG@k, recall@k, MAP@k and coverage of the model and the baselines, per segment.

    Also the candidate recall@N of the true top-``n_true`` (row ``method == "candidates"``).
    """
    mrow, crow = _rows(ranker, truth)
    true_top, true_val = truth.top_creators(mrow, max(k, n_true))
    # truth indexes -> snapshot creator rows
    to_snap = np.full(len(truth.creator_id), -1, dtype=np.int64)
    to_snap[crow] = np.arange(len(crow))
    true_top = to_snap[true_top]
    lists = {"model": model_rankings(ranker, k), **baseline_rankings(ranker, k)}
    segs = segments(ranker)
    rows = []
    for name, ranked in lists.items():
        safe = np.where(ranked >= 0, ranked, 0)
        gains = np.where(ranked >= 0, truth.value(mrow[:, None], crow[safe]), 0.0)
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
    cand, _ = ranker.snapshot_.retriever.retrieve()
    crec = metrics.recall_at_k(cand, true_top[:, :n_true], cand.shape[1])
    for seg, mask in segs.items():
        if mask.any():
            rows.append(
                {
                    "method": "candidates",
                    "segment": seg,
                    "merchants": int(mask.sum()),
                    f"recall@{cand.shape[1]}_of_true_top{n_true}": float(np.nanmean(crec[mask])),
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
    ranker: MatchRanker,
    truth: GroundTruth,
    weights,
    slots: int = 10,
    candidates: int = 50,
    top_creator_share: float = 0.05,
) -> pd.DataFrame:
    """The price of priority: for each certified weight, creators' weekly slots are given out
    optimally by ``priority_score`` (each merchant wants ``slots`` creators, each creator has
    its weekly capacity); then per weight: NDCG@slots of non-certified merchants, certified
    sellers' share of the top creators' slots, and the total true GMV of the assignment.
    """
    snap = ranker.snapshot_
    mrow, crow = _rows(ranker, truth)
    segs = segments(ranker)
    cert = segs["certified"]
    rec = ranker.recommend(k=candidates, certified_weight=1.0)
    m, c = pair_positions(ranker, rec["merchant_id"], rec["creator_id"])
    score = rec["score"].to_numpy()
    capacity = snap.creators["weekly_video_capacity"].to_numpy(np.int64)
    reach = snap.C["log_views"].to_numpy()
    top = reach >= np.quantile(reach, 1 - top_creator_share)
    _, ideal = truth.top_creators(mrow, slots)
    true_v = truth.value(mrow[m], crow[c])
    rows = []
    for w in weights:
        prio = np.where(cert[m], score * w, score)
        prob = AllocationProblem(
            seller=m,
            creator=c,
            value=np.clip(prio, 0, None),
            quota=np.full(len(snap.merchants), slots),
            capacity=capacity,
            pair_cap=np.ones(len(m), np.int64),
            decay=1.0,
            segments=(1,),
        )
        got = allocate(prob).videos > 0
        # each merchant's assigned creators in model order, as a ranked list
        ranked_gain = np.zeros((len(snap.merchants), slots))
        order = np.lexsort((-score[got], m[got]))
        mg, vg = m[got][order], true_v[got][order]
        pos = np.arange(len(mg)) - np.searchsorted(mg, mg)
        ranked_gain[mg, pos] = vg
        ndcg = metrics.ndcg_at_k(ranked_gain, ideal, slots)
        top_slots = got & top[c]
        rows.append(
            {
                "certified_weight": float(w),
                "ndcg_non_certified": float(np.nanmean(ndcg[~cert])),
                "ndcg_certified": float(np.nanmean(ndcg[cert])) if cert.any() else float("nan"),
                "certified_share_of_top_slots": float(cert[m[top_slots]].mean())
                if top_slots.any()
                else 0.0,
                "total_true_gmv": float(true_v[got].sum()),
            }
        )
    return pd.DataFrame(rows)
