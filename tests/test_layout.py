"""The house rules, held against the code: data flows one way through the stage folders
(each module imports only from its own stage or earlier ones, in the order of ``STAGES``),
the imports stay shallow, no module grows past ``MAX_LINES`` and no private name crosses a
module line."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "matching"

STAGES = (
    (
        "base",
        (
            "matching.config",
            "matching.errors",
            "matching.faces",
            "matching.threads",
            "matching.background",
            "matching.metrics",
            "matching.version",
            "matching._version",  # written by the build (hatch-vcs)
        ),
    ),
    ("data", ("matching.data",)),
    ("simulate", ("matching.simulate", "matching.creator_side")),
    ("retrieval", ("matching.retrieval",)),
    ("ranking", ("matching.ranking",)),
    ("allocation", ("matching.allocation",)),
    ("evaluation", ("matching.evaluation",)),
    ("jobs", ("matching.jobs",)),
    ("face", ("matching", "matching.__main__", "matching.cli")),
)
"""Stages in the data's order: tables -> features and candidates -> scores -> allocation
-> tables; evaluation reads all of them, the jobs compose them, the CLI and the package's
face sit on top. ``simulate`` writes tables, so it comes right after ``data``."""

NEVER = {"matching.jobs": ("matching.simulate",)}
"""Imports that are never allowed although the order would: production jobs do not import
the simulator."""

MAX_LINES = 600
OVER_THE_LIMIT: dict[str, int] = {}
"""Modules still over ``MAX_LINES``, each with its length when the rule came in: to be split.
None may grow; no other module may join them."""

MAX_LAYERS = 8


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _imports(name: str) -> set[str]:
    """The ``matching`` modules that ``name`` imports (anywhere in the file)."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] != "matching":
                continue
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "matching"}
    return found - {name}


def _stage(name: str) -> int:
    best = None
    for i, (_, prefixes) in enumerate(STAGES):
        for prefix in prefixes:
            inside = name == prefix or name.startswith(prefix + ".")
            if inside and (best is None or len(prefix) > best[1]):
                best = (i, len(prefix))
    assert best is not None, f"{name} belongs to no stage: add it to STAGES"
    return best[0]


def test_every_module_has_a_stage():
    for name in MODULES:
        _stage(name)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_data_flows_one_way(name):
    here = _stage(name)
    later = sorted(m for m in _imports(name) if _stage(m) > here)
    assert not later, f"{name} ({STAGES[here][0]}) imports from a later stage: {later}"
    for prefix, banned in NEVER.items():
        if name == prefix or name.startswith(prefix + "."):
            hit = sorted(m for m in _imports(name) if m.startswith(banned))
            assert not hit, f"{name} imports {hit}"


def _room(name: str) -> str:
    """A stage folder is one room, as a reader meets it; ``__main__`` belongs to the CLI."""
    parts = name.split(".")
    if name == "matching.__main__":
        return "matching.cli"
    if len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir()):
        return ".".join(parts[:2])
    return name


def test_at_most_eight_layers_of_imports():
    """Floors of rooms (stage folders, top-level modules): each stands above all it imports."""
    graph: dict[str, set[str]] = {}
    for name in MODULES:
        graph.setdefault(_room(name), set()).update(
            _room(m) for m in _imports(name) if m in MODULES and _room(m) != _room(name)
        )
    floor: dict[str, int] = {}

    def floor_of(room: str, seen: tuple[str, ...] = ()) -> int:
        assert room not in seen, f"rooms import each other: {' -> '.join((*seen, room))}"
        if room not in floor:
            floor[room] = 1 + max((floor_of(m, (*seen, room)) for m in graph[room]), default=0)
        return floor[room]

    top = max(graph, key=floor_of)
    assert floor_of(top) <= MAX_LAYERS, f"{top} stands on floor {floor_of(top)}"


def test_no_module_grows_over_the_limit():
    for name, path in MODULES.items():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        cap = OVER_THE_LIMIT.get(name, MAX_LINES)
        assert lines <= cap, f"{name}: {lines} lines (at most {cap})"
    for name, cap in OVER_THE_LIMIT.items():
        assert name in MODULES and cap > MAX_LINES, f"{name}: drop it from OVER_THE_LIMIT"


SOURCES = sorted(
    p
    for folder in ("matching", "tests", "benchmarks", "notebooks")
    for p in (ROOT / folder).rglob("*.py")
)


def test_no_private_name_is_imported_from_another_module():
    found = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("matching"):
                found += [
                    f"{path.relative_to(ROOT)}: from {node.module} import {a.name}"
                    for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")
                ]
    assert not found, "\n".join(found)
