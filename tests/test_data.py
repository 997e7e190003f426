"""Tests of matching.data: the contract rules, reading, writing and atomicity."""

from __future__ import annotations

import filecmp
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from matching.data import (
    ALLOCATION_COLUMNS,
    MATCHES_COLUMNS,
    TABLES,
    DataError,
    Inputs,
    read_inputs,
    read_json,
    read_table,
    validate_inputs,
    validate_outputs,
    validate_table,
    write_json,
    write_table,
    write_tables,
)
from matching.data import io as data_io

SHARED = Path(__file__).resolve().parents[2] / "shared"


def make_tables() -> dict[str, pd.DataFrame]:
    """A small valid marketplace: 3 merchants, 3 creators, 4 collaborations."""
    merchants = pd.DataFrame(
        {
            "merchant_id": ["m1", "m2", "m3"],
            "primary_category": ["beauty", "home", "toys"],
            "annual_gmv_usd": [120_000.0, 0.0, 5_500.5],
            "avg_price_usd": [19.99, 45.0, 7.5],
            "store_rating": [4.5, np.nan, 3.0],
            "business_type": ["brand", "seller", "distributor"],
            "onboarded_at": pd.to_datetime(["2023-01-05", "2023-06-01", "2024-02-29"]),
            "certified_super_top": [True, False, True],
            "free_videos_used": [0, 10, 3],
            "region": ["us", "uk", "us"],  # an extra column, kept
        }
    )
    creators = pd.DataFrame(
        {
            "creator_id": ["c1", "c2", "c3"],
            "primary_category": ["beauty", "home", "gadgets"],
            "followers": [1_000, 250_000, 0],
            "avg_views": [500.0, 80_000.0, 0.0],
            "engagement_rate": [0.05, 0.12, 0.0],
            "audience_female_share": [0.8, 0.4, np.nan],
            "audience_age_18_34_share": [0.6, 0.5, 0.7],
            "weekly_video_capacity": [3, 10, 0],
            "joined_at": pd.to_datetime(["2022-03-01", "2021-11-11", "2024-01-01"]),
        }
    )
    collaborations = pd.DataFrame(
        {
            "merchant_id": ["m1", "m1", "m2", "m3"],
            "creator_id": ["c1", "c2", "c2", "c1"],
            "posted_at": pd.to_datetime(["2024-01-10", "2024-02-01", "2024-03-15", "2024-04-01"]),
            "content_type": ["short_video", "live", "graphic", "short_video"],
            "videos": [1, 2, 1, 4],
            "views": [1_000, 50_000, 300, 0],
            "orders": [10, 400, 0, 0],
            "gmv_usd": [199.9, 18_000.0, 0.0, 0.0],
        }
    )
    return {"merchants": merchants, "creators": creators, "collaborations": collaborations}


def make_outputs() -> tuple[pd.DataFrame, pd.DataFrame]:
    matches = pd.DataFrame(
        {
            "merchant_id": ["m1", "m1", "m3"],
            "creator_id": ["c1", "c2", "c1"],
            "rank": [1, 2, 1],
            "score": [3.0, 2.5, 1.0],
            "priority_score": [3.6, 3.0, 1.2],
            "certified_super_top": [True, True, True],
            "fit": [0.7, 0.2, 0.5],
        }
    )
    allocation = pd.DataFrame(
        {
            "merchant_id": ["m1", "m3"],
            "creator_id": ["c1", "c1"],
            "videos": [5, 2],
            "expected_gmv_usd": [120.0, 0.0],
            "window_end": pd.to_datetime(["2024-06-30", "2024-07-31"]),
        }
    )
    return matches, allocation


