"""The contract's id helpers: ids to row positions, membership, the default as-of date."""

import numpy as np
import pandas as pd
import pytest

from matching.data.contract import default_as_of, is_in, row_positions


def test_row_positions():
    ids = pd.Series(["a", "b", "c"], dtype="string")
    assert row_positions(["c", "x", "a"], ids).tolist() == [2, -1, 0]
    assert row_positions(np.array(["b"], dtype=object), pd.Index(["a", "b"])).tolist() == [1]
    assert row_positions([], ids).tolist() == []


@pytest.mark.parametrize("storage", ["string[pyarrow]", "string[python]", "object"])
def test_row_positions_of_arrow_text_are_those_of_the_pandas_index(storage):
    """Text ids (Arrow-backed, or object arrays of strings) are matched in Arrow: same
    positions, -1 for unknown and missing values, and duplicate ids refused as the pandas
    index refuses them."""
    rng = np.random.default_rng(0)
    ids = pd.Series([f"id{i}" for i in rng.permutation(500)], dtype=storage)
    picks = rng.integers(0, 520, 2000)
    values = pd.Series([f"id{i}" if i < 515 else None for i in picks], dtype=storage)
    want = pd.Index(ids.to_numpy(dtype=object)).get_indexer(values.to_numpy(dtype=object))
    got = row_positions(values, ids)
    assert got.dtype == np.int64 and got.tolist() == want.tolist()
    assert (got == -1).any()
    with pytest.raises(pd.errors.InvalidIndexError):
        row_positions(values, pd.concat([ids, ids.iloc[:1]]))
    # object arrays that are not all text are compared by pandas
    mixed = np.array(["id3", 7, None], dtype=object)
    assert row_positions(mixed, np.array([7, "id3"], dtype=object)).tolist() == [1, 0, -1]


@pytest.mark.parametrize("storage", ["pyarrow", "python"])
def test_is_in_is_pandas_isin(storage):
    """Membership of ids, hashed in Arrow for Arrow-backed text: pandas' answer, missing
    values included."""
    rng = np.random.default_rng(1)
    ids = pd.Series([f"id{i}" for i in rng.permutation(300)], dtype=f"string[{storage}]")
    picks = rng.integers(0, 330, 1000)
    values = pd.Series([f"id{i}" if i < 320 else None for i in picks], dtype=f"string[{storage}]")
    got = is_in(values, ids)
    assert got.dtype == bool and got.tolist() == values.isin(ids).tolist()
    assert got.any() and not got.all()
    assert is_in(values, pd.concat([ids, ids])).tolist() == got.tolist()  # a column of repeats
    assert is_in(["a", "q"], np.array(["q"], dtype=object)).tolist() == [False, True]


def test_default_as_of_is_the_day_after_the_last_collaboration():
    h = pd.DataFrame({"posted_at": pd.to_datetime(["2026-01-03", "2026-02-10"])})
    assert default_as_of(h) == pd.Timestamp("2026-02-11")
    assert default_as_of(h.iloc[:0]) is None
