"""The parts of ``real_data.py``'s protocol that do not depend on the cast: the random
holdout split, the two baselines the library does not ship (item-item kNN and popularity
over recent days), the tuning grids and budget, the customer bootstrap and the tables.

Imported by ``real_data.py`` from beside it (run as a script, its folder is on the path).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import sparse

from matching.ranking.baselines import ALSRanker, BaseRanker, EASERanker

LEVEL = 0.95
SHOWN = ("P@10", "NDCG@10")
"""The metrics in the printed tables (every one is in the JSON)."""


# --------------------------------------------------------------------------- holdout


def holdout_split(
    d: pd.DataFrame, cut: pd.Timestamp, share: float, min_products: int, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out ``share`` (at least one) of the products of every customer with at least
    ``min_products`` distinct products before ``cut``, at random for ``seed``.

    What a merchant would choose, rather than what it did next: the learners see the rows
    before ``cut`` less every row of a held-out pair, and are scored on the held-out pairs.

    Parameters
    ----------
    d : DataFrame
        Cleaned purchase lines (``customer``, ``product``, ``day``, ``gmv``).
    cut : Timestamp
        Rows on or after it are dropped.
    share, min_products, seed
        The held-out share per eligible customer, the eligibility floor and the seed.

    Returns
    -------
    kept : DataFrame
        The rows before ``cut`` not of a held-out pair.
    held : DataFrame
        One row per held-out pair: ``customer``, ``product``, ``gmv`` (its GMV before ``cut``).
    """
    before = d[d["day"] < cut]
    pairs = before.groupby(["customer", "product"], sort=True)["gmv"].sum().reset_index()
    n = pairs.groupby("customer")["product"].transform("size").to_numpy()
    key = np.random.default_rng(seed).random(len(pairs))
    order = np.lexsort((key, pairs["customer"].to_numpy()))
    place = np.empty(len(pairs), np.int64)
    cust = pairs["customer"].to_numpy()[order]
    place[order] = np.arange(len(pairs)) - np.searchsorted(cust, cust)
    take = np.maximum(1, np.floor(share * n + 0.5)).astype(np.int64)
    out = (n >= min_products) & (place < take)
    held = pairs[out].reset_index(drop=True)
    idx = pd.MultiIndex.from_frame(before[["customer", "product"]])
    gone = idx.isin(pd.MultiIndex.from_frame(held[["customer", "product"]]))
    return before[~gone], held


# --------------------------------------------------------------------------- baselines


class ItemKNNRanker(BaseRanker):
    """Item-item nearest neighbours from ``implicit`` (cosine or BM25 weighting) on the binary
    history: a merchant's score of a creator is the summed similarity of its past creators
    among the creator's ``neighbours`` most similar.

    Parameters
    ----------
    similarity : {"cosine", "bm25"}, default "cosine"
        ``implicit.nearest_neighbours.CosineRecommender`` or ``BM25Recommender``.
    neighbours : int, default 50
        Neighbours kept per creator (``K``).
    threads : int, default 1
        Threads of the neighbour search.

    Attributes
    ----------
    similarity_ : scipy.sparse.csr_matrix of shape (n_creators, n_creators)
        The kept similarities.
    history_ : scipy.sparse.csr_matrix
        The binary history (and the attributes of :class:`BaseRanker`).
    """

    def __init__(self, *, similarity: str = "cosine", neighbours: int = 50, threads: int = 1):
        self.similarity = similarity
        self.neighbours = neighbours
        self.threads = threads

    def _learn(self, X, merchants, creators, history, mi, ci) -> None:
        from implicit.nearest_neighbours import BM25Recommender, CosineRecommender
        from implicit.utils import ParameterWarning

        make = {"cosine": CosineRecommender, "bm25": BM25Recommender}[self.similarity]
        B = sparse.csr_matrix(X.astype(bool), dtype=np.float32)
        model = make(K=self.neighbours, num_threads=self.threads)
        with warnings.catch_warnings():  # implicit's own transposes hand itself COO
            warnings.simplefilter("ignore", ParameterWarning)
            model.fit(B, show_progress=False)
        self.similarity_ = sparse.csr_matrix(model.similarity, dtype=np.float64)
        self.history_ = B.astype(np.float64)

    def _scores(self, m: np.ndarray) -> np.ndarray:
        return (self.history_[m] @ self.similarity_).toarray()


