import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_scale_benchmark_runs_every_stage_on_a_tiny_market(tmp_path):
    """``bench_scale.py`` end to end at 100 x 1,000 (about 20 s): every stage reports its
    time and memory, the compiled trees rank as the plain ones do, and the approximate
    retrieval finds the exact lists. A change that breaks the hand-run benchmark shows
    here, not weeks later in a hand run."""
    script = ROOT / "benchmarks" / "bench_scale.py"
    args = ["--size", "100x1000", "--work", str(tmp_path), "--rank-merchants", "50"]
    run = subprocess.run(
        [sys.executable, str(script), *args, "--naive-slice", "3"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    out = json.loads((tmp_path / "100x1000" / "bench.json").read_text())
    assert list(out) == ["simulate", "train", "match", "rank", "recall"]
    assert all(s["wall_s"] > 0 and s["peak_rss_gib"] > 0 for s in out.values())
    rank = out["rank"]
    assert rank["rank_merchants"] == 50 and rank["compiled_same_output"] is True
    assert rank["ranking_pairs_per_s"] > 0 and rank["naive_pairs_per_s"] > 0
    assert out["recall"]["recall_merchants"] == 50
    assert out["recall"]["recall@200_value_pool"] >= 0.95
    assert (tmp_path / "100x1000" / "out" / "matches.parquet").is_file()
