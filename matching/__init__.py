"""matching: creator-merchant matching and free short-video allocation for the TOP Program.

>>> import matching
>>> cfg = matching.load_config()
>>> market = matching.simulate(cfg, merchants=50, creators=500, seed=1)
"""

from importlib.metadata import PackageNotFoundError, version

from matching.config import Config, ConfigError, load_config
from matching.simulate import GroundTruth, Marketplace, simulate

try:
    __version__ = version("matching")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

__all__ = [
    "Config",
    "ConfigError",
    "GroundTruth",
    "Marketplace",
    "load_config",
    "simulate",
    "__version__",
]
