"""Read, validate and write the tables of the data contract (``DATA_CONTRACT.md``), and the
model directories: the only part of ``matching`` that touches files.

Every table that comes in is validated here, at the edge, and returned with fixed dtypes so
the rest of the package can rely on them:

=============================  ===================================================
contract type                  dtype after :func:`validate_table` / :func:`read_inputs`
=============================  ===================================================
string (ids, categories, ...)  ``"string"``: ``pd.StringDtype()``, missing is ``pd.NA``
                               (default storage: pyarrow on pandas 3, python on 2.2)
int                            ``int64``
float                          ``float64`` (optional columns may hold NaN)
bool                           ``bool``
bool that may be missing       ``"boolean"`` (pandas' nullable; ``offers.accepted``)
date                           ``datetime64[ns]``, tz-naive, normalised to midnight
=============================  ===================================================

Validated frames have a fresh ``RangeIndex``; row numbers in error messages are
0-based positions of data rows (row 0 is the first row under a CSV header).
Extra columns are kept unchanged, in their place. Any problem is raised as
:class:`~matching.errors.DataError`, one line naming the file, the column and up to five rows.

One job per module, all re-exported here (``from matching import data; data.read_inputs``):

- :mod:`~matching.data.schema`: the columns, and the pandera schemas of inputs and outputs;
- :mod:`~matching.data.coerce`: safe coercions of input columns to their dtypes;
- :mod:`~matching.data.validate`: input tables, the rows between them, output tables;
- :mod:`~matching.data.messages`: problems found, as one-line errors;
- :mod:`~matching.data.io`: reading and writing tables, JSON and the outputs of ``match``
  (the matches table streamed block by block: :class:`MatchesStream`);
- :mod:`~matching.data.atomic`: files written whole or not at all (locks, journal, recovery);
- :mod:`~matching.data.models`: saved model directories.
"""

from matching.data.atomic import JOURNAL, Staged, publish, recover, stage
from matching.data.contract import (
    ALLOCATION_COLUMNS,
    BUSINESS_TYPES,
    CONTENT_TYPES,
    DATE_COLUMNS,
    MATCHES_COLUMNS,
    OPTIONAL_TABLES,
    TABLES,
)
from matching.data.io import (
    MATCH_PICTURES,
    OUTPUT_FILES,
    MatchesStream,
    TableSize,
    input_sizes,
    read_inputs,
    read_json,
    read_table,
    write_json,
    write_outputs,
    write_table,
    write_tables,
    write_yaml,
)
from matching.data.models import (
    MODEL_FILE,
    MODEL_META,
    SavedModel,
    is_model_uri,
    load_model,
    save_model,
    saved_config,
)
from matching.data.schema import (
    COLLABORATIONS_SCHEMA,
    CREATORS_SCHEMA,
    MERCHANTS_SCHEMA,
    OUTPUT_SCHEMAS,
    SCHEMAS,
)
from matching.data.validate import (
    Inputs,
    validate_allocation,
    validate_inputs,
    validate_matches,
    validate_offers,
    validate_outputs,
    validate_table,
)
from matching.errors import DataError

__all__ = [
    "ALLOCATION_COLUMNS",
    "BUSINESS_TYPES",
    "COLLABORATIONS_SCHEMA",
    "CONTENT_TYPES",
    "CREATORS_SCHEMA",
    "DATE_COLUMNS",
    "JOURNAL",
    "MATCHES_COLUMNS",
    "MATCH_PICTURES",
    "MERCHANTS_SCHEMA",
    "MODEL_FILE",
    "MODEL_META",
    "OUTPUT_FILES",
    "OUTPUT_SCHEMAS",
    "SCHEMAS",
    "OPTIONAL_TABLES",
    "TABLES",
    "DataError",
    "Inputs",
    "MatchesStream",
    "SavedModel",
    "Staged",
    "TableSize",
    "input_sizes",
    "is_model_uri",
    "load_model",
    "publish",
    "read_inputs",
    "read_json",
    "read_table",
    "recover",
    "save_model",
    "saved_config",
    "stage",
    "validate_allocation",
    "validate_inputs",
    "validate_offers",
    "validate_matches",
    "validate_outputs",
    "validate_table",
    "write_json",
    "write_yaml",
    "write_outputs",
    "write_table",
    "write_tables",
]
