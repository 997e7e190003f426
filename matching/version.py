"""The installed version of ``matching`` (from its git tag at install time)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("matching")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
