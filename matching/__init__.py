"""matching: creator-merchant matching and free short-video allocation for the TOP Program.

>>> import matching
>>> cfg = matching.load_config()
>>> market = matching.simulate(cfg, merchants=50, creators=500, seed=1)

The jobs (``train``, ``match``) and the ranker (``MatchRanker``, the ``Ranker`` protocol)
are here too, imported on first use so that ``import matching`` stays light.
"""

import warnings

# pandera imports pyspark.pandas whenever pyspark is installed (the [spark] extra), and
# pyspark 4 then warns about pandas 3 on every import, though matching never uses
# pyspark.pandas: without this every command of a [spark] install starts with two warnings.
warnings.filterwarnings(
    "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
)

from matching.config import Config, ConfigError, load_config  # noqa: E402 (after the filter)
from matching.data.truth import GroundTruth  # noqa: E402
from matching.faces import lazy_face  # noqa: E402
from matching.simulate import Marketplace, simulate  # noqa: E402
from matching.version import __version__  # noqa: E402

# the jobs and the ranker import most of the library: handed on when first used
__getattr__, _ = lazy_face(
    __name__,
    {
        "train": "jobs.pipeline",
        "match": "jobs.pipeline",
        "MatchRanker": "ranking.ranker",
        "Ranker": "ranking.ranker",
    },
)


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
