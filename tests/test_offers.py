"""The optional offers table: read and validated like the others, absent as before."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from matching import data
from matching.cli import main
from matching.config import load_config
from matching.simulate import simulate


@pytest.fixture(scope="module")
def market():
    return simulate(load_config(), merchants=20, creators=100, seed=1)


def _offers(mk) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "merchant_id": mk.merchants["merchant_id"].iloc[:4].tolist(),
            "creator_id": mk.creators["creator_id"].iloc[:4].tolist(),
            "offered_at": ["2026-02-01"] * 4,
            "videos": [3, 2, 1, 5],
            "accepted": ["true", "false", None, "0"],
            "responded_at": ["2026-02-03", "2026-02-02", None, "2026-02-05"],
            "decline_reason": [None, "price band", None, None],
        }
    )


def test_offers_are_normalised_with_a_nullable_answer(market):
    got = data.validate_inputs(
        market.merchants, market.creators, market.collaborations, offers=_offers(market)
    ).offers
    assert str(got["accepted"].dtype) == "boolean"
    assert got["accepted"].tolist()[:2] == [True, False] and got["accepted"].isna().tolist() == [
        False,
        False,
        True,
        False,
    ]
    assert got["responded_at"].dtype == "datetime64[ns]" and got["videos"].dtype == "int64"


@pytest.mark.parametrize(
    "column, value, row, message",
    [
        ("creator_id", "nobody", 1, "creator_id': 1 value not in the creators (row 1"),
        ("merchant_id", "m_x", 0, "merchant_id': 1 value not in the merchants (row 0"),
        ("responded_at", "2026-01-01", 0, "before offered_at"),
        ("responded_at", None, 0, "missing where accepted is given"),
        ("responded_at", "2026-02-09", 2, "given where accepted is missing"),
        ("decline_reason", "busy", 0, "given on an offer not declined"),
        ("accepted", "maybe", 2, "not a boolean"),
        ("videos", 0, 3, "videos"),
        ("offered_at", "2200-01-01", 1, "in the future"),
    ],
)
def test_a_bad_offer_is_one_line_naming_file_column_and_row(market, column, value, row, message):
    bad = _offers(market)
    bad.loc[row, column] = value
    with pytest.raises(data.DataError) as err:
        data.validate_inputs(market.merchants, market.creators, market.collaborations, offers=bad)
    text = str(err.value)
    assert "\n" not in text and text.startswith("offers.parquet: ") and message in text


def test_a_folder_with_offers_reads_them_and_one_without_is_as_before(market, tmp_path, capsys):
    d = tmp_path / "d"
    assert main(["simulate", "--out", str(d), "--merchants", "20", "--creators", "100"]) == 0
    before = data.read_inputs(d)
    assert before.offers is None and "offers" not in before.sources
    mk = simulate(load_config(), merchants=20, creators=100, seed=0)
    data.write_table(_offers(mk), d / "offers.csv")
    capsys.readouterr()
    assert main(["validate", "--data", str(d)]) == 0
    assert "offers                   4  (3 answered, 1 accepted)" in capsys.readouterr().out
    got = data.read_inputs(d)
    assert len(got.offers) == 4 and got.sources["offers"] == "offers.csv"
    pd.testing.assert_frame_equal(got.collaborations, before.collaborations)
    bad = _offers(mk)
    bad.loc[0, "creator_id"] = "nobody"
    data.write_table(bad, d / "offers.csv")
    capsys.readouterr()
    assert main(["validate", "--data", str(d)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "offers.csv" in err[0] and "nobody" in err[0]


@pytest.fixture(scope="module")
def two_sided():
    from matching.simulate import scenario_config

    cfg = scenario_config(load_config(), "two_sided")
    return simulate(cfg, merchants=200, creators=2000, seed=4)


def test_the_creator_side_leaves_the_rest_of_the_market_as_it_was(two_sided):
    plain = simulate(load_config(), merchants=200, creators=2000, seed=4)
    assert plain.offers is None
    for name in ("merchants", "creators", "collaborations"):
        pd.testing.assert_frame_equal(getattr(plain, name), getattr(two_sided, name))


def test_simulated_offers_follow_the_contract_and_their_truth(two_sided, tmp_path):
    from matching.simulate import write_marketplace

    table, truth = two_sided.offers
    assert len(table) == len(truth) > 3000
    assert (table["merchant_id"].to_numpy() == truth["merchant_id"].to_numpy()).all()
    write_marketplace(two_sided, tmp_path / "d")
    got = data.read_inputs(tmp_path / "d").offers
    assert len(got) == len(table) and got["accepted"].isna().sum() == table["accepted"].isna().sum()
    assert (tmp_path / "d" / "truth" / "offers.parquet").is_file()
    # the answers follow the hidden probability: calibrated, and moved by each penalty
    answered = table["accepted"].notna().to_numpy()
    took = table["accepted"].to_numpy(dtype=float, na_value=np.nan)[answered]
    p = truth["p_accept"].to_numpy()[answered]
    assert abs(took.mean() - p.mean()) < 3 * np.sqrt((p * (1 - p)).sum()) / p.size
    fit = truth["fit"].to_numpy()[answered]
    assert took[fit > np.quantile(fit, 0.75)].mean() > took[fit < np.quantile(fit, 0.25)].mean()
    gap = truth["price_gap"].to_numpy()[answered]
    assert took[gap < np.quantile(gap, 0.25)].mean() > took[gap > np.quantile(gap, 0.75)].mean()
    rival = truth["rival"].to_numpy()[answered] > 0
    assert rival.any() and took[rival].mean() < took[~rival].mean()
    # a reason only on a declined offer, and every answer within a week of its offer
    reasons = table["decline_reason"].notna().to_numpy()
    assert not (reasons & table["accepted"].fillna(True).to_numpy(dtype=bool)).any()
    days = (table["responded_at"] - table["offered_at"]).dt.days.dropna()
    assert days.between(0, 6).all()
