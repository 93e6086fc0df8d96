"""Tests of the synthetic shop generator (microseg.synth)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from microseg.synth import (
    BAD_KINDS,
    EVENT_TYPES,
    PLANTED_SEGMENTS,
    SEGMENT_SHARES,
    SynthError,
    SynthResult,
    generate_shop,
)
from microseg.synth._writer import _write_shop

END = dt.date(2026, 10, 31)
START = pd.Timestamp("2024-11-01", tz="UTC")
STOP = pd.Timestamp("2026-11-01", tz="UTC")
EVENT_COLUMNS = [
    "event_id",
    "customer_id",
    "anonymous_id",
    "timestamp",
    "type",
    "amount",
    "quantity",
    "product_id",
    "category",
    "channel",
    "order_id",
    "campaign",
    "discount",
    "query",
    "device",
    "page_type",
]
N_CUSTOMERS = 4000
CHUNK = 2500


def _hashes(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    return generate_shop(
        tmp_path_factory.mktemp("shop"), customers=N_CUSTOMERS, seed=7, chunk_customers=CHUNK
    )


@pytest.fixture(scope="module")
def frames(shop: SynthResult) -> dict[str, pd.DataFrame]:
    out = {name: pd.read_parquet(shop.paths[name]) for name in shop.paths if name != "segments"}
    truth = out["ground_truth"].set_index("customer_id")["segment"]
    out["events"]["segment"] = out["events"]["customer_id"].map(truth)
    return out


@pytest.fixture(scope="module")
def purchases(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    events = frames["events"]
    return events[events["type"] == "purchase"]


# --- determinism and streaming -------------------------------------------------------------


def test_same_seed_gives_identical_files_and_other_seed_differs(tmp_path: Path) -> None:
    kwargs: dict[str, Any] = {"customers": 1200, "chunk_customers": 500, "bad_rows": 0.01}
    generate_shop(tmp_path / "a", seed=3, **kwargs)
    generate_shop(tmp_path / "b", seed=3, **kwargs)
    generate_shop(tmp_path / "c", seed=4, **kwargs)
    first, second, other = (_hashes(tmp_path / x) for x in "abc")
    assert first == second
    assert set(first) == set(other)
    for name in ("customers.parquet", "events.parquet", "ground_truth.parquet"):
        assert first[name] != other[name]


def test_small_chunks_stream_valid_output_and_report_progress(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    result = generate_shop(
        tmp_path, customers=2000, chunk_customers=500, progress=lambda d, t: calls.append((d, t))
    )
    assert calls == [(500, 2000), (1000, 2000), (1500, 2000), (2000, 2000)]
    customers = pq.read_table(result.paths["customers"])
    events = pq.read_table(result.paths["events"])
    assert pq.ParquetFile(result.paths["events"]).num_row_groups >= 4
    ids = customers.column("customer_id").to_pylist()
    assert ids == [f"C{i:08d}" for i in range(1, 2001)]
    assert result.counts["customers"] == 2000
    assert result.counts["events"] == events.num_rows
    event_ids = events.column("event_id").to_pylist()
    assert event_ids == [f"E{i:010d}" for i in range(1, len(event_ids) + 1)]
    assert set(events.column("customer_id").drop_null().to_pylist()) <= set(ids)


def test_events_split_into_numbered_files(tmp_path: Path) -> None:
    result = _write_shop(tmp_path, 1200, 5, 24, END, 0.0, 300, None, 5000)
    names = [p.name for p in result.event_files]
    assert len(names) > 1
    assert names == [f"events-{i:05d}.parquet" for i in range(len(names))]
    assert not (tmp_path / "events.parquet").exists()
    assert "events" not in result.paths
    assert all(result.paths[p.stem] == p for p in result.event_files)
    tables = [pq.read_table(p) for p in result.event_files]
    assert all(t.num_rows <= 5000 for t in tables[:-1])
    assert sum(t.num_rows for t in tables) == result.counts["events"]
    ids = pa.concat_tables(tables).column("event_id")
    assert len(pa.compute.unique(ids)) == result.counts["events"]


# --- files, counts and integrity -----------------------------------------------------------


def test_counts_match_files(shop: SynthResult, frames: dict[str, pd.DataFrame]) -> None:
    assert shop.seed == 7
    assert shop.event_files == (shop.out_dir / "events.parquet",)
    assert shop.counts == {
        "customers": N_CUSTOMERS,
        "events": len(frames["events"]),
        "products": len(frames["products"]),
        "customer_updates": len(frames["customer_updates"]),
        "bad_rows": 0,
    }
    assert len(frames["ground_truth"]) == N_CUSTOMERS
    assert 10 <= len(frames["events"]) / N_CUSTOMERS <= 16


def test_event_schema_and_types(shop: SynthResult, frames: dict[str, pd.DataFrame]) -> None:
    schema = pq.read_schema(shop.paths["events"])
    assert schema.names == EVENT_COLUMNS
    assert schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    assert schema.field("amount").type == pa.float64()
    assert schema.field("quantity").type == pa.int32()
    assert set(frames["events"]["type"]) == set(EVENT_TYPES)
    assert len(EVENT_TYPES) == 9


def test_ids_unique_and_referential(frames: dict[str, pd.DataFrame]) -> None:
    customers, events, products = frames["customers"], frames["events"], frames["products"]
    assert customers["customer_id"].is_unique
    assert customers["customer_id"].str.fullmatch(r"C\d{8}").all()
    assert events["event_id"].is_unique
    assert events["event_id"].str.fullmatch(r"E\d{10}").all()
    assert set(events["customer_id"].dropna()) <= set(customers["customer_id"])
    assert set(events["product_id"].dropna()) <= set(products["product_id"])
    assert set(frames["ground_truth"]["customer_id"]) == set(customers["customer_id"])
    category = products.set_index("product_id")["category"]
    with_product = events.dropna(subset=["product_id"])
    assert (with_product["product_id"].map(category) == with_product["category"]).all()


def test_time_bounds_and_order(frames: dict[str, pd.DataFrame]) -> None:
    events, customers = frames["events"], frames["customers"]
    assert events["timestamp"].min() >= START
    assert events["timestamp"].max() < STOP
    # sorted within each chunk: at most one step back per chunk boundary
    assert int((events["timestamp"].diff().dt.total_seconds() < 0).sum()) <= 1
    signup = customers.set_index("customer_id")["signup_date"]
    known = events.dropna(subset=["customer_id"])
    day = known["timestamp"].dt.tz_localize(None).dt.normalize()
    assert (day >= pd.to_datetime(known["customer_id"].map(signup))).all()


def test_purchases_and_returns_consistent(
    frames: dict[str, pd.DataFrame], purchases: pd.DataFrame
) -> None:
    events = frames["events"]
    assert (purchases["amount"] > 0).all()
    assert (purchases["quantity"] >= 1).all()
    assert purchases["discount"].between(0, 0.7).all()
    assert purchases["order_id"].notna().all()
    assert purchases["order_id"].is_unique
    returns = events[events["type"] == "return"]
    assert len(returns) > 0
    joined = returns.merge(purchases, on="order_id", suffixes=("", "_p"), validate="1:1")
    assert len(joined) == len(returns)
    for col in ("customer_id", "product_id", "amount", "quantity"):
        assert (joined[col] == joined[f"{col}_p"]).all()
    lag = (joined["timestamp"] - joined["timestamp_p"]).dt.total_seconds() / 86400
    assert lag.between(3, 30).all()
    other = events[~events["type"].isin(["purchase", "return"])]
    assert other["amount"].isna().all()
    assert other["order_id"].isna().all()
    assert events.loc[events["type"] != "search", "query"].isna().all()
    assert events.loc[events["type"] == "search", "query"].notna().all()
    assert events.loc[events["type"] != "view", "page_type"].isna().all()
    store = (events["channel"] == "store") | (events["type"] == "email_sent")
    assert events.loc[store, "device"].isna().all()
    assert events.loc[~store, "device"].notna().all()
    carts = events[events["type"] == "cart_add"]
    assert (carts["quantity"] >= 1).all()
    assert len(events[events["type"] == "checkout_abandon"]) > 0
    mail = events[events["type"].str.startswith("email_")]
    assert mail["campaign"].notna().all()
    assert (mail["channel"] == "email").all()
    assert mail["campaign"].str.fullmatch(r"[a-z-]+-\d{4}(-w\d{2})?").all()


def test_customers_attributes(frames: dict[str, pd.DataFrame]) -> None:
    c = frames["customers"]
    normal = c["email"].str.strip().str.lower()
    assert (normal == c["customer_id"].str.lower() + "@example.com").all()
    messy = (c["email"] != normal).mean()
    assert 0.01 < messy < 0.06
    assert 0.05 < c["phone"].isna().mean() < 0.2
    assert c["phone"].dropna().str.fullmatch(r"\+\d{1,2}( ?\d)+|0\d{9}").all()
    end = pd.Timestamp(END)
    birth = pd.to_datetime(c["birth_date"])
    age = (end - birth).dt.days / 365.25
    assert age.between(18, 86).all()
    assert ((pd.to_datetime(c["signup_date"]) - birth).dt.days / 365.25 >= 18).all()
    assert (pd.to_datetime(c["signup_date"]) <= end).all()
    assert (pd.to_datetime(c["signup_date"]) >= pd.Timestamp(START.date())).mean() > 0.6
    assert (c.groupby("city")[["country", "climate", "region"]].nunique() == 1).all().all()
    assert set(c["urban_rural"]) == {"urban", "suburban", "rural"}
    assert c["interests"].map(len).min() >= 1
    assert 0.8 < c["religion"].isna().mean() < 0.95
    assert set(c["gender"]) == {"female", "male", "nonbinary"}


def test_planted_segments(shop: SynthResult, frames: dict[str, pd.DataFrame]) -> None:
    listed = json.loads(shop.paths["segments"].read_text())
    assert listed == [s.to_dict() for s in PLANTED_SEGMENTS]
    assert len(PLANTED_SEGMENTS) >= 7
    truth = frames["ground_truth"]["segment"]
    shares = truth.value_counts(normalize=True)
    assert set(shares.index) == set(SEGMENT_SHARES)
    for name, share in SEGMENT_SHARES.items():
        assert abs(shares[name] - share) < 0.03
    c = frames["customers"].assign(segment=truth.to_numpy())
    age = (pd.Timestamp(END) - pd.to_datetime(c["birth_date"])).dt.days / 365.25
    sporty = c[c["segment"] == "seasonal-sporty-travelers"]
    assert (sporty["gender"] == "female").all()
    assert age[sporty.index].between(25, 36).all()
    assert sporty["interests"].map(lambda x: {"travel", "sports"} <= set(x)).all()
    family = c[c["segment"] == "family-essentials"]
    assert (family["marital_status"] == "married").all()
    assert (family["household_size"] >= 3).all()
    assert (c.loc[c["segment"] == "single-tech-buyers", "marital_status"] == "single").all()
    anime = c[c["segment"] == "anime-sneaker-fans"]
    assert anime["lifestyle"].map(lambda x: "anime_fan" in x).mean() > 0.9
    assert age[anime.index].max() < 31


# --- behaviour: the planted truth is in the events -----------------------------------------


def test_lapsing_vips_drop_out(purchases: pd.DataFrame) -> None:
    vips = purchases[purchases["segment"] == "lapsing-vips"]
    first = (vips["timestamp"] < START + pd.DateOffset(months=6)).sum()
    last = (vips["timestamp"] >= STOP - pd.DateOffset(months=6)).sum()
    assert first > 200
    assert last <= 0.05 * first
    spend = purchases.groupby("segment")["amount"].mean()
    assert spend.idxmax() == "lapsing-vips"


def test_holiday_buyers_buy_in_occasion_windows(purchases: pd.DataFrame) -> None:
    holiday = purchases[purchases["segment"] == "holiday-occasion-buyers"]
    md = holiday["timestamp"].dt.month * 100 + holiday["timestamp"].dt.day
    window = md.between(201, 214) | md.between(1017, 1031) | md.between(1115, 1224)
    assert len(holiday) > 300
    assert window.mean() >= 0.95
    assert (holiday["category"] == "seasonal").mean() > 0.5
    background = purchases[purchases["segment"] == "background"]
    bmd = background["timestamp"].dt.month * 100 + background["timestamp"].dt.day
    assert bmd.between(1017, 1031).mean() + bmd.between(1115, 1224).mean() < 0.5


def test_seasonality(purchases: pd.DataFrame) -> None:
    sporty = purchases[purchases["segment"] == "seasonal-sporty-travelers"]
    assert sporty["timestamp"].dt.month.between(4, 8).mean() > 0.6
    assert sporty["category"].isin(["sports", "travel"]).mean() > 0.85
    background = purchases[purchases["segment"] != "holiday-occasion-buyers"]
    day = background["timestamp"].dt.tz_localize(None).dt.normalize()

    def per_day(first: str, last: str) -> float:
        inside = day.between(pd.Timestamp(first), pd.Timestamp(last))
        return float(inside.sum()) / ((pd.Timestamp(last) - pd.Timestamp(first)).days + 1)

    usual = per_day("2025-09-01", "2025-10-15")
    assert per_day("2025-11-21", "2025-12-01") > 1.6 * usual  # Black Friday week
    assert per_day("2025-12-02", "2025-12-24") > 1.3 * usual  # Christmas


def test_deal_seekers_and_categories(
    frames: dict[str, pd.DataFrame], purchases: pd.DataFrame
) -> None:
    discount = purchases.groupby("segment")["discount"].mean()
    assert discount["deal-seekers"] > 0.3
    assert discount.drop("deal-seekers").max() < 0.1
    events = frames["events"]
    returns = events[events["type"] == "return"].groupby("segment").size()
    rate = returns / purchases.groupby("segment").size()
    assert rate.idxmax() == "deal-seekers"
    assert rate["deal-seekers"] > 0.15
    frequency = (
        purchases.groupby("segment").size() / frames["ground_truth"]["segment"].value_counts()
    )
    assert frequency.idxmax() == "family-essentials"
    share = pd.crosstab(purchases["segment"], purchases["category"], normalize="index")

    def frac(segment: str, *categories: str) -> float:
        return float(share.loc[[segment], list(categories)].to_numpy().sum())

    assert frac("single-tech-buyers", "electronics") > 0.8
    assert frac("anime-sneaker-fans", "anime") > 0.8
    assert frac("family-essentials", "grocery", "home", "toys") > 0.9
    tech = purchases[purchases["segment"] == "single-tech-buyers"]
    assert tech["channel"].isin(["web", "app"]).all()
    searches = events[(events["type"] == "search") & (events["segment"] == "anime-sneaker-fans")]
    assert searches["query"].str.contains("sneakers|shoes").mean() > 0.3
    attributed = purchases.dropna(subset=["campaign"]).groupby("segment").size()
    assert attributed.idxmax() == "deal-seekers"


def test_email_engagement_differs_by_segment(frames: dict[str, pd.DataFrame]) -> None:
    events = frames["events"]
    sent = events[events["type"] == "email_sent"].groupby("segment").size()
    opened = events[events["type"] == "email_open"].groupby("segment").size()
    rate = (opened / sent).reindex(sent.index).fillna(0.0)
    assert rate["anime-sneaker-fans"] == 0.0
    assert rate["deal-seekers"] > 0.4
    assert rate.max() - rate.min() > 0.35
    vips = events[(events["segment"] == "lapsing-vips") & events["type"].str.startswith("email")]
    late = vips[vips["timestamp"] >= STOP - pd.DateOffset(months=6)]
    assert (late["type"] == "email_sent").sum() > 50
    assert (late["type"] == "email_open").sum() == 0
    clicks = events[events["type"] == "email_click"].groupby("segment").size()
    assert clicks.idxmax() == "deal-seekers"


def test_anonymous_events_can_be_stitched(frames: dict[str, pd.DataFrame]) -> None:
    events = frames["events"]
    anon = events[events["anonymous_id"].notna() & events["customer_id"].isna()]
    both = events[events["anonymous_id"].notna() & events["customer_id"].notna()]
    assert len(anon) > 0
    assert anon["anonymous_id"].str.fullmatch(r"anon-[0-9a-f]{16}").all()
    assert (anon["type"] == "view").all()
    assert both["anonymous_id"].is_unique
    assert set(anon["anonymous_id"]) == set(both["anonymous_id"])
    assert both["customer_id"].is_unique
    login = both.set_index("anonymous_id")["timestamp"]
    assert (anon["timestamp"] < anon["anonymous_id"].map(login)).all()
    assert 0.02 < len(both) / N_CUSTOMERS < 0.08


def test_customer_updates(frames: dict[str, pd.DataFrame], purchases: pd.DataFrame) -> None:
    updates, customers = frames["customer_updates"], frames["customers"]
    assert list(updates.columns) == [
        "customer_id",
        "updated_at",
        "marital_status",
        "household_size",
        "country",
        "region",
        "city",
        "urban_rural",
        "climate",
    ]
    assert 0.02 < updates["customer_id"].nunique() / N_CUSTOMERS < 0.08
    assert updates["updated_at"].between(START, STOP, inclusive="left").all()
    assert int((updates["updated_at"].diff().dt.total_seconds() < 0).sum()) <= 1  # per chunk
    before = customers.set_index("customer_id")
    marriage = updates[updates["marital_status"] == "married"]
    moves = updates[updates["city"].notna()]
    assert len(marriage) > 10
    assert len(moves) > 10
    assert (before.loc[marriage["customer_id"], "marital_status"] == "single").all()
    assert marriage["household_size"].notna().all()
    assert marriage["city"].isna().all()
    assert moves["marital_status"].isna().all()
    assert moves["household_size"].isna().all()
    assert moves[["country", "region", "urban_rural", "climate"]].notna().all().all()
    assert (moves["city"].to_numpy() != before.loc[moves["customer_id"], "city"].to_numpy()).all()
    # weddings: purchases in the 60 days before the marriage
    joined = purchases.merge(marriage[["customer_id", "updated_at"]], on="customer_id")
    lead = (joined["updated_at"] - joined["timestamp"]).dt.total_seconds() / 86400
    wed = joined[lead.between(0, 60)]["customer_id"].nunique()
    assert wed >= 0.9 * marriage["customer_id"].nunique()


def test_products(frames: dict[str, pd.DataFrame]) -> None:
    products = frames["products"]
    assert 300 <= len(products) <= 2000
    assert products["product_id"].is_unique
    assert products["product_id"].str.fullmatch(r"P\d{5}").all()
    assert (products["price"] > 0).all()
    tags = products["tags"].map(set)
    anime = products["category"] == "anime"
    assert (anime & tags.map(lambda t: {"character", "sneakers"} <= t)).sum() > 10
    assert tags.map(lambda t: "christmas" in t).any()
    assert tags.map(lambda t: "premium" in t).any()


def test_products_do_not_depend_on_customer_count(tmp_path: Path, shop: SynthResult) -> None:
    small = generate_shop(tmp_path, customers=10, seed=7)
    assert small.paths["products"].read_bytes() == shop.paths["products"].read_bytes()


# --- bad rows ------------------------------------------------------------------------------


def test_bad_rows_manifest_matches_file(tmp_path: Path) -> None:
    result = generate_shop(tmp_path, customers=2000, bad_rows=0.03, chunk_customers=700)
    manifest = json.loads(result.paths["bad_rows"].read_text())
    kinds = manifest["kinds"]
    assert set(kinds) == set(BAD_KINDS)
    assert manifest["total"] == sum(kinds.values()) == result.counts["bad_rows"]
    assert min(kinds.values()) > 0
    assert max(kinds.values()) - min(kinds.values()) <= 3
    table = pq.read_table(result.paths["events"])
    for name in ("timestamp", "amount", "quantity"):
        assert table.schema.field(name).type == pa.string()
    events = table.to_pandas()
    assert len(events) == result.counts["events"]
    clean_rows = len(events) - kinds["duplicate"]
    assert abs(manifest["total"] / clean_rows - 0.03) < 0.002
    ts = pd.to_datetime(events["timestamp"], format="%Y-%m-%dT%H:%M:%SZ", errors="coerce", utc=True)
    assert ts.isna().sum() == kinds["bad_timestamp"]
    assert (ts >= STOP + pd.DateOffset(years=1)).sum() == kinds["future_timestamp"]
    assert (
        ts.dropna().lt(STOP).sum()
        == len(events) - kinds["bad_timestamp"] - kinds["future_timestamp"]
    )
    missing = events["customer_id"].isna() & events["anonymous_id"].isna()
    assert missing.sum() == kinds["missing_customer"]
    amount = pd.to_numeric(events["amount"], errors="coerce")
    bad_amount = amount.isna() & events["amount"].notna()
    assert bad_amount.sum() == kinds["bad_amount"]
    assert (events.loc[bad_amount, "type"] == "purchase").all()
    quantity = pd.to_numeric(events["quantity"], errors="coerce")
    assert (quantity < 0).sum() == kinds["negative_quantity"]
    assert len(events) - events["event_id"].nunique() == kinds["duplicate"]
    duplicated = events[events["event_id"].duplicated(keep=False)]
    assert len(duplicated.drop_duplicates()) == kinds["duplicate"]


def test_no_bad_rows_manifest_by_default(shop: SynthResult) -> None:
    assert "bad_rows" not in shop.paths
    assert not (shop.out_dir / "bad_rows.json").exists()


# --- argument validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"customers": 0}, "customers must be a positive integer, got 0"),
        ({"customers": -3}, "customers must be a positive integer"),
        ({"customers": 2.5}, "customers must be an integer"),
        ({"customers": True}, "customers must be an integer"),
        ({"customers": 100_000_000}, r"customers must be an integer in \[1, 99999999\]"),
        ({"seed": -1}, "seed must be an integer in"),
        ({"seed": "x"}, "seed must be an integer"),
        ({"months": 0}, "months must be an integer in"),
        ({"end": "2026-10-31"}, "end must be a datetime.date"),
        ({"end": dt.datetime(2026, 10, 31)}, "end must be a datetime.date"),
        ({"bad_rows": 0.9}, r"bad_rows must be a fraction in \[0, 0.5\]"),
        ({"bad_rows": -0.1}, "bad_rows must be a fraction"),
        ({"bad_rows": float("nan")}, "bad_rows must be a fraction"),
        ({"bad_rows": "lots"}, "bad_rows must be a number"),
        ({"chunk_customers": 0}, "chunk_customers must be an integer in"),
        ({"progress": 3}, "progress must be callable"),
    ],
)
def test_invalid_arguments(tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    out = tmp_path / "never"
    with pytest.raises(SynthError, match=message) as info:
        generate_shop(out, **kwargs)
    assert isinstance(info.value, ValueError)
    assert not out.exists()


def test_other_history_lengths(tmp_path: Path) -> None:
    result = generate_shop(tmp_path, customers=300, months=3, end=dt.date(2025, 3, 31), seed=1)
    events = pq.read_table(result.paths["events"]).to_pandas()
    assert events["timestamp"].min() >= pd.Timestamp("2025-01-01", tz="UTC")
    assert events["timestamp"].max() < pd.Timestamp("2025-04-01", tz="UTC")
    assert np.isin(events["type"].unique(), EVENT_TYPES).all()
