"""Shared small fixtures: a tiny marketplace, a fast config and a trained ranker."""

import pytest

from matching.config import default_config_dir, load_config
from matching.ranking.ranker import MatchRanker
from matching.simulate import simulate


@pytest.fixture(scope="session", autouse=True)
def _run_outside_the_repo(tmp_path_factory):
    """Tests run in a scratch folder, so nothing they or MLflow write (./mlruns) lands in the
    working tree; the configs are found through MATCHING_CONFIG."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MATCHING_CONFIG", str(default_config_dir()))
        mp.chdir(tmp_path_factory.mktemp("cwd"))
        yield


@pytest.fixture(scope="session")
def fast_config():
    """The default config with small models, so tests run in seconds."""
    return load_config().replace(
        ranking={"max_iter": 40, "learning_rate": 0.15, "n_windows": 3, "validation_days": 90},
        candidates={"top_n": 60, "n_factors": 8, "partner_top_n": 30},
        match={"top_k": 20},
    )


@pytest.fixture(scope="session")
def small_market(fast_config):
    return simulate(fast_config, merchants=80, creators=800, seed=11)


@pytest.fixture(scope="session")
def trained(fast_config, small_market):
    mk = small_market
    return MatchRanker(
        features=fast_config.features,
        candidates=fast_config.candidates,
        ranking=fast_config.ranking,
    ).fit(mk.merchants, mk.creators, mk.collaborations)


@pytest.fixture
def tracking_uri(tmp_path, monkeypatch):
    """A private MLflow store for one test (its artifacts go to ./mlruns of the test's folder)."""
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri
