"""The installed version of ``matching`` (from its git tag at install time).

The distribution is ``creator-merchant-matching`` (the import name stays ``matching``;
``matching`` on the package index is an unrelated project). A copy of the code that is not
installed, such as the one a logged MLflow model carries, reads the version file the build
wrote beside it.
"""

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "creator-merchant-matching"

try:
    __version__ = version(DISTRIBUTION)
except PackageNotFoundError:
    try:
        from matching._version import __version__
    except ImportError:  # a source tree that was never built or installed
        __version__ = "0.0.0"
