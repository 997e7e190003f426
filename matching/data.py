"""Read, validate and write the tables of the data contract (``DATA_CONTRACT.md``).

This is the only module of ``matching`` that touches data files. Every table that
comes in is validated here, at the edge, and returned with fixed dtypes so the
rest of the package can rely on them:

=============================  ===================================================
contract type                  dtype after :func:`validate_table` / :func:`read_inputs`
=============================  ===================================================
string (ids, categories, ...)  ``"string"``: ``pd.StringDtype()``, missing is ``pd.NA``
                               (default storage: pyarrow on pandas 3, python on 2.2)
int                            ``int64``
float                          ``float64`` (optional columns may hold NaN)
bool                           ``bool``
date                           ``datetime64[ns]``, tz-naive, normalised to midnight
=============================  ===================================================

Validated frames have a fresh ``RangeIndex``; row numbers in error messages are
0-based positions of data rows (row 0 is the first row under a CSV header).
Extra columns are kept unchanged, in their place. Any problem is raised as
:class:`DataError`, one line naming the file, the column and up to five rows.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any

import numpy as np
import pandas as pd
import pandera.pandas as pdv
import pyarrow as pa
import pyarrow.parquet as pq
from pandas.api import types as ptypes
from pandera.errors import SchemaErrors

from matching.contract import (
    ALLOCATION_COLUMNS,
    BUSINESS_TYPES,
    CONTENT_TYPES,
    DATE_COLUMNS,
    MATCHES_COLUMNS,
    TABLES,
)
from matching.errors import DataError

__all__ = [
    "ALLOCATION_COLUMNS",
    "BUSINESS_TYPES",
    "COLLABORATIONS_SCHEMA",
    "CONTENT_TYPES",
    "CREATORS_SCHEMA",
    "DATE_COLUMNS",
    "MATCHES_COLUMNS",
    "MERCHANTS_SCHEMA",
    "SCHEMAS",
    "TABLES",
    "DataError",
    "Inputs",
    "TableSize",
    "input_sizes",
    "publish",
    "read_inputs",
    "read_json",
    "read_table",
    "recover",
    "validate_inputs",
    "validate_outputs",
    "validate_table",
    "write_json",
    "write_table",
    "write_tables",
]

logger = logging.getLogger(__name__)


MATCH_PICTURES = (
    "score_distribution.png",
    "allocation_per_seller.png",
    "creator_utilisation.png",
    "greedy_gap.png",
)
OUTPUT_FILES = ("matches.parquet", "allocation.parquet", "summary.json", *MATCH_PICTURES)
"""What ``match`` writes into its output folder, as one unit."""

_SHOWN = 5  # offending rows named in a message
_PROBLEMS_SHOWN = 3  # problems named in a message
_STRING = pd.StringDtype()
_INT64_LIMIT = 2.0**63


# --------------------------------------------------------------------------- schemas


@dataclass(frozen=True)
class _Spec:
    """One contract column: how to coerce it (``kind``) and the pandera rules that follow."""

    kind: str  # "id" | "text" | "int" | "float" | "bool" | "date"
    checks: tuple[pdv.Check, ...] = ()
    optional: bool = False
    nullable: bool = False
    unique: bool = False


_DTYPES = {
    "id": _STRING,
    "text": _STRING,
    "int": "int64",
    "float": "float64",
    "bool": "bool",
    "date": "datetime64[ns]",
}


def _no_outer_space(s: pd.Series) -> pd.Series:
    return s == s.str.strip()


def _not_empty(s: pd.Series) -> pd.Series:
    return s.str.len() > 0


# control and format characters (zero-width spaces, byte-order marks, direction marks): an id
# holding one looks like another id but never joins with it
_INVISIBLE = "[\x00-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]"


def _visible(s: pd.Series) -> pd.Series:
    return ~s.str.contains(_INVISIBLE, regex=True)


def _finite(s: pd.Series) -> pd.Series:
    return pd.Series(np.isfinite(s.to_numpy(dtype="float64")), index=s.index)


_TEXT_CHECKS = (pdv.Check(_not_empty, error="empty"),)
_ID_CHECKS = (
    pdv.Check(_no_outer_space, error="with leading or trailing whitespace"),
    pdv.Check(_visible, error="with an invisible (control or format) character"),
    *_TEXT_CHECKS,
)
_FINITE = pdv.Check(_finite, error="infinite")


def _ge(x: float) -> tuple[pdv.Check, ...]:
    return (pdv.Check.ge(x, error=f"< {x:g}"), _FINITE)


def _between(lo: float, hi: float) -> tuple[pdv.Check, ...]:
    return (pdv.Check.in_range(lo, hi, error=f"outside {lo:g}..{hi:g}"),)


def _one_of(values: tuple[str, ...]) -> tuple[pdv.Check, ...]:
    return (pdv.Check.isin(values, error=f"not one of {', '.join(values)}"),)


_SPECS: Mapping[str, Mapping[str, _Spec]] = MappingProxyType(
    {
        "merchants": {
            "merchant_id": _Spec("id", _ID_CHECKS, unique=True),
            "primary_category": _Spec("text", _TEXT_CHECKS),
            "annual_gmv_usd": _Spec("float", _ge(0)),
            "avg_price_usd": _Spec("float", (pdv.Check.gt(0, error="<= 0"), _FINITE)),
            "store_rating": _Spec("float", _between(0, 5), optional=True, nullable=True),
            "business_type": _Spec("text", _one_of(BUSINESS_TYPES)),
            "onboarded_at": _Spec("date"),
            "certified_super_top": _Spec("bool", optional=True),
            "free_videos_used": _Spec("int", _ge(0), optional=True),
        },
        "creators": {
            "creator_id": _Spec("id", _ID_CHECKS, unique=True),
            "primary_category": _Spec("text", _TEXT_CHECKS),
            "followers": _Spec("int", _ge(0)),
            "avg_views": _Spec("float", _ge(0)),
            "engagement_rate": _Spec("float", _between(0, 1)),
            "audience_female_share": _Spec("float", _between(0, 1), optional=True, nullable=True),
            "audience_age_18_34_share": _Spec(
                "float", _between(0, 1), optional=True, nullable=True
            ),
            "weekly_video_capacity": _Spec("int", _ge(0)),
            "joined_at": _Spec("date"),
        },
        "collaborations": {
            "merchant_id": _Spec("id", _ID_CHECKS),
            "creator_id": _Spec("id", _ID_CHECKS),
            "posted_at": _Spec("date"),
            "content_type": _Spec("text", _one_of(CONTENT_TYPES)),
            "videos": _Spec("int", _ge(1)),
            "views": _Spec("int", _ge(0)),
            "orders": _Spec("int", _ge(0)),
            "gmv_usd": _Spec("float", _ge(0)),
        },
    }
)

# What an absent optional column means downstream (logged at INFO).
_ABSENT = {
    "store_rating": "left absent (no rating signal)",
    "certified_super_top": "left absent (derived from the program rules in configs/)",
    "free_videos_used": "using 0 for every merchant",
    "audience_female_share": "left absent (no audience signal)",
    "audience_age_18_34_share": "left absent (no audience signal)",
}
_DEFAULTS = {"free_videos_used": 0}


def _schema(name: str, specs: Mapping[str, _Spec]) -> pdv.DataFrameSchema:
    columns = {
        col: pdv.Column(
            _DTYPES[spec.kind],
            list(spec.checks),
            nullable=spec.nullable,
            unique=spec.unique,
            required=not spec.optional,
        )
        for col, spec in specs.items()
    }
    return pdv.DataFrameSchema(columns, name=name, strict=False)


MERCHANTS_SCHEMA = _schema("merchants", _SPECS["merchants"])
CREATORS_SCHEMA = _schema("creators", _SPECS["creators"])
COLLABORATIONS_SCHEMA = _schema("collaborations", _SPECS["collaborations"])
SCHEMAS: Mapping[str, pdv.DataFrameSchema] = MappingProxyType(
    {
        "merchants": MERCHANTS_SCHEMA,
        "creators": CREATORS_SCHEMA,
        "collaborations": COLLABORATIONS_SCHEMA,
    }
)
"""The pandera schema of each input table; they check already-normalised frames."""


# --------------------------------------------------------------------------- messages


@dataclass(frozen=True)
class _Problem:
    column: Any  # None for a problem of the whole table
    what: str
    count: int = 0  # offending values; 0 for a problem of the whole column
    rows: tuple[int, ...] = ()
    values: tuple[Any, ...] = ()


def _at(column: Any, what: str, mask: Any, values: pd.Series | None = None) -> _Problem:
    """A problem at the rows where ``mask`` is true (``values`` shown next to the rows)."""
    where = np.flatnonzero(np.asarray(mask, dtype=bool))
    shown = where[:_SHOWN]
    vals = tuple(values.iloc[shown]) if values is not None else ()
    return _Problem(column, what, len(where), tuple(int(i) for i in shown), vals)


def _show(value: Any) -> str:
    if isinstance(value, pd.Timestamp) and value == value.normalize():
        return value.date().isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    # escaped, so a look-alike (a Cyrillic "с" for a Latin "c") or an invisible character shows
    text = "<NA>" if value is pd.NA else ascii(value) if isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _describe(p: _Problem) -> str:
    head = "" if p.column is None else f"column {str(p.column)!r}: "
    if p.count == 0:
        return head + p.what
    more = ", ..." if p.count > len(p.rows) else ""
    rows = ", ".join(str(r) for r in p.rows) + more
    vals = (": " + ", ".join(_show(v) for v in p.values) + more) if p.values else ""
    one, many = ("row", "rows") if p.column is None else ("value", "values")
    noun, label = (one, "row") if p.count == 1 else (many, "rows")
    return f"{head}{p.count} {noun} {p.what} ({label} {rows}{vals})"


def _error(source: str, problems: list[_Problem]) -> DataError:
    text = "; ".join(_describe(p) for p in problems[:_PROBLEMS_SHOWN])
    if len(problems) > _PROBLEMS_SHOWN:
        more = len(problems) - _PROBLEMS_SHOWN
        text += f" (and {more} more problem{'s' if more > 1 else ''})"
    return DataError(f"{source}: {text}")


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _from_schema_errors(exc: SchemaErrors) -> list[_Problem]:
    fc = exc.failure_cases
    problems = []
    for (column, check), group in fc.groupby(["column", "check"], sort=False, dropna=False):
        if check == "not_nullable":
            what = "missing"
        elif check == "field_uniqueness":
            what = "duplicated"
        elif str(check).startswith("dtype("):
            what = f"has the wrong dtype {group['failure_case'].iloc[0]}"
        else:
            what = str(check)
        rows = pd.to_numeric(group["index"], errors="coerce").dropna().astype("int64")
        if rows.empty:
            problems.append(_Problem(None if pd.isna(column) else column, what))
            continue
        shown = tuple(int(r) for r in rows.iloc[:_SHOWN])
        values = () if what == "missing" else tuple(group["failure_case"].iloc[:_SHOWN])
        problems.append(_Problem(column, what, len(rows), shown, values))
    return problems


# --------------------------------------------------------------------------- coercion


def _whole(column: str, what: str) -> _Problem:
    return _Problem(column, what)


def _is_text_dtype(dtype: Any) -> bool:
    return ptypes.is_object_dtype(dtype) or ptypes.is_string_dtype(dtype)


def _to_text(s: pd.Series, column: str) -> tuple[pd.Series, list[_Problem]]:
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(object)
    if ptypes.is_object_dtype(s.dtype) and pd.api.types.infer_dtype(s, skipna=True) not in (
        "string",
        "empty",
    ):
        is_str = s.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
        bad = s.notna().to_numpy() & ~is_str
        return s, [_at(column, "not text", bad, s)]
    if not _is_text_dtype(s.dtype):
        return s, [_whole(column, f"expected text, got dtype {s.dtype}")]
    return s.astype(_STRING), []


def _to_numbers(s: pd.Series, column: str, expected: str) -> tuple[pd.Series, list[_Problem]]:
    """Numbers from a numeric column, or from a text column (CSV with a stray word)."""
    if ptypes.is_bool_dtype(s.dtype) or not (
        ptypes.is_numeric_dtype(s.dtype) or _is_text_dtype(s.dtype)
    ):
        return s, [_whole(column, f"expected {expected}, got dtype {s.dtype}")]
    if ptypes.is_numeric_dtype(s.dtype):
        return s, []
    numbers = pd.to_numeric(s, errors="coerce")
    bad = s.notna().to_numpy() & numbers.isna().to_numpy()
    if bad.any():
        return s, [_at(column, f"not {expected}", bad, s)]
    return numbers, []


def _to_float(s: pd.Series, column: str) -> tuple[pd.Series, list[_Problem]]:
    if len(s) == 0:
        return pd.Series(np.empty(0, dtype="float64"), index=s.index, name=s.name), []
    s, problems = _to_numbers(s, column, "a number")
    if problems:
        return s, problems
    x = s.to_numpy(dtype="float64", na_value=np.nan)
    return pd.Series(x, index=s.index, name=s.name), []


def _to_int(s: pd.Series, column: str) -> tuple[pd.Series, list[_Problem]]:
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
        _at(column, what, mask, None if what == "missing" else s)
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


def _to_bool(s: pd.Series, column: str) -> tuple[pd.Series, list[_Problem]]:
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
        text = s.astype(_STRING).str.strip().str.lower().astype(object)
        flags = text.map(_BOOL_TEXT)
        bad = ~missing & flags.isna().to_numpy()
    else:
        return s, [_whole(column, f"expected a boolean, got dtype {s.dtype}")]
    problems = []
    if missing.any():
        problems.append(_at(column, "missing", missing))
    if bad.any():
        problems.append(_at(column, "not a boolean (true/false/1/0)", bad, s))
    if problems:
        return s, problems
    return pd.Series(flags.to_numpy(dtype=bool), index=s.index, name=s.name), []


def _to_date(s: pd.Series, column: str) -> tuple[pd.Series, list[_Problem]]:
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
            return s, [_whole(column, f"cannot parse dates: {_first_line(exc)}")]
        bad = s.notna().to_numpy() & d.isna().to_numpy()
        if bad.any():
            return s, [_at(column, "not an ISO 8601 date", bad, s)]
    else:
        return s, [_whole(column, f"expected a date, got dtype {s.dtype}")]
    if isinstance(d.dtype, pd.DatetimeTZDtype):
        d = d.dt.tz_localize(None)  # keep the local calendar date
    d = d.dt.normalize()
    outside = (d.notna() & ((d < pd.Timestamp.min) | (d > pd.Timestamp.max))).to_numpy()
    if outside.any():
        return s, [_at(column, "outside the years 1677..2262", outside, s)]
    return d.astype("datetime64[ns]"), []


_COERCE: Mapping[str, Callable[[pd.Series, str], tuple[pd.Series, list[_Problem]]]] = (
    MappingProxyType(
        {
            "id": _to_text,
            "text": _to_text,
            "int": _to_int,
            "float": _to_float,
            "bool": _to_bool,
            "date": _to_date,
        }
    )
)


# --------------------------------------------------------------------------- validation


@dataclass(frozen=True, eq=False)
class Inputs:
    """The three validated input tables (see the module docstring for their dtypes).

    Examples
    --------
    >>> inputs = read_inputs("data/")  # doctest: +SKIP
    >>> inputs.merchants["merchant_id"].dtype == "string"  # doctest: +SKIP
    True
    """

    merchants: pd.DataFrame
    creators: pd.DataFrame
    collaborations: pd.DataFrame
    sources: Mapping[str, str] = field(default_factory=dict)
    """The file each table was read from (``{"merchants": "merchants.csv", ...}``)."""


def _check_columns(df: pd.DataFrame, specs: Mapping[str, _Spec], source: str) -> None:
    names = pd.Index(df.columns)
    if names.has_duplicates:
        dupes = sorted({str(c) for c in names[names.duplicated()]})
        raise DataError(f"{source}: duplicate column names {dupes}")
    missing = [c for c, spec in specs.items() if not spec.optional and c not in names]
    if missing:
        found = [str(c) for c in names]
        shown = ", ".join(repr(c) for c in found[:10]) + (", ..." if len(found) > 10 else "")
        hint = ""
        if len(found) == 1 and any(sep in found[0] for sep in ";\t|"):
            hint = "; is the file comma-separated?"
        raise DataError(f"{source}: missing required columns {missing} (found: {shown}){hint}")


def validate_table(df: pd.DataFrame, name: str, source: str | None = None) -> pd.DataFrame:
    """Check one input table against the contract and return it normalised.

    The input frame is never modified. Safe coercions, applied only when every value
    of the column converts exactly:

    - text columns: ``object``/``str``/categorical text becomes ``"string"``;
    - int columns: integral floats (``3.0``, e.g. Parquet float64 or a CSV column
      with a gap) and numeric text become ``int64``; ``3.5`` is an error;
    - float columns: ints and numeric text become ``float64``;
    - ``certified_super_top``: text ``true``/``false`` in any case (surrounding
      whitespace ignored), ``1``/``0`` as ints, integral floats or text, become
      ``bool``; anything else, or a missing value, is an error;
    - date columns: datetimes of any unit (tz-aware ones keep their local calendar
      date), ``datetime.date`` objects and ISO 8601 text become ``datetime64[ns]``
      at midnight.

    Absent optional columns are logged at INFO; ``free_videos_used`` is then added
    as 0, the others stay absent.

    Parameters
    ----------
    df : the table as read or built in memory.
    name : one of :data:`TABLES`.
    source : the file name used in messages; default ``f"{name}.parquet"``.

    Returns
    -------
    A new frame with a ``RangeIndex`` and the dtypes of the module docstring;
    extra columns are kept unchanged.

    Raises
    ------
    DataError
        One line naming ``source``, the column and up to five offending rows.
    """
    if name not in _SPECS:
        raise ValueError(f"unknown table {name!r}; expected one of {list(TABLES)}")
    specs = _SPECS[name]
    source = source or f"{name}.parquet"
    _check_columns(df, specs, source)
    if name != "collaborations" and len(df) == 0:
        raise DataError(f"{source}: the table is empty; at least one row is needed")

    out = df.reset_index(drop=True)
    updates: dict[Any, pd.Series] = {}
    problems: list[_Problem] = []
    for column, spec in specs.items():
        if column not in out.columns:
            logger.info("%s: optional column %r absent; %s", source, column, _ABSENT[column])
            continue
        values, found = _COERCE[spec.kind](out[column], column)
        problems.extend(found)
        updates[column] = values
    if problems:
        raise _error(source, problems)
    out = pd.DataFrame({c: updates.get(c, out[c]) for c in out.columns}, index=out.index)
    for column, default in _DEFAULTS.items():
        if column in specs and column not in out.columns:
            out[column] = np.full(len(out), default, dtype="int64")
    try:
        SCHEMAS[name].validate(out, lazy=True)
    except SchemaErrors as exc:
        raise _error(source, _from_schema_errors(exc)) from None
    return out


def validate_inputs(
    merchants: pd.DataFrame,
    creators: pd.DataFrame,
    collaborations: pd.DataFrame,
    *,
    drop_unknown: bool = False,
    sources: Mapping[str, str] | None = None,
    today: date | None = None,
) -> Inputs:
    """Validate the three input tables together (each table, then the rows between them).

    A collaboration ``posted_at`` after ``today`` is an error: nothing is posted in the
    future, and a mistyped year would move training's as-of date with it. Onboarding
    and joining dates may be in the future (a shop or creator scheduled to start).

    Parameters
    ----------
    merchants, creators, collaborations : the tables as read or built in memory.
    drop_unknown : drop collaborations whose ``merchant_id`` or ``creator_id`` is not
        in the other tables (the count is logged at WARNING) instead of raising.
    sources : file name of each table for messages; default ``"<name>.parquet"``.
    today : the calendar day of the run; default the machine's local date.
    """
    sources = dict(sources or {})
    src = {name: sources.get(name, f"{name}.parquet") for name in TABLES}
    m = validate_table(merchants, "merchants", src["merchants"])
    c = validate_table(creators, "creators", src["creators"])
    h = validate_table(collaborations, "collaborations", src["collaborations"])

    today = pd.Timestamp(today or date.today())
    future = (h["posted_at"] > today).to_numpy(dtype=bool)
    if future.any():
        problem = _at(
            "posted_at", f"in the future (after today, {today:%Y-%m-%d})", future, h["posted_at"]
        )
        raise _error(src["collaborations"], [problem])

    unknown_m = ~h["merchant_id"].isin(m["merchant_id"]).to_numpy(dtype=bool)
    unknown_c = ~h["creator_id"].isin(c["creator_id"]).to_numpy(dtype=bool)
    unknown = unknown_m | unknown_c
    if unknown.any():
        if not drop_unknown:
            problems = [
                _at(col, f"not in {src[table]}", mask, h[col])
                for col, table, mask in (
                    ("merchant_id", "merchants", unknown_m),
                    ("creator_id", "creators", unknown_c),
                )
                if mask.any()
            ]
            err = _error(src["collaborations"], problems)
            raise DataError(f"{err} (drop_unknown=True drops these rows)")
        logger.warning(
            "%s: dropped %d of %d rows with an unknown merchant_id (%d) or creator_id (%d)",
            src["collaborations"],
            int(unknown.sum()),
            len(h),
            int(unknown_m.sum()),
            int(unknown_c.sum()),
        )
        h = h.loc[~unknown].reset_index(drop=True)
    return Inputs(merchants=m, creators=c, collaborations=h, sources=src)


# --------------------------------------------------------------------------- reading


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".csv"):
        return suffix[1:]
    raise DataError(f"{path}: unsupported file type {path.suffix!r}; expected .parquet or .csv")


def read_table(path: str | os.PathLike, *, text_columns: Iterable[str] = ()) -> pd.DataFrame:
    """Read one Parquet or CSV file as it is, without validation.

    CSV files are read as UTF-8 (a byte-order mark is dropped), header names are
    stripped of surrounding whitespace.

    Parameters
    ----------
    path : a ``.parquet`` or ``.csv`` file.
    text_columns : CSV columns to keep as text (``"string"``) rather than let pandas
        guess, so an id like ``007`` keeps its zeros. Ignored for Parquet.

    Raises
    ------
    DataError
        The file is missing, of another type, or cannot be parsed.
    """
    path = Path(path)
    fmt = _format_of(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if fmt == "parquet":
        try:
            return pd.read_parquet(path, engine="pyarrow")
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise DataError(f"{path}: cannot read parquet: {_first_line(exc)}") from None
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            names = [name.strip() for name in next(csv.reader(fh), [])]
        header = pd.read_csv(path, encoding="utf-8-sig", nrows=0).columns
        wanted = set(text_columns)
        dtype = {raw: "string" for raw in header if str(raw).strip() in wanted}
        df = pd.read_csv(path, encoding="utf-8-sig", dtype=dtype or None)
    except (
        OSError,
        ValueError,
        csv.Error,
    ) as exc:  # ParserError, EmptyDataError, UnicodeDecodeError
        raise DataError(f"{path}: cannot read csv: {_first_line(exc)}") from None
    dupes = sorted({name for name in names if names.count(name) > 1})
    if dupes:  # pandas would have renamed them "name.1"
        raise DataError(f"{path}: duplicate column names {dupes}")
    df.columns = [str(c).strip() for c in df.columns]
    return df


def _find_table(folder: Path, name: str) -> Path:
    for suffix in (".parquet", ".csv"):
        path = folder / f"{name}{suffix}"
        if path.is_file():
            return path
        if path.is_dir():
            raise DataError(f"{path}: a folder (e.g. a partitioned dataset); one file is expected")
    raise DataError(f"{folder}: no {name}.parquet or {name}.csv")


def read_inputs(data_dir: str | os.PathLike, *, drop_unknown: bool = False) -> Inputs:
    """Read and validate the three input tables of a folder.

    For each table ``<name>.parquet`` is used if present, else ``<name>.csv``.

    Parameters
    ----------
    data_dir : the folder holding the tables.
    drop_unknown : see :func:`validate_inputs`.

    Raises
    ------
    DataError
        A missing folder or table, an unreadable file, or a table that breaks the
        contract; one line.
    """
    folder = Path(data_dir)
    if not folder.is_dir():
        raise DataError(f"{folder}: data folder not found")
    frames: dict[str, pd.DataFrame] = {}
    sources: dict[str, str] = {}
    for name in TABLES:
        path = _find_table(folder, name)
        text = [c for c, spec in _SPECS[name].items() if spec.kind in ("id", "text")]
        frames[name] = read_table(path, text_columns=text)
        sources[name] = path.name
    return validate_inputs(
        frames["merchants"],
        frames["creators"],
        frames["collaborations"],
        drop_unknown=drop_unknown,
        sources=sources,
    )


@dataclass(frozen=True)
class TableSize:
    rows: int
    columns: int


def input_sizes(data_dir: str | os.PathLike) -> dict[str, TableSize]:
    """The size of each input table without loading it: Parquet metadata, or a count of
    a CSV file's lines (an upper bound when quoted values span lines).

    Raises
    ------
    DataError
        As :func:`read_inputs` would for a missing folder or table, or an unreadable file.
    """
    folder = Path(data_dir)
    if not folder.is_dir():
        raise DataError(f"{folder}: data folder not found")
    sizes = {}
    for name in TABLES:
        path = _find_table(folder, name)
        if path.suffix.lower() == ".parquet":
            try:
                meta = pq.read_metadata(path)
            except (OSError, ValueError, pa.ArrowException) as exc:
                raise DataError(f"{path}: cannot read parquet: {_first_line(exc)}") from None
            sizes[name] = TableSize(meta.num_rows, meta.num_columns)
            continue
        try:
            with open(path, encoding="utf-8-sig", newline="") as fh:
                columns = len(next(csv.reader(fh), []))
            lines = 0
            with open(path, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    lines += chunk.count(b"\n")
        except (OSError, ValueError, csv.Error) as exc:
            raise DataError(f"{path}: cannot read csv: {_first_line(exc)}") from None
        sizes[name] = TableSize(lines, columns)  # counts the header too: an upper bound
    return sizes


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; a missing or malformed file is a :class:`DataError`."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read json: {_first_line(exc)}") from None


# --------------------------------------------------------------------------- writing


def _write_parquet(table: pa.Table, where: IO[bytes]) -> None:
    """The one call that writes Parquet bytes (kept separate so tests can break it)."""
    pq.write_table(table, where)


def _midnights(s: pd.Series) -> pd.Series:
    d = s if ptypes.is_datetime64_any_dtype(s.dtype) else pd.to_datetime(s)
    if isinstance(d.dtype, pd.DatetimeTZDtype):
        d = d.dt.tz_localize(None)
    return d.dt.normalize()


def _with_dates(
    df: pd.DataFrame, date_columns: Iterable[str], path: Path
) -> tuple[pd.DataFrame, list[str]]:
    """A copy of ``df`` whose date columns are datetimes at midnight, and their names."""
    names = [c for c in dict.fromkeys((*DATE_COLUMNS, *date_columns)) if c in df.columns]
    updates = {}
    for column in names:
        try:
            updates[column] = _midnights(df[column])
        except (ValueError, TypeError) as exc:
            raise DataError(
                f"{path.name}: column {column!r}: cannot write as dates: {_first_line(exc)}"
            ) from None
    return (df.assign(**updates) if updates else df), names


def _serialise(df: pd.DataFrame, path: Path, date_columns: Iterable[str]) -> Callable:
    """A function writing ``df`` to a binary file in the format of ``path``."""
    fmt = _format_of(path)
    frame, dates = _with_dates(df, date_columns, path)
    if fmt == "parquet":
        schema = pa.Schema.from_pandas(frame, preserve_index=False)
        for column in dates:
            schema = schema.set(schema.get_field_index(column), pa.field(column, pa.date32()))
        table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
        return lambda fh: _write_parquet(table, fh)
    if dates:
        frame = frame.assign(**{c: frame[c].dt.strftime("%Y-%m-%d") for c in dates})
    text = frame.to_csv(index=False, lineterminator="\n")
    return lambda fh: fh.write(text.encode("utf-8"))


def _write_temp(path: Path, write: Callable[[IO[bytes]], Any]) -> Path:
    """Write to a hidden temporary file next to ``path``, fsync it, return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _fsync_dir(folder: Path) -> None:
    if os.name == "posix":
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _commit(pairs: list[tuple[Path, Path]]) -> None:
    """Rename every temporary file onto its target; on failure remove the rest."""
    done = 0
    try:
        for tmp, target in pairs:
            os.replace(tmp, target)
            done += 1
    except BaseException:
        for tmp, _ in pairs[done:]:
            tmp.unlink(missing_ok=True)
        raise
    for folder in {target.parent for _, target in pairs}:
        _fsync_dir(folder)


