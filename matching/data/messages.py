"""One-line error messages about rows of a table: the column, how many values, which rows.

Every check of the package (coercion, the pandera schemas, the rules between tables)
reports :class:`Problem` values; :func:`one_line_error` turns them into the
:class:`~matching.errors.DataError` the user reads, naming at most five rows and three
problems, with offending values escaped so look-alike characters show.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandera.errors import SchemaErrors

from matching.errors import DataError

__all__ = ["Problem", "first_line", "one_line_error", "problem_at", "problems_of", "whole_column"]

_SHOWN = 5  # offending rows named in a message
_PROBLEMS_SHOWN = 3  # problems named in a message


@dataclass(frozen=True)
class Problem:
    """What is wrong, where: ``rows`` (0-based positions, at most five) of ``column``
    (None: the table), and the offending ``values`` to show beside them."""

    column: Any
    what: str
    count: int = 0  # offending values; 0 for a problem of the whole column
    rows: tuple[int, ...] = ()
    values: tuple[Any, ...] = ()


def problem_at(column: Any, what: str, mask: Any, values: pd.Series | None = None) -> Problem:
    """A problem at the rows where ``mask`` is true (``values`` shown next to the rows)."""
    where = np.flatnonzero(np.asarray(mask, dtype=bool))
    shown = where[:_SHOWN]
    vals = tuple(values.iloc[shown]) if values is not None else ()
    return Problem(column, what, len(where), tuple(int(i) for i in shown), vals)


def whole_column(column: Any, what: str) -> Problem:
    """A problem of a column as a whole (its dtype, say), not of some rows."""
    return Problem(column, what)


def _show(value: Any) -> str:
    if isinstance(value, pd.Timestamp) and value == value.normalize():
        return value.date().isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    # escaped, so a look-alike (a Cyrillic "с" for a Latin "c") or an invisible character shows
    text = "<NA>" if value is pd.NA else ascii(value) if isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _describe(p: Problem) -> str:
    head = "" if p.column is None else f"column {str(p.column)!r}: "
    if p.count == 0:
        return head + p.what
    more = ", ..." if p.count > len(p.rows) else ""
    rows = ", ".join(str(r) for r in p.rows) + more
    vals = (": " + ", ".join(_show(v) for v in p.values) + more) if p.values else ""
    one, many = ("row", "rows") if p.column is None else ("value", "values")
    noun, label = (one, "row") if p.count == 1 else (many, "rows")
    return f"{head}{p.count} {noun} {p.what} ({label} {rows}{vals})"


def one_line_error(source: str, problems: list[Problem]) -> DataError:
    """``source: problem; problem; problem (and N more problems)``."""
    text = "; ".join(_describe(p) for p in problems[:_PROBLEMS_SHOWN])
    if len(problems) > _PROBLEMS_SHOWN:
        more = len(problems) - _PROBLEMS_SHOWN
        text += f" (and {more} more problem{'s' if more > 1 else ''})"
    return DataError(f"{source}: {text}")


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (libraries' messages can run to pages)."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def problems_of(exc: SchemaErrors) -> list[Problem]:
    """The problems pandera found (``validate(lazy=True)``), one per column and check; a
    check of whole rows (a table-level check) is one problem of the table, naming rows."""
    fc = exc.failure_cases
    rows_checked = (fc["schema_context"] == "DataFrameSchema") & fc["index"].notna()
    if rows_checked.any():  # pandera lists every cell of a failing row: one entry per row
        rows = fc[rows_checked].drop_duplicates(["check", "index"]).assign(column=None)
        fc = pd.concat([fc[~rows_checked], rows], ignore_index=True)
    problems = []
    for (name, check), group in fc.groupby(["column", "check"], sort=False, dropna=False):
        column = None if pd.isna(name) else name
        if check == "not_nullable":
            what = "missing"
        elif check == "field_uniqueness":
            what = "duplicated"
        elif str(check).startswith("dtype("):
            expected = str(check)[len("dtype(") : -1].strip("'\"")
            what = f"has the wrong dtype {group['failure_case'].iloc[0]} (expected {expected})"
        else:
            what = str(check)
        rows = pd.to_numeric(group["index"], errors="coerce").dropna().astype("int64")
        if rows.empty:
            problems.append(Problem(column, what))
            continue
        shown = tuple(int(r) for r in rows.iloc[:_SHOWN])
        shown_values = what != "missing" and column is not None
        values = tuple(group["failure_case"].iloc[:_SHOWN]) if shown_values else ()
        problems.append(Problem(column, what, len(rows), shown, values))
    return problems
