"""Validation of the tables against the contract: each input table (coerced, then checked by
its pandera schema), the rows between the input tables, and the output tables before they
are written. Every failure is one :class:`~matching.errors.DataError` line.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pdv
from pandera.errors import SchemaErrors

from matching.data.coerce import COERCE
from matching.data.contract import (
    ALLOCATION_COLUMNS,
    MATCHES_COLUMNS,
    OPTIONAL_TABLES,
    TABLES,
    is_in,
)
from matching.data.messages import Problem, one_line_error, problem_at, problems_of
from matching.data.schema import ABSENT, DEFAULTS, OUTPUT_SCHEMAS, SCHEMAS, SPECS, Spec
from matching.errors import DataError

__all__ = [
    "Inputs",
    "validate_allocation",
    "validate_inputs",
    "validate_matches",
    "validate_outputs",
    "validate_table",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Inputs:
    """The three validated input tables (their dtypes: :mod:`matching.data`).

    Examples
    --------
    >>> inputs = matching.data.read_inputs("data/")  # doctest: +SKIP
    >>> inputs.merchants["merchant_id"].dtype == "string"  # doctest: +SKIP
    True
    """

    merchants: pd.DataFrame
    creators: pd.DataFrame
    collaborations: pd.DataFrame
    sources: Mapping[str, str] = field(default_factory=dict)
    """The file each table was read from (``{"merchants": "merchants.csv", ...}``)."""
    offers: pd.DataFrame | None = None
    """The platform's offers of jobs to creators and their answers, when the folder has
    them (:func:`validate_offers`); None otherwise."""


def _check_columns(df: pd.DataFrame, specs: Mapping[str, Spec], source: str) -> None:
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
    name : one of :data:`TABLES` or :data:`OPTIONAL_TABLES`.
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
    if name not in SPECS:
        raise ValueError(f"unknown table {name!r}; expected one of {[*TABLES, *OPTIONAL_TABLES]}")
    specs = SPECS[name]
    source = source or f"{name}.parquet"
    _check_columns(df, specs, source)
    if name in ("merchants", "creators") and len(df) == 0:
        raise DataError(f"{source}: the table is empty; at least one row is needed")

    out = df.reset_index(drop=True)
    updates: dict[Any, pd.Series] = {}
    problems: list[Problem] = []
    for column, spec in specs.items():
        if column not in out.columns:
            logger.info("%s: optional column %r absent; %s", source, column, ABSENT[column])
            continue
        values, found = COERCE[spec.kind](out[column], column)
        problems.extend(found)
        updates[column] = values
    if problems:
        raise one_line_error(source, problems)
    out = pd.DataFrame({c: updates.get(c, out[c]) for c in out.columns}, index=out.index)
    for column, default in DEFAULTS.items():
        if column in specs and column not in out.columns:
            out[column] = np.full(len(out), default, dtype="int64")
    try:
        SCHEMAS[name].validate(out, lazy=True)
    except SchemaErrors as exc:
        raise one_line_error(source, problems_of(exc)) from None
    return out


def validate_inputs(
    merchants: pd.DataFrame,
    creators: pd.DataFrame,
    collaborations: pd.DataFrame,
    *,
    drop_unknown: bool = False,
    sources: Mapping[str, str] | None = None,
    today: date | None = None,
    offers: pd.DataFrame | None = None,
) -> Inputs:
    """Validate the three input tables together (each table, then the rows between them),
    and ``offers`` when given (:func:`validate_offers`).

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
    src = {name: sources.get(name, f"{name}.parquet") for name in (*TABLES, *OPTIONAL_TABLES)}
    m = validate_table(merchants, "merchants", src["merchants"])
    c = validate_table(creators, "creators", src["creators"])
    h = validate_table(collaborations, "collaborations", src["collaborations"])

    today = pd.Timestamp(today or date.today())
    future = (h["posted_at"] > today).to_numpy(dtype=bool)
    if future.any():
        problem = problem_at(
            "posted_at", f"in the future (after today, {today:%Y-%m-%d})", future, h["posted_at"]
        )
        raise one_line_error(src["collaborations"], [problem])

    unknown_m = ~is_in(h["merchant_id"], m["merchant_id"])
    unknown_c = ~is_in(h["creator_id"], c["creator_id"])
    unknown = unknown_m | unknown_c
    if unknown.any():
        if not drop_unknown:
            problems = [
                problem_at(col, f"not in {src[table]}", mask, h[col])
                for col, table, mask in (
                    ("merchant_id", "merchants", unknown_m),
                    ("creator_id", "creators", unknown_c),
                )
                if mask.any()
            ]
            err = one_line_error(src["collaborations"], problems)
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
    o = None
    if offers is not None:
        o = validate_offers(offers, m, c, src["offers"], today)
    else:
        src.pop("offers")
    return Inputs(merchants=m, creators=c, collaborations=h, sources=src, offers=o)