JOURNAL = ".commit.json"
"""Left in a folder only by a writer killed while renaming its files into place."""


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock of ``folder`` (POSIX ``flock`` on the folder itself: no lock
    file; the kernel releases it when the process dies, however it dies)."""
    if os.name != "posix":
        yield
        return
    import fcntl

    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM for the duration (they are delivered right after), so an
    interrupt never lands between two renames. Only the main thread can do this; elsewhere
    the block runs unprotected (a journal still makes it recoverable)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    held = (signal.SIGINT, signal.SIGTERM)
    previous = {
        sig: signal.signal(sig, lambda signum, frame: caught.append(signum)) for sig in held
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
        for sig in dict.fromkeys(caught):
            signal.raise_signal(sig)


def _stale_temps(folder: Path, names: Iterable[str]) -> list[Path]:
    return sorted(p for name in names for p in folder.glob(f".{name}.*.tmp"))


def _finish(folder: Path) -> list[str]:
    """Complete an interrupted publish of ``folder`` from its journal; the caller holds the lock."""
    journal = folder / JOURNAL
    if not journal.is_file():
        return []
    entries = read_json(journal)
    if not (
        isinstance(entries, list)
        and all(
            isinstance(e, list)
            and len(e) == 2
            and all(isinstance(n, str) and "/" not in n for n in e)
            for e in entries
        )
    ):
        raise DataError(f"{journal}: not a journal written by matching; remove it by hand")
    for tmp, target in entries:
        if (folder / tmp).is_file():
            os.replace(folder / tmp, folder / target)
    _fsync_dir(folder)
    journal.unlink()
    _fsync_dir(folder)
    return [target for _, target in entries]


def recover(folder: str | os.PathLike, names: Iterable[str] = ()) -> None:
    """Make ``folder`` whole after a writer was killed: complete an interrupted publish
    (see :func:`publish`) and remove stale temporary files of ``names`` (and of the files
    a journal names). A no-op on a folder that needs nothing, or does not exist."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    with _locked(folder):
        _recover(folder, names)


