"""Wall time, peak RSS and pairs per second of each stage at catalogue scale.

Every stage runs in a child process of its own (its peak RSS is the child's
``ru_maxrss``, from ``os.wait4``): ``simulate``, ``train`` and ``match`` through the CLI,
and ``rank``, which times ``MatchRanker.recommend`` on a sample of merchants in the
library (pairs per second of retrieval plus ranking) against a naive reference on a slice
of them in the same process: a pandas merge of the slice's merchants x their candidates
with the entity features, the model's feature frames and both models on every pair, one
merchant at a time. The
ratio is what matters on a shared machine. Run by hand (never in tests):

    nice -n 10 .venv/bin/python benchmarks/bench_scale.py --size 2000x20000 --work /tmp/bench
    # match at a size without training there: reuse a model trained on a smaller market
    nice -n 10 .venv/bin/python benchmarks/bench_scale.py --size 10000x100000 \\
        --stages simulate,match,rank --model /tmp/bench/2000x20000/model

``recall`` measures the approximate retrieval (``candidates.search: ann``) against the exact
one on the same merchants: recall of the value pool's top 200 and of the whole list.
``rank``'s ranking rate is ``recommend``'s time less retrieval's, both run in the blocks
of :data:`matching.data.memory.RECOMMEND_BLOCK` merchants and the threads ``recommend`` uses: the
first block alone, the rest side by side, as in ``match`` (4,096 merchants by default: eight
blocks; with 1,000, two blocks, one after the other).
``rank`` also times the same ``recommend`` with the trees compiled (:mod:`matching.ranking.compiled`,
whatever ``ranking.compile_min_pairs`` says) and checks its output is identical.
``--profile`` writes a cProfile of the ``rank`` and ``recall`` stages (``*.prof``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

STAGES = ("simulate", "train", "match", "rank", "recall")


def _child(cmd: list[str], log: Path) -> dict:
    """Run ``cmd``; its wall time and peak RSS (GiB)."""
    t0 = time.perf_counter()
    with open(log, "w") as f:
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed; see {log}")
    return {"wall_s": round(wall, 1), "peak_rss_gib": round(usage.ru_maxrss / 2**20, 2)}


def _rank(data_dir: Path, model_dir: Path, as_of: str, n_merchants: int, n_slice: int, k: int):
    """In a child: pairs per second of ``recommend`` on a sample, and of the naive reference."""
    import numpy as np
    import pandas as pd

    from matching import data

    saved = data.load_model(model_dir)
    inputs = data.read_inputs(data_dir)
    t0 = time.perf_counter()
    ranker = saved.ranker.with_data(
        inputs.merchants, inputs.creators, inputs.collaborations, pd.Timestamp(as_of)
    )
    snapshot_s = time.perf_counter() - t0
    snap = ranker.snapshot_
    n_m = len(snap.merchants)
    sample = np.linspace(0, n_m - 1, min(n_merchants, n_m)).astype(np.int64)
    ranker.recommend(k=k, merchants=sample[:2])  # first-use work (entity arrays) out of the timing
    # retrieval alone, in the blocks and threads recommend runs it in (side by side from the
    # second block on), so recommend's time less this is ranking's
    from matching.data.memory import RECOMMEND_BLOCK, approximate
    from matching.threads import in_order

    block = min(RECOMMEND_BLOCK, ranker.candidates.block_size)
    blocks = [sample[s : s + block] for s in range(0, len(sample), block)]
    side = approximate(snap.retriever, len(snap.creators))
    t0 = time.perf_counter()
    found = in_order(
        partial(snap.retriever.retrieve, block_size=block),
        blocks,
        ranker.ranking.n_jobs,
        side_by_side=side,
    )
    cand = np.concatenate(list(found))
    retrieve_s = time.perf_counter() - t0
    pairs = int((cand >= 0).sum())
    import copy

    slow = copy.copy(ranker)  # scikit-learn's trees, whatever the run's size
    slow.ranking = ranker.ranking.model_copy(update={"compile_min_pairs": None})
    t0 = time.perf_counter()
    plain = slow.recommend(k=k, merchants=sample)
    recommend_s = time.perf_counter() - t0
    rank_s = max(recommend_s - retrieve_s, 1e-9)

    # the same run with the trees compiled (matching.ranking.compiled), whatever the run's size
    fast = copy.copy(ranker)
    fast.ranking = ranker.ranking.model_copy(update={"compile_min_pairs": 1})
    t0 = time.perf_counter()
    fast.recommend(k=k, merchants=sample[:2])
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    compiled = fast.recommend(k=k, merchants=sample)
    compiled_s = time.perf_counter() - t0
    same = plain.equals(compiled)

    # the naive reference: per merchant, a pandas merge of its candidates with the entity
    # features, then the feature frames and both models on every pair
    part = sample[:n_slice]
    c_slice = cand[:n_slice]
    M = snap.M.add_prefix("m_").reset_index(names="m")
    C = snap.C.add_prefix("c_").reset_index(names="c")
    t0 = time.perf_counter()
    naive_pairs = 0
    for m, row in zip(part, c_slice, strict=True):
        pairs_df = pd.DataFrame({"m": m, "c": row[row >= 0]})
        frame = pairs_df.merge(M, on="m").merge(C, on="c")
        mi, ci = frame["m"].to_numpy(), frame["c"].to_numpy()
        X = snap.pair_features(mi, ci).assign(content_type=0.0, log_videos=0.0)
        ranker.value_model_.predict(X[ranker.value_features_])
        F = snap.partner_features(mi, ci, X)
        ranker.fit_model_.predict_proba(F[ranker.fit_features_])
        naive_pairs += len(frame)
    naive_s = time.perf_counter() - t0
    lib_rate = pairs / rank_s
    naive_rate = naive_pairs / naive_s
    return {
        "snapshot_s": round(snapshot_s, 1),
        "rank_merchants": len(sample),
        "rank_pairs": pairs,
        "retrieve_s": round(retrieve_s, 2),
        "recommend_s": round(recommend_s, 2),
        "retrieve_merchants_per_s": round(len(sample) / retrieve_s, 1),
        "recommend_pairs_per_s": round(pairs / recommend_s),
        "ranking_pairs_per_s": round(lib_rate),
        "compile_s": round(compile_s, 1),
        "compiled_recommend_s": round(compiled_s, 2),
        "compiled_ranking_pairs_per_s": round(pairs / max(compiled_s - retrieve_s, 1e-9)),
        "compiled_same_output": bool(same),
        "naive_slice_merchants": len(part),
        "naive_pairs_per_s": round(naive_rate),
        "speedup_over_naive": round(lib_rate / naive_rate, 1),
    }


def _recall(data_dir: Path, model_dir: Path, as_of: str, n_merchants: int, nprobe: int) -> dict:
    """In a child: the approximate retrieval's recall of the exact one, and both timings."""
    import copy

    import numpy as np
    import pandas as pd

    from matching import data
    from matching.retrieval import ann

    saved = data.load_model(model_dir)
    inputs = data.read_inputs(data_dir)
    ranker = saved.ranker.with_data(
        inputs.merchants, inputs.creators, inputs.collaborations, pd.Timestamp(as_of)
    )
    ret = ranker.snapshot_.retriever
    n_m = len(ranker.snapshot_.merchants)
    sample = np.linspace(0, n_m - 1, min(n_merchants, n_m)).astype(np.int64)
    out, lists = {}, {}
    for search in ("exact", "ann"):
        r = copy.copy(ret)
        r.search = search
        r.ann_nprobe = nprobe or r.ann_nprobe
        r.__dict__.pop("_ann_cache", None)
        t0 = time.perf_counter()
        r.retrieve(sample[:1])  # builds the indexes
        build = time.perf_counter() - t0
        t0 = time.perf_counter()
        lists[search] = r.retrieve(sample)
        out[f"{search}_index_s"] = round(build, 2)
        out[f"{search}_merchants_per_s"] = round(len(sample) / (time.perf_counter() - t0), 1)
        for name, entry in r.__dict__.get("_ann_cache", {}).items():
            if isinstance(name, str):  # an inner-product source's (Q, HubSearch)
                hub = entry[1]
                out[f"ann_{name}"] = {
                    "hub_creators": int(len(hub.hub)),
                    "nprobe": hub.nprobe,
                    "nlist": 0 if hub.ivf is None else hub.ivf.nlist,  # 0: the hub alone
                    "held_out_recall": round(hub.measured_recall, 4),
                }

    def recall(n: int) -> float:
        return round(ann.recall_of(lists["ann"][:, :n], lists["exact"][:, :n]), 4)

    out["recall@200_value_pool"] = recall(ret.top_n)
    out["recall_all_candidates"] = recall(lists["exact"].shape[1])
    out["recall_merchants"] = len(sample)
    out["max_nprobe"] = r.ann_nprobe
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="2000x20000", help="merchants x creators")
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--work", type=Path, default=Path("/tmp/bench_scale"))
    p.add_argument("--stages", default=",".join(STAGES))
    p.add_argument("--model", type=Path, help="model for match/rank (default: the one trained)")
    p.add_argument("--as-of", default="2026-03-01")
    p.add_argument("--top-k", type=int, default=50)
    p.add_argument("--rank-merchants", type=int, default=4096)
    p.add_argument("--naive-slice", type=int, default=20)
    p.add_argument("--nprobe", type=int, default=0, help="recall: lists searched (0: config)")
    p.add_argument("--profile", action="store_true")
    p.add_argument("--_rank", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    n_m, n_c = (int(x) for x in a.size.lower().split("x"))
    root = a.work / f"{n_m}x{n_c}"
    data_dir, model_dir = root / "data", a.model or root / "model"
    if a._rank == "rank":
        res = _rank(data_dir, model_dir, a.as_of, a.rank_merchants, a.naive_slice, a.top_k)
        print(json.dumps(res))
        return
    if a._rank == "recall":
        print(json.dumps(_recall(data_dir, model_dir, a.as_of, a.rank_merchants, a.nprobe)))
        return
    root.mkdir(parents=True, exist_ok=True)
    cli = [sys.executable, "-m", "matching"]
    stages = [s for s in a.stages.split(",") if s]
    results: dict[str, dict] = {}
    for stage in stages:
        log = root / f"{stage}.log"
        if stage == "simulate":
            cmd = cli + ["simulate", "--out", str(data_dir), "--merchants", str(n_m)]
            cmd += ["--creators", str(n_c), "--seed", str(a.seed)]
        elif stage == "train":
            cmd = cli + ["train", "--data", str(data_dir), "--model-dir", str(model_dir)]
            cmd += ["--no-tracking"]
        elif stage == "match":
            cmd = cli + ["match", "--data", str(data_dir), "--model", str(model_dir)]
            cmd += ["--out", str(root / "out"), "--as-of", a.as_of, "--top-k", str(a.top_k)]
            cmd += ["--no-tracking"]
        elif stage in ("rank", "recall"):
            prof = ["-m", "cProfile", "-o", str(root / f"{stage}.prof")] if a.profile else []
            cmd = [sys.executable, *prof, __file__, "--_rank", stage, "--size", a.size]
            cmd += ["--work", str(a.work), "--as-of", a.as_of, "--top-k", str(a.top_k)]
            cmd += ["--rank-merchants", str(a.rank_merchants)]
            cmd += ["--naive-slice", str(a.naive_slice), "--nprobe", str(a.nprobe)]
            if a.model:
                cmd += ["--model", str(a.model)]
        else:
            raise SystemExit(f"unknown stage {stage!r}; one of {STAGES}")
        results[stage] = _child(cmd, log)
        if stage in ("rank", "recall"):
            lines = [x for x in log.read_text().splitlines() if x.startswith("{")]
            results[stage].update(json.loads(lines[-1]))
        print(f"{a.size} {stage}: {json.dumps(results[stage])}", flush=True)
    (root / "bench.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
