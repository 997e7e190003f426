"""The notebooks: paired with their percent-format ``.py``, stripped, free of logic of their
own, and runnable top to bottom on a small marketplace (simulated, or a folder without truth)."""

import ast
from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

from matching import data
from matching.config import load_config
from matching.simulate import simulate

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ["01_explore_marketplace", "02_train_and_evaluate", "03_allocation_what_if"]
SMALL = {"N_MERCHANTS": 80, "N_CREATORS": 800}


def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def _parameters(nb):
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, "exactly one cell tagged 'parameters'"
    return cells[0]


def test_every_notebook_is_paired():
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.py")) == NAMES
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_ipynb_in_sync_with_py(name):
    """Regenerate with ``jupytext --sync notebooks/*.py`` (or ``--to ipynb``) after editing."""
    py = jupytext.read(NOTEBOOKS / f"{name}.py")
    ipynb = jupytext.read(NOTEBOOKS / f"{name}.ipynb")

    def cells(nb):
        return [(c.cell_type, c.source, c.metadata.get("tags", [])) for c in nb.cells]

    assert cells(py) == cells(ipynb), f"{name}.ipynb is out of sync with {name}.py"
    for nb in (py, ipynb):
        assert nb.metadata["jupytext"]["formats"] == "ipynb,py:percent"
        assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("name", NAMES)
def test_ipynb_outputs_are_stripped(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    for cell in _code_cells(nb):
        assert cell.outputs == [] and cell.execution_count is None, (
            f"{name}.ipynb has outputs: strip them"
        )


ALLOWED_IMPORTS = {"matching", "pandas", "matplotlib", "tempfile", "pathlib", "datetime"}
"""Notebooks compute with ``matching`` and show with pandas and matplotlib; anything else
(scikit-learn, numpy, scipy) would be logic of their own."""
DEFINITION = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda
COMPREHENSION = ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp


def _logic(node: ast.AST) -> str | None:
    """Why a node of a notebook cell is logic that belongs in the package, or None."""
    if isinstance(node, DEFINITION):
        return "a definition"
    if isinstance(node, COMPREHENSION):
        return "a comprehension (a loop computing something)"
    if isinstance(node, ast.Import | ast.ImportFrom):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
        other = [n for n in names if (n or "").split(".")[0] not in ALLOWED_IMPORTS]
        return f"an import of {other}" if other else None
    if isinstance(node, ast.Attribute) and (node.attr.startswith("_") or node.attr.endswith("_")):
        return f"a model's private or fitted attribute .{node.attr} (use its public methods)"
    if isinstance(node, ast.For | ast.While):
        calls = [n for stmt in node.body for n in ast.walk(stmt) if isinstance(n, ast.Call)]
        computing = [c for c in calls if not _is_plot(c.func)]
        return "a loop that does more than plot" if computing or not calls else None
    return None


def _is_plot(func: ast.expr) -> bool:
    return (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and func.value.id in ("plots", "ax", "axes", "fig", "plt")
    )


@pytest.mark.parametrize("name", NAMES)
def test_no_logic_of_their_own(name):
    """Notebooks call ``matching`` for anything beyond plotting and display: no definitions,
    comprehensions, loops that compute, imports beyond the allowed ones, or reaching into a
    model's private or fitted attributes; parameters first."""
    nb = jupytext.read(NOTEBOOKS / f"{name}.py")
    code = _code_cells(nb)
    assert code[0] is _parameters(nb), "the parameters cell is the first code cell"
    for cell in code:
        for node in ast.walk(ast.parse(cell.source)):
            why = _logic(node)
            assert why is None, f"{name}: {why} belongs in the package:\n{cell.source}"
    params = ast.parse(_parameters(nb).source)
    names = {t.id for node in params.body if isinstance(node, ast.Assign) for t in node.targets}
    assert {"DATA_DIR", "SEED", "N_MERCHANTS", "N_CREATORS"} <= names


def test_the_guard_sees_logic():
    """The rules above catch what notebooks used to hold."""
    held = [
        "from sklearn.inspection import permutation_importance",
        "X = ranker.value_model_.regressor_",
        "rows = [report for s in scenarios]",
        "for s in levers:\n    rows.append(pipeline.allocate_quota(s))",
        "f = lambda x: x",
    ]
    for source in held:
        assert any(_logic(n) for n in ast.walk(ast.parse(source))), source
    fine = "for ax, t in zip(axes, tables):\n    plots.what_if(t, x='value', ax=ax)"
    assert not any(_logic(n) for n in ast.walk(ast.parse(fine)))


@pytest.fixture(scope="module")
def folder_without_truth(tmp_path_factory):
    """A contract-valid CSV folder like real data: no ground truth, no optional columns."""
    mk = simulate(
        load_config(), merchants=SMALL["N_MERCHANTS"], creators=SMALL["N_CREATORS"], seed=5
    )
    out = tmp_path_factory.mktemp("user_data")
    data.write_tables(
        {
            "merchants": mk.merchants.drop(
                columns=["certified_super_top", "free_videos_used", "store_rating"]
            ),
            "creators": mk.creators.drop(
                columns=["audience_female_share", "audience_age_18_34_share"]
            ),
            "collaborations": mk.collaborations,
        },
        out,
        fmt="csv",
    )
    return out


def _run(name: str, overrides: dict, tmp_path, monkeypatch) -> nbformat.NotebookNode:
    """Execute a notebook as a user would (from notebooks/), with papermill-style injected
    parameters after the parameters cell; fail on the first cell error."""
    # one OpenMP thread per kernel: on a shared 2-core machine HistGradientBoosting's thread
    # pool otherwise oversubscribes the cores (measured: 100 s instead of 6 s for one fit)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv(
        "TMPDIR", str(tmp_path)
    )  # the notebooks' temporary folders, removed by pytest
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    params = _parameters(nb)
    for key in overrides:
        assert f"\n{key} =" in f"\n{params.source}", f"{name} has no parameter {key}"
    injected = nbformat.v4.new_code_cell("\n".join(f"{k} = {v!r}" for k, v in overrides.items()))
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(nb.cells.index(params) + 1, injected)
    before = sorted(p.name for p in NOTEBOOKS.iterdir())
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    ).execute()
    assert sorted(p.name for p in NOTEBOOKS.iterdir()) == before, (
        "a notebook wrote into the repository"
    )
    return nb


def _images(nb) -> int:
    return sum("image/png" in o.get("data", {}) for c in _code_cells(nb) for o in c.outputs)


# (notebook, use the folder without truth, least number of figures it must show)
RUNS = [
    ("01_explore_marketplace", False, 4),
    ("01_explore_marketplace", True, 4),
    ("02_train_and_evaluate", False, 5),
    ("02_train_and_evaluate", True, 2),
    ("03_allocation_what_if", False, 6),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "user_data", "figures"),
    RUNS,
    ids=[f"{n}-{'folder' if u else 'simulated'}" for n, u, _ in RUNS],
)
def test_notebook_runs(name, user_data, figures, request, tmp_path, monkeypatch):
    overrides = dict(SMALL)
    if user_data:
        overrides["DATA_DIR"] = str(request.getfixturevalue("folder_without_truth"))
    nb = _run(name, overrides, tmp_path, monkeypatch)
    assert _images(nb) >= figures