def _recover(folder: Path, names: Iterable[str]) -> None:
    finished = _finish(folder)
    if finished:
        logger.warning("%s: completed the interrupted write of %s", folder, ", ".join(finished))
    for stale in _stale_temps(folder, [*names, *finished, JOURNAL]):
        stale.unlink(missing_ok=True)


def publish(
    folder: str | os.PathLike, files: Mapping[str, Callable[[IO[bytes]], Any]]
) -> dict[str, Path]:
    """Write several files of one folder as a unit: afterwards, all are new or all are old.

    ``files`` maps each file name to a function writing its bytes. Under an exclusive
    lock of the folder (a second writer waits):

    1. an interrupted publish is completed and stale temporary files of these names
       are removed (:func:`recover`);
    2. every file is written to a hidden temporary file and fsynced;
    3. a journal (:data:`JOURNAL`) naming temporary file -> target is written: the
       commit point;
    4. every temporary file is renamed onto its target, the folder is fsynced, the
       journal is removed.

    A failure or a kill before 3 leaves the previous files untouched (a kill may leave
    hidden ``.<name>.*.tmp`` files, removed by the next publish). After 3 the new files
    are complete on disk: a kill during 4 leaves the journal, and the next
    :func:`recover` or publish completes the renames. SIGINT and SIGTERM arriving
    during 3-4 are delivered once 4 is done.

    Returns
    -------
    The path of each file.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file of that name, no permission
        raise DataError(f"{folder}: cannot create the folder: {exc.strerror or exc}") from None
    targets = {name: folder / name for name in files}
    with _locked(folder):
        _recover(folder, files)
        staged: list[tuple[Path, Path]] = []
        try:
            for name, write in files.items():
                staged.append((_write_temp(targets[name], write), targets[name]))
            entries = [[tmp.name, target.name] for tmp, target in staged]
            journal = _write_temp(
                folder / JOURNAL, lambda fh: fh.write(json.dumps(entries).encode())
            )
        except BaseException:  # holding the lock, every temporary file of these names is ours
            for tmp in _stale_temps(folder, [*files, JOURNAL]):
                tmp.unlink(missing_ok=True)
            raise
        with _signals_held():
            try:
                os.replace(journal, folder / JOURNAL)
            except BaseException:
                for tmp in _stale_temps(folder, [*files, JOURNAL]):
                    tmp.unlink(missing_ok=True)
                raise
            _fsync_dir(folder)  # the commit point
            _finish(folder)
    return targets


def write_table(
    df: pd.DataFrame, path: str | os.PathLike, *, date_columns: Iterable[str] = ()
) -> None:
    """Write one table atomically, as Parquet or CSV by the extension of ``path``.

    The table goes to a hidden temporary file in the same folder, is fsynced, then
    renamed onto ``path``; on any error the temporary file is removed and ``path``
    is untouched. Identical frames give byte-identical files. The index is not
    written. Columns of :data:`DATE_COLUMNS` and ``date_columns`` are written as
    Parquet ``date32`` (CSV: ``YYYY-MM-DD``).
    """
    path = Path(path)
    write = _serialise(df, path, date_columns)
    _commit([(_write_temp(path, write), path)])


def write_tables(
    tables: Mapping[str, pd.DataFrame],
    out_dir: str | os.PathLike,
    fmt: str = "parquet",
    *,
    date_columns: Iterable[str] = (),
) -> dict[str, Path]:
    """Write several tables as ``<out_dir>/<name>.<fmt>``, all or none (see :func:`publish`).

    Every table is written to a temporary file first; only when all are written are
    they renamed into place, so a failure leaves the previous files intact and no
    temporary files behind.

    Returns
    -------
    The path written for each table.
    """
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"fmt must be 'parquet' or 'csv', got {fmt!r}")
    folder = Path(out_dir)
    names = {name: f"{name}.{fmt}" for name in tables}
    writers = {
        names[name]: _serialise(df, folder / names[name], date_columns)
        for name, df in tables.items()
    }
    paths = publish(folder, writers)
    return {name: paths[names[name]] for name in tables}


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def write_json(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj`` as JSON atomically: sorted keys, indent 2, a trailing newline.

    NumPy scalars and arrays, dates and paths are converted; the output is the
    same bytes for the same object.
    """
    path = Path(path)
    text = json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False, default=_json_default)
    data = (text + "\n").encode("utf-8")
    _commit([(_write_temp(path, lambda fh: fh.write(data)), path)])


