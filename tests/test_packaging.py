"""What the wheel ships and what the CLI says about its version."""

import zipfile
from pathlib import Path

import pytest

import matching
from matching.cli import main
from matching.config import load_config, shipped_config_dir

ROOT = Path(__file__).resolve().parents[1]


def test_version_is_printed(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"matching {matching.__version__}"
    assert matching.__version__ != "0.0.0"  # read from the installed metadata (git tags)


def test_the_wheel_carries_the_default_configs(tmp_path):
    """The top-level configs/ are package data of the wheel, byte for byte, so an installed
    CLI finds its defaults from any folder."""
    builder = pytest.importorskip("hatchling.builders.wheel")
    (wheel,) = builder.WheelBuilder(str(ROOT)).build(directory=str(tmp_path), versions=["standard"])
    with zipfile.ZipFile(wheel) as zf:
        shipped = {n: zf.read(n) for n in zf.namelist() if n.startswith("matching/configs/")}
    files = sorted(p for p in (ROOT / "configs").rglob("*.yaml"))
    assert files and len(shipped) == len(files)
    for path in files:
        name = "matching/configs/" + path.relative_to(ROOT / "configs").as_posix()
        assert shipped[name] == path.read_bytes(), name


def test_a_source_tree_finds_its_top_level_configs():
    assert shipped_config_dir() == ROOT / "configs"
    assert load_config(shipped_config_dir()).program.free_videos > 0


def test_the_public_face():
    """The jobs and the ranker are one import away, and ``import matching`` stays light."""
    import subprocess
    import sys

    code = "import sys, matching; print('matching.jobs.pipeline' in sys.modules)"
    light = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert light.stdout.strip() == "False", light.stderr
    for name in ("load_config", "simulate", "train", "match", "MatchRanker", "Ranker"):
        assert name in matching.__all__ and getattr(matching, name) is not None
    from matching.jobs.pipeline import match, train
    from matching.ranking.ranker import MatchRanker

    assert (matching.train, matching.match, matching.MatchRanker) == (train, match, MatchRanker)
    with pytest.raises(AttributeError):
        matching.no_such_thing  # noqa: B018


@pytest.mark.slow
def test_the_readme_library_example_runs():
    """The README's library quickstart, as written."""
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert blocks, "the README has no library example"
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})


def test_every_imported_package_is_declared():
    """Each third-party package ``matching`` imports is a dependency or an extra in
    pyproject.toml (or comes with one: py4j with pyspark), so an install never relies on
    what happens to be there."""
    import ast
    import importlib.metadata as md
    import re
    import sys
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        wanted += extra

    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    declared = {norm(re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0]) for d in wanted}
    declared |= {"py4j"}  # pyspark's own bridge, installed with it
    dists = md.packages_distributions()
    missing = set()
    for path in (ROOT / "matching").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                tops = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                tops = [node.module.split(".")[0]]
            else:
                continue
            for top in tops:
                if top in sys.stdlib_module_names or top in ("matching", "__future__"):
                    continue
                names = {norm(d) for d in dists.get(top, [top])}
                if not names & declared:
                    missing.add(f"{top} ({path.relative_to(ROOT)})")
    assert not missing, f"imported but not declared in pyproject.toml: {sorted(missing)}"
