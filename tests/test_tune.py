"""matching tune: the search space, the settings it writes, and one small search end to end."""

from __future__ import annotations

import optuna
import pytest
import yaml

from matching.cli import main
from matching.config import ConfigError, load_config
from matching.jobs.tune import configured, overlay, suggest, tune

SPACE = {
    "ranking.learning_rate": {"low": 0.05, "high": 0.3, "log": True},
    "ranking.max_iter": {"low": 20, "high": 60},
    "candidates.als_factors": {"low": 8.5, "high": 32},
    "ranking.model": {"choices": ["hgb", "lgbm"]},
}


def _space(cfg, space=SPACE):
    return cfg.replace(tune={"space": space}).tune.space


def test_suggestions_stay_in_their_ranges_and_keep_the_fields_types(fast_config):
    space = _space(fast_config)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(30):
        s = suggest(study.ask(), space, fast_config)
        assert 0.05 <= s["ranking.learning_rate"] <= 0.3
        assert isinstance(s["ranking.max_iter"], int) and 20 <= s["ranking.max_iter"] <= 60
        assert isinstance(s["candidates.als_factors"], int)
        assert 9 <= s["candidates.als_factors"] <= 32  # a whole-number field: low rounds up
        assert s["ranking.model"] in ("hgb", "lgbm")
        cfg = configured(fast_config, s)
        assert cfg.ranking.max_iter == s["ranking.max_iter"]
        assert cfg.candidates.als_factors == s["candidates.als_factors"]


def test_a_file_adds_to_the_defaults_space_and_null_leaves_one_out(tmp_path):
    over = tmp_path / "over.yaml"
    over.write_text(
        "tune:\n  space:\n    ranking.learning_rate: null\n"
        "    features.prior_strength: {low: 1.0, high: 20.0}\n"
    )
    cfg = load_config(over)
    space = cfg.tune.space
    assert space["ranking.learning_rate"] is None
    assert set(load_config().tune.space) < set(space)  # the defaults' keys and the new one
    got = suggest(optuna.create_study().ask(), space, cfg)
    assert "ranking.learning_rate" not in got and 1.0 <= got["features.prior_strength"] <= 20.0
    assert len(got) == sum(p is not None for p in space.values())


@pytest.mark.parametrize(
    "space, message",
    [
        ({"ranking.nope": {"low": 1, "high": 2}}, "not a field"),
        ({"tracking.alias": {"choices": ["a"]}}, "not a field"),
        ({"ranking.max_iter": {"low": 5, "high": 5}}, "must be below"),
        ({"ranking.max_iter": {"low": 0, "high": 5, "log": True}}, "log scale"),
        ({"ranking.max_iter": {"low": 1}}, "either low and high"),
        ({"ranking.max_iter": {"low": 1, "high": 4, "choices": [2]}}, "either low and high"),
    ],
)
def test_a_bad_space_is_a_config_error(space, message):
    with pytest.raises(ConfigError, match=message):
        load_config().replace(tune={"space": space})


def test_settings_that_break_the_config_name_themselves(fast_config):
    with pytest.raises(ConfigError, match="max_leaf_nodes"):
        configured(fast_config, {"ranking.max_leaf_nodes": 1})
    assert overlay({"ranking.max_iter": 3, "features.prior_strength": 1.5}) == {
        "ranking": {"max_iter": 3},
        "features": {"prior_strength": 1.5},
    }


@pytest.fixture(scope="module")
def market_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("tune") / "data"
    assert main(["simulate", "--out", str(d), "--merchants", "80", "--creators", "800"]) == 0
    return d


def test_bad_budgets_and_outputs_exit_2_with_one_line(market_dir, tmp_path, capsys):
    base = ["tune", "--data", str(market_dir), "--no-tracking"]
    for extra in (["--trials", "0"], ["--timeout", "-1"], ["--out", str(tmp_path)]):
        capsys.readouterr()
        assert main([*base, "--out", str(tmp_path / "t.yaml"), *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:"), err
    assert not (tmp_path / "t.yaml").exists()


@pytest.mark.slow
def test_tune_finds_settings_at_least_as_good_and_writes_a_config_train_reads(
    market_dir, fast_config, tmp_path, tracking_uri
):
    import mlflow

    cfg = fast_config.replace(tune={"trials": 2, "space": SPACE})
    out = tmp_path / "tuned.yaml"
    res = tune(market_dir, cfg, out, track=True)
    assert len(res.trials) == 2 and list(res.trials["trial"]) == [0, 1]
    assert res.baseline_value == res.trials["value"].iloc[0]
    assert res.best_value == res.trials["value"].max() >= res.baseline_value
    # trial 0 is the config's own settings
    assert res.trials["ranking.max_iter"].iloc[0] == fast_config.ranking.max_iter
    # the file, laid over the defaults, is the tuned config: best settings and the rest
    tuned = load_config(out)
    for key, value in res.best.items():
        section, name = key.split(".")
        assert getattr(getattr(tuned, section), name) == pytest.approx(value)
    assert tuned.ranking.n_windows == fast_config.ranking.n_windows
    # only what differs from the defaults (fast_config's own changes too), no tune section
    written = yaml.safe_load(out.read_text())
    assert written["match"] == {"top_k": fast_config.match.top_k} and "tune" not in written
    # one parent run, a child per trial
    runs = mlflow.search_runs(experiment_names=[cfg.tracking.experiment])
    parent = runs[runs["run_id"] == res.run_id]
    children = runs[runs["tags.mlflow.parentRunId"] == res.run_id]
    assert len(parent) == 1 and len(children) == 2
    assert parent["metrics.best_value"].iloc[0] == pytest.approx(res.best_value)
    # the same data, config and budget: the same trials, the same file
    again = tune(market_dir, cfg, tmp_path / "again.yaml", track=False)
    assert again.trials.drop(columns="seconds").equals(res.trials.drop(columns="seconds"))
    assert (tmp_path / "again.yaml").read_bytes() == out.read_bytes()


def test_a_config_saved_before_the_tune_section_still_works(fast_config):
    from matching.jobs.pipeline import flat_params

    old = fast_config.model_copy(update={"tune": None})  # as a model saved before it loads
    params = flat_params(old)
    assert "ranking.max_iter" in params and not any(k.startswith("tune.") for k in params)
    spec = load_config().tune.model_dump()
    assert old.replace(tune=spec).tune == load_config().tune
