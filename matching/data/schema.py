"""The contract's columns: what each input column holds, and the pandera schemas that check
the input tables (once coerced, :mod:`matching.data.validate`) and the output tables.

Input columns are described once (:data:`SPECS`): the kind of value, which drives the
coercion, and the rules, which become each table's pandera schema (:data:`SCHEMAS`). The
output tables have a pandera schema for their columns (:data:`OUTPUT_SCHEMAS`) and an Arrow
schema for their file (:data:`OUTPUT_ARROW`), so an empty table still has its types.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pandas as pd
import pandera.pandas as pdv
import pyarrow as pa
from pandas.api import types as ptypes

from matching.data.contract import BUSINESS_TYPES, CONTENT_TYPES

__all__ = [
    "ABSENT",
    "COLLABORATIONS_SCHEMA",
    "CREATORS_SCHEMA",
    "DEFAULTS",
    "MERCHANTS_SCHEMA",
    "OFFERS_SCHEMA",
    "OUTPUT_ARROW",
    "OUTPUT_SCHEMAS",
    "SCHEMAS",
    "SPECS",
    "STRING",
    "Spec",
]

STRING = pd.StringDtype()
"""The dtype of validated text columns (``"string"``)."""


@dataclass(frozen=True)
class Spec:
    """One input column: how to coerce it (``kind``) and the pandera rules that follow."""

    kind: str  # "id" | "text" | "int" | "float" | "bool" | "flag" (a bool that may be missing) | "date"
    checks: tuple[pdv.Check, ...] = ()
    optional: bool = False
    nullable: bool = False
    unique: bool = False


_DTYPES = {
    "id": STRING,
    "text": STRING,
    "int": "int64",
    "float": "float64",
    "bool": "bool",
    "flag": "boolean",
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


SPECS: Mapping[str, Mapping[str, Spec]] = MappingProxyType(
    {
        "merchants": {
            "merchant_id": Spec("id", _ID_CHECKS, unique=True),
            "primary_category": Spec("text", _TEXT_CHECKS),
            "annual_gmv_usd": Spec("float", _ge(0)),
            "avg_price_usd": Spec("float", (pdv.Check.gt(0, error="<= 0"), _FINITE)),
            "store_rating": Spec("float", _between(0, 5), optional=True, nullable=True),
            "business_type": Spec("text", _one_of(BUSINESS_TYPES)),
            "onboarded_at": Spec("date"),
            "certified_super_top": Spec("bool", optional=True),
            "free_videos_used": Spec("int", _ge(0), optional=True),
        },
        "creators": {
            "creator_id": Spec("id", _ID_CHECKS, unique=True),
            "primary_category": Spec("text", _TEXT_CHECKS),
            "followers": Spec("int", _ge(0)),
            "avg_views": Spec("float", _ge(0)),
            "engagement_rate": Spec("float", _between(0, 1)),
            "audience_female_share": Spec("float", _between(0, 1), optional=True, nullable=True),
            "audience_age_18_34_share": Spec("float", _between(0, 1), optional=True, nullable=True),
            "weekly_video_capacity": Spec("int", _ge(0)),
            "joined_at": Spec("date"),
        },
        "collaborations": {
            "merchant_id": Spec("id", _ID_CHECKS),
            "creator_id": Spec("id", _ID_CHECKS),
            "posted_at": Spec("date"),
            "content_type": Spec("text", _one_of(CONTENT_TYPES)),
            "videos": Spec("int", _ge(1)),
            "views": Spec("int", _ge(0)),
            "orders": Spec("int", _ge(0)),
            "gmv_usd": Spec("float", _ge(0)),
        },
        "offers": {
            "merchant_id": Spec("id", _ID_CHECKS),
            "creator_id": Spec("id", _ID_CHECKS),
            "offered_at": Spec("date"),
            "videos": Spec("int", _ge(1)),
            "accepted": Spec("flag", nullable=True),
            "responded_at": Spec("date", optional=True, nullable=True),
            "decline_reason": Spec("text", _TEXT_CHECKS, optional=True, nullable=True),
        },
    }
)

# What an absent optional column means downstream (logged at INFO).
ABSENT = {
    "store_rating": "left absent (no rating signal)",
    "certified_super_top": "left absent (derived from the program rules in configs/)",
    "free_videos_used": "using 0 for every merchant",
    "audience_female_share": "left absent (no audience signal)",
    "audience_age_18_34_share": "left absent (no audience signal)",
    "responded_at": "left absent (when offers were answered is unknown)",
    "decline_reason": "left absent (no decline reasons)",
}
DEFAULTS = {"free_videos_used": 0}


def _schema(name: str, specs: Mapping[str, Spec]) -> pdv.DataFrameSchema:
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


MERCHANTS_SCHEMA = _schema("merchants", SPECS["merchants"])
CREATORS_SCHEMA = _schema("creators", SPECS["creators"])
COLLABORATIONS_SCHEMA = _schema("collaborations", SPECS["collaborations"])
OFFERS_SCHEMA = _schema("offers", SPECS["offers"])
SCHEMAS: Mapping[str, pdv.DataFrameSchema] = MappingProxyType(
    {
        "merchants": MERCHANTS_SCHEMA,
        "creators": CREATORS_SCHEMA,
        "collaborations": COLLABORATIONS_SCHEMA,
        "offers": OFFERS_SCHEMA,
    }
)
"""The pandera schema of each input table; they check already-normalised frames."""


# --------------------------------------------------------------------------- outputs


def _is_text(s: pd.Series) -> pd.Series | bool:
    if isinstance(s.dtype, pd.StringDtype) or pd.api.types.infer_dtype(s) == "string":
        return True
    return s.map(lambda v: isinstance(v, str)).astype(bool)


def _is_dates(s: pd.Series) -> bool:
    return ptypes.is_datetime64_any_dtype(s.dtype) or (
        ptypes.is_object_dtype(s.dtype)
        and pd.api.types.infer_dtype(s, skipna=True) in ("date", "empty")
    )


_TEXT = pdv.Check(_is_text, error="not text")
_DATES = pdv.Check(_is_dates, error="expected dates")


def _output(name: str, columns: Mapping[str, tuple]) -> pdv.DataFrameSchema:
    return pdv.DataFrameSchema(
        {
            c: pdv.Column(dtype, list(checks), nullable=False)
            for c, (dtype, checks) in columns.items()
        },
        name=name,
        strict=False,
    )


MATCHES_SCHEMA = _output(
    "matches",
    {
        "merchant_id": (None, (_TEXT,)),
        "creator_id": (None, (_TEXT,)),
        "rank": ("int64", (pdv.Check.ge(1, error="< 1"),)),
        "score": ("float64", (_FINITE,)),
        "priority_score": ("float64", (_FINITE,)),
        "certified_super_top": ("bool", ()),
        "fit": ("float64", (pdv.Check.ge(0, error="< 0"), pdv.Check.le(1, error="> 1"))),
    },
)
ALLOCATION_SCHEMA = _output(
    "allocation",
    {
        "merchant_id": (None, (_TEXT,)),
        "creator_id": (None, (_TEXT,)),
        "videos": ("int64", (pdv.Check.ge(1, error="< 1"),)),
        "expected_gmv_usd": ("float64", _ge(0)),
        "window_end": (None, (_DATES,)),
    },
)
OUTPUT_SCHEMAS: Mapping[str, pdv.DataFrameSchema] = MappingProxyType(
    {"matches": MATCHES_SCHEMA, "allocation": ALLOCATION_SCHEMA}
)
"""The pandera schema of the columns of each output table (the rules between rows and
tables are in :func:`matching.data.validate.validate_outputs`)."""

OUTPUT_ARROW: Mapping[str, pa.Schema] = MappingProxyType(
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
"""The Arrow schema of each output file: fixed, so an empty table still has its types."""
