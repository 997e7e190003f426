"""matching: creator-merchant matching and free short-video allocation for the TOP Program.

>>> import matching
>>> cfg = matching.load_config()
>>> market = matching.simulate(cfg, merchants=50, creators=500, seed=1)

The jobs (``train``, ``match``) and the ranker (``MatchRanker``, the ``Ranker`` protocol)
are here too, imported on first use so that ``import matching`` stays light.
"""

import importlib
import warnings
from importlib.metadata import PackageNotFoundError, version

# pandera imports pyspark.pandas whenever pyspark is installed (the [spark] extra), and
# pyspark 4 then warns about pandas 3 on every import, though matching never uses
# pyspark.pandas: without this every command of a [spark] install starts with two warnings.
warnings.filterwarnings(
    "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
)

from matching.config import Config, ConfigError, load_config  # noqa: E402 (after the filter)
from matching.simulate import GroundTruth, Marketplace, simulate  # noqa: E402

try:
    __version__ = version("matching")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

_LAZY = {
    "train": "matching.pipeline",
    "match": "matching.pipeline",
    "MatchRanker": "matching.ranking",
    "Ranker": "matching.ranking",
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'matching' has no attribute {name!r}")


__all__ = [
    "Config",
    "ConfigError",
    "GroundTruth",
    "MatchRanker",
    "Marketplace",
    "Ranker",
    "load_config",
    "match",
    "simulate",
    "train",
    "__version__",
]
