"""What every stage agrees on: the data contract's tables, columns and vocabularies
(``DATA_CONTRACT.md``), how ids become row positions, and the default as-of date.

Defined once here, so the schemas, the simulator, the features and the pipeline cannot
drift apart.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "ALLOCATION_COLUMNS",
    "BUSINESS_TYPES",
    "CONTENT_TYPES",
    "DATE_COLUMNS",
    "MATCHES_COLUMNS",
    "SHORT_VIDEO",
    "TABLES",
    "default_as_of",
    "row_positions",
]

TABLES = ("merchants", "creators", "collaborations")
"""The input tables, in the order they are read and validated."""
BUSINESS_TYPES = ("brand", "distributor", "seller")
"""Values of ``merchants.business_type``; their order is the feature's code."""
CONTENT_TYPES = ("short_video", "graphic", "live")
"""Values of ``collaborations.content_type``; their order is the feature's code."""
SHORT_VIDEO = "short_video"
"""The content the program gives away, and the unit ``score`` is predicted for."""
DATE_COLUMNS = ("onboarded_at", "joined_at", "posted_at", "window_end")
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
    index = ids if isinstance(ids, pd.Index) else pd.Index(np.asarray(ids, dtype=object))
    return index.get_indexer(pd.Index(np.asarray(values, dtype=object)))


def default_as_of(collaborations: pd.DataFrame) -> pd.Timestamp | None:
    """The as-of date when none is given: the day after the last collaboration, so the
    whole history is before it; None for an empty history."""
    if not len(collaborations):
        return None
    return pd.Timestamp(collaborations["posted_at"].max()) + pd.Timedelta(days=1)
