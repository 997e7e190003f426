"""The real-data protocol of ``benchmarks/real_data.py`` on a tiny transactions frame of
Online Retail's columns: what the cast knows at a cut, the random holdout split, the
customer bootstrap and the tuned baselines the benchmark adds. The data themselves are
never read here."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    """A benchmark module by its path (``real_data`` imports ``real_protocol`` by name)."""
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


rp = _load("real_protocol")
rd = _load("real_data")

CUT = pd.Timestamp("2011-05-01")
HORIZON = 30


def _line(invoice, code, day, customer, country="United Kingdom", qty=2, price=1.5):
    return {
        "InvoiceNo": str(invoice),
        "StockCode": str(code),
        "Description": f"HEART LANTERN {code}" if str(code)[-1] in "13579" else f"MUG {code}",
        "Quantity": qty,
        "InvoiceDate": f"{day} 10:00:00",
        "UnitPrice": price,
        "CustomerID": float(customer),
        "Country": country,
    }


def transactions() -> pd.DataFrame:
    """Six warm customers buying products 10001-10008 from January to April 2011, a
    product first sold in the horizon (10009) and one after it (10010), a customer first
    seen in the horizon (17, from France) and one after it (18), and rows the cleaning
    drops (a cancellation, postage, a row without a customer)."""
    rows, invoice = [], 500000
    days = pd.date_range("2011-01-03", "2011-04-28", freq="6D")
    for c in range(1, 7):
        for j, day in enumerate(days):
            if (j + c) % 3:
                continue
            invoice += 1
            for p in range(c, c + (3, 5, 8, 4, 7, 2)[c - 1]):
                code = 10001 + p % 8
                rows.append(_line(invoice, code, day.date(), 12340 + c, qty=2 + c, price=1 + p / 4))
    horizon = [
        (12341, 10009, "2011-05-03"),
        (12341, 10003, "2011-05-03"),
        (12342, 10001, "2011-05-10"),
        (12345, 10008, "2011-05-20"),
    ]
    for c, code, day in horizon:
        invoice += 1
        rows.append(_line(invoice, code, day, c))
    rows += [
        _line(600001, 10002, "2011-05-12", 12357, country="France", qty=144, price=9.0),
        _line(600002, 10009, "2011-05-15", 12357, country="Belgium", qty=144, price=9.0),
        _line(600003, 10001, "2011-06-20", 12358),
        _line(600004, 10010, "2011-06-21", 12341),
        _line("C600005", 10001, "2011-03-01", 12341, qty=-2),
        _line(600006, "POST", "2011-03-01", 12341),
        {**_line(600007, 10004, "2011-03-02", 1), "CustomerID": np.nan},
    ]
    return pd.DataFrame(rows)


def test_the_cast_at_a_cut_knows_only_what_was_known_then():
    """No product first sold after the cut is listed and no collaboration after it is in
    the history; a customer first seen in the horizon is listed as cold with nothing
    from after the cut but its account's country: changing its later purchases changes
    nothing, and dropping every later row changes nothing for the rest."""
    raw = transactions()
    inputs, future = rd.cast(raw, CUT, HORIZON)
    m, c, h = inputs.merchants, inputs.creators, inputs.collaborations
    assert set(c["creator_id"]) == {f"sku-{10001 + i}" for i in range(8)}
    assert (c["joined_at"] < CUT).all() and (h["posted_at"] < CUT).all()
    assert future["posted_at"].between(CUT, CUT + pd.Timedelta(days=HORIZON - 1)).all()
    assert (m["onboarded_at"] <= CUT).all() and "cust-12358" not in set(m["merchant_id"])
    cold = m.set_index("merchant_id").loc["cust-12357"]
    assert cold["onboarded_at"] == CUT and cold["primary_category"] == "France"
    assert cold["annual_gmv_usd"] == 0 and cold["business_type"] == "seller"
    warm_price = m.loc[m["merchant_id"] != "cust-12357", "avg_price_usd"]
    assert cold["avg_price_usd"] == pytest.approx(warm_price.median(), abs=1e-4)

    later = raw["InvoiceDate"] >= str(CUT.date())
    changed = raw.copy()
    is_cold = (changed["CustomerID"] == 12357) & later
    changed.loc[is_cold, ["Quantity", "UnitPrice"]] = [1, 0.5]
    changed.loc[is_cold & (changed["InvoiceNo"] == "600002"), "InvoiceDate"] = "2011-05-29 9:00:00"
    again, _ = rd.cast(changed, CUT, HORIZON)
    pd.testing.assert_frame_equal(again.merchants, m)
    before, _ = rd.cast(raw[~later], CUT, HORIZON)
    pd.testing.assert_frame_equal(before.creators, c)
    pd.testing.assert_frame_equal(before.collaborations, h)
    warm = m[m["merchant_id"] != "cust-12357"].reset_index(drop=True)
    pd.testing.assert_frame_equal(before.merchants, warm)


def test_horizon_pairs_of_unknown_products_are_counted_and_left_out_of_the_targets():
    """The new pairs of a product first sold in the horizon cannot be listed by any ranker:
    they are not targets, and the count says how many were dropped."""
    inputs, future = rd.cast(transactions(), CUT, HORIZON)
    m_ids = inputs.merchants["merchant_id"].to_numpy(dtype=object)
    c_ids = inputs.creators["creator_id"].to_numpy(dtype=object)
    history = inputs.collaborations
    dropped = rd._dropped(future, c_ids, history)
    assert dropped["dropped_unknown_product"] == 2
    rel, _, has = rd._targets(future, m_ids, c_ids, history, new_only=True)
    assert (rel[has] >= 0).any(axis=1).all()
    n_targets = int((rel >= 0).sum())
    assert n_targets == dropped["new_pairs"] - dropped["dropped_unknown_product"]


def _eligible(d: pd.DataFrame) -> pd.Series:
    return d[d["day"] < CUT].groupby("customer")["product"].nunique()


def test_the_random_holdout_is_fixed_per_seed_and_removes_every_row_of_a_held_out_pair():
    """The same seed holds out the same pairs; each customer with five products or more
    loses a fifth of them (at least one), the others none; the history the learners see
    has no row of a held-out pair and no row after the cut, and nothing else is lost."""
    d = rd._clean(transactions())
    kept, held = rp.holdout_split(d, CUT, 0.2, 5, seed=3)
    again_kept, again_held = rp.holdout_split(d, CUT, 0.2, 5, seed=3)
    pd.testing.assert_frame_equal(held, again_held)
    pd.testing.assert_frame_equal(kept, again_kept)

    n = _eligible(d)
    assert (n < 5).any() and (n >= 5).any()
    per = held.groupby("customer").size().reindex(n.index, fill_value=0)
    want = np.where(n >= 5, np.maximum(1, np.floor(0.2 * n + 0.5)), 0)
    np.testing.assert_array_equal(per.to_numpy(), want)

    assert (kept["day"] < CUT).all()
    pairs = pd.MultiIndex.from_frame(held[["customer", "product"]])
    assert not pd.MultiIndex.from_frame(kept[["customer", "product"]]).isin(pairs).any()
    before = d[d["day"] < CUT]
    gone = pd.MultiIndex.from_frame(before[["customer", "product"]]).isin(pairs)
    assert len(kept) == int((~gone).sum())
    gmv = before[gone].groupby(["customer", "product"])["gmv"].sum()
    np.testing.assert_allclose(held.set_index(["customer", "product"])["gmv"], gmv)

    inputs, _ = rd.cast_clean(kept, CUT, 0)
    h = inputs.collaborations
    assert (
        not pd.MultiIndex.from_frame(
            h[["merchant_id", "creator_id"]].rename(
                columns={"merchant_id": "customer", "creator_id": "product"}
            )
        )
        .isin(pairs)
        .any()
    )


def test_the_bootstrap_interval_holds_the_estimate_and_narrows_with_more_customers():
    """A 95% interval of a mean hit rate: around the estimate, and about ten times
    narrower for a hundred times the customers."""
    rng = np.random.default_rng(0)
    widths = []
    for n in (50, 5000):
        values = (rng.random(n) < 0.3).astype(float)
        idx = rp.resample(n, 1000, seed=1)
        r = rp.mean_interval([values], [idx])
        assert r["lo"] < r["point"] < r["hi"] and r["customers"] == [n]
        assert r["point"] == pytest.approx(values.mean())
        widths.append(r["hi"] - r["lo"])
    assert widths[1] < widths[0] / 5


def test_the_mean_over_cuts_resamples_within_each_cut():
    """The mean over cuts is the mean of the cut means, not of the pooled customers."""
    a, b = np.ones(10), np.zeros(1000)
    idx = [rp.resample(len(a), 200, 0), rp.resample(len(b), 200, 1)]
    r = rp.mean_interval([a, b], idx)
    assert r["point"] == r["lo"] == r["hi"] == 0.5


def test_the_paired_ratio_of_a_ranker_to_itself_is_one_without_doubt():
    """Two rankers with the same lists: their ratio is 1 in every resample, so its
    interval is [1, 1], over one cut or several."""
    rng = np.random.default_rng(0)
    rel = np.where(rng.random((300, 6)) < 0.5, rng.integers(0, 40, (300, 6)), -1)
    ranked = np.stack([rng.permutation(40)[:10] for _ in range(300)])
    has = (rel >= 0).any(axis=1)
    gain = (rel >= 0) * 1.0
    values = {k: v[has] for k, v in rd.per_customer(ranked, rel, gain).items()}
    for metric in ("P@10", "NDCG@10"):
        a = values[metric]
        assert a.mean() > 0
        for cuts in (1, 3):
            idx = [rp.resample(len(a), 500, [7, i]) for i in range(cuts)]
            r = rp.ratio_interval([a] * cuts, [a.copy()] * cuts, idx)
            assert (r["point"], r["lo"], r["hi"]) == (1.0, 1.0, 1.0)


def test_the_summary_reports_each_segment_and_the_ratio_to_the_best_baseline():
    """``collect`` then ``summarise``: every ranker's figure per segment, the ratio of the
    model to the better baseline, and a markdown row per ranker."""
    n = 400
    rng = np.random.default_rng(2)
    cold = np.arange(n) % 4 == 0
    has = rng.random(n) < 0.8
    scores = {
        "model (fit)": {"new P@10": rng.random(n) * 0.4},
        "popularity": {"new P@10": rng.random(n) * 0.2},
        "EASE^R": {"new P@10": rng.random(n) * 0.3},
    }
    masks = {"overall": np.ones(n, bool), "warm": ~cold, "cold": cold}
    entries = [rp.collect(scores, masks, {"new": has}, 200, [0, i]) for i in range(2)]
    table, ratio = rp.summarise(entries, "model (fit)", ["popularity", "EASE^R"])
    assert table["cold"]["EASE^R"]["new P@10"]["customers"] == [int((has & cold).sum())] * 2
    assert ratio["warm"]["new P@10"]["vs"] == "EASE^R"
    r = ratio["overall"]["new P@10"]
    assert r["lo"] < r["point"] < r["hi"] and r["point"] == pytest.approx(
        scores["model (fit)"]["new P@10"][has].mean() / scores["EASE^R"]["new P@10"][has].mean()
    )
    text = rp.markdown(table, ratio, "model (fit)")
    assert text.count("\n") == 2 + 3 and "cold P@10" in text and "vs EASE^R" in text


def test_the_tuned_baselines_fit_and_recommend_and_tuning_keeps_the_best():
    """Item kNN and recent popularity answer as the library's baselines do; recent
    popularity counts only its window; ``tune`` keeps the best-scoring setting of each
    family, with the same number of trials for each."""
    inputs, _ = rd.cast(transactions(), CUT, HORIZON)
    m, c, h = inputs.merchants, inputs.creators, inputs.collaborations
    for name in rp.GRIDS:
        assert len(rp.GRIDS[name]) == 8 and rp.grid(name, 3)[0] == rp.GRIDS[name][0]
        ranker = rp.make(name, rp.grid(name, 1)[0]).fit(m, c, h, as_of=CUT)
        rec = ranker.recommend(k=3, exclude_seen=True)
        assert rec.groupby("merchant_id").size().max() <= 3
    recent = rp.RecentPopularityRanker(days=10).fit(m, c, h, as_of=CUT)
    last = h[h["posted_at"] >= CUT - pd.Timedelta(days=10)]["creator_id"].value_counts()
    assert recent.recommend(k=1)["creator_id"].iloc[0] == last.index[0]

    tuned = rp.tune(lambda r: -abs(np.log(getattr(r, "l2", 300.0) / 300.0)), trials=4)
    tried = [t["params"]["l2"] for t in tuned["EASE^R"]["trials"]]
    assert tried == [10.0, 100.0, 3e3, 3e4] and tuned["EASE^R"]["chosen"] == {"l2": 100.0}
    assert {len(t["trials"]) for t in tuned.values()} == {4}
