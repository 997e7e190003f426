"""The public face of a stage folder: a few names handed on from its modules, imported on
first use, so that importing a folder stays light and no face makes an import cycle.

Inside ``matching`` modules import each other by their own paths, never through a face
(``tests/test_layout.py`` reads those imports to keep the stages in order).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def lazy_face(
    package: str, names: Mapping[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, handing on each name of ``names``
    (name -> the module of ``package`` that defines it)."""

    def __getattr__(name: str) -> object:
        if name in names:
            return getattr(importlib.import_module(f"{package}.{names[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