# --------------------------------------------------------------------------- outputs


def _out_text(s: pd.Series, column: str) -> list[_Problem]:
    if ptypes.is_object_dtype(s.dtype):
        if pd.api.types.infer_dtype(s, skipna=True) not in ("string", "empty"):
            return [_whole(column, "expected text")]
    elif not ptypes.is_string_dtype(s.dtype):
        return [_whole(column, f"expected text, got dtype {s.dtype}")]
    missing = s.isna().to_numpy()
    return [_at(column, "missing", missing)] if missing.any() else []


def _out_number(
    s: pd.Series,
    column: str,
    integer: bool,
    low: float | None = None,
    high: float | None = None,
    strict_low: bool = False,
) -> list[_Problem]:
    ok = ptypes.is_integer_dtype if integer else ptypes.is_float_dtype
    if ptypes.is_bool_dtype(s.dtype) or not ok(s.dtype):
        kind = "an integer" if integer else "a float"
        return [_whole(column, f"expected {kind} dtype, got {s.dtype}")]
    x = s.to_numpy(dtype="float64", na_value=np.nan)
    missing = np.isnan(x)
    problems = [_at(column, "missing", missing)] if missing.any() else []
    if np.isinf(x).any():
        problems.append(_at(column, "infinite", np.isinf(x), s))
    with np.errstate(invalid="ignore"):
        if low is not None:
            below = (x <= low) if strict_low else (x < low)
            if below.any():
                problems.append(_at(column, f"{'<=' if strict_low else '<'} {low:g}", below, s))
        if high is not None and (x > high).any():
            problems.append(_at(column, f"> {high:g}", x > high, s))
    return problems


