"""Who partners with whom on real data: UCI Online Retail cast into the contract.

Run by hand (the data are not part of the project; see ``../shared/data/online_retail/``,
or UCI: Chen, D. (2015). Online Retail. https://doi.org/10.24432/C5BW33, CC BY 4.0):

    nice -n 10 .venv/bin/python benchmarks/real_data.py \
        --data ../shared/data/online_retail/online_retail.parquet [--cut 2011-10-01] [--quick]

The cast (all in code; the file is read as published):

- cleaning: rows with a customer, not cancelled (``InvoiceNo`` without a leading ``C``),
  quantity > 0, unit price > 0 and a product stock code (five digits, maybe a letter
  suffix: drops POST, DOT, M, BANK CHARGES, gift vouchers and the like);
- merchants = customers (``cust-<id>``), ``primary_category`` = their country;
  ``annual_gmv_usd`` = their GMV in the year before the cut; ``avg_price_usd`` = their
  mean unit price before the cut (cold customers: their country's median);
  ``business_type`` = ``distributor`` when their median quantity per line before the cut
  is at least a dozen (wholesalers), else ``seller``; ``onboarded_at`` = first purchase
  (after the cut for cold-start customers); no rating, no certification flag;
- creators = products (``sku-<code>``), ``primary_category`` = the description's most
  common word across the catalogue once colours, sizes and fillers are set aside, when
  at least 20 products share it (else ``other``); ``followers`` = distinct customers
  before the cut; ``avg_views`` = mean units per customer-day over the 90 days before the
  cut; ``engagement_rate`` = share of its buyers who came back for it before the cut;
  ``weekly_video_capacity`` = 7; ``joined_at`` = first sale; no audience shares;
- collaborations = one row per customer-product-day: ``videos`` = 1, ``views`` = units,
  ``orders`` = invoices, ``gmv_usd`` = sum of quantity x unit price (GBP, used as is).

Time split at ``--cut``: every ranker learns from the history before it; the targets
are the customer-product pairs of the following ``--horizon-days``. Customers whose
first purchase falls after the cut are in the merchants table with no history
(cold start). Reported per ranker, in one run:

- new partners (pairs not in the history; past partners are left out of every list):
  precision, recall, NDCG and hit rate at 10, and GMV-weighted NDCG@10 (gain = the
  pair's GMV in the horizon);
- all partners including repeats (past partners allowed): precision, NDCG and
  GMV-weighted NDCG at 10;
- cold-start customers: new-partner precision and NDCG at 10.

``matching (fit)`` orders the model's candidates by ``fit``; ``matching (rank)`` is its
``rank`` (expected GMV if the pair happens); ``matching (expected)`` by what the allocator
maximises, that value times P(the job is taken) from ``fit``
(:func:`matching.allocation.calibration.offer_probability`). ``--quick`` evaluates a fixed sample of customers and uses the
model's smaller test settings (a smoke run, not the reported figures).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from matching import metrics
from matching.allocation.quota import pair_worth
from matching.config import load_config
from matching.data import validate_inputs
from matching.jobs.pipeline import history_returns, value_calibration
from matching.ranking.baselines import (
    ALSRanker,
    CategoryPopularityRanker,
    EASERanker,
    PopularityRanker,
)
from matching.ranking.ranker import MatchRanker

K = 10
_PRODUCT_CODE = r"^\d{5}[A-Za-z]*$"
_NOT_A_KIND = frozenset(
    # colours, sizes and fillers: words that say nothing about what the product is
    ("SET", "PINK", "BLUE", "RED", "WHITE", "BLACK", "GREEN", "IVORY", "CREAM", "SILVER")
    + ("GOLD", "PURPLE", "ORANGE", "YELLOW", "BROWN", "SMALL", "LARGE", "MINI", "JUMBO")
    + ("BIG", "WITH", "AND", "THE", "PACK", "ASSORTED", "DESIGN", "VINTAGE")
)
_MIN_KIND = 20
_WHOLESALE_QUANTITY = 12


def _clean(raw: pd.DataFrame) -> pd.DataFrame:
    ok = (
        raw["CustomerID"].notna()
        & ~raw["InvoiceNo"].astype(str).str.startswith("C")
        & (raw["Quantity"] > 0)
        & (raw["UnitPrice"] > 0)
        & raw["StockCode"].astype(str).str.match(_PRODUCT_CODE)
    )
    d = raw.loc[ok, ["InvoiceNo", "StockCode", "Description", "Quantity", "UnitPrice"]].copy()
    d["customer"] = "cust-" + raw.loc[ok, "CustomerID"].astype(np.int64).astype(str)
    d["product"] = "sku-" + d["StockCode"].astype(str).str.upper()
    d["country"] = raw.loc[ok, "Country"].astype(str)
    d["day"] = pd.to_datetime(raw.loc[ok, "InvoiceDate"]).dt.normalize()
    d["gmv"] = d["Quantity"] * d["UnitPrice"]
    return d


def _kinds(descriptions: pd.Series) -> pd.Series:
    """A product's kind: its description's most common word over the catalogue, colours,
    sizes and fillers aside; kinds of fewer than ``_MIN_KIND`` products become ``other``."""
    words = (
        descriptions.fillna("")
        .str.upper()
        .str.replace(r"[^A-Z ]", " ", regex=True)
        .str.split()
        .map(lambda w: sorted({x for x in w if len(x) > 2 and x not in _NOT_A_KIND}))
    )
    freq = Counter(x for w in words for x in w)
    best = words.map(lambda w: min(w, key=lambda x: (-freq[x], x)) if w else "other")
    size = best.map(best.value_counts())
    return best.where(size >= _MIN_KIND, "other").str.lower()


def cast(raw: pd.DataFrame, cut: pd.Timestamp, horizon_days: int):
    """The contract's three tables (history before ``cut``) and the horizon's purchases."""
    d = _clean(raw)
    end = cut + pd.Timedelta(days=horizon_days)
    before = d[d["day"] < cut]
    rows = (
        d[d["day"] < end]
        .groupby(["customer", "product", "day"], sort=True)
        .agg(units=("Quantity", "sum"), orders=("InvoiceNo", "nunique"), gmv=("gmv", "sum"))
        .reset_index()
    )
    collabs = pd.DataFrame(
        {
            "merchant_id": rows["customer"],
            "creator_id": rows["product"],
            "posted_at": rows["day"],
            "content_type": "short_video",
            "videos": 1,
            "views": rows["units"].astype(np.int64),
            "orders": rows["orders"].astype(np.int64),
            "gmv_usd": rows["gmv"].round(2),
        }
    )
    history = collabs[collabs["posted_at"] < cut].reset_index(drop=True)
    future = collabs[collabs["posted_at"] >= cut].reset_index(drop=True)

    cust = d[d["day"] < end].groupby("customer")
    first = cust["day"].min()
    country = cust["country"].agg(lambda s: s.mode().iloc[0])
    b = before.groupby("customer")
    year = before[before["day"] >= cut - pd.Timedelta(days=365)].groupby("customer")["gmv"].sum()
    price = b["UnitPrice"].mean()
    country_price = price.groupby(country.reindex(price.index)).median()
    fallback = country.map(country_price).fillna(price.median() if len(price) else 1.0)
    qty = b["Quantity"].median().reindex(first.index)
    merchants = pd.DataFrame(
        {
            "merchant_id": first.index.to_numpy(),
            "primary_category": country.to_numpy(),
            "annual_gmv_usd": year.reindex(first.index).fillna(0.0).round(2).to_numpy(),
            "avg_price_usd": price.reindex(first.index).fillna(fallback).round(4).to_numpy(),
            "business_type": np.where(
                qty.to_numpy() >= _WHOLESALE_QUANTITY, "distributor", "seller"
            ),
            "onboarded_at": first.to_numpy(),
        }
    )

    prod = d[d["day"] < end].groupby("product")
    desc = prod["Description"].agg(lambda s: s.dropna().mode().iloc[0] if s.notna().any() else "")
    hb = history.groupby("creator_id")
    buyers = hb["merchant_id"].nunique()
    repeat = (
        history.groupby(["creator_id", "merchant_id"]).size().gt(1).groupby("creator_id").mean()
    )
    recent = history[history["posted_at"] >= cut - pd.Timedelta(days=90)]
    views = recent.groupby("creator_id")["views"].mean()
    idx = desc.index
    creators = pd.DataFrame(
        {
            "creator_id": idx.to_numpy(),
            "primary_category": _kinds(desc).to_numpy(),
            "followers": buyers.reindex(idx).fillna(0).astype(np.int64).to_numpy(),
            "avg_views": views.reindex(idx).fillna(0.0).round(3).to_numpy(),
            "engagement_rate": repeat.reindex(idx).fillna(0.0).round(4).to_numpy(),
            "weekly_video_capacity": 7,
            "joined_at": prod["day"].min().to_numpy(),
        }
    )
    inputs = validate_inputs(merchants, creators, history)
    return inputs, future


def _targets(future, merchant_ids, creator_ids, history, new_only: bool):
    """Per merchant row: the relevant creator rows (padded -1) and their horizon GMV."""
    m_index, c_index = pd.Index(merchant_ids), pd.Index(creator_ids)
    f = future.groupby(["merchant_id", "creator_id"], sort=True)["gmv_usd"].sum().reset_index()
    if new_only:
        seen = pd.MultiIndex.from_frame(history[["merchant_id", "creator_id"]].drop_duplicates())
        f = f[~pd.MultiIndex.from_frame(f[["merchant_id", "creator_id"]]).isin(seen)]
    m = m_index.get_indexer(f["merchant_id"])
    c = c_index.get_indexer(f["creator_id"])
    order = np.lexsort((-f["gmv_usd"].to_numpy(), m))
    m, c, g = m[order], c[order], f["gmv_usd"].to_numpy()[order]
    n = np.bincount(m, minlength=len(m_index))
    width = max(int(n.max()) if len(n) else 1, 1)
    pos = np.arange(len(m)) - np.searchsorted(m, m)
    rel = np.full((len(m_index), width), -1, np.int64)
    gain = np.zeros((len(m_index), width))
    rel[m, pos], gain[m, pos] = c, g
    return rel, gain, n > 0


def _lists(rec: pd.DataFrame, merchant_ids, creator_ids, k: int, by: str = "rank") -> np.ndarray:
    """A recommend() table as creator rows per merchant row, best first, padded -1."""
    m = pd.Index(merchant_ids).get_indexer(rec["merchant_id"])
    c = pd.Index(creator_ids).get_indexer(rec["creator_id"])
    key = rec["rank"].to_numpy() if by == "rank" else -rec[by].to_numpy()
    order = np.lexsort((rec["rank"].to_numpy(), key, m))
    m, c = m[order], c[order]
    pos = np.arange(len(m)) - np.searchsorted(m, m)
    out = np.full((len(merchant_ids), k), -1, np.int64)
    keep = pos < k
    out[m[keep], pos[keep]] = c[keep]
    return out


def _expected(rec: pd.DataFrame, cfg, calibration, history, acceptance=None) -> pd.DataFrame:
    """``rec`` with the allocator's worth of each pair: :func:`matching.allocation.quota.pair_worth`'s
    ``value x p_take``, the value shrunk by the calibration ``match`` would apply, at the
    config's ``allocation.offer_acceptance`` or ``acceptance``."""
    if acceptance is not None:
        cfg = cfg.replace(allocation={"offer_acceptance": acceptance})
    value, p, _ = pair_worth(rec, cfg, calibration=calibration, history=history)
    return rec.assign(expected=value * p)