def error_of(func, *args, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        func(*args, **kwargs)
    return str(info.value)


def assert_message(message: str, *parts: str) -> None:
    assert "\n" not in message, message
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"


def write_folder(folder: Path, tables: dict[str, pd.DataFrame] | None = None) -> Path:
    write_tables(tables or make_tables(), folder)
    return folder


def with_value(df: pd.DataFrame, column: str, row: int, value) -> pd.DataFrame:
    """A copy of ``df`` with one cell replaced; the column's dtype is inferred again."""
    values = df[column].astype(object).tolist()
    values[row] = value
    return df.assign(**{column: pd.Series(values, index=df.index)})


# ----------------------------------------------------------------------- valid input


def test_valid_tables_are_normalised():
    tables = make_tables()
    inputs = validate_inputs(**tables)
    assert isinstance(inputs, Inputs)
    m, c, h = inputs.merchants, inputs.creators, inputs.collaborations
    assert m["merchant_id"].dtype == "string"
    assert m["business_type"].dtype == "string"
    assert h["creator_id"].dtype == "string"
    assert m["annual_gmv_usd"].dtype == "float64"
    assert m["certified_super_top"].dtype == bool
    assert m["free_videos_used"].dtype == "int64"
    assert c["followers"].dtype == "int64"
    assert h["videos"].dtype == "int64"
    for frame, column in ((m, "onboarded_at"), (c, "joined_at"), (h, "posted_at")):
        assert frame[column].dtype == "datetime64[ns]"
    assert list(m.columns) == list(tables["merchants"].columns)  # extra column kept, in place
    assert m["region"].tolist() == ["us", "uk", "us"]


def test_validate_does_not_mutate_the_input():
    df = make_tables()["merchants"].assign(onboarded_at=["2023-01-05", "2023-06-01", "2024-02-29"])
    df.index = [10, 11, 12]
    before = df.copy()
    out = validate_table(df, "merchants")
    pd.testing.assert_frame_equal(df, before)
    assert out is not df
    assert list(out.index) == [0, 1, 2]


def test_dates_are_normalised_to_midnight():
    df = make_tables()["creators"].assign(
        joined_at=["2022-03-01T13:45:00", "2021-11-11", "2024-01-01 23:59:59"]
    )
    out = validate_table(df, "creators")
    assert out["joined_at"].tolist() == list(
        pd.to_datetime(["2022-03-01", "2021-11-11", "2024-01-01"])
    )


def test_optional_columns_absent_use_defaults(caplog):
    tables = make_tables()
    merchants = tables["merchants"].drop(
        columns=["store_rating", "certified_super_top", "free_videos_used"]
    )
    creators = tables["creators"].drop(columns=["audience_female_share"])
    with caplog.at_level(logging.INFO, logger="matching.data"):
        m = validate_table(merchants, "merchants")
        c = validate_table(creators, "creators")
    assert m["free_videos_used"].tolist() == [0, 0, 0]
    assert m["free_videos_used"].dtype == "int64"
    assert "store_rating" not in m.columns
    assert "certified_super_top" not in m.columns
    assert "audience_female_share" not in c.columns
    logged = caplog.text
    for column in (
        "store_rating",
        "certified_super_top",
        "free_videos_used",
        "audience_female_share",
    ):
        assert column in logged
    assert all(r.levelno == logging.INFO for r in caplog.records)


def test_nullable_optional_column_accepts_nan_but_not_inf():
    merchants = make_tables()["merchants"]
    validate_table(with_value(merchants, "store_rating", 0, np.nan), "merchants")
    message = error_of(
        validate_table, with_value(merchants, "store_rating", 2, np.inf), "merchants"
    )
    assert_message(message, "merchants.parquet", "'store_rating'", "row 2")


# ----------------------------------------------------------------------- rules


def test_missing_column():
    merchants = make_tables()["merchants"].drop(columns=["avg_price_usd"])
    message = error_of(validate_table, merchants, "merchants")
    assert_message(message, "merchants.parquet", "missing required columns", "avg_price_usd")


def test_text_in_an_int_column():
    creators = with_value(make_tables()["creators"], "followers", 1, "many")
    message = error_of(validate_table, creators, "creators", "creators.csv")
    assert_message(message, "creators.csv", "'followers'", "not an integer", "row 1", "'many'")


def test_number_in_a_text_column():
    merchants = with_value(make_tables()["merchants"], "primary_category", 2, 7)
    message = error_of(validate_table, merchants, "merchants")
    assert_message(message, "'primary_category'", "not text", "row 2")


def test_null_id():
    merchants = with_value(make_tables()["merchants"], "merchant_id", 1, None)
    message = error_of(validate_table, merchants, "merchants")
    assert_message(message, "merchants.parquet", "'merchant_id'", "missing", "row 1")


def test_duplicate_id():
    creators = with_value(make_tables()["creators"], "creator_id", 2, "c1")
    message = error_of(validate_table, creators, "creators")
    assert_message(message, "creators.parquet", "'creator_id'", "duplicated", "rows 0, 2")


def test_id_with_trailing_whitespace():
    tables = make_tables()
    tables["collaborations"] = with_value(tables["collaborations"], "merchant_id", 3, "m3 ")
    message = error_of(validate_inputs, **tables)
    assert_message(
        message, "collaborations.parquet", "'merchant_id'", "whitespace", "row 3", "'m3 '"
    )


@pytest.mark.parametrize(
    ("table", "column", "row", "value", "phrase"),
    [
        ("merchants", "annual_gmv_usd", 1, -5.0, "< 0"),
        ("merchants", "avg_price_usd", 2, 0.0, "<= 0"),
        ("merchants", "store_rating", 0, 6.0, "outside 0..5"),
        ("merchants", "business_type", 1, "shop", "not one of brand, distributor, seller"),
        ("merchants", "free_videos_used", 0, -1, "< 0"),
        ("creators", "engagement_rate", 1, 1.5, "outside 0..1"),
        ("creators", "followers", 0, -3, "< 0"),
        ("creators", "audience_age_18_34_share", 2, -0.1, "outside 0..1"),
        ("collaborations", "videos", 2, 0, "< 1"),
        ("collaborations", "views", 0, -1, "< 0"),
        ("collaborations", "content_type", 3, "reel", "not one of short_video, graphic, live"),
        ("collaborations", "gmv_usd", 1, -0.01, "< 0"),
    ],
)
def test_out_of_range(table, column, row, value, phrase):
    df = with_value(make_tables()[table], column, row, value)
    message = error_of(validate_table, df, table)
    assert_message(message, f"{table}.parquet", f"'{column}'", phrase, f"row {row}")


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_rejected_in_required_float(value):
    creators = with_value(make_tables()["creators"], "avg_views", 1, value)
    message = error_of(validate_table, creators, "creators")
    assert_message(message, "creators.parquet", "'avg_views'", "row 1")


def test_nan_in_int_column_rejected():
    collaborations = with_value(make_tables()["collaborations"], "orders", 2, np.nan)
    message = error_of(validate_table, collaborations, "collaborations")
    assert_message(message, "'orders'", "missing", "row 2")


def test_unparseable_date():
    collaborations = make_tables()["collaborations"].assign(
        posted_at=["2024-01-10", "yesterday", "2024-03-15", "2024-13-01"]
    )
    message = error_of(validate_table, collaborations, "collaborations")
    assert_message(
        message, "collaborations.parquet", "'posted_at'", "date", "rows 1, 3", "'yesterday'"
    )


def test_at_most_five_rows_are_listed():
    creators = pd.concat([make_tables()["creators"]] * 4, ignore_index=True)
    creators["creator_id"] = [f"c{i}" for i in range(len(creators))]
    creators["engagement_rate"] = 2.0
    message = error_of(validate_table, creators, "creators")
    assert_message(message, "12 values", "rows 0, 1, 2, 3, 4, ...")
    assert "5, " not in message.split("rows")[1].split(":")[0]


def test_unknown_ids_are_an_error():
    tables = make_tables()
    tables["collaborations"] = with_value(tables["collaborations"], "creator_id", 2, "c9")
    message = error_of(validate_inputs, **tables)
    assert_message(
        message, "collaborations.parquet", "'creator_id'", "row 2", "'c9'", "drop_unknown"
    )


def test_unknown_ids_dropped_on_request(tmp_path, caplog):
    tables = make_tables()
    h = tables["collaborations"]
    tables["collaborations"] = with_value(
        with_value(h, "creator_id", 2, "c9"), "merchant_id", 0, "m9"
    )
    write_folder(tmp_path, tables)
    with pytest.raises(DataError):
        read_inputs(tmp_path)
    with caplog.at_level(logging.WARNING, logger="matching.data"):
        inputs = read_inputs(tmp_path, drop_unknown=True)
    assert inputs.collaborations["merchant_id"].tolist() == ["m1", "m3"]
    assert list(inputs.collaborations.index) == [0, 1]
    assert "dropped 2 of 4 rows" in caplog.text


def test_empty_merchants_is_an_error():
    merchants = make_tables()["merchants"].iloc[:0]
    message = error_of(validate_table, merchants, "merchants")
    assert_message(message, "merchants.parquet", "empty")


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_empty_collaborations_is_fine(tmp_path, fmt):
    tables = make_tables()
    tables["collaborations"] = tables["collaborations"].iloc[:0]
    write_tables(tables, tmp_path, fmt=fmt)
    h = read_inputs(tmp_path).collaborations
    assert len(h) == 0
    assert h["videos"].dtype == "int64"
    assert h["gmv_usd"].dtype == "float64"
    assert h["posted_at"].dtype == "datetime64[ns]"
    assert h["merchant_id"].dtype == "string"


# ----------------------------------------------------------------------- coercion


def test_certified_super_top_text_and_ints_coerced():
    merchants = make_tables()["merchants"]
    out = validate_table(
        merchants.assign(certified_super_top=["TRUE", "false", " True "]), "merchants"
    )
    assert out["certified_super_top"].dtype == bool
    assert out["certified_super_top"].tolist() == [True, False, True]
    out = validate_table(merchants.assign(certified_super_top=[1, 0, 0]), "merchants")
    assert out["certified_super_top"].tolist() == [True, False, False]


@pytest.mark.parametrize("values", [["TRUE", "maybe", "false"], [1, 2, 0]])
def test_certified_super_top_other_values_rejected(values):
    merchants = make_tables()["merchants"].assign(certified_super_top=values)
    message = error_of(validate_table, merchants, "merchants")
    assert_message(message, "merchants.parquet", "'certified_super_top'", "not a boolean", "row 1")


def test_integral_floats_coerced_to_int():
    creators = make_tables()["creators"].assign(followers=[3.0, 4.0, 0.0])
    out = validate_table(creators, "creators")
    assert out["followers"].dtype == "int64"
    assert out["followers"].tolist() == [3, 4, 0]


def test_fractional_float_in_int_column_rejected():
    creators = make_tables()["creators"].assign(weekly_video_capacity=[3.0, 3.5, 1.0])
    message = error_of(validate_table, creators, "creators")
    assert_message(message, "'weekly_video_capacity'", "not an integer", "row 1", "3.5")


# ----------------------------------------------------------------------- files


def test_csv_with_bom_and_spaced_headers(tmp_path):
    write_folder(tmp_path)
    (tmp_path / "merchants.parquet").unlink()
    text = (
        "\ufeff merchant_id , primary_category,annual_gmv_usd ,avg_price_usd,"
        "business_type,  onboarded_at\n"
        "m1,beauty,100.5,9.99,brand,2024-01-02\n"
        "m2,home,0,12,seller,2023-12-31\n"
        "m3,toys,1,1,distributor,2023-01-01\n"
        "007,toys,1,1,distributor,2023-01-01\n"
    )
    (tmp_path / "merchants.csv").write_bytes(text.encode("utf-8"))
    m = read_inputs(tmp_path).merchants
    assert list(m.columns)[:6] == [
        "merchant_id",
        "primary_category",
        "annual_gmv_usd",
        "avg_price_usd",
        "business_type",
        "onboarded_at",
    ]
    assert m["merchant_id"].tolist() == ["m1", "m2", "m3", "007"]  # ids stay text
    assert m["avg_price_usd"].dtype == "float64"
    assert m["onboarded_at"].iloc[0] == pd.Timestamp("2024-01-02")


def test_csv_with_semicolons_names_the_missing_columns(tmp_path):
    path = tmp_path / "creators.csv"
    path.write_text(
        "creator_id;primary_category;followers;avg_views;engagement_rate;"
        "weekly_video_capacity;joined_at\nc1;beauty;10;5.0;0.1;2;2024-01-01\n",
        encoding="utf-8",
    )
    message = error_of(validate_table, read_table(path), "creators", "creators.csv")
    assert_message(
        message, "creators.csv", "missing required columns", "'creator_id'", "'followers'"
    )


def test_csv_with_text_in_numbers(tmp_path):
    tables = make_tables()
    write_tables(tables, tmp_path, fmt="csv")
    path = tmp_path / "creators.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2].replace("250000", "lots")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    message = error_of(read_inputs, tmp_path)
    assert_message(message, "creators.csv", "'followers'", "row 1", "'lots'")


def test_truncated_parquet(tmp_path):
    write_folder(tmp_path)
    path = tmp_path / "creators.parquet"
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    message = error_of(read_inputs, tmp_path)
    assert_message(message, "creators.parquet", "cannot read parquet")


def test_missing_folder(tmp_path):
    message = error_of(read_inputs, tmp_path / "nowhere")
    assert_message(message, "nowhere", "not found")


def test_missing_table_file(tmp_path):
    write_folder(tmp_path)
    (tmp_path / "collaborations.parquet").unlink()
    message = error_of(read_inputs, tmp_path)
    assert_message(message, str(tmp_path), "collaborations.parquet", "collaborations.csv")


def test_parquet_preferred_over_csv(tmp_path):
    tables = make_tables()
    write_tables(tables, tmp_path, fmt="csv")
    write_tables({"merchants": tables["merchants"].assign(region="from parquet")}, tmp_path)
    assert set(read_inputs(tmp_path).merchants["region"]) == {"from parquet"}


# ----------------------------------------------------------------------- writing


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_round_trip(tmp_path, fmt):
    tables = make_tables()
    before = {name: df.copy() for name, df in tables.items()}
    write_tables(tables, tmp_path, fmt=fmt)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{t}.{fmt}" for t in TABLES)
    for name, df in tables.items():
        pd.testing.assert_frame_equal(df, before[name])  # writing never mutates
    got = read_inputs(tmp_path)
    want = validate_inputs(**tables)
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(got, name), getattr(want, name), check_exact=True)


