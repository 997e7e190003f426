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


def installed_versions(names) -> dict[str, str]:
    """The installed version of each distribution named (those not installed left out)."""
    from importlib import metadata

    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def dependency_versions(extras: tuple[str, ...] = ()) -> dict[str, str]:
    """The installed version of each core requirement of this distribution, and of the
    requirements of ``extras`` that are installed, by distribution name: what a saved model
    records and what a logged model pins (nothing where the distribution is not installed)."""
    from importlib import metadata

    from packaging.requirements import Requirement

    try:
        requirements = [Requirement(text) for text in metadata.requires(DISTRIBUTION) or []]
    except metadata.PackageNotFoundError:  # a copy of the code that is not installed
        requirements = []
    wanted = [
        r.name
        for r in requirements
        if r.marker is None or any(r.marker.evaluate({"extra": e}) for e in ("", *extras))
    ]
    return dict(sorted(installed_versions(wanted).items(), key=lambda kv: kv[0].lower()))