def _scores(ranked, rel, gain, mask) -> dict[str, float]:
    r, g, lst = rel[mask], gain[mask], ranked[mask]
    hit = metrics.hit_mask(lst, r, K)
    binary = metrics.ndcg_at_k(hit.astype(float), (r >= 0).astype(float), K)
    # GMV-weighted: each hit earns the pair's horizon GMV
    pos_of = {}
    gains = np.zeros(lst.shape)
    for i in range(len(lst)):
        pos_of = dict(zip(r[i][r[i] >= 0].tolist(), g[i][r[i] >= 0].tolist(), strict=True))
        gains[i] = [pos_of.get(x, 0.0) for x in lst[i]]
    weighted = metrics.ndcg_at_k(gains, g, K)
    return {
        "precision": float(np.nanmean(metrics.precision_at_k(lst, r, K))),
        "recall": float(np.nanmean(metrics.recall_at_k(lst, r, K))),
        "ndcg": float(np.nanmean(binary)),
        "hit_rate": float(np.nanmean(metrics.hit_rate_at_k(lst, r, K))),
        "gmv_ndcg": float(np.nanmean(weighted)),
    }


def _markdown(table: pd.DataFrame) -> str:
    head = [table.index.name or "", *table.columns]
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * len(table.columns) + "|"]
    for name, row in table.iterrows():
        cells = [f"{v:.0f}" if c.endswith("(s)") else f"{v:.3f}" for c, v in row.items()]
        lines.append("| " + " | ".join([str(name), *cells]) + " |")
    return "\n".join(lines)