class RecentPopularityRanker(BaseRanker):
    """Every merchant gets the creators with the most collaborations in the ``days`` before
    ``as_of`` (then all-time popularity): popularity that follows the season.

    Parameters
    ----------
    days : int, default 30
        The window counted.

    Attributes
    ----------
    recent_ : ndarray of shape (n_creators,)
        Collaborations of each creator in the window (and the attributes of :class:`BaseRanker`).
    """

    def __init__(self, *, days: int = 30):
        self.days = days

    def _learn(self, X, merchants, creators, history, mi, ci) -> None:
        posted = history["posted_at"]
        end = self.as_of_ if self.as_of_ is not None else posted.max() + pd.Timedelta(days=1)
        recent = (posted >= end - pd.Timedelta(days=self.days)).to_numpy()
        self.recent_ = np.bincount(ci[recent], minlength=X.shape[1]).astype(float)

    def _scores(self, m: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.recent_, (len(m), len(self.recent_)))

    def _score_key(self, m: np.ndarray) -> np.ndarray:
        return np.zeros(len(m), np.int64)


# --------------------------------------------------------------------------- tuning


def _als_grid() -> list[dict]:
    """The ALS defaults, then seven settings drawn once (seed 0) from a product grid."""
    default = {"factors": 64, "regularization": 0.01, "alpha": 5.0, "iterations": 15}
    space = [
        {"factors": f, "regularization": r, "alpha": a, "iterations": i}
        for f in (32, 64, 128)
        for r in (0.01, 0.1, 1.0, 10.0)
        for a in (1.0, 5.0, 20.0, 50.0)
        for i in (15, 30)
    ]
    rest = [p for p in space if p != default]
    pick = np.random.default_rng(0).choice(len(rest), 7, replace=False)
    return [default, *(rest[i] for i in sorted(pick))]


GRIDS: dict[str, list[dict]] = {
    "implicit ALS": _als_grid(),
    "EASE^R": [{"l2": x} for x in (10.0, 30.0, 100.0, 300.0, 1e3, 3e3, 1e4, 3e4)],
    "item kNN": [
        {"similarity": s, "neighbours": k} for s in ("cosine", "bm25") for k in (10, 50, 100, 300)
    ],
    "recent popularity": [{"days": n} for n in (7, 14, 21, 30, 45, 60, 90, 180)],
}
"""Eight settings per tuned baseline: the same budget for each."""


def grid(name: str, trials: int) -> list[dict]:
    """The first and last of ``name``'s grid and evenly spaced ones between, ``trials`` in all:
    a smaller budget keeps the grid's span."""
    full = GRIDS[name]
    if trials >= len(full):
        return list(full)
    at = np.unique(np.linspace(0, len(full) - 1, max(trials, 1)).round().astype(int))
    return [full[i] for i in at]


def make(name: str, params: dict, threads: int = 1) -> BaseRanker:
    """A tuned baseline family's ranker at ``params``."""
    if name == "implicit ALS":
        return ALSRanker(random_state=0, **params)
    if name == "EASE^R":
        return EASERanker(**params)
    if name == "item kNN":
        return ItemKNNRanker(threads=threads, **params)
    if name == "recent popularity":
        return RecentPopularityRanker(**params)
    raise KeyError(name)


def tune(score: Callable[[BaseRanker], float], trials: int, threads: int = 1) -> dict[str, dict]:
    """Each tuned baseline's setting with the best validation ``score`` (the first on ties),
    out of ``trials`` settings each, with every trial's score."""
    out = {}
    for name in GRIDS:
        tried = [{"params": p, "score": score(make(name, p, threads))} for p in grid(name, trials)]
        best = max(tried, key=lambda t: t["score"])
        out[name] = {"chosen": best["params"], "trials": tried}
    return out


# --------------------------------------------------------------------------- bootstrap


def resample(n: int, n_boot: int, seed) -> np.ndarray:
    """``n_boot`` resamples of ``n`` customers with replacement, (n_boot, n) positions.

    The same positions serve every ranker of a cut: their comparisons are paired.
    """
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n), dtype=np.int32)


