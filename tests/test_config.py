from pathlib import Path

import pytest

from matching.config import ConfigError, default_config_dir, load_config


def test_defaults_load_and_are_frozen():
    cfg = load_config()
    assert cfg.program.free_videos == 1000
    assert cfg.program.window_days == 60
    with pytest.raises(ValueError):
        cfg.program.free_videos = 5  # type: ignore[misc]


def test_file_overrides_defaults(tmp_path: Path):
    f = tmp_path / "over.yaml"
    f.write_text("ranking:\n  certified_weight: 2.5\n")
    cfg = load_config(f)
    assert cfg.ranking.certified_weight == 2.5
    assert cfg.program.free_videos == load_config().program.free_videos


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("ranking:\n  certified_wieght: 2\n", "ranking.certified_wieght: unknown key"),
        ("program:\n  free_videos: -1\n", "program.free_videos"),
        ("program:\n  start: 2026-05-01\n", "before program.start"),
        ("allocation:\n  segments: [4, 2]\n", "increasing"),
        ("- just\n- a list\n", "mapping"),
        ("ranking: [unclosed\n", "cannot read config"),
    ],
)
def test_bad_config_is_one_clear_line(tmp_path: Path, text: str, needle: str):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(f)
    msg = str(err.value)
    assert needle in msg and "bad.yaml" in msg and "\n" not in msg


def test_missing_key_in_a_folder(tmp_path: Path):
    for src in default_config_dir().glob("*.yaml"):
        (tmp_path / src.name).write_text(src.read_text())
    lines = (tmp_path / "program.yaml").read_text().splitlines()
    (tmp_path / "program.yaml").write_text("\n".join(x for x in lines if "window_days" not in x))
    with pytest.raises(ConfigError, match="program.window_days: missing key"):
        load_config(tmp_path)


def test_missing_path():
    with pytest.raises(ConfigError, match="not found"):
        load_config("no/such/config.yaml")


def test_replace_validates():
    cfg = load_config()
    assert cfg.replace(ranking={"certified_weight": 3.0}).ranking.certified_weight == 3.0
    with pytest.raises(ConfigError):
        cfg.replace(ranking={"certified_weight": -1})


def test_a_pickled_config_is_the_same_bytes_in_every_process():
    """Saved models pickle their config: the bytes must not follow Python's string hashing."""
    import os
    import pickle
    import subprocess
    import sys

    code = (
        "import pickle, sys; from matching.config import load_config; "
        "sys.stdout.buffer.write(pickle.dumps(load_config()))"
    )
    blobs = [
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    ]
    assert blobs[0] == blobs[1]
    assert pickle.loads(blobs[0]) == load_config()
