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


def dependency_versions(extras: tuple[str, ...] = ()) -> dict[str, str]:
    """The installed version of each core requirement of this distribution, and of the
    requirements of ``extras`` that are installed, by distribution name: what a saved model
    records and what a logged model pins."""
    from importlib import metadata

    from packaging.requirements import Requirement

    try:
        requirements = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:  # a copy of the code that is not installed
        requirements = []
    found = {}
    for text in requirements:
        req = Requirement(text)
        if req.marker is not None and not any(
            req.marker.evaluate({"extra": extra}) for extra in extras
        ):
            continue
        try:
            found[req.name] = metadata.version(req.name)
        except metadata.PackageNotFoundError:  # an extra that is not installed
            continue
    return dict(sorted(found.items(), key=lambda kv: kv[0].lower()))
