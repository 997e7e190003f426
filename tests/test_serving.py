"""The logged MLflow model serves where nothing of this project is installed: its own
requirements (pinned, from the package index) and the code it carries are enough."""

import json
import os
import subprocess
import venv

import numpy as np
import pandas as pd
import pytest

from matching import data
from matching.ranking.ranker import pair_positions
from matching.simulate import write_marketplace

SCRIPT = """
import json, sys
import mlflow, pandas as pd
model_path, data_dir, pairs, out = sys.argv[1:]
model = mlflow.pyfunc.load_model(model_path, model_config={"data": data_dir})
got = model.predict(pd.read_parquet(pairs))
got.to_parquet(out)
import matching
print(json.dumps({"matching": matching.__file__, "version": matching.__version__,
                  "signature": model.metadata.signature.to_dict()}))
"""


@pytest.fixture
def logged(tmp_path, tracking_uri, small_market, trained, fast_config):
    """The small market's tables, the trained ranker's directory and its logged model."""
    from matching.jobs import tracking

    write_marketplace(small_market, tmp_path / "data")
    data.save_model(trained, tmp_path / "model", fast_config, dict(trained.validation_))
    with tracking.run("serving", "train"):
        uri = tracking.log_model(
            tmp_path / "model", "matching-ranker", "champion", tmp_path / "data"
        )
    import mlflow

    return tmp_path, mlflow.artifacts.download_artifacts(uri, dst_path=str(tmp_path / "artifact"))


def test_the_logged_model_carries_its_code_signature_and_pinned_requirements(logged):
    _, artifact = logged
    with open(os.path.join(artifact, "requirements.txt"), encoding="utf-8") as f:
        requirements = f.read().split()
    assert not [r for r in requirements if r.split("==")[0] in ("matching", "-e")]
    assert all("==" in r for r in requirements), requirements
    names = {r.split("==")[0].lower() for r in requirements}
    assert {"scikit-learn", "catboost", "pandas", "mlflow"} <= names
    assert os.path.isfile(os.path.join(artifact, "code", "matching", "ranking", "ranker.py"))
    import mlflow

    meta = mlflow.models.Model.load(artifact)
    assert [c["name"] for c in meta.signature.inputs.to_dict()] == ["merchant_id", "creator_id"]
    assert [c["name"] for c in meta.signature.outputs.to_dict()] == ["score", "fit"]
    assert meta.saved_input_example_info is not None


@pytest.mark.slow
def test_a_fresh_environment_from_the_artifact_alone_scores_as_the_library(logged, trained):
    """A new virtual environment gets the artifact's requirements.txt from the package index
    and nothing else of ours; the pyfunc loaded there gives the library's scores."""
    root, artifact = logged
    env = root / "venv"
    venv.EnvBuilder(with_pip=True).create(env)
    python = str(env / "bin" / "python")
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MATCHING_CONFIG")}
    install = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r",
         os.path.join(artifact, "requirements.txt")],
        capture_output=True, text=True, env=clean, check=False, timeout=1500,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-2000:]
    pairs = trained.recommend(k=5)[["merchant_id", "creator_id"]]
    pairs.to_parquet(root / "pairs.parquet")
    done = subprocess.run(
        [python, "-c", SCRIPT, artifact, str(root / "data"), str(root / "pairs.parquet"),
         str(root / "scored.parquet")],
        capture_output=True, text=True, env=clean, cwd=root, check=False, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    said = json.loads(done.stdout.strip().splitlines()[-1])
    assert said["matching"].startswith(str(artifact))  # the carried code, nothing installed
    # the copy knows its version from the build's version file (load_model checks major.minor)
    ours = __import__("matching").__version__
    assert said["version"] != "0.0.0" and said["version"].split(".")[:2] == ours.split(".")[:2]
    got = pd.read_parquet(root / "scored.parquet")
    m, c = pair_positions(trained, pairs["merchant_id"], pairs["creator_id"])
    score, fit = trained.score_pairs(m, c)
    np.testing.assert_allclose(got["score"].to_numpy(), score, rtol=1e-12)
    np.testing.assert_allclose(got["fit"].to_numpy(), fit, rtol=1e-12)