def boot_means(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """The mean of per-customer ``values`` in each resample ``idx`` (nan with no customer)."""
    if idx.shape[1] == 0:
        return np.full(idx.shape[0], np.nan)
    return np.asarray(values, float)[idx].mean(axis=1)


def interval(point: float, boots: np.ndarray, level: float = LEVEL) -> dict:
    """``point`` and the percentile interval of its bootstrap replicates ``boots``."""
    b = np.asarray(boots, float)
    b = b[np.isfinite(b)]
    if not len(b) or not np.isfinite(point):
        return {"point": float(point), "lo": float("nan"), "hi": float("nan")}
    tail = 50 * (1 - level)
    lo, hi = np.percentile(b, [tail, 100 - tail])
    return {"point": float(point), "lo": float(lo), "hi": float(hi)}


def mean_interval(values: list[np.ndarray], idx: list[np.ndarray], level: float = LEVEL) -> dict:
    """The mean over cuts of the per-customer means of ``values`` (one array per cut) and its
    interval, each cut's customers resampled within the cut by its ``idx``."""
    point = float(np.mean([np.mean(v) if len(v) else np.nan for v in values]))
    boots = np.mean([boot_means(v, i) for v, i in zip(values, idx, strict=True)], axis=0)
    return {**interval(point, boots, level), "customers": [len(v) for v in values]}


def ratio_interval(
    a: list[np.ndarray], b: list[np.ndarray], idx: list[np.ndarray], level: float = LEVEL
) -> dict:
    """The ratio of the means over cuts of ``a`` and ``b`` (per-customer values on the same
    customers) and its paired interval: both resampled by the same ``idx``."""
    pa = np.mean([np.mean(v) for v in a])
    pb = np.mean([np.mean(v) for v in b])
    ba = np.mean([boot_means(v, i) for v, i in zip(a, idx, strict=True)], axis=0)
    bb = np.mean([boot_means(v, i) for v, i in zip(b, idx, strict=True)], axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return interval(float(pa / pb) if pb > 0 else float("nan"), ba / bb, level)


# --------------------------------------------------------------------------- report


def collect(scores: dict, masks: dict, has: dict, n_boot: int, seed) -> dict:
    """Per segment: each metric's per-customer values by ranker over the segment's
    customers with targets, and the resample positions that serve every ranker."""
    out = {}
    for si, (seg, mask) in enumerate(masks.items()):
        rows = {kind: np.flatnonzero(mask & h) for kind, h in has.items()}
        idx = {
            kind: resample(len(r), n_boot, [*seed, si, ki])
            for ki, (kind, r) in enumerate(rows.items())
        }
        values = {}
        for label, s in scores.items():
            for metric, v in s.items():
                kind = metric.split()[0]
                values.setdefault(metric, {})[label] = v[rows[kind]]
        out[seg] = {"values": values, "idx": idx}
    return out


def summarise(entries: list[dict], fit_label: str, baselines: list[str]) -> tuple[dict, dict]:
    """Every ranker's metrics with intervals, as the mean over the cuts of ``entries``
    (``collect``'s, one per cut), and ``fit_label`` over the best baseline of each."""
    table, ratio = {}, {}
    for seg in entries[0]:
        table[seg], ratio[seg] = {}, {}
        for metric, by in entries[0][seg]["values"].items():
            idx = [e[seg]["idx"][metric.split()[0]] for e in entries]
            if not all(i.shape[1] for i in idx):
                continue
            for label in by:
                vals = [e[seg]["values"][metric][label] for e in entries]
                table[seg].setdefault(label, {})[metric] = mean_interval(vals, idx)
            best = max(baselines, key=lambda b: table[seg][b][metric]["point"])
            ratio[seg][metric] = {
                "vs": best,
                **ratio_interval(
                    [e[seg]["values"][metric][fit_label] for e in entries],
                    [e[seg]["values"][metric][best] for e in entries],
                    idx,
                ),
            }
    return table, ratio


def _cell(r: dict) -> str:
    """A figure with its interval, to three places."""
    if not math.isfinite(r["point"]):
        return "n/a"
    return f"{r['point']:.3f} [{r['lo']:.3f}, {r['hi']:.3f}]"


def markdown(table: dict, ratio: dict, fit_label: str) -> str:
    """Rankers x (segment, metric) with intervals, and the ratio of ``fit_label`` to the
    best baseline of each column."""
    cols = [
        (seg, f"new {m}") for seg in table for m in SHOWN if table[seg] and f"new {m}" in ratio[seg]
    ]
    head = ["ranker", *(f"{seg} {m.split()[1]}" for seg, m in cols)]
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * len(cols) + "|"]
    labels = next(iter(t for t in table.values() if t))
    for label in labels:
        lines.append(
            "| " + " | ".join([label, *(_cell(table[s][label][m]) for s, m in cols)]) + " |"
        )
    cells = [f"{_cell(ratio[s][m])} vs {ratio[s][m]['vs']}" for s, m in cols]
    lines.append("| " + " | ".join([f"`{fit_label}` / best baseline", *cells]) + " |")
    return "\n".join(lines)


def counts(table: dict) -> str:
    """How many customers (per cut) each segment's figures average over."""
    parts = []
    for seg, t in table.items():
        if t:
            n = next(iter(t.values()))["new P@10"]["customers"]
            parts.append(f"{seg} {'+'.join(f'{x:,}' for x in n)}")
    return "customers with targets: " + ", ".join(parts)


def finite(x):
    """``x`` with nan and inf as None: strict JSON."""
    if isinstance(x, dict):
        return {k: finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [finite(v) for v in x]
    if isinstance(x, float | np.floating):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x
