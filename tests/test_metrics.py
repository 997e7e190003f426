"""Ranking metrics (matching.metrics): hand-computed cases, edge cases, and properties
checked against a plain-Python reference built on sets."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import matching.metrics
from matching.metrics import (
    average_precision_at_k,
    catalogue_coverage,
    dcg,
    gather_gains,
    hit_mask,
    hit_rate_at_k,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
)

PER_QUERY = [recall_at_k, precision_at_k, average_precision_at_k, hit_rate_at_k]


def test_docstring_examples():
    result = doctest.testmod(matching.metrics, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


# ------------------------------------------------------------------ DCG / NDCG by hand


def test_ndcg_hand_computed():
    # discounts 1/log2(rank + 1), ranks 1..6:
    #   1/log2(2)=1, 1/log2(3)=0.63093, 1/log2(4)=0.5, 1/log2(5)=0.43068,
    #   1/log2(6)=0.38685, 1/log2(7)=0.35621
    # DCG  = 3*1 + 2*0.63093 + 3*0.5 + 0*0.43068 + 1*0.38685 + 2*0.35621
    #      = 3 + 1.26186 + 1.5 + 0 + 0.38685 + 0.71241 = 6.86113
    # IDCG = 3*1 + 3*0.63093 + 2*0.5 + 2*0.43068 + 1*0.38685 + 0*0.35621
    #      = 3 + 1.89279 + 1 + 0.86135 + 0.38685 + 0 = 7.14100
    # NDCG = 6.86113 / 7.14100 = 0.96081
    got = np.array([[3, 2, 3, 0, 1, 2]], dtype=float)
    ideal = np.array([[3, 3, 2, 2, 1, 0]], dtype=float)
    assert dcg(got, 6)[0] == pytest.approx(6.86113, abs=1e-5)
    assert dcg(ideal, 6)[0] == pytest.approx(7.14100, abs=1e-5)
    assert ndcg_at_k(got, ideal, 6)[0] == pytest.approx(0.96081, abs=1e-5)


def test_ndcg_at_smaller_k_uses_the_first_k_ranks_only():
    # k=3: DCG = 3 + 2*0.63093 + 3*0.5 = 5.76186; IDCG = 3 + 3*0.63093 + 2*0.5 = 5.89279
    # NDCG = 5.76186 / 5.89279 = 0.97778
    got = np.array([[3, 2, 3, 0, 1, 2]], dtype=float)
    ideal = np.array([[3, 3, 2, 2, 1, 0]], dtype=float)
    assert ndcg_at_k(got, ideal, 3)[0] == pytest.approx(0.97778, abs=1e-5)


def test_perfect_ranking_is_one_and_reversed_is_lower():
    ideal = np.array([[3, 3, 2, 2, 1, 0]], dtype=float)
    assert ndcg_at_k(ideal, ideal, 6)[0] == 1.0
    # reversed: DCG = 0 + 1*0.63093 + 2*0.5 + 2*0.43068 + 3*0.38685 + 3*0.35621 = 4.72146
    # NDCG = 4.72146 / 7.14100 = 0.66118
    reverse = ideal[:, ::-1]
    assert ndcg_at_k(reverse, ideal, 6)[0] == pytest.approx(0.66118, abs=1e-5)


def test_ideal_is_taken_over_the_whole_catalogue():
    # 5 items with true gains; the model retrieved items 1 and 3 (gains 1 and 0).
    gains = np.array([[0.0, 1.0, 2.0, 0.0, 3.0]])
    got, ideal = gather_gains(np.array([[1, 3]]), gains)
    assert got.tolist() == [[1.0, 0.0]]
    assert ideal.tolist() == [[3.0, 2.0]]  # the catalogue's best two, not the retrieved ones
    # DCG = 1; IDCG = 3 + 2*0.63093 = 4.26186; NDCG = 0.23464
    assert ndcg_at_k(got, ideal, 2)[0] == pytest.approx(0.23464, abs=1e-5)
    # the dense row works as ideal_gains too (its top k is taken)
    assert ndcg_at_k(got, gains, 2)[0] == ndcg_at_k(got, ideal, 2)[0]
    # scoring only the retrieved items would flatter the model: 1.0
    assert ndcg_at_k(got, got, 2)[0] == 1.0


def test_ndcg_padding_and_short_lists():
    # two real recommendations then padding (gain 0): DCG = 2 + 1*0.63093 = 2.63093
    # IDCG over k=4 with ideal [2, 1, 1]: 2 + 0.63093 + 0.5 = 3.13093; NDCG = 0.84030
    got = np.array([[2.0, 1.0, 0.0, 0.0]])
    ideal = np.array([[2.0, 1.0, 1.0]])
    assert ndcg_at_k(got, ideal, 4)[0] == pytest.approx(0.84030, abs=1e-5)
    assert ndcg_at_k(got[:, :2], ideal, 4)[0] == ndcg_at_k(got, ideal, 4)[0]


def test_ndcg_is_nan_when_nothing_has_gain():
    got = np.array([[0.0, 0.0], [1.0, 0.0]])
    ideal = np.array([[0.0, 0.0], [1.0, 0.0]])
    out = ndcg_at_k(got, ideal, 2)
    assert math.isnan(out[0])
    assert out[1] == 1.0
    assert np.nanmean(out) == 1.0


def test_ndcg_rejects_bad_input():
    with pytest.raises(ValueError, match=">= 0"):
        ndcg_at_k([[-1.0]], [[1.0]], 1)
    with pytest.raises(ValueError, match="finite"):
        ndcg_at_k([[np.nan]], [[1.0]], 1)
    with pytest.raises(ValueError, match="better than its ideal"):
        ndcg_at_k([[5.0, 0.0]], [[1.0, 0.0]], 2)
    with pytest.raises(ValueError, match="same number of queries"):
        ndcg_at_k([[1.0]], [[1.0], [1.0]], 1)
    with pytest.raises(ValueError, match="k must be"):
        ndcg_at_k([[1.0]], [[1.0]], 0)


def test_gather_gains_padding_and_repeats_get_zero():
    gains = np.array([[5.0, 1.0, 2.0]])
    got, ideal = gather_gains(np.array([[0, -1, 0, 2]]), gains, k=3)
    assert got.tolist() == [[5.0, 0.0, 0.0]]  # padding 0; the repeat of item 0 is 0
    assert ideal.tolist() == [[5.0, 2.0, 1.0]]
    with pytest.raises(ValueError, match="outside"):
        gather_gains(np.array([[3]]), gains)


# ------------------------------------------------------------------ set metrics by hand


def test_recall_partial_overlap():
    # relevant {1, 4, 6, 7}; top-5 [5, 1, 2, 9, 4] holds 1 and 4: 2 / 4 = 0.5
    ranked = np.array([[5, 1, 2, 9, 4, 6]])
    relevant = np.array([[1, 4, 6, 7]])
    assert recall_at_k(ranked, relevant, 5).tolist() == [0.5]
    assert recall_at_k(ranked, relevant, 6).tolist() == [0.75]  # 6 is at rank 6


def test_precision_counts_padding_as_a_miss():
    # top-4 [1, 2, -1, -1], relevant {1, 5}: one hit out of k = 4 slots
    assert precision_at_k([[1, 2, -1, -1]], [[1, 5]], 4).tolist() == [0.25]
    # k beyond the list width is more padding: 1 / 8
    assert precision_at_k([[1, 2, -1, -1]], [[1, 5]], 8).tolist() == [0.125]


def test_average_precision_known_example():
    # hits at ranks 1 and 3, two relevant: (1/1 + 2/3) / 2 = 0.83333
    ap = average_precision_at_k([[7, 0, 8, 3]], [[8, 7]], 4)
    assert ap[0] == pytest.approx((1 + 2 / 3) / 2)
    # hit only at rank 2 of 3 relevant: (1/2) / min(3, 4) = 0.16667
    ap = average_precision_at_k([[0, 8, 1, 2]], [[8, 7, 9]], 4)
    assert ap[0] == pytest.approx(0.5 / 3)
    # more relevant items than k, top-k all relevant: (1 + 1) / min(5, 2) = 1
    ap = average_precision_at_k([[1, 2]], [[1, 2, 3, 4, 5]], 2)
    assert ap[0] == 1.0


def test_hit_rate():
    ranked = np.array([[1, 2, 3], [4, 5, 6], [7, -1, -1]])
    relevant = np.array([[3, -1], [9, 8], [7, 7]])
    assert hit_rate_at_k(ranked, relevant, 3).tolist() == [1.0, 0.0, 1.0]
    assert hit_rate_at_k(ranked, relevant, 2).tolist() == [0.0, 0.0, 1.0]


def test_padding_in_relevant_and_ranked_never_matches():
    # both sides padded with -1: a -1 must not count as a hit
    ranked = np.array([[-1, 2, -1]])
    relevant = np.array([[2, -1, -1]])
    assert hit_mask(ranked, relevant, 3).tolist() == [[False, True, False]]
    assert recall_at_k(ranked, relevant, 3).tolist() == [1.0]
    assert precision_at_k(ranked, relevant, 3)[0] == pytest.approx(1 / 3)


def test_repeated_items_count_once():
    # item 3 recommended twice and listed twice as relevant: one hit, |relevant| = 2
    ranked = np.array([[3, 3, 0]])
    relevant = np.array([[3, 3, 4]])
    assert hit_mask(ranked, relevant, 3).tolist() == [[True, False, False]]
    assert recall_at_k(ranked, relevant, 3).tolist() == [0.5]
    assert average_precision_at_k(ranked, relevant, 3).tolist() == [0.5]  # (1/1) / 2


def test_empty_relevant_gives_nan_for_every_metric():
    ranked = np.array([[1, 2], [1, 2]])
    relevant = np.array([[-1, -1], [2, -1]])
    for metric in PER_QUERY:
        out = metric(ranked, relevant, 2)
        assert math.isnan(out[0]), metric.__name__
        assert not math.isnan(out[1]), metric.__name__
    no_columns = np.zeros((2, 0), dtype=np.int64)
    for metric in PER_QUERY:
        assert np.isnan(metric(ranked, no_columns, 2)).all(), metric.__name__


def test_empty_batch():
    empty = np.zeros((0, 3), dtype=np.int64)
    for metric in PER_QUERY:
        assert metric(empty, empty, 3).shape == (0,)
    assert ndcg_at_k(np.zeros((0, 3)), np.zeros((0, 3)), 3).shape == (0,)


def test_catalogue_coverage():
    # distinct recommended ids {0, 1, 2, 3} out of 8 items
    assert catalogue_coverage(np.array([[0, 1, -1], [1, 2, 3]]), 8) == 0.5
    assert catalogue_coverage(np.full((2, 3), -1), 8) == 0.0
    assert catalogue_coverage(np.array([[0, 1], [1, 0]]), 2) == 1.0
    with pytest.raises(ValueError, match="outside"):
        catalogue_coverage(np.array([[8]]), 8)
    with pytest.raises(ValueError, match="n_items"):
        catalogue_coverage(np.array([[0]]), 0)


def test_input_validation():
    with pytest.raises(TypeError, match="integer"):
        recall_at_k(np.array([[1.0, 2.0]]), np.array([[1]]), 2)
    with pytest.raises(ValueError, match="2-D"):
        recall_at_k(np.array([1, 2]), np.array([[1]]), 2)
    with pytest.raises(ValueError, match="queries"):
        recall_at_k(np.array([[1, 2]]), np.array([[1], [2]]), 2)
    with pytest.raises(ValueError, match="-1 for padding"):
        recall_at_k(np.array([[-2, 2]]), np.array([[1]]), 2)
    with pytest.raises(ValueError, match="k must be"):
        recall_at_k(np.array([[1, 2]]), np.array([[1]]), 0)


def test_large_ids_and_inputs_are_not_modified():
    rng = np.random.default_rng(0)
    ranked = rng.integers(0, 10**12, size=(50, 20))
    relevant = np.concatenate([ranked[:, :5], rng.integers(0, 10**12, size=(50, 5))], axis=1)
    r0, v0 = ranked.copy(), relevant.copy()
    assert np.allclose(recall_at_k(ranked, relevant, 5), 0.5)
    np.testing.assert_array_equal(ranked, r0)
    np.testing.assert_array_equal(relevant, v0)


# ------------------------------------------------------------------ properties


def reference(ranked: list[int], relevant: list[int], k: int) -> dict[str, float]:
    """One query, with Python sets: the textbook definitions."""
    rel = {r for r in relevant if r >= 0}
    if not rel:
        return dict.fromkeys(("recall", "precision", "ap", "hit"), math.nan)
    seen: set[int] = set()
    hits = []
    for item in (ranked + [-1] * k)[:k]:
        hits.append(item >= 0 and item in rel and item not in seen)
        seen.add(item)
    n_hits = sum(hits)
    ap = sum(sum(hits[: i + 1]) / (i + 1) for i, h in enumerate(hits) if h) / min(len(rel), k)
    return {
        "recall": n_hits / len(rel),
        "precision": n_hits / k,
        "ap": ap,
        "hit": float(n_hits > 0),
    }


@st.composite
def batches(draw):
    q = draw(st.integers(1, 6))
    width = draw(st.integers(0, 8))
    r = draw(st.integers(0, 6))
    ids = st.integers(-1, 12)
    ranked = draw(st.lists(st.lists(ids, min_size=width, max_size=width), min_size=q, max_size=q))
    relevant = draw(st.lists(st.lists(ids, min_size=r, max_size=r), min_size=q, max_size=q))
    k = draw(st.integers(1, 10))
    shape = (q, width), (q, r)
    return (
        np.array(ranked, dtype=np.int64).reshape(shape[0]),
        np.array(relevant, dtype=np.int64).reshape(shape[1]),
        k,
    )


@settings(max_examples=100, deadline=None)
@given(batches())
def test_set_metrics_match_reference_and_batch_equals_single(case):
    ranked, relevant, k = case
    got = {
        "recall": recall_at_k(ranked, relevant, k),
        "precision": precision_at_k(ranked, relevant, k),
        "ap": average_precision_at_k(ranked, relevant, k),
        "hit": hit_rate_at_k(ranked, relevant, k),
    }
    for q in range(ranked.shape[0]):
        want = reference(ranked[q].tolist(), relevant[q].tolist(), k)
        for name, values in got.items():
            assert values[q] == pytest.approx(want[name], nan_ok=True), (name, q)
        one = recall_at_k(ranked[q : q + 1], relevant[q : q + 1], k)
        np.testing.assert_array_equal(one, got["recall"][q : q + 1])
    for name in ("recall", "precision", "ap", "hit"):
        v = got[name][~np.isnan(got[name])]
        assert ((v >= 0) & (v <= 1)).all(), name


gain_rows = st.lists(st.floats(0, 10, allow_nan=False), min_size=1, max_size=8)


@settings(max_examples=100, deadline=None)
@given(st.lists(gain_rows, min_size=1, max_size=5), st.integers(1, 10), st.randoms())
def test_ndcg_in_unit_interval_for_any_ranking(rows, k, rnd):
    # each query: a catalogue of true gains, a ranking = a random subset in random order
    n = max(len(row) for row in rows)
    gains = np.array([row + [0.0] * (n - len(row)) for row in rows])
    ranked = np.full((len(rows), k), -1, dtype=np.int64)
    for q in range(len(rows)):
        pick = rnd.sample(range(n), rnd.randint(0, min(n, k)))
        ranked[q, : len(pick)] = pick
    got, ideal = gather_gains(ranked, gains)
    out = ndcg_at_k(got, ideal, k)
    defined = ~np.isnan(out)
    assert ((out[defined] >= 0) & (out[defined] <= 1)).all()
    # nan exactly where the catalogue has no positive gain
    np.testing.assert_array_equal(~defined, dcg(ideal, k) == 0)
    # the ideal ranking itself scores 1
    best = np.argsort(-gains, axis=1, kind="stable")[:, :k]
    perfect = ndcg_at_k(*gather_gains(best, gains, k=k), k)
    np.testing.assert_allclose(perfect[defined], 1.0)


def test_concentration_measures():
    from matching.metrics import gini, herfindahl, top_share

    assert gini([5, 5, 5]) == 0.0
    assert gini([0, 0, 0, 10]) == pytest.approx(0.75)
    assert np.isnan(gini([])) and np.isnan(gini([0, 0]))
    assert herfindahl([1, 1, 1, 1]) == pytest.approx(0.25)
    assert herfindahl([0, 7]) == 1.0
    assert top_share([1] * 99 + [101], 0.01) == pytest.approx(101 / 200)
    assert top_share([3, 1], 0.0) == pytest.approx(0.75)  # at least one holder
    with pytest.raises(ValueError):
        gini([1, -1])
