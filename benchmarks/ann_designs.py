"""Approximate retrieval designs side by side on one market's vectors (run by hand).

For each inner-product source (``ann.source_vectors``: SVD, content, ALS) of a model's
snapshot on a data folder: how concentrated the exact top lists are (the union of the exact
top ``k`` of sampled merchants), and the recall of the exact top ``k`` of fresh merchants
for faiss IVF alone at several ``nprobe``, HNSW (inner product, and L2 after the extra
dimension that turns inner product into distance), and :class:`matching.retrieval.ann.HubSearch`
with the config's parameters. Recall is against faiss's exact search; times are of one
process on whatever else the machine is doing.

    nice -n 10 .venv/bin/python benchmarks/ann_designs.py --data /tmp/bench/10000x100000/data \\
        --model /tmp/bench/2000x20000/model
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd


def _recall(found: np.ndarray, exact: np.ndarray) -> float:
    from matching.retrieval import ann

    return round(ann.recall_of(found, exact), 4)


def _designs(ret, name, P, q, exact, k, hnsw: bool) -> dict:
    import faiss

    from matching.retrieval import ann

    out = {}
    ivf = ann.InnerProductIndex(P, nlist=ret.ann_nlist, nprobe=1, seed=ret.random_state, threads=2)
    for nprobe in (1, 32, 128, 384):
        t = time.perf_counter()
        found = ivf.search(q, k, nprobe)[1]
        out[f"ivf_nprobe{nprobe}"] = {
            "recall": _recall(found, exact),
            "queries_per_s": round(len(q) / (time.perf_counter() - t)),
        }
    norms = (P.astype(np.float64) ** 2).sum(1)
    graphs = (
        ("hnsw_ip", P, q, faiss.METRIC_INNER_PRODUCT),
        (
            "hnsw_l2_extra_dim",
            np.hstack([P, np.sqrt(norms.max() - norms)[:, None]]),
            np.hstack([q, np.zeros((len(q), 1))]),
            faiss.METRIC_L2,
        ),
    )
    for name, base, query, metric in graphs if hnsw else ():
        index = faiss.IndexHNSWFlat(base.shape[1], 32, metric)
        index.hnsw.efConstruction = 80
        t = time.perf_counter()
        index.add(np.ascontiguousarray(base, dtype=np.float32))
        build = time.perf_counter() - t
        index.hnsw.efSearch = 1024
        found = index.search(np.ascontiguousarray(query, dtype=np.float32), k)[1]
        out[f"{name}_ef1024"] = {"recall": _recall(found, exact), "build_s": round(build, 1)}
    t = time.perf_counter()
    _, hub = ann.source_index(ret, name, k, threads=2)
    build = time.perf_counter() - t
    t = time.perf_counter()
    found = hub.search(q, k)
    out["hub_search"] = {
        "recall": _recall(found, exact),
        "queries_per_s": round(len(q) / (time.perf_counter() - t)),
        "build_s": round(build, 1),
        "hub_creators": int(len(hub.hub)),
        "nprobe": hub.nprobe,
        "held_out_recall": round(hub.measured_recall, 4),
    }
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--as-of", default="2026-03-01")
    p.add_argument("--queries", type=int, default=500, help="fresh merchants measured")
    p.add_argument("--union-of", type=int, default=300, help="merchants whose tops are united")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--no-hnsw", action="store_true", help="skip the graphs (slow to build)")
    a = p.parse_args(argv)

    from matching import data
    from matching.retrieval import ann

    saved = data.load_model(a.model)
    inputs = data.read_inputs(a.data)
    ranker = saved.ranker.with_data(
        inputs.merchants, inputs.creators, inputs.collaborations, pd.Timestamp(a.as_of)
    )
    ret = ranker.snapshot_.retriever
    k = min(ret.top_n, len(ret.c_cat_))
    rng = np.random.default_rng(a.seed)
    report = {"merchants": len(ret.m_cat_), "creators": len(ret.c_cat_), "k": k}
    for name in ann.INNER_PRODUCT_SOURCES:
        Q, P = (np.asarray(x, dtype=np.float32) for x in ann.source_vectors(ret, name))
        live = np.flatnonzero(np.abs(Q).max(1) > 0)
        picked = rng.choice(live, min(a.queries + a.union_of, len(live)), replace=False)
        q, united = Q[picked[: a.queries]], Q[picked[a.queries :]]
        _, exact = ann.exact_tops(q, P, k, 2)
        _, tops = ann.exact_tops(united, P, k, 2)
        report[name] = {
            "dims": P.shape[1],
            f"union_of_{len(united)}_exact_top_lists": int(len(np.unique(tops[tops >= 0]))),
            **_designs(ret, name, P, q, exact, k, not a.no_hnsw),
        }
        print(json.dumps({name: report[name]}), flush=True)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