def validate_offers(
    offers: pd.DataFrame,
    merchants: pd.DataFrame,
    creators: pd.DataFrame,
    source: str = "offers.parquet",
    today: date | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Check the optional ``offers`` table and return it normalised: one row per offer of a
    job (``videos`` short videos for ``merchant_id``) to ``creator_id`` on ``offered_at``,
    ``accepted`` true or false once answered and missing while it is not, ``responded_at``
    the day of the answer, ``decline_reason`` where a declined offer says why.

    Between the rows: both ids known (``merchants``, ``creators``: validated tables),
    nothing offered after ``today``, no answer before its offer, an answer day exactly
    where there is an answer, and a reason only on a declined offer. One line per failure,
    as for the other tables.
    """
    o = validate_table(offers, "offers", source)
    today = pd.Timestamp(today or date.today())
    answered = o["accepted"].notna().to_numpy()
    checks = [
        ("merchant_id", "not in the merchants", ~is_in(o["merchant_id"], merchants["merchant_id"])),
        ("creator_id", "not in the creators", ~is_in(o["creator_id"], creators["creator_id"])),
        ("offered_at", f"in the future (after today, {today:%Y-%m-%d})", o["offered_at"] > today),
    ]
    if "responded_at" in o.columns:
        dated = o["responded_at"].notna().to_numpy()
        checks += [
            ("responded_at", "before offered_at", dated & (o["responded_at"] < o["offered_at"])),
            ("responded_at", "missing where accepted is given", answered & ~dated),
            ("responded_at", "given where accepted is missing", ~answered & dated),
        ]
    if "decline_reason" in o.columns:
        declined = answered & ~o["accepted"].fillna(True).to_numpy(dtype=bool)
        reason = o["decline_reason"].notna().to_numpy()
        checks.append(("decline_reason", "given on an offer not declined", reason & ~declined))
    problems = [
        problem_at(col, what, np.asarray(mask, dtype=bool), o[col])
        for col, what, mask in checks
        if np.asarray(mask, dtype=bool).any()
    ]
    if problems:
        raise one_line_error(source, problems)
    return o


# --------------------------------------------------------------------------- outputs


def _missing_columns(df: pd.DataFrame, columns: tuple[str, ...], source: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"{source}: missing columns {missing}")


def _check(schema: pdv.DataFrameSchema, df: pd.DataFrame, source: str) -> None:
    try:
        schema.validate(df, lazy=True)
    except SchemaErrors as exc:
        raise one_line_error(source, problems_of(exc)) from None


def _unique_pairs(df: pd.DataFrame) -> pd.Series:
    return ~df.duplicated(["merchant_id", "creator_id"], keep=False)


def _unique_ranks(df: pd.DataFrame) -> pd.Series:
    return ~df.duplicated(["merchant_id", "rank"], keep=False)


def _ranks_follow_priority(df: pd.DataFrame) -> pd.Series:
    ordered = df.sort_values(["merchant_id", "rank"], kind="stable")
    rise = ordered.groupby("merchant_id", sort=False)["priority_score"].diff() > 1e-9
    return ~rise.reindex(df.index)


def _pairs(df: pd.DataFrame) -> pd.DataFrame:
    return df[["merchant_id", "creator_id"]].astype(object)


def _among(matches: pd.DataFrame):
    def check(allocation: pd.DataFrame) -> pd.Series:
        found = _pairs(allocation).merge(
            _pairs(matches).drop_duplicates(), how="left", indicator=True, validate="many_to_one"
        )
        return pd.Series((found["_merge"] == "both").to_numpy(), index=allocation.index)

    return check


_PAIRS = pdv.Check(_unique_pairs, error="with a duplicated (merchant_id, creator_id) pair")
_MATCHES_ROWS = pdv.DataFrameSchema(
    checks=[
        _PAIRS,
        pdv.Check(_unique_ranks, error="with a rank repeated within its merchant"),
        pdv.Check(_ranks_follow_priority, error="with a rank not following priority_score"),
    ],
    name="matches",
)


def validate_outputs(matches: pd.DataFrame, allocation: pd.DataFrame) -> None:
    """Check the two output tables before they are written (a guard against bugs), with
    their pandera schemas (:data:`~matching.data.schema.OUTPUT_SCHEMAS`), then the rules
    between their rows: :func:`validate_matches`, then :func:`validate_allocation`.

    Raises
    ------
    DataError
        One line naming the table, the column and up to five rows.
    """
    _missing_columns(matches, MATCHES_COLUMNS, "matches")
    _missing_columns(allocation, ALLOCATION_COLUMNS, "allocation")
    validate_matches(matches)
    validate_allocation(allocation, matches)


def validate_matches(matches: pd.DataFrame, first_row: int = 0) -> None:
    """Check the matches table, or a block of it holding all the rows of its merchants
    (rows then numbered from ``first_row`` in messages): text ids, ``rank`` int >= 1 and
    unique per merchant, ``score`` and ``priority_score`` finite floats with ranks following
    ``priority_score``, ``certified_super_top`` bool, ``fit`` float in 0..1, no duplicate pair.
    """
    _missing_columns(matches, MATCHES_COLUMNS, "matches")
    mt = matches.set_axis(pd.RangeIndex(first_row, first_row + len(matches)))
    _check(OUTPUT_SCHEMAS["matches"], mt, "matches")
    _check(_MATCHES_ROWS, mt, "matches")


def validate_allocation(allocation: pd.DataFrame, matches: pd.DataFrame) -> None:
    """Check the allocation table: text ids, ``videos`` int >= 1, ``expected_gmv_usd``
    float >= 0, ``window_end`` dates, no duplicate pair, every pair among ``matches``
    (which need hold only the pairs of the allocation's merchants)."""
    _missing_columns(allocation, ALLOCATION_COLUMNS, "allocation")
    al = allocation.reset_index(drop=True)
    _check(OUTPUT_SCHEMAS["allocation"], al, "allocation")
    rows = pdv.DataFrameSchema(
        checks=[_PAIRS, pdv.Check(_among(matches), error="with a pair not in matches")],
        name="allocation",
    )
    _check(rows, al, "allocation")
