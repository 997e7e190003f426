"""Safe coercions of input columns to the contract's dtypes, applied only when every value
of a column converts exactly (``3.0`` becomes the int ``3``; ``3.5`` is an error).

Each function takes a column and its name and returns the converted column and the
problems found; :data:`COERCE` maps a column's kind (:class:`~matching.data.schema.Spec`)
to its function.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from matching.data.messages import Problem, first_line, problem_at, whole_column
from matching.data.schema import STRING

__all__ = ["COERCE"]

_INT64_LIMIT = 2.0**63


def _is_text_dtype(dtype: Any) -> bool:
    return ptypes.is_object_dtype(dtype) or ptypes.is_string_dtype(dtype)


def _to_text(s: pd.Series, column: str) -> tuple[pd.Series, list[Problem]]:
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(object)
    if ptypes.is_object_dtype(s.dtype) and pd.api.types.infer_dtype(s, skipna=True) not in (
        "string",
        "empty",
    ):
        is_str = s.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
        bad = s.notna().to_numpy() & ~is_str
        return s, [problem_at(column, "not text", bad, s)]
    if not _is_text_dtype(s.dtype):
        return s, [whole_column(column, f"expected text, got dtype {s.dtype}")]
    return s.astype(STRING), []


def _to_numbers(s: pd.Series, column: str, expected: str) -> tuple[pd.Series, list[Problem]]:
    """Numbers from a numeric column, or from a text column (CSV with a stray word)."""
    if ptypes.is_bool_dtype(s.dtype) or not (
        ptypes.is_numeric_dtype(s.dtype) or _is_text_dtype(s.dtype)
    ):
        return s, [whole_column(column, f"expected {expected}, got dtype {s.dtype}")]
    if ptypes.is_numeric_dtype(s.dtype):
        return s, []
    numbers = pd.to_numeric(s, errors="coerce")
    bad = s.notna().to_numpy() & numbers.isna().to_numpy()
    if bad.any():
        return s, [problem_at(column, f"not {expected}", bad, s)]
    return numbers, []


def _to_float(s: pd.Series, column: str) -> tuple[pd.Series, list[Problem]]:
    if len(s) == 0:
        return pd.Series(np.empty(0, dtype="float64"), index=s.index, name=s.name), []
    s, problems = _to_numbers(s, column, "a number")
    if problems:
        return s, problems
    x = s.to_numpy(dtype="float64", na_value=np.nan)
    return pd.Series(x, index=s.index, name=s.name), []


def _to_int(s: pd.Series, column: str) -> tuple[pd.Series, list[Problem]]:
    if len(s) == 0:
        return pd.Series(np.empty(0, dtype="int64"), index=s.index, name=s.name), []
    s, problems = _to_numbers(s, column, "an integer")
    if problems:
        return s, problems
    missing = s.isna().to_numpy()
    if ptypes.is_integer_dtype(s.dtype):
        big = np.zeros(len(s), dtype=bool)
        if ptypes.is_unsigned_integer_dtype(s.dtype):
            big = (s > np.iinfo(np.int64).max).to_numpy(dtype=bool, na_value=False)
        fractional = np.zeros(len(s), dtype=bool)
    else:
        x_float = s.to_numpy(dtype="float64", na_value=np.nan)
        finite = np.isfinite(x_float)
        fractional = ~missing & (~finite | (x_float != np.floor(x_float)))
        big = finite & (np.abs(x_float) >= _INT64_LIMIT)
    problems = [
        problem_at(column, what, mask, None if what == "missing" else s)
        for what, mask in (
            ("missing", missing),
            ("not an integer", fractional),
            ("too large for int64", big),
        )
        if mask.any()
    ]
    if problems:
        return s, problems
    x = s.to_numpy(dtype="int64")
    return pd.Series(x, index=s.index, name=s.name), []


_BOOL_TEXT = {"true": True, "false": False, "1": True, "0": False}


def _to_flag(s: pd.Series, column: str) -> tuple[pd.Series, list[Problem]]:
    """:func:`_to_bool` where a missing value is allowed: pandas' nullable ``boolean``."""
    missing = s.isna().to_numpy()
    if not missing.any():
        out, problems = _to_bool(s, column)
        return (out.astype("boolean") if not problems else out), problems
    out, problems = _to_bool(s.where(~missing, False), column)
    if problems:
        return s, problems
    return out.astype("boolean").mask(missing), []


def _to_bool(s: pd.Series, column: str) -> tuple[pd.Series, list[Problem]]:
    if len(s) == 0:
        return pd.Series(np.empty(0, dtype=bool), index=s.index, name=s.name), []
    missing = s.isna().to_numpy()
    if ptypes.is_bool_dtype(s.dtype):
        flags = s
        bad = np.zeros(len(s), dtype=bool)
    elif ptypes.is_numeric_dtype(s.dtype):
        x = s.to_numpy(dtype="float64", na_value=np.nan)
        bad = ~missing & (x != 0) & (x != 1)
        flags = pd.Series(x == 1, index=s.index)
    elif _is_text_dtype(s.dtype) or isinstance(s.dtype, pd.CategoricalDtype):
        text = s.astype(STRING).str.strip().str.lower().astype(object)
        flags = text.map(_BOOL_TEXT)
        bad = ~missing & flags.isna().to_numpy()
    else:
        return s, [whole_column(column, f"expected a boolean, got dtype {s.dtype}")]
    problems = []
    if missing.any():
        problems.append(problem_at(column, "missing", missing))
    if bad.any():
        problems.append(problem_at(column, "not a boolean (true/false/1/0)", bad, s))
    if problems:
        return s, problems
    return pd.Series(flags.to_numpy(dtype=bool), index=s.index, name=s.name), []


def _to_date(s: pd.Series, column: str) -> tuple[pd.Series, list[Problem]]:
    if len(s) == 0:
        return pd.Series(np.empty(0, dtype="datetime64[ns]"), index=s.index, name=s.name), []
    if ptypes.is_datetime64_any_dtype(s.dtype):
        d = s
    elif _is_text_dtype(s.dtype):
        stamps = pd.api.types.infer_dtype(s, skipna=True) in ("date", "datetime", "datetime64")
        try:
            if stamps:
                d = pd.to_datetime(s, errors="coerce")
            else:
                d = pd.to_datetime(s, format="ISO8601", errors="coerce")
        except (ValueError, TypeError) as exc:
            return s, [whole_column(column, f"cannot parse dates: {first_line(exc)}")]
        bad = s.notna().to_numpy() & d.isna().to_numpy()
        if bad.any():
            return s, [problem_at(column, "not an ISO 8601 date", bad, s)]
    else:
        return s, [whole_column(column, f"expected a date, got dtype {s.dtype}")]
    if isinstance(d.dtype, pd.DatetimeTZDtype):
        d = d.dt.tz_localize(None)  # keep the local calendar date
    d = d.dt.normalize()
    outside = (d.notna() & ((d < pd.Timestamp.min) | (d > pd.Timestamp.max))).to_numpy()
    if outside.any():
        return s, [problem_at(column, "outside the years 1677..2262", outside, s)]
    return d.astype("datetime64[ns]"), []


COERCE: Mapping[str, Callable[[pd.Series, str], tuple[pd.Series, list[Problem]]]] = (
    MappingProxyType(
        {
            "id": _to_text,
            "text": _to_text,
            "int": _to_int,
            "float": _to_float,
            "bool": _to_bool,
            "flag": _to_flag,
            "date": _to_date,
        }
    )
)