def rankers(cfg, models: tuple[str, ...]) -> dict[str, object]:
    """The rankers compared, by name (``matching`` once per ``ranking.model`` in ``models``,
    then ordered both by fit and by rank)."""
    return {
        **{
            f"matching {m}": MatchRanker(
                features=cfg.features,
                candidates=cfg.candidates,
                ranking=cfg.ranking.model_copy(update={"model": m}),
            )
            for m in models
        },
        "popularity": PopularityRanker(),
        "same-category popularity": CategoryPopularityRanker(),
        "implicit ALS": ALSRanker(random_state=0),
        "EASE^R": EASERanker(),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="online_retail.parquet")
    ap.add_argument("--cut", default="2011-10-01")
    ap.add_argument("--horizon-days", type=int, default=70)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--config", default=None, help="a YAML file laid over the default config")
    ap.add_argument("--models", default="hgb,lgbm", help="ranking.model values to compare")
    ap.add_argument("--quick", action="store_true", help="small model settings: a smoke run")
    ap.add_argument(
        "--acceptances",
        default="",
        help="comma-separated allocation.offer_acceptance values to order by as well",
    )
    ap.add_argument("--json", default=None, help="write the table here as JSON too")
    args = ap.parse_args(argv)
    args.acceptances = [float(a) for a in args.acceptances.split(",") if a]
    cut = pd.Timestamp(args.cut)
    cfg = load_config(args.config)
    if args.quick:
        cfg = cfg.replace(ranking={"max_iter": 60, "learning_rate": 0.15})

    t0 = time.perf_counter()
    inputs, future = cast(pd.read_parquet(args.data), cut, args.horizon_days)
    merchants, creators, history = inputs.merchants, inputs.creators, inputs.collaborations
    m_ids = merchants["merchant_id"].to_numpy(dtype=object)
    c_ids = creators["creator_id"].to_numpy(dtype=object)
    new_rel, new_gain, new_has = _targets(future, m_ids, c_ids, history, new_only=True)
    all_rel, all_gain, all_has = _targets(future, m_ids, c_ids, history, new_only=False)
    cold = ~pd.Index(m_ids).isin(history["merchant_id"].unique())
    print(
        f"cast in {time.perf_counter() - t0:.0f} s: {len(merchants):,} customers "
        f"({int(cold.sum()):,} cold), {len(creators):,} products, {len(history):,} history rows "
        f"before {cut.date()}; {int(new_has.sum()):,} customers with new partners "
        f"in the next {args.horizon_days} days ({int((new_has & cold).sum()):,} cold)"
    )
    rows, timings = [], {}
    top_n = cfg.candidates.top_n + cfg.candidates.partner_top_n
    with threadpool_limits(args.threads):
        for name, ranker in rankers(cfg, tuple(args.models.split(","))).items():
            t = time.perf_counter()
            ranker.fit(merchants, creators, history, as_of=cut)
            timings[name] = time.perf_counter() - t
            t = time.perf_counter()
            if name.startswith("matching"):
                new_rec = ranker.recommend(k=top_n, exclude_seen=True, certified_weight=1.0)
                all_rec = ranker.recommend(k=top_n, certified_weight=1.0)
                decay = history_returns(history, cfg.allocation).decay
                cal = value_calibration(ranker, merchants, creators, history, cut, cfg, decay)
                print(f"value calibration: {cal}")
                variants = {
                    f"{name} (fit)": (
                        _lists(new_rec, m_ids, c_ids, K, "fit"),
                        _lists(all_rec, m_ids, c_ids, K, "fit"),
                    ),
                    f"{name} (rank)": (
                        _lists(new_rec, m_ids, c_ids, K),
                        _lists(all_rec, m_ids, c_ids, K),
                    ),
                    # what the allocator maximises: value x P(the job is taken), from fit
                    f"{name} (expected)": (
                        _lists(_expected(new_rec, cfg, cal, history), m_ids, c_ids, K, "expected"),
                        _lists(_expected(all_rec, cfg, cal, history), m_ids, c_ids, K, "expected"),
                    ),
                }
                for a in args.acceptances:  # the offer-acceptance prior, walked
                    variants[f"{name} (expected, acceptance {a:g})"] = tuple(
                        _lists(_expected(r, cfg, cal, history, a), m_ids, c_ids, K, "expected")
                        for r in (new_rec, all_rec)
                    )
                cand = _lists(new_rec, m_ids, c_ids, top_n)
                rec = metrics.recall_at_k(cand[new_has], new_rel[new_has], top_n)
                print(
                    f"matching's {top_n} candidates hold {np.nanmean(rec):.1%} of the new partners"
                )
            else:
                variants = {
                    name: (
                        _lists(ranker.recommend(k=K, exclude_seen=True), m_ids, c_ids, K),
                        _lists(ranker.recommend(k=K), m_ids, c_ids, K),
                    )
                }
            timings[name] += time.perf_counter() - t
            for label, (new_l, all_l) in variants.items():
                n = _scores(new_l, new_rel, new_gain, new_has)
                a = _scores(all_l, all_rel, all_gain, all_has)
                c = _scores(new_l, new_rel, new_gain, new_has & cold)
                rows.append(
                    {
                        "ranker": label,
                        "new P@10": n["precision"],
                        "new R@10": n["recall"],
                        "new NDCG@10": n["ndcg"],
                        "new HR@10": n["hit_rate"],
                        "new GMV-NDCG@10": n["gmv_ndcg"],
                        "all P@10": a["precision"],
                        "all NDCG@10": a["ndcg"],
                        "all GMV-NDCG@10": a["gmv_ndcg"],
                        "cold P@10": c["precision"],
                        "cold NDCG@10": c["ndcg"],
                        "fit+recommend (s)": timings[name],
                    }
                )
            print(f"{name}: {timings[name]:.0f} s", flush=True)
    table = pd.DataFrame(rows).set_index("ranker")
    print()
    print(
        f"Online Retail, cut {cut.date()}, horizon {args.horizon_days} days; "
        f"{platform.machine()} {os.cpu_count()} cores, {args.threads} threads"
    )
    print(_markdown(table))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        record = {
            "benchmark": "benchmarks/real_data.py",
            "args": {k: v for k, v in vars(args).items() if k != "data"},
            "machine": f"{platform.machine()} {os.cpu_count()} cores",
            "table": table.reset_index().to_dict(orient="records"),
        }
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
