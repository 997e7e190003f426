"""Who partners with whom on real data: UCI Online Retail cast into the contract.

Run by hand (the data are not part of the project; see ``../shared/data/online_retail/``,
or UCI: Chen, D. (2015). Online Retail. https://doi.org/10.24432/C5BW33, CC BY 4.0):

    nice -n 10 .venv/bin/python benchmarks/real_data.py \
        --data ../shared/data/online_retail/online_retail.parquet --threads 1 \
        [--cuts 2011-08-01,2011-09-01,2011-10-01] [--trials 8] [--quick] \
        [--json benchmarks/results/online_retail_protocol.json]

The cast at a cut (all in code; the file is read as published), from what is known then:

- cleaning: rows with a customer, not cancelled (``InvoiceNo`` without a leading ``C``),
  quantity > 0, unit price > 0 and a product stock code (five digits, maybe a letter
  suffix: drops POST, DOT, M, BANK CHARGES, gift vouchers and the like);
- merchants = customers (``cust-<id>``) with a purchase before the end of the horizon:
  those first seen after the cut are the cold-start case and carry nothing from after it
  but their country (an account's, taken from its first invoice); ``primary_category`` =
  the country (warm: most common before the cut); ``annual_gmv_usd`` = their GMV in the
  year before the cut; ``avg_price_usd`` = their mean unit price before the cut (cold: the
  median of their country's warm customers); ``business_type`` = ``distributor`` when
  their median quantity per line before the cut is at least a dozen (wholesalers), else
  ``seller``; ``onboarded_at`` = first purchase, the cut for cold customers;
- creators = products (``sku-<code>``) sold before the cut, ``primary_category`` = the
  description's most common word across that catalogue once colours, sizes and fillers
  are set aside, when at least 20 products share it (else ``other``); ``followers`` =
  distinct customers before the cut; ``avg_views`` = mean units per customer-day over the
  90 days before the cut; ``engagement_rate`` = share of its buyers who came back for it
  before the cut; ``weekly_video_capacity`` = 7; ``joined_at`` = first sale; no audience;
- collaborations = one row per customer-product-day: ``videos`` = 1, ``views`` = units,
  ``orders`` = invoices, ``gmv_usd`` = sum of quantity x unit price (GBP, used as is).

Two tasks, every learner refitted for each:

- time split, rolling origin (``--cuts``): at each cut the learners see the history
  before it and are scored on the customer-product pairs of the next ``--horizon-days``
  whose product was known at the cut (the dropped pairs of products first sold in the
  horizon are counted), overall, for warm and for cold customers;
- random holdout at the last cut: ``--holdout-share`` (at least one) of the partners of
  every customer with ``--holdout-min-products`` distinct products or more is held out at
  random; the learners see the rest (every row of a held-out pair removed) and are scored
  on the held-out pairs: what a merchant would choose rather than what it did next.

Reported per ranker: new partners (pairs not in the history; past partners are left out of
every list): precision, recall, NDCG and hit rate at 10, and GMV-weighted NDCG@10 (gain =
the pair's GMV in the horizon, or before the cut when held out); on the time split, all
partners including repeats (past partners allowed): precision, NDCG and GMV-weighted NDCG
at 10. Each with a 95% percentile interval from ``--resamples`` bootstrap resamples of
customers (fixed ``--seed``); the mean over cuts resamples within each cut and averages
the cut means; ``matching (fit)`` over the best baseline is a ratio with a paired interval
(the same resampled customers for both).

Baselines: popularity and same-category popularity as they are; popularity over the last
N days, item-item kNN (``implicit``), implicit ALS and EASE^R each tuned on new-partner
NDCG@10 with the same budget of ``--trials`` settings (``real_protocol.GRIDS``): on the
time split trained before ``cut - horizon`` and scored on the horizon after it, on the
holdout by a second holdout of the learners' own history. The model runs at its defaults
(``model_tuned: false``): its own tuning is a later ``matching tune``.

``matching (fit)`` orders the model's candidates by ``fit``; ``matching (rank)`` is its
``rank`` (expected GMV if the pair happens); ``matching (expected)`` by what the allocator
maximises, that value times P(the job is taken) from ``fit``
(:func:`matching.allocation.calibration.offer_probability`). ``--quick`` uses the model's
smaller test settings (a smoke run, not the reported figures).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import real_protocol as rp
from threadpoolctl import threadpool_limits

from matching import metrics
from matching.allocation.quota import pair_worth
from matching.allocation.returns import history_returns
from matching.config import load_config
from matching.data import validate_inputs
from matching.jobs.pipeline import value_calibration
from matching.ranking.baselines import CategoryPopularityRanker, PopularityRanker
from matching.ranking.ranker import MatchRanker

K = 10
ROOT = Path(__file__).resolve().parents[1]
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
    """Purchase lines with a customer and a product code, one row each, with ``customer``,
    ``product``, ``country``, ``day`` and ``gmv``."""
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
    """The contract's three tables as known at ``cut`` and the horizon's purchases, from
    the file as published (:func:`cast_clean` of :func:`_clean`)."""
    return cast_clean(_clean(raw), cut, horizon_days)


def cast_clean(d: pd.DataFrame, cut: pd.Timestamp, horizon_days: int):
    """The contract's three tables as known at ``cut`` and the horizon's purchases.

    Only products sold before ``cut`` are listed; customers first seen in the horizon are
    listed with nothing from after ``cut`` but their country. ``future`` holds every
    customer-product-day of the horizon, unknown products included (see :func:`_dropped`).
    """
    end = cut + pd.Timedelta(days=horizon_days)
    before = d[d["day"] < cut]
    upto = d[d["day"] < end]
    rows = (
        upto.groupby(["customer", "product", "day"], sort=True)
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

    first = upto.groupby("customer")["day"].min()
    opening = upto.sort_values(["day", "InvoiceNo"], kind="stable").groupby("customer")
    b = before.groupby("customer")
    country = (
        b["country"]
        .agg(lambda s: s.mode().iloc[0])
        .reindex(first.index)
        # a cold customer's country: its account's, from its first invoice
        .fillna(opening["country"].first())
    )
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
            "onboarded_at": first.clip(upper=cut).to_numpy(),
        }
    )

    prod = before.groupby("product")
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


def _dropped(future: pd.DataFrame, creator_ids, history: pd.DataFrame) -> dict:
    """The horizon's new pairs and those left out of the targets: their product was
    not sold before the cut, so no ranker could list it."""
    pairs = future[["merchant_id", "creator_id"]].drop_duplicates()
    seen = pd.MultiIndex.from_frame(history[["merchant_id", "creator_id"]].drop_duplicates())
    new = pairs[~pd.MultiIndex.from_frame(pairs).isin(seen)]
    unknown = int((~new["creator_id"].isin(pd.Index(creator_ids))).sum())
    return {
        "new_pairs": len(new),
        "dropped_unknown_product": unknown,
        "dropped_share": unknown / len(new) if len(new) else float("nan"),
    }


def _targets(future, merchant_ids, creator_ids, history, new_only: bool):
    """Per merchant row: the relevant creator rows (padded -1), their gain (the pair's GMV)
    and whether it has any; pairs of unlisted merchants or creators are left out."""
    m_index, c_index = pd.Index(merchant_ids), pd.Index(creator_ids)
    f = future.groupby(["merchant_id", "creator_id"], sort=True)["gmv_usd"].sum().reset_index()
    if new_only:
        seen = pd.MultiIndex.from_frame(history[["merchant_id", "creator_id"]].drop_duplicates())
        f = f[~pd.MultiIndex.from_frame(f[["merchant_id", "creator_id"]]).isin(seen)]
    m = m_index.get_indexer(f["merchant_id"])
    c = c_index.get_indexer(f["creator_id"])
    known = (m >= 0) & (c >= 0)
    m, c, g = m[known], c[known], f["gmv_usd"].to_numpy()[known]
    order = np.lexsort((-g, m))
    m, c, g = m[order], c[order], g[order]
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


def per_customer(ranked: np.ndarray, rel: np.ndarray, gain: np.ndarray) -> dict[str, np.ndarray]:
    """Each merchant row's precision, recall, NDCG (binary), hit rate and GMV-weighted NDCG
    at ``K`` (gain: the pair's GMV); nan for rows without a relevant pair."""
    hit = metrics.hit_mask(ranked, rel, K)
    got = np.zeros(hit.shape)
    for j in range(hit.shape[1]):
        got[:, j] = (gain * ((rel == ranked[:, j : j + 1]) & (rel >= 0))).sum(axis=1)
    return {
        "P@10": metrics.precision_at_k(ranked, rel, K),
        "R@10": metrics.recall_at_k(ranked, rel, K),
        "NDCG@10": metrics.ndcg_at_k(hit.astype(float), (rel >= 0).astype(float), K),
        "HR@10": metrics.hit_rate_at_k(ranked, rel, K),
        "GMV-NDCG@10": metrics.ndcg_at_k(got, gain, K),
    }


def rankers(cfg, models: tuple[str, ...], tuned: dict, threads: int) -> dict[str, object]:
    """The rankers compared, by name: ``matching`` once per ``ranking.model`` in ``models``
    (at the config's settings), the fixed baselines and the tuned ones at their chosen
    settings."""
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
        **{name: rp.make(name, tuned[name]["chosen"], threads) for name in rp.GRIDS},
    }


def _validation(inputs, as_of, rel, has) -> Callable[[object], float]:
    """A ranker's new-partner NDCG@10 on validation targets ``rel`` once fitted on
    ``inputs`` before ``as_of``: the score the baselines are tuned on."""
    merchants, creators, history = inputs.merchants, inputs.creators, inputs.collaborations
    m_ids = merchants["merchant_id"].to_numpy(dtype=object)
    c_ids = creators["creator_id"].to_numpy(dtype=object)

    def score(ranker) -> float:
        ranker.fit(merchants, creators, history, as_of=as_of)
        lst = _lists(ranker.recommend(k=K, exclude_seen=True), m_ids, c_ids, K)[has]
        hit = metrics.hit_mask(lst, rel[has], K).astype(float)
        return float(np.nanmean(metrics.ndcg_at_k(hit, (rel[has] >= 0).astype(float), K)))

    return score


def evaluate(inputs, as_of, new, every, cfg, args, tuned) -> tuple[dict, dict, dict]:
    """Fit every ranker before ``as_of`` and score its lists per merchant row.

    ``new`` (and ``every``, or None) are ``_targets``'s ``(rel, gain)`` of the new partners
    (of all partners). Returns the per-row metrics by ranker label (``new ...``,
    ``all ...``), the seconds of each ranker and notes on the model (calibration, recall
    of its candidates).
    """
    merchants, creators, history = inputs.merchants, inputs.creators, inputs.collaborations
    m_ids = merchants["merchant_id"].to_numpy(dtype=object)
    c_ids = creators["creator_id"].to_numpy(dtype=object)
    scores, timings, notes = {}, {}, {}
    top_n = cfg.candidates.top_n + cfg.candidates.partner_top_n
    with threadpool_limits(args.threads):
        for name, ranker in rankers(cfg, args.models, tuned, args.threads).items():
            t = time.perf_counter()
            ranker.fit(merchants, creators, history, as_of=as_of)
            if name.startswith("matching"):
                recs = [ranker.recommend(k=top_n, exclude_seen=True, certified_weight=1.0)]
                if every is not None:
                    recs.append(ranker.recommend(k=top_n, certified_weight=1.0))
                decay = history_returns(history, cfg.allocation).decay
                cal = value_calibration(ranker, merchants, creators, history, as_of, cfg, decay)
                variants = {
                    f"{name} (fit)": [_lists(r, m_ids, c_ids, K, "fit") for r in recs],
                    f"{name} (rank)": [_lists(r, m_ids, c_ids, K) for r in recs],
                    # what the allocator maximises: value x P(the job is taken), from fit
                    f"{name} (expected)": [
                        _lists(_expected(r, cfg, cal, history), m_ids, c_ids, K, "expected")
                        for r in recs
                    ],
                }
                for a in args.acceptances:  # the offer-acceptance prior, walked
                    variants[f"{name} (expected, acceptance {a:g})"] = [
                        _lists(_expected(r, cfg, cal, history, a), m_ids, c_ids, K, "expected")
                        for r in recs
                    ]
                has = (new[0] >= 0).any(axis=1)
                cand = _lists(recs[0], m_ids, c_ids, top_n)
                held = float(np.nanmean(metrics.recall_at_k(cand[has], new[0][has], top_n)))
                notes[name] = {"value_calibration": str(cal), f"candidate_recall@{top_n}": held}
                print(f"{name}: value calibration {cal}; its {top_n} candidates hold {held:.1%}")
            else:
                variants = {
                    name: [_lists(ranker.recommend(k=K, exclude_seen=True), m_ids, c_ids, K)]
                    + (
                        [_lists(ranker.recommend(k=K), m_ids, c_ids, K)]
                        if every is not None
                        else []
                    )
                }
            timings[name] = time.perf_counter() - t
            for label, lists in variants.items():
                s = {f"new {k}": v for k, v in per_customer(lists[0], *new).items()}
                if every is not None:
                    a = per_customer(lists[1], *every)
                    s.update({f"all {k}": a[k] for k in ("P@10", "NDCG@10", "GMV-NDCG@10")})
                scores[label] = s
            print(f"{name}: {timings[name]:.0f} s", flush=True)
    return scores, timings, notes


def _tuned_line(tuned: dict) -> str:
    """Each tuned baseline's chosen setting and its validation score, on one line."""
    return "; ".join(
        f"{name} {t['chosen']} (val NDCG@10 {max(x['score'] for x in t['trials']):.3f})"
        for name, t in tuned.items()
    )


def time_split(d: pd.DataFrame, cut: pd.Timestamp, i: int, cfg, args) -> dict:
    """One cut of the rolling origin: tune the baselines on the period before it, fit every
    ranker before it, score the horizon's known-product pairs for warm and cold customers."""
    t0 = time.perf_counter()
    h = args.horizon_days
    inputs, future = cast_clean(d, cut, h)
    merchants, history = inputs.merchants, inputs.collaborations
    m_ids = merchants["merchant_id"].to_numpy(dtype=object)
    c_ids = inputs.creators["creator_id"].to_numpy(dtype=object)
    dropped = _dropped(future, c_ids, history)
    new_rel, new_gain, new_has = _targets(future, m_ids, c_ids, history, new_only=True)
    all_rel, all_gain, all_has = _targets(future, m_ids, c_ids, history, new_only=False)
    cold = ~pd.Index(m_ids).isin(history["merchant_id"].unique())
    val_cut = cut - pd.Timedelta(days=h)
    v_inputs, v_future = cast_clean(d, val_cut, h)
    v_rel, _, v_has = _targets(
        v_future,
        v_inputs.merchants["merchant_id"].to_numpy(dtype=object),
        v_inputs.creators["creator_id"].to_numpy(dtype=object),
        v_inputs.collaborations,
        new_only=True,
    )
    cast_note = {
        "customers": len(merchants),
        "cold_customers": int(cold.sum()),
        "products": len(c_ids),
        "history_rows": len(history),
        "customers_with_new_partners": int(new_has.sum()),
        "cold_customers_with_new_partners": int((new_has & cold).sum()),
        **dropped,
    }
    print(
        f"\n== time split, cut {cut.date()} (validation cut {val_cut.date()}): "
        f"{len(merchants):,} customers ({int(cold.sum()):,} cold), {len(c_ids):,} products, "
        f"{len(history):,} history rows; {int(new_has.sum()):,} customers with new partners "
        f"({int((new_has & cold).sum()):,} cold); {dropped['dropped_unknown_product']:,} of "
        f"{dropped['new_pairs']:,} new horizon pairs dropped: product first sold after the cut",
        flush=True,
    )
    with threadpool_limits(args.threads):
        tuned = rp.tune(_validation(v_inputs, val_cut, v_rel, v_has), args.trials, args.threads)
    print(f"tuned on {int(v_has.sum()):,} validation customers: {_tuned_line(tuned)}", flush=True)
    scores, timings, notes = evaluate(
        inputs, cut, (new_rel, new_gain), (all_rel, all_gain), cfg, args, tuned
    )
    masks = {"overall": np.ones(len(m_ids), bool), "warm": ~cold, "cold": cold}
    entry = rp.collect(
        scores, masks, {"new": new_has, "all": all_has}, args.resamples, [args.seed, i]
    )
    return {
        "cut": str(cut.date()),
        "validation_cut": str(val_cut.date()),
        "horizon_days": h,
        "cast": cast_note,
        "tuning": tuned,
        "validation_customers": int(v_has.sum()),
        "timings_s": timings,
        "model_notes": notes,
        "seconds": time.perf_counter() - t0,
        "_entry": entry,
    }


def random_holdout(d: pd.DataFrame, cut: pd.Timestamp, cfg, args) -> dict:
    """The random-holdout task at ``cut``: tune on a second holdout of the learners' own
    history, fit on it all, score the held-out partners."""
    t0 = time.perf_counter()
    share, least, seed = args.holdout_share, args.holdout_min_products, args.seed

    def split(frame, s):
        kept, held = rp.holdout_split(frame, cut, share, least, s)
        inputs, _ = cast_clean(kept, cut, 0)
        m_ids = inputs.merchants["merchant_id"].to_numpy(dtype=object)
        c_ids = inputs.creators["creator_id"].to_numpy(dtype=object)
        target = held.rename(
            columns={"customer": "merchant_id", "product": "creator_id", "gmv": "gmv_usd"}
        )
        rel, gain, has = _targets(target, m_ids, c_ids, inputs.collaborations, new_only=True)
        unknown = int((~target["creator_id"].isin(pd.Index(c_ids))).sum())
        return kept, held, inputs, rel, gain, has, unknown

    kept, held, inputs, rel, gain, has, unknown = split(d, seed)
    _, _, v_inputs, v_rel, _, v_has, _ = split(kept, seed + 1)
    note = {
        "eligible_customers": int(held["customer"].nunique()),
        "held_out_pairs": len(held),
        "dropped_unknown_product": unknown,
        "customers": len(inputs.merchants),
        "products": len(inputs.creators),
        "history_rows": len(inputs.collaborations),
    }
    print(
        f"\n== random holdout at {cut.date()}: {note['held_out_pairs']:,} pairs of "
        f"{note['eligible_customers']:,} customers held out ({share:.0%}, at least 1, of those "
        f"with {least}+ products; seed {seed}); {unknown:,} dropped (their product's only "
        f"sales held out); learners see {note['history_rows']:,} rows",
        flush=True,
    )
    with threadpool_limits(args.threads):
        tuned = rp.tune(_validation(v_inputs, cut, v_rel, v_has), args.trials, args.threads)
    print(f"tuned on an inner holdout (seed {seed + 1}): {_tuned_line(tuned)}", flush=True)
    scores, timings, notes = evaluate(inputs, cut, (rel, gain), None, cfg, args, tuned)
    masks = {"overall": np.ones(len(inputs.merchants), bool)}
    entry = rp.collect(scores, masks, {"new": has}, args.resamples, [args.seed, 99])
    return {
        "cut": str(cut.date()),
        "share": share,
        "min_products": least,
        "seed": seed,
        "split": note,
        "tuning": tuned,
        "timings_s": timings,
        "model_notes": notes,
        "seconds": time.perf_counter() - t0,
        "_entry": entry,
    }


def _git(*cmd: str) -> str:
    run = subprocess.run(["git", *cmd], capture_output=True, text=True, cwd=ROOT, check=False)
    return run.stdout.strip()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="online_retail.parquet")
    ap.add_argument("--cuts", default="2011-08-01,2011-09-01,2011-10-01", help="comma-separated")
    ap.add_argument("--horizon-days", type=int, default=70)
    ap.add_argument("--tasks", default="time,holdout", help="time split, random holdout or both")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--config", default=None, help="a YAML file laid over the default config")
    ap.add_argument("--models", default=None, help="ranking.model values (default: the config's)")
    ap.add_argument("--quick", action="store_true", help="small model settings: a smoke run")
    ap.add_argument(
        "--acceptances",
        default="",
        help="comma-separated allocation.offer_acceptance values to order by as well",
    )
    ap.add_argument("--trials", type=int, default=8, help="settings tried per tuned baseline")
    ap.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    ap.add_argument("--seed", type=int, default=0, help="of the bootstrap and the holdout")
    ap.add_argument("--holdout-share", type=float, default=0.2)
    ap.add_argument("--holdout-min-products", type=int, default=5)
    ap.add_argument("--json", default=None, help="write every figure here as JSON too")
    args = ap.parse_args(argv)
    args.acceptances = [float(a) for a in args.acceptances.split(",") if a]
    cuts = sorted(pd.Timestamp(c) for c in args.cuts.split(",") if c)
    tasks = set(args.tasks.split(","))
    cfg = load_config(args.config)
    cfg = cfg.replace(ranking={"n_jobs": args.threads})
    if args.quick:
        cfg = cfg.replace(ranking={"max_iter": 60, "learning_rate": 0.15})
    args.models = tuple((args.models or cfg.ranking.model).split(","))
    fit_label = f"matching {args.models[0]} (fit)"

    t0 = time.perf_counter()
    d = _clean(pd.read_parquet(args.data))
    machine = f"{platform.machine()} {os.cpu_count()} cores, {args.threads} threads"
    record = {
        "benchmark": "benchmarks/real_data.py",
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "machine": f"{machine}; {platform.platform()}; Python {platform.python_version()}",
        "args": {k: v for k, v in vars(args).items() if k not in ("data", "json")},
        "data": Path(args.data).name,
        "model": {"models": list(args.models), "model_tuned": False, "quick": args.quick},
        "bootstrap": {"resamples": args.resamples, "seed": args.seed, "level": rp.LEVEL},
        "grids": {name: rp.grid(name, args.trials) for name in rp.GRIDS},
    }

    def report(title: str, entries: list[dict]) -> dict:
        table, ratio = rp.summarise(
            entries, fit_label, ["popularity", "same-category popularity", *rp.GRIDS]
        )
        print(f"\n### {title}\n\n{rp.counts(table)}\n\n{rp.markdown(table, ratio, fit_label)}")
        return {"results": table, "ratio_fit_to_best_baseline": ratio}

    head = f"Online Retail; {machine}; model at its defaults (model_tuned: false)"
    if "time" in tasks:
        runs, entries = [], []
        for i, cut in enumerate(cuts):
            r = time_split(d, cut, i, cfg, args)
            entries.append(r.pop("_entry"))
            r.update(report(f"time split, cut {r['cut']}: new partners ({head})", entries[-1:]))
            runs.append(r)
        title = f"time split, mean over the cuts {', '.join(r['cut'] for r in runs)}"
        mean = report(f"{title}: new partners ({head})", entries)
        record["time_split"] = {
            "targets": "pairs of the horizon not in the history, of products sold before the cut",
            "cuts": runs,
            "mean_over_cuts": mean,
        }
    if "holdout" in tasks:
        h = random_holdout(d, cuts[-1], cfg, args)
        h.update(
            report(f"random holdout at {h['cut']}: held-out partners ({head})", [h.pop("_entry")])
        )
        record["random_holdout"] = {"targets": "the held-out pairs of listed products", **h}
    record["run_time_s"] = time.perf_counter() - t0
    print(f"\nrun time {record['run_time_s'] / 60:.1f} min")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(rp.finite(record), indent=2, allow_nan=False)
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