def _out_bool(s: pd.Series, column: str) -> list[_Problem]:
    if not ptypes.is_bool_dtype(s.dtype):
        return [_whole(column, f"expected a bool dtype, got {s.dtype}")]
    missing = s.isna().to_numpy()
    return [_at(column, "missing", missing)] if missing.any() else []


def _out_date(s: pd.Series, column: str) -> list[_Problem]:
    dates = ptypes.is_datetime64_any_dtype(s.dtype) or (
        ptypes.is_object_dtype(s.dtype)
        and pd.api.types.infer_dtype(s, skipna=True) in ("date", "empty")
    )
    if not dates:
        return [_whole(column, f"expected dates, got dtype {s.dtype}")]
    missing = s.isna().to_numpy()
    return [_at(column, "missing", missing)] if missing.any() else []


def _missing_columns(df: pd.DataFrame, columns: tuple[str, ...], source: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"{source}: missing columns {missing}")


def _pairs(df: pd.DataFrame) -> pd.DataFrame:
    return df[["merchant_id", "creator_id"]].astype(object)


def validate_outputs(matches: pd.DataFrame, allocation: pd.DataFrame) -> None:
    """Check the two output tables before they are written (a guard against bugs).

    matches: text ids, ``rank`` int >= 1 and unique per merchant, ``score`` and
    ``priority_score`` finite floats with ranks following ``priority_score``,
    ``certified_super_top`` bool, ``fit`` float in 0..1, no duplicate pair.
    allocation: text ids, ``videos`` int >= 1, ``expected_gmv_usd`` float >= 0,
    ``window_end`` dates, no duplicate pair, every pair among the matches.

    Raises
    ------
    DataError
        One line naming the table, the column and up to five rows.
    """
    _missing_columns(matches, MATCHES_COLUMNS, "matches")
    _missing_columns(allocation, ALLOCATION_COLUMNS, "allocation")
    mt = matches.reset_index(drop=True)
    al = allocation.reset_index(drop=True)

    problems = [
        *_out_text(mt["merchant_id"], "merchant_id"),
        *_out_text(mt["creator_id"], "creator_id"),
        *_out_number(mt["rank"], "rank", integer=True, low=1),
        *_out_number(mt["score"], "score", integer=False),
        *_out_number(mt["priority_score"], "priority_score", integer=False),
        *_out_bool(mt["certified_super_top"], "certified_super_top"),
        *_out_number(mt["fit"], "fit", integer=False, low=0, high=1),
    ]
    if not problems:
        dup = mt.duplicated(["merchant_id", "creator_id"], keep=False).to_numpy()
        if dup.any():
            problems.append(_at(None, "with a duplicated (merchant_id, creator_id) pair", dup))
        dup_rank = mt.duplicated(["merchant_id", "rank"], keep=False).to_numpy()
        if dup_rank.any():
            problems.append(_at("rank", "repeated within a merchant", dup_rank, mt["rank"]))
        ordered = mt.sort_values(["merchant_id", "rank"], kind="stable")
        rise = ordered.groupby("merchant_id", sort=False)["priority_score"].diff() > 1e-9
        if rise.any():
            mask = np.zeros(len(mt), dtype=bool)
            mask[rise.index[rise.to_numpy()]] = True
            problems.append(_at("rank", "not following priority_score", mask, mt["rank"]))
    if problems:
        raise _error("matches", problems)

    problems = [
        *_out_text(al["merchant_id"], "merchant_id"),
        *_out_text(al["creator_id"], "creator_id"),
        *_out_number(al["videos"], "videos", integer=True, low=1),
        *_out_number(al["expected_gmv_usd"], "expected_gmv_usd", integer=False, low=0),
        *_out_date(al["window_end"], "window_end"),
    ]
    if not problems:
        dup = al.duplicated(["merchant_id", "creator_id"], keep=False).to_numpy()
        if dup.any():
            problems.append(_at(None, "with a duplicated (merchant_id, creator_id) pair", dup))
        found = _pairs(al).merge(
            _pairs(mt).drop_duplicates(), how="left", indicator=True, validate="many_to_one"
        )
        unmatched = (found["_merge"] == "left_only").to_numpy()
        if unmatched.any():
            problems.append(_at(None, "with a pair not in matches", unmatched))
    if problems:
        raise _error("allocation", problems)