def test_dates_written_as_parquet_date32(tmp_path):
    import pyarrow.parquet as pq

    write_folder(tmp_path)
    schema = pq.read_schema(tmp_path / "collaborations.parquet")
    assert str(schema.field("posted_at").type) == "date32[day]"
    write_table(
        pd.DataFrame({"day": pd.to_datetime(["2024-01-01"])}),
        tmp_path / "x.parquet",
        date_columns=["day"],
    )
    assert str(pq.read_schema(tmp_path / "x.parquet").field("day").type) == "date32[day]"


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_writes_are_byte_identical(tmp_path, suffix):
    df = validate_table(make_tables()["collaborations"], "collaborations")
    write_table(df, tmp_path / f"a{suffix}")
    write_table(df.copy(), tmp_path / f"b{suffix}")
    assert filecmp.cmp(tmp_path / f"a{suffix}", tmp_path / f"b{suffix}", shallow=False)


def test_write_tables_is_all_or_nothing(tmp_path, monkeypatch):
    tables = make_tables()
    write_tables(tables, tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    real = data_io._write_parquet
    calls = []

    def broken(table, where):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        real(table, where)

    monkeypatch.setattr(data_io, "_write_parquet", broken)
    changed = {name: df.iloc[:2] for name, df in tables.items()}
    with pytest.raises(OSError, match="disk full"):
        write_tables(changed, tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_write_table_failure_leaves_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "t.parquet"
    write_table(make_tables()["creators"], path)
    before = path.read_bytes()

    def broken(table, where):
        where.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(data_io, "_write_parquet", broken)
    with pytest.raises(OSError):
        write_table(make_tables()["creators"].iloc[:1], path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["t.parquet"]


def test_json_is_deterministic(tmp_path):
    obj = {
        "b": np.int64(2),
        "a": [1.5, np.float64(0.25)],
        "when": pd.Timestamp("2024-01-02").date(),
    }
    write_json(obj, tmp_path / "one.json")
    write_json(dict(reversed(list(obj.items()))), tmp_path / "two.json")
    assert filecmp.cmp(tmp_path / "one.json", tmp_path / "two.json", shallow=False)
    text = (tmp_path / "one.json").read_text(encoding="utf-8")
    assert text.endswith("}\n")
    assert text.index('"a"') < text.index('"b"')
    assert read_json(tmp_path / "one.json") == {"a": [1.5, 0.25], "b": 2, "when": "2024-01-02"}
    assert json.loads(text)["b"] == 2


def test_read_json_errors(tmp_path):
    assert_message(error_of(read_json, tmp_path / "none.json"), "none.json", "not found")
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    assert_message(error_of(read_json, tmp_path / "bad.json"), "bad.json", "cannot read json")


# ----------------------------------------------------------------------- outputs


def test_output_columns():
    matches, allocation = make_outputs()
    assert tuple(matches.columns) == MATCHES_COLUMNS
    assert tuple(allocation.columns) == ALLOCATION_COLUMNS
    validate_outputs(matches, allocation)


@pytest.mark.parametrize(
    ("table", "column", "row", "value", "parts"),
    [
        ("matches", "rank", 1, 0, ["'rank'", "< 1"]),
        ("matches", "fit", 2, 1.2, ["'fit'", "> 1"]),
        ("matches", "score", 0, np.nan, ["'score'", "missing"]),
        ("matches", "certified_super_top", 0, "yes", ["'certified_super_top'", "bool"]),
        ("allocation", "videos", 1, 0, ["'videos'", "< 1"]),
        ("allocation", "expected_gmv_usd", 0, -1.0, ["'expected_gmv_usd'", "< 0"]),
        ("allocation", "creator_id", 1, "c2", ["pair not in matches"]),
    ],
)
def test_bad_outputs(table, column, row, value, parts):
    frames = dict(zip(("matches", "allocation"), make_outputs(), strict=True))
    frames[table] = with_value(frames[table], column, row, value)
    message = error_of(validate_outputs, frames["matches"], frames["allocation"])
    assert_message(message, table, *parts)


def test_outputs_missing_column_and_bad_order():
    matches, allocation = make_outputs()
    message = error_of(validate_outputs, matches.drop(columns=["fit"]), allocation)
    assert_message(message, "matches", "fit")
    message = error_of(validate_outputs, matches.assign(rank=[2, 1, 1]), allocation)
    assert_message(message, "matches", "priority_score")


# ----------------------------------------------------------------------- contract


@pytest.mark.skipif(not (SHARED / "tools" / "contract_check.py").is_file(), reason="no shared/")
@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_independent_contract_check(tmp_path, fmt):
    write_tables(make_tables(), tmp_path, fmt=fmt)
    result = subprocess.run(
        [sys.executable, str(SHARED / "tools" / "contract_check.py"), "inputs", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "contract: ok" in result.stdout, result.stdout + result.stderr
    assert result.returncode == 0


# ----------------------------------------------------------------------- streamed matches


def make_matches(n_merchants: int = 23, seed: int = 0) -> pd.DataFrame:
    """A valid matches table: 1 to 6 ranked creators for each merchant."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 7, n_merchants)
    rank = np.concatenate([np.arange(1, n + 1) for n in counts])
    score = np.repeat(rng.gamma(2.0, 50.0, n_merchants), counts) / rank  # falls with rank
    cert = np.repeat(rng.random(n_merchants) < 0.3, counts)
    return pd.DataFrame(
        {
            "merchant_id": np.repeat([f"m{i:03d}" for i in range(n_merchants)], counts),
            "creator_id": [f"c{r}" for r in rank],
            "rank": rank,
            "score": score,
            "priority_score": np.where(cert, 1.2 * score, score),
            "certified_super_top": cert,
            "fit": rng.random(rank.size),
        }
    )


def merchant_blocks(matches: pd.DataFrame, size: int) -> list[pd.DataFrame]:
    """``matches`` cut into blocks of ``size`` whole merchants, as ranking yields them."""
    ids = matches["merchant_id"].unique()
    return [
        matches[matches["merchant_id"].isin(ids[s : s + size])] for s in range(0, len(ids), size)
    ]


def write_streamed(out, blocks, allocation, row_group_rows=None):
    """Stream ``blocks`` into ``out`` and publish them with ``allocation``."""
    from matching.allocation.summary import AllocationReport, RunSummary

    report = AllocationReport(1, 1, 10, 10, 10, 50.0, 45.0, 0.1, 2, 0.5, 60, 0.8)
    summary = RunSummary(pd.Timestamp("2026-03-01").date(), 5, 20, 100, 1, 2, report)
    with data_io.MatchesStream(out, row_group_rows) as stream:
        for block in blocks:
            stream.write(block)
        return data_io.write_outputs(out, stream, allocation, summary)


def test_streamed_matches_are_the_single_write(tmp_path):
    """Blocks of whole merchants in row groups of any size read back as the table written
    at once; in one row group, and whatever the blocks, the bytes are the same; the summary
    gives the file's rows and SHA-256."""
    import hashlib

    import pyarrow.parquet as pq

    from matching.data.schema import OUTPUT_ARROW

    matches = make_matches()
    allocation = make_outputs()[1].iloc[:0]
    whole = data_io._parquet_bytes(matches, OUTPUT_ARROW["matches"])
    table = pq.read_table(pa_buffer(whole)).to_pandas()
    written = {}
    for merchants, group in [(100, None), (4, None), (4, 10**6), (3, 7), (5, 7), (100, 7)]:
        out = tmp_path / f"{merchants}-{group}"
        blocks = merchant_blocks(matches, merchants)
        summary = write_streamed(out, blocks, allocation, group)
        blob = (out / "matches.parquet").read_bytes()
        written[merchants, group] = blob
        pd.testing.assert_frame_equal(pq.read_table(out / "matches.parquet").to_pandas(), table)
        entry = summary.outputs["matches.parquet"]
        assert entry.rows == len(matches)
        assert entry.sha256 == hashlib.sha256(blob).hexdigest()
        meta = pq.read_metadata(out / "matches.parquet")
        sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        if group == 7:  # cut at the same rows whatever the blocks
            assert sizes == [7] * (len(matches) // 7) + [len(matches) % 7]
        else:  # None: each block as it comes
            assert sizes == ([len(matches)] if group else [len(b) for b in blocks])
        assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []
    assert written[100, None] == whole and written[4, 10**6] == whole
    assert written[3, 7] == written[5, 7] == written[100, 7]


def pa_buffer(blob: bytes):
    import pyarrow as pa

    return pa.BufferReader(blob)


def _raising(blocks, after: int):
    for i, block in enumerate(blocks):
        if i == after:
            raise RuntimeError("ranking failed")
        yield block


@pytest.mark.parametrize("failure", ["invalid block", "ranking raises", "publish fails"])
def test_a_failure_mid_stream_leaves_the_previous_outputs(tmp_path, monkeypatch, failure):
    """A block that fails validation, an exception from the blocks' generator, or a failed
    publish: the previous outputs stay as they were and nothing staged is left behind."""
    out = tmp_path / "out"
    matches, allocation = make_outputs()
    write_streamed(out, [matches], allocation)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    blocks = merchant_blocks(make_matches(), 4)
    if failure == "invalid block":
        blocks[2] = with_value(blocks[2], "fit", 1, 1.5)
        expected = pytest.raises(DataError, match="'fit'")
    elif failure == "ranking raises":
        blocks = _raising(blocks, after=3)
        expected = pytest.raises(RuntimeError, match="ranking failed")
    else:
        monkeypatch.setattr(data_io, "_parquet_bytes", lambda df, schema: 1 / 0)
        expected = pytest.raises(ZeroDivisionError)
    with expected:
        write_streamed(out, blocks, allocation.iloc[:0], row_group_rows=5)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_merchant_in_two_blocks_is_refused_with_its_rows(tmp_path):
    """Each block is checked alone, so a merchant must not come back in a later one (its
    ranks would repeat unchecked); rows are numbered in the whole table."""
    matches = make_matches()
    first = matches.iloc[:10]
    later = matches.iloc[9:]  # the 10th row's merchant again, as the stream's 11th row
    message = error_of(write_streamed, tmp_path, [first, later], make_outputs()[1].iloc[:0])
    assert_message(message, "matches", "merchant_id", "earlier block", "row 10")
    bad = matches.assign(fit=np.where(np.arange(len(matches)) == 12, 2.0, matches["fit"]))
    message = error_of(write_streamed, tmp_path, [bad.iloc[:10], bad.iloc[10:]], bad.iloc[:0])
    assert_message(message, "matches", "'fit'", "row 12")
    assert list(tmp_path.iterdir()) == []


def test_allocation_pairs_are_checked_against_the_streamed_file(tmp_path):
    matches, allocation = make_outputs()
    message = error_of(write_streamed, tmp_path, [matches.iloc[:2]], allocation)
    assert_message(message, "allocation", "pair not in matches")
    assert list(tmp_path.iterdir()) == []


def test_a_killed_writers_staged_file_is_removed_a_live_ones_kept(tmp_path):
    """Staged files live outside the folder's lock: recovery takes only those no process
    holds (a killed run's), never a live writer's, and a publish commits its own."""
    from matching.data import atomic

    stale = tmp_path / ".matches.parquet.killed.staged"
    stale.write_bytes(b"partial")
    live = atomic.stage(tmp_path / "matches.parquet")
    live.file.write(b"new")
    atomic.recover(tmp_path, data_io.OUTPUT_FILES)
    assert not stale.exists() and live.path.exists()
    stale.write_bytes(b"partial")
    atomic.publish(tmp_path, {"summary.json": lambda fh: fh.write(b"{}")}, staged=[live])
    live.discard()  # published: nothing to remove
    assert sorted(p.name for p in tmp_path.iterdir()) == ["matches.parquet", "summary.json"]
    assert (tmp_path / "matches.parquet").read_bytes() == b"new"
