"""The errors ``matching`` raises on purpose, each a one-line message for the user.

The command line maps them to exit codes (:mod:`matching.cli`): bad input (data, config,
tracking store) is 2, not enough memory is 3. Anything else that escapes is a bug.
"""

from __future__ import annotations

__all__ = ["ConfigError", "DataError", "InsufficientMemory", "TrackingError"]


class DataError(ValueError):
    """Bad input: a table breaks the data contract, or a model directory or an output path
    is unusable."""


class ConfigError(ValueError):
    """A configuration file is missing, unreadable or invalid."""


class TrackingError(ConfigError):
    """The tracking store (``MLFLOW_TRACKING_URI``) cannot be used."""


class InsufficientMemory(RuntimeError):
    """The inputs need more memory than the machine has, even scored one merchant at a time."""