# --------------------------------------------------------------------------- marketplace, truth, models

TRUTH_DIR = "truth"
MODEL_FILE = "ranker.joblib"
MODEL_META = "model.json"


def write_marketplace(market: Any, out_dir: str | os.PathLike, fmt: str = "parquet") -> None:
    """Write a simulated marketplace: the three input tables, and its truth in ``truth/``."""
    out = Path(out_dir)
    write_tables(
        {
            "merchants": market.merchants,
            "creators": market.creators,
            "collaborations": market.collaborations,
        },
        out,
        fmt=fmt,
    )
    truth = market.truth.to_tables()
    write_tables({"merchants": truth["merchants"], "creators": truth["creators"]}, out / TRUTH_DIR)
    write_json(truth["params"], out / TRUTH_DIR / "params.json")


def read_truth(data_dir: str | os.PathLike):
    """The ground truth beside a simulated data folder, or None when there is none."""
    from matching.simulate import GroundTruth

    folder = Path(data_dir) / TRUTH_DIR
    if not (folder / "params.json").is_file():
        return None
    return GroundTruth.from_tables(
        read_table(folder / "merchants.parquet"),
        read_table(folder / "creators.parquet"),
        read_json(folder / "params.json"),
    )


def summarize_inputs(inputs: Inputs, config: Any) -> str:
    """A short human summary of a validated data folder."""
    m, c, h = inputs.merchants, inputs.creators, inputs.collaborations
    cert = (
        m["certified_super_top"]
        if "certified_super_top" in m
        else m["annual_gmv_usd"] >= config.program.certification_gmv_usd
    )
    start, end = pd.Timestamp(config.program.start), pd.Timestamp(config.program.end)
    in_prog = m["onboarded_at"].between(start, end)
    lines = [
        f"merchants       {len(m):>10,}  ({int(cert.sum()):,} certified super-top, "
        f"{int((cert & in_prog).sum()):,} of them onboarded in the program)",
        f"creators        {len(c):>10,}  ({int(c['creator_id'].isin(h['creator_id']).sum()):,} with history)",
        f"collaborations  {len(h):>10,}  "
        + (
            f"({h['posted_at'].min():%Y-%m-%d} to {h['posted_at'].max():%Y-%m-%d}, "
            f"GMV {h['gmv_usd'].sum():,.0f} USD)"
            if len(h)
            else "(none)"
        ),
        f"cold-start merchants (no history): {int((~m['merchant_id'].isin(h['merchant_id'])).sum()):,}",
    ]
    return "\n".join(lines)


