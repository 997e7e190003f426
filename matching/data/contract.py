"""What every stage agrees on: the data contract's tables, columns and vocabularies
(``DATA_CONTRACT.md``), how ids become row positions, and the default as-of date.

Defined once here, so the schemas, the simulator, the features and the pipeline cannot
drift apart.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "ALLOCATION_COLUMNS",
    "BUSINESS_TYPES",
    "CONTENT_TYPES",
    "DATE_COLUMNS",
    "MATCHES_COLUMNS",
    "SHORT_VIDEO",
    "OPTIONAL_TABLES",
    "TABLES",
    "default_as_of",
    "history_rows",
    "is_in",
    "known_creators",
    "row_positions",
]

TABLES = ("merchants", "creators", "collaborations")
OPTIONAL_TABLES = ("offers",)
"""Input tables a folder may hold beside :data:`TABLES` (an addition to the contract)."""
"""The input tables, in the order they are read and validated."""
BUSINESS_TYPES = ("brand", "distributor", "seller")
"""Values of ``merchants.business_type``; their order is the feature's code."""
CONTENT_TYPES = ("short_video", "graphic", "live")
"""Values of ``collaborations.content_type``; their order is the feature's code."""
SHORT_VIDEO = "short_video"
"""The content the program gives away, and the unit ``score`` is predicted for."""
DATE_COLUMNS = (
    "onboarded_at",
    "joined_at",
    "posted_at",
    "window_end",
    "offered_at",
    "responded_at",
)
"""Columns written as Parquet ``date32`` (and ISO ``YYYY-MM-DD`` in CSV) wherever they appear."""
MATCHES_COLUMNS = (
    "merchant_id",
    "creator_id",
    "rank",
    "score",
    "priority_score",
    "certified_super_top",
    "fit",
)
ALLOCATION_COLUMNS = ("merchant_id", "creator_id", "videos", "expected_gmv_usd", "window_end")


def row_positions(values, ids) -> np.ndarray:
    """Row positions of ``values`` among ``ids`` (an id column, an array or an index of
    unique ids); -1 where a value is not among them.

    Examples
    --------
    >>> row_positions(["b", "z", "a"], pd.Series(["a", "b", "c"]))
    array([ 1, -1,  0])
    """
    fast = _arrow_strings(values), _arrow_strings(ids)
    if fast[0] is not None and fast[1] is not None:
        # both text: hashed in Arrow, never as Python strings (catalogue size). One hash
        # table of the ids answers both: each id finds itself first iff the ids are unique
        n = len(fast[1])
        pos = pc.index_in(pa.concat_arrays([fast[1], fast[0]]), value_set=fast[1])
        pos = pos.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        if not np.array_equal(pos[:n], np.arange(n)):
            raise pd.errors.InvalidIndexError("row_positions: the ids are not unique")
        return pos[n:]
    index = ids if isinstance(ids, pd.Index) else pd.Index(np.asarray(ids, dtype=object))
    return index.get_indexer(pd.Index(np.asarray(values, dtype=object)))


def history_rows(
    h: pd.DataFrame, merchants: pd.DataFrame, creators: pd.DataFrame, rows=None
) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of the merchant and creator ids of ``h`` (a history before the as-of)
    in ``merchants`` and ``creators``, -1 where unknown: ``rows`` when given (the fits of
    one snapshot share one lookup of the catalogue's ids), checked to be as long as ``h``."""
    if rows is None:
        return (
            row_positions(h["merchant_id"], merchants["merchant_id"]),
            row_positions(h["creator_id"], creators["creator_id"]),
        )
    if len(rows[0]) != len(h) or len(rows[1]) != len(h):
        raise ValueError(
            f"rows: {len(rows[0])} and {len(rows[1])} positions for {len(h)} collaborations"
        )
    return rows


def is_in(values, ids) -> np.ndarray:
    """Whether each of ``values`` is among ``ids`` (id columns, arrays or indexes).

    Examples
    --------
    >>> is_in(["b", "z"], pd.Series(["a", "b"]))
    array([ True, False])
    """
    fast = _arrow_strings(values), _arrow_strings(ids)
    if fast[0] is not None and fast[1] is not None:
        # pandas' isin of Arrow text builds Python strings of every id (1M ids: 5.8 s vs 0.3 s)
        found = pc.is_in(fast[0], value_set=fast[1]).fill_null(False)
        return found.to_numpy(zero_copy_only=False).astype(bool)
    index = pd.Index(np.asarray(values, dtype=object))
    return np.asarray(index.isin(np.asarray(ids, dtype=object)), dtype=bool)


def _arrow_strings(x) -> pa.Array | None:
    """``x`` as one Arrow large-string array when it is text: Arrow-backed (a pandas
    ``string[pyarrow]`` column or index, no copy) or an object array of strings and missing
    values (copied, ~0.1 s a million); else None."""
    dtype = getattr(x, "dtype", None)
    if isinstance(dtype, np.dtype) and dtype.kind == "O":
        try:
            return pa.array(np.asarray(x), type=pa.large_string(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # not all text: pandas compares them
            return None
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
        return None
    arr = pa.array(x)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.cast(pa.large_string())


def default_as_of(collaborations: pd.DataFrame) -> pd.Timestamp | None:
    """The as-of date when none is given: the day after the last collaboration, so the
    whole history is before it; None for an empty history."""
    if not len(collaborations):
        return None
    return pd.Timestamp(collaborations["posted_at"].max()) + pd.Timedelta(days=1)


def known_creators(creators: pd.DataFrame, as_of) -> np.ndarray:
    """Per creator row, whether it is in the catalogue as of ``as_of``: joined on or before
    that day (no ``joined_at``, or a missing one: always)."""
    if "joined_at" not in creators.columns:
        return np.ones(len(creators), dtype=bool)
    joined = pd.to_datetime(creators["joined_at"]).to_numpy("datetime64[ns]")
    return ~(joined > np.datetime64(pd.Timestamp(as_of).normalize().to_datetime64(), "ns"))
