import copy

import numpy as np
import pytest

from matching import ann, metrics
from matching.evaluation import ranked_rows


def test_content_vectors_give_the_dense_content_score(trained):
    """The content model expanded into one inner product scores as the dense terms do."""
    ret = trained.snapshot_.retriever
    Q, P = ann.source_vectors(ret, "content")
    m = np.arange(len(ret.m_cat_))[:, None]
    c = np.arange(len(ret.c_cat_))[None, :]
    np.testing.assert_allclose(Q @ P.T, ret.source_scores(m, c)["content"], atol=1e-9)
    for name in ("collaborative", "als"):
        Q, P = ann.source_vectors(ret, name)
        np.testing.assert_allclose(Q @ P.T, ret.source_scores(m, c)[name], atol=1e-9)


def _approximate(ranker):
    pytest.importorskip("faiss")
    new = copy.copy(ranker)
    ret = copy.copy(ranker.snapshot_.retriever)
    ret.search = "ann"
    new.snapshot_ = copy.copy(ranker.snapshot_)
    object.__setattr__(new.snapshot_, "retriever", ret)
    return new


@pytest.mark.parametrize("exclude_seen", [False, True])
def test_approximate_retrieval_ranks_as_well_as_exact(trained, small_market, exclude_seen):
    """NDCG@10 against the ground truth of the approximate path is within 0.005 of the
    exact one's, and its candidates are mostly the same."""
    truth = small_market.truth
    m_ids = small_market.merchants["merchant_id"].to_numpy(dtype=object)
    c_ids = small_market.creators["creator_id"].to_numpy(dtype=object)
    _, ideal = truth.top_creators(np.arange(len(m_ids)), 10)
    out = {}
    for name, ranker in (("exact", trained), ("ann", _approximate(trained))):
        rec = ranker.recommend(k=10, exclude_seen=exclude_seen)
        ranked = ranked_rows(rec, m_ids, c_ids, 10)
        safe = np.where(ranked >= 0, ranked, 0)
        gains = np.where(ranked >= 0, truth.value(np.arange(len(m_ids))[:, None], safe), 0.0)
        out[name] = float(np.nanmean(metrics.ndcg_at_k(gains, ideal, 10)))
        cand, _ = ranker.snapshot_.retriever.retrieve(exclude_seen=exclude_seen)
        out[f"{name}_cand"] = cand
    assert abs(out["ann"] - out["exact"]) <= 0.005
    a, b = out["ann_cand"], out["exact_cand"]
    recall = np.mean([len(set(x) & set(y)) / len(set(y)) for x, y in zip(a, b, strict=True)])
    assert recall >= 0.9
    if exclude_seen:
        seen = trained.snapshot_.retriever.seen_
        r = np.repeat(np.arange(len(a)), a.shape[1])
        keep = a.ravel() >= 0
        assert not np.asarray(seen[r[keep], a.ravel()[keep]]).any()