def format_summary(summary: dict) -> str:
    """The run summary of ``matching match`` as a short table."""
    rows = [
        ("as of", summary["as_of"]),
        ("merchants matched", f"{summary['merchants']:,} ({summary['matches']:,} matches)"),
        (
            "eligible sellers",
            f"{summary['eligible_sellers']:,} of {summary['certified_sellers']:,} certified",
        ),
        ("sellers served", f"{summary['sellers_served']:,}"),
        (
            "videos placed",
            f"{summary['videos_placed']:,} of {summary['remaining_quota']:,} remaining quota "
            f"(max-flow limit {summary['max_flow_limit']:,})",
        ),
        (
            "expected GMV",
            f"{summary['expected_gmv_usd']:,.0f} USD (greedy: "
            f"{summary['greedy_expected_gmv_usd']:,.0f}, gap {100 * summary['greedy_gap']:.2f}%)",
        ),
        (
            "creators used",
            f"{summary['creators_used']:,} (utilisation {100 * summary['creator_utilisation']:.1f}%)",
        ),
    ]
    return "\n".join(f"{k:18s} {v}" for k, v in rows)


_OUTPUT_SCHEMAS = MappingProxyType(
    {
        "matches": pa.schema(
            [
                ("merchant_id", pa.string()),
                ("creator_id", pa.string()),
                ("rank", pa.int64()),
                ("score", pa.float64()),
                ("priority_score", pa.float64()),
                ("certified_super_top", pa.bool_()),
                ("fit", pa.float64()),
            ]
        ),
        "allocation": pa.schema(
            [
                ("merchant_id", pa.string()),
                ("creator_id", pa.string()),
                ("videos", pa.int64()),
                ("expected_gmv_usd", pa.float64()),
                ("window_end", pa.date32()),
            ]
        ),
    }
)
"""The Arrow schema of each output table: fixed, so an empty table still has its types."""


def _parquet_bytes(df: pd.DataFrame, schema: pa.Schema) -> bytes:
    frame, _ = _with_dates(df[list(schema.names)], (), Path("output.parquet"))
    sink = pa.BufferOutputStream()
    _write_parquet(pa.Table.from_pandas(frame, schema=schema, preserve_index=False), sink)
    return sink.getvalue().to_pybytes()


