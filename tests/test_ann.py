import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching import metrics
from matching.evaluation.offline import ranked_rows
from matching.retrieval import ann


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
        cand = ranker.snapshot_.retriever.retrieve(exclude_seen=exclude_seen)
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


@given(
    st.integers(1, 6),
    st.integers(1, 12),
    st.integers(0, 2**32 - 1),
)
@settings(max_examples=60, deadline=None)
def test_merged_top_lists_are_the_best_distinct_rows(n_rows, k, seed):
    """Merging top lists keeps each row once, best score first (ties to the lower row)."""
    rng = np.random.default_rng(seed)
    lists, best = [], [{} for _ in range(n_rows)]
    for _ in range(rng.integers(1, 4)):
        width = int(rng.integers(1, 8))
        rows = rng.integers(-1, 15, size=(n_rows, width))
        score = rng.integers(0, 5, size=(n_rows, width)).astype(float)
        lists.append((score, rows))
        for i in range(n_rows):
            for r, s in zip(rows[i], score[i], strict=True):
                if r >= 0:
                    best[i].setdefault(int(r), s)  # a row in two lists keeps its first score
    got = ann.merge_tops(lists, k)
    for i in range(n_rows):
        want = sorted(best[i], key=lambda r: (-best[i][r], r))[:k]
        row = [int(r) for r in got[i] if r >= 0]
        assert row == want
        assert (got[i][len(row) :] == -1).all()


@pytest.mark.parametrize("zero_share", [0.0, 0.4, 0.97, 1.0])
def test_exact_tops_are_exact_in_chunks(zero_share, monkeypatch):
    """Integer vectors (exact float32 products, many ties): every chunk size gives the k best
    scores, each the row's own, equal scores in row order. Creators with zero vectors (no
    history) are not searched but still take their place, the lowest of them first, also
    where they fill most of a list."""
    pytest.importorskip("faiss")
    rng = np.random.default_rng(0)
    P = rng.integers(-2, 3, size=(500, 4)).astype(np.float32)
    Q = rng.integers(-2, 3, size=(60, 4)).astype(np.float32)
    P[rng.random(500) < zero_share] = 0
    S = Q @ P.T
    best = -np.sort(-S, axis=1)[:, :30]
    zero = np.flatnonzero(~P.any(1))
    for chunk in (1 << 17, 64, 7):
        monkeypatch.setattr(ann, "EXACT_CHUNK", chunk)
        d, i = ann.exact_tops(Q, P, 30, 1)
        assert np.array_equal(d, best)
        assert np.array_equal(np.take_along_axis(S, i, 1), d)
        assert all(len(np.unique(r)) == 30 for r in i)
        assert ((np.diff(d, axis=1) < 0) | (np.diff(i, axis=1) > 0)).all()
        for r in i:  # the zero rows a list holds are the first ones
            held = np.intersect1d(r, zero)
            assert np.array_equal(held, zero[: len(held)])


def test_exact_tops_do_not_depend_on_the_chunks(monkeypatch):
    """Real-valued vectors: searched whole or in chunks of 16, the same scores and rows."""
    pytest.importorskip("faiss")
    rng = np.random.default_rng(0)
    Qn, Pn = rng.normal(size=(50, 8)), rng.normal(size=(300, 8))
    monkeypatch.setattr(ann, "EXACT_CHUNK", 1 << 17)
    whole = ann.exact_tops(Qn, Pn, 40, 1)
    monkeypatch.setattr(ann, "EXACT_CHUNK", 16)
    chunked = ann.exact_tops(Qn, Pn, 40, 1)
    assert np.array_equal(whole[1], chunked[1]) and np.array_equal(whole[0], chunked[0])


def test_a_merchants_exact_top_list_does_not_depend_on_who_is_searched_with_it():
    """Blocks of 512, 19 or 1 queries give the scores and rows of one search of 4,096: faiss
    otherwise scores small batches with a loop that rounds differently from its BLAS path."""
    pytest.importorskip("faiss")
    rng = np.random.default_rng(3)
    P = rng.normal(size=(4600, 39)).astype(np.float32)
    Q = (rng.normal(size=(4096, 39)) * rng.random((4096, 1)) * 5).astype(np.float32)
    whole = ann.exact_tops(Q, P, 200)
    for size in (512, 19, 1):
        part = [ann.exact_tops(Q[s : min(s + size, 1024)], P, 200) for s in range(0, 1024, size)]
        assert np.array_equal(np.vstack([d for d, _ in part]), whole[0][:1024])
        assert np.array_equal(np.vstack([i for _, i in part]), whole[1][:1024])