def write_outputs(
    out_dir: str | os.PathLike,
    matches: pd.DataFrame,
    allocation: pd.DataFrame,
    summary: dict,
    pictures: Mapping[str, bytes] | None = None,
) -> dict:
    """Validate and write ``matches``, ``allocation``, ``summary.json`` and the run's
    ``pictures`` (PNG bytes by file name) as one unit (:func:`publish`). The summary written,
    and returned, gains ``outputs``: the rows and SHA-256 of each table, so a reader can check
    that the files belong together.
    """
    validate_outputs(matches, allocation)
    blobs = {
        f"{name}.parquet": (len(df), _parquet_bytes(df, _OUTPUT_SCHEMAS[name]))
        for name, df in (("matches", matches), ("allocation", allocation))
    }
    summary = {
        **summary,
        "outputs": {
            name: {"rows": rows, "sha256": hashlib.sha256(blob).hexdigest()}
            for name, (rows, blob) in blobs.items()
        },
    }
    text = json.dumps(summary, sort_keys=True, indent=2, default=_json_default) + "\n"
    files = {name: _bytes_writer(blob) for name, (_, blob) in blobs.items()}
    pngs = {name: _bytes_writer(blob) for name, blob in (pictures or {}).items()}
    publish(out_dir, {**files, **pngs, "summary.json": _bytes_writer(text.encode())})
    return summary


def _bytes_writer(blob: bytes) -> Callable[[IO[bytes]], Any]:
    return lambda fh: fh.write(blob)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _file_hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of the model folder's files: all but model.json and hidden files."""
    return {
        p.name: _sha256_file(p)
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name != MODEL_META and not p.name.startswith(".")
    }


def _meta_checksum(meta: dict) -> str:
    """SHA-256 of a model description without its own checksum (an integrity check: it
    catches edits and corruption, not an adversary, who can recompute it)."""
    body = {k: v for k, v in meta.items() if k != "meta_sha256"}
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, default=_json_default).encode()
    ).hexdigest()


_PICKLE_DEPENDENCIES = ("scikit-learn", "numpy", "pandas", "joblib")
"""Libraries whose objects live in ranker.joblib; recorded with the model."""


def _dependency_versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in _PICKLE_DEPENDENCIES}


def _major_minor(text: str) -> list[str]:
    return str(text).split(".")[:2]


@dataclass(frozen=True)
class SavedModel:
    ranker: Any
    config: Any
    meta: dict


def save_model(ranker: Any, model_dir: str | os.PathLike, config: Any, metrics: dict) -> None:
    """Save a fitted ranker as one unit (:func:`publish`): ``ranker.joblib`` and
    ``model.json`` recording the library version, the versions of the libraries pickled
    with it, the config, the metrics, the SHA-256 of the folder's files and a checksum
    of itself."""
    import io

    import joblib

    from matching import __version__

    buf = io.BytesIO()
    joblib.dump(ranker, buf, compress=3)
    blob = buf.getvalue()
    folder = Path(model_dir)
    files = _file_hashes(folder) if folder.is_dir() else {}
    files[MODEL_FILE] = hashlib.sha256(blob).hexdigest()
    meta = {
        "library_version": __version__,
        "dependencies": _dependency_versions(),
        "config": config.model_dump(mode="json"),
        "metrics": metrics,
        "files": dict(sorted(files.items())),
    }
    meta["meta_sha256"] = _meta_checksum(meta)
    text = (
        json.dumps(meta, sort_keys=True, indent=2, ensure_ascii=False, default=_json_default) + "\n"
    )
    publish(
        folder, {MODEL_FILE: _bytes_writer(blob), MODEL_META: _bytes_writer(text.encode("utf-8"))}
    )


_META_KEYS = ("library_version", "dependencies", "config", "files", "meta_sha256")


def load_model(model_dir: str | os.PathLike) -> SavedModel:
    """Load a model directory saved by :func:`save_model`.

    Refused, with a :class:`DataError`: a folder that is not a model directory, or whose
    save was interrupted; a ``model.json`` that was edited or is corrupt (its checksum);
    a model saved by another major.minor version of ``matching`` or of scikit-learn
    (pickles do not cross those); files that do not match their recorded SHA-256; a
    ``ranker.joblib`` that cannot be unpickled here; a recorded config that this version
    does not accept. Only load model directories you trust: ``ranker.joblib`` is a
    pickle, and the hashes detect accidents, not attacks.
    """
    import pickle

    import joblib
    import sklearn
    from pydantic import ValidationError

    from matching import __version__
    from matching.config import Config

    folder = Path(model_dir)
    if not folder.is_dir():
        raise DataError(f"{folder}: model directory not found")
    if (folder / JOURNAL).exists():
        raise DataError(
            f"{folder}: its last save was interrupted ({JOURNAL} is present); "
            "train again into this directory"
        )
    meta_path = folder / MODEL_META
    if not meta_path.is_file():
        raise DataError(
            f"{folder}: not a model directory (no {MODEL_META}); train one with `matching train`"
        )
    meta = read_json(meta_path)
    missing = (
        [k for k in _META_KEYS if k not in meta] if isinstance(meta, dict) else list(_META_KEYS)
    )
    if missing:
        raise DataError(
            f"{meta_path}: not a model description saved by this version (missing {missing}); "
            "train the model again"
        )
    if meta["meta_sha256"] != _meta_checksum(meta):
        raise DataError(
            f"{meta_path}: edited or corrupted (its checksum does not match its content)"
        )
    saved = str(meta["library_version"])
    if _major_minor(saved) != _major_minor(__version__):
        raise DataError(
            f"{folder}: model saved by matching {saved}, incompatible with {__version__}; "
            "train it again"
        )
    pickled = str(meta["dependencies"].get("scikit-learn", "?"))
    if _major_minor(pickled) != _major_minor(sklearn.__version__):
        raise DataError(
            f"{folder}: model saved with scikit-learn {pickled}, incompatible with the installed "
            f"{sklearn.__version__}; train it again"
        )
    if _file_hashes(folder) != meta["files"]:
        raise DataError(f"{folder}: model files do not match the hashes recorded in {MODEL_META}")
    try:
        config = Config.model_validate(meta["config"])
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        raise DataError(
            f"{meta_path}: its config is not valid for this version ({where}: {err['msg']})"
        ) from None
    try:
        with open(folder / MODEL_FILE, "rb") as f:
            ranker = joblib.load(f)
    except (
        OSError,
        EOFError,
        pickle.UnpicklingError,
        ImportError,
        AttributeError,
        ValueError,
    ) as exc:
        raise DataError(f"{folder / MODEL_FILE}: cannot load: {_first_line(exc)}") from None
    return SavedModel(ranker, config, meta)