def test_hub_search_reaches_its_recall_or_says_it_did_not():
    """With no hub structure (random vectors) the index probes more lists; probing every
    list finds the exact top lists, and the held-out recall it reports is that of a search."""
    pytest.importorskip("faiss")
    rng = np.random.default_rng(0)
    P = rng.normal(size=(4000, 8)).astype(np.float32)
    Q = rng.normal(size=(300, 8)).astype(np.float32)
    _, exact = ann.exact_tops(Q, P, 20, 1)
    every = ann.HubSearch(
        Q, P, k=20, nlist=64, max_nprobe=64, recall=1.0, sample=100, seed=0, threads=1
    )
    assert every.ivf.nlist == 64 and every.nprobe > 0  # the hub alone fell short
    assert ann.recall_of(every.search(Q, 20), exact) == 1.0
    cheap = ann.HubSearch(
        Q, P, k=20, nlist=64, max_nprobe=64, recall=0.5, sample=100, seed=0, threads=1
    )
    assert cheap.nprobe < every.nprobe
    assert cheap.measured_recall >= 0.5
    assert ann.recall_of(cheap.search(Q, 20), exact) < 1.0


def test_a_hub_of_strong_creators_needs_no_lists():
    """Scores dominated by a few strong creators: the hub holds them, and alone reaches the
    recall, so no IVF index is built; its lists are padded to ``k``."""
    pytest.importorskip("faiss")
    rng = np.random.default_rng(1)
    P = rng.normal(size=(4000, 8)).astype(np.float32)
    P[:, 0] = np.where(np.arange(4000) < 100, 10.0, 0.0)  # a hundred creators strong for all
    Q = np.hstack([np.full((300, 1), 5.0), rng.normal(size=(300, 7))]).astype(np.float32)
    idx = ann.HubSearch(
        Q, P, k=20, nlist=64, max_nprobe=64, recall=0.99, sample=100, seed=0, threads=1
    )
    _, exact = ann.exact_tops(Q, P, 20, 1)
    assert idx.nprobe == 0 and idx.ivf is None and len(idx.hub) <= 100
    assert ann.recall_of(idx.search(Q, 20), exact) >= 0.99
    short = idx.search(Q, 150)  # more than the hub holds
    assert short.shape == (300, 150) and (short[:, len(idx.hub) :] == -1).all()


@given(st.integers(1, 5), st.integers(1, 25), st.integers(1, 15), st.integers(0, 2**32 - 1))
@settings(max_examples=80, deadline=None)
def test_interleave_keeps_each_item_once_at_its_best_position(n_rows, width, n, seed):
    """Per row: distinct items by best position (ties to the lower item), NaN left out."""
    from matching.retrieval.tops import interleave

    rng = np.random.default_rng(seed)
    idx = rng.integers(0, 12, size=(n_rows, width))
    pos = rng.integers(0, 5, size=(n_rows, width)).astype(float)
    pos[rng.random(pos.shape) < 0.2] = np.nan
    pos[rng.random(pos.shape) < 0.1] = np.inf
    got = interleave(idx, pos, n)
    for r in range(n_rows):
        best = {}
        for i, p in zip(idx[r], pos[r], strict=True):
            if not np.isnan(p):
                best[int(i)] = min(best.get(int(i), np.inf), p)
        want = sorted(best, key=lambda i: (best[i], i))[:n]
        assert got[r].tolist() == want + [-1] * (n - len(want))


@pytest.mark.parametrize("search", ["exact", "ann"])
def test_creators_who_join_after_the_as_of_date_are_never_retrieved(trained, small_market, search):
    """The catalogue as of the ranker's date: a creator whose ``joined_at`` is later is not a
    candidate, in the dense search and in the approximate one, past partners excluded or not."""
    ranker = trained if search == "exact" else _approximate(trained)
    ret = ranker.snapshot_.retriever
    joined = small_market.creators["joined_at"].to_numpy("datetime64[ns]")
    later = joined > np.datetime64(trained.as_of_.normalize().to_datetime64(), "ns")
    assert later.any() and not later.all()  # the fixture's market has creators still to come
    np.testing.assert_array_equal(ret.known_, ~later)
    for exclude_seen in (False, True):
        cand = ret.retrieve(exclude_seen=exclude_seen)
        assert not later[cand[cand >= 0]].any()
        assert (cand >= 0).sum(axis=1).min() > 0
    rec = ranker.recommend(k=20)
    ids = set(small_market.creators["creator_id"].to_numpy(dtype=object)[later])
    assert not ids & set(rec["creator_id"])
