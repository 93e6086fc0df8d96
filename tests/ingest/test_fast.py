"""The service's fast lane agrees with the loader: every event the screen accepts, the
loader accepts too and stores as the very row the screen built (ingest/_fast.py)."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from microseg import Workspace
from microseg.ingest import store_screened
from microseg.ingest._fast import EventScreen, records_table

NOW = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
LIVE = ("C1", "C2", "C3")
GIVEN = (*LIVE, "C4")  # C4 was merged into C1


def _shop(root: Path) -> Workspace:
    ws = Workspace.init(root, timezone="Europe/Paris", clock=lambda: NOW)
    customers = root / "customers.csv"
    customers.write_text(
        "customer_id,country,email\nC1,FR,a@example.com\nC2,DE,b@example.com\n"
        "C3,FR,c@example.com\nC4,FR,a@example.com\n",  # C4 is C1: merged into it
        encoding="utf-8",
    )
    assert ws.ingest("customers", customers).merged_customers == 1
    return ws


ZONE = ZoneInfo("America/New_York")

#: one thing off each: (record, its time, the draw) -> changed in place
EDGES: list[Callable[[dict[str, Any], datetime, random.Random], None]] = [
    lambda r, t, g: r.update(timestamp=t.replace(tzinfo=None).isoformat()),  # no zone
    lambda r, t, g: r.update(timestamp=(NOW + timedelta(days=g.choice([0.5, 2]))).isoformat()),
    lambda r, t, g: r.update(timestamp=t.astimezone(ZONE).isoformat()),
    lambda r, t, g: r.update(customer_id="C404"),  # not a customer yet
    lambda r, t, g: r.update(type=" purchase"),
    lambda r, t, g: r.update(amount=g.choice([float("nan"), 1e16])),
    lambda r, t, g: r.update(colour="red"),  # a property: the loader types it
    lambda r, t, g: r.update(email="x@example.com"),
    lambda r, t, g: r.update(timestamp="1850-01-01T00:00:00Z"),
    lambda r, t, g: r.update(quantity=2.0),
    lambda r, t, g: r.pop("event_id"),
    lambda r, t, g: r.update(amount=True),
    lambda r, t, g: r.update(timestamp=t.strftime("%Y-%m-%dT%H:%M:%S") + "Z"),
]


def _variants(rng: random.Random, n: int) -> dict[str, Any]:
    """A record near the edge of the fast lane: valid, or off by one thing."""
    stamp = NOW - timedelta(seconds=rng.randint(0, 10**8))
    record: dict[str, Any] = {
        "event_id": f"e{n}",
        "customer_id": rng.choice(GIVEN),
        "timestamp": stamp.isoformat(timespec=rng.choice(["seconds", "microseconds"])),
        "type": rng.choice(["purchase", "view", "Purchase", "return"]),
    }
    for name in ("amount", "discount"):
        if rng.random() < 0.6:
            record[name] = rng.choice([round(rng.uniform(-50, 500), 2), rng.randint(0, 900), 0])
    if rng.random() < 0.5:
        record["quantity"] = rng.choice([1, 3, 0, -1])
    for name in ("product_id", "category", "channel", "order_id", "campaign", "query"):
        if rng.random() < 0.4:
            record[name] = rng.choice(["P1", "books", "web", "O-9", "été", None])
    edge = rng.randrange(16)
    if edge < len(EDGES):
        EDGES[edge](record, stamp, rng)
    return record


def test_what_the_screen_accepts_the_loader_stores_as_built(tmp_path: Path) -> None:
    ws = _shop(tmp_path / "shop")
    screen = EventScreen.of(ws.config)
    resolve = ws.segments.prepare().snapshot.resolve
    assert (resolve("C4"), resolve("C1"), resolve("C404")) == ("C1", "C1", None)
    rng = random.Random(15)
    records = [_variants(rng, n) for n in range(600)]
    now = NOW.replace(tzinfo=None)
    built = {}
    for record in records:
        row = screen.row(record, now, resolve)
        if row is not None:
            built[row["event_id"]] = row
    # the screen is not trivially cautious: most plain records pass
    assert 150 < len(built) < 450, len(built)
    accepted = [r for r in records if r.get("event_id") in built]
    assert any(r["customer_id"] == "C4" for r in accepted)  # a merged id, stored as C1
    report = ws.ingest("events", [records_table(accepted)], max_rejected="100%")
    assert report.rejected == 0
    assert report.accepted == len(accepted)
    assert (report.new_customers, report.merged_customers) == (0, 0)
    events = ws.store.table("events").drop("load_id").to_pyarrow().to_pylist()
    stored = {e["event_id"]: e for e in events}
    assert stored.keys() == built.keys()
    for event_id, row in built.items():
        assert stored[event_id] == row, event_id


def _screened(ws: Workspace, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    screen = EventScreen.of(ws.config)
    resolve = ws.segments.prepare().snapshot.resolve
    rows = [screen.row(r, NOW.replace(tzinfo=None), resolve) for r in records]
    return [row for row in rows if row is not None]


def _stored(ws: Workspace) -> dict[str, dict[str, Any]]:
    events = ws.store.table("events").drop("load_id").to_pyarrow().to_pylist()
    return {e["event_id"]: e for e in events}


def _loads(ws: Workspace) -> list[tuple[Any, ...]]:
    return ws.store.fetchall("SELECT * EXCLUDE (load_id) FROM loads ORDER BY load_id")


def test_screened_rows_are_stored_as_the_loader_stores_them(tmp_path: Path) -> None:
    """The fast lane's own store (ingest.store_screened): the same rows, report and
    ``loads`` row as the loader's, for every batch the screen passes whole."""
    by_loader, by_screen = _shop(tmp_path / "loader"), _shop(tmp_path / "screen")
    rng = random.Random(16)
    records = [_variants(rng, n) for n in range(600)]
    for start in range(0, 600, 150):  # four batches: the second and later meet stored events
        new_ids = start % 300 == 0  # the caller vouches that no id is stored: no check
        rows = _screened(by_screen, records[start : start + 150])
        batch = [r for r in records[start : start + 150] if r.get("event_id") in
                 {row["event_id"] for row in rows}]  # fmt: skip
        assert len(batch) == len(rows) > 30
        loaded = by_loader.ingest("events", [records_table(batch)], max_rejected="100%")
        now = by_screen.context.now()
        stored = store_screened(
            by_screen.store, by_screen.config, batch, rows, now=now, new_ids=new_ids
        )
        assert stored.load_id == loaded.load_id
        assert stored.to_dict() | {"seconds": 0} == loaded.to_dict() | {"seconds": 0}
    assert _stored(by_screen) == _stored(by_loader)
    assert _loads(by_screen)[1:] == _loads(by_loader)[1:]  # after the customers (other paths)
    assert len(_stored(by_screen)) > 150


def test_an_id_stored_under_another_customer_goes_to_the_loader(tmp_path: Path) -> None:
    ws = _shop(tmp_path / "shop")
    first = {"event_id": "e1", "customer_id": "C2", "timestamp": "2026-03-01T10:00:00Z",
             "type": "view"}  # fmt: skip
    store_screened(ws.store, ws.config, [first], _screened(ws, [first]), now=NOW)
    again = [{**first, "customer_id": "C1"}, {**first, "event_id": "e2", "customer_id": "C1"}]
    rows = _screened(ws, again)
    assert len(rows) == 2  # C1 has no event e1: the screen cannot tell
    report = store_screened(ws.store, ws.config, again, rows, now=NOW)
    assert (report.accepted, report.duplicates, report.rejected) == (1, 1, 0)
    assert report.warnings  # the loader's word on an id under two customers
    stored = _stored(ws)
    assert stored.keys() == {"e1", "e2"}
    assert stored["e1"]["customer_id"] == "C2"
    assert [row[-6:-2] for row in _loads(ws)][-2:] == [(1, 1, 0, 0), (2, 1, 1, 0)]


@pytest.mark.parametrize(
    "record",
    [
        {"event_id": "x", "customer_id": "C1", "timestamp": "2026-03-01T10:00:00", "type": "view"},
        {"event_id": "x", "customer_id": "C1", "timestamp": "2026-03-01T10:00:00Z", "type": ""},
        {"event_id": "x", "customer_id": "C9", "timestamp": "2026-03-01T10:00:00Z", "type": "v"},
        {"event_id": "x", "customer_id": "C1", "timestamp": "2026-05-01T10:00:00Z", "type": "v"},
        {
            "event_id": "x",
            "customer_id": "C1",
            "timestamp": "2026-03-01T10:00:00Z",
            "type": "v",
            "quantity": -2,
            "type_": 1,
        },
    ],
)
def test_the_screen_leaves_doubtful_records_to_the_loader(record: dict[str, Any]) -> None:
    screen = EventScreen(earliest=datetime(1900, 1, 1), tolerance=timedelta(days=1))
    only = {"C1": "C1"}.get
    assert screen.row(record, NOW.replace(tzinfo=None), only) is None


def test_a_timestamp_format_sends_everything_to_the_loader(tmp_path: Path) -> None:
    ws = _shop(tmp_path / "shop")
    config = ws.config.model_copy(
        update={
            "ingest": ws.config.ingest.model_copy(update={"timestamp_format": "%d/%m/%Y %H:%M"})
        }
    )
    record = {"event_id": "x", "customer_id": "C1", "timestamp": "2026-03-01T10:00:00Z",
              "type": "view"}  # fmt: skip
    assert EventScreen.of(ws.config).row(record, NOW.replace(tzinfo=None), str)
    assert EventScreen.of(config).row(record, NOW.replace(tzinfo=None), str) is None


def test_records_of_different_columns_keep_all_of_them() -> None:
    table = records_table([{"a": 1}, {"a": 2, "b": "x"}, {"c": 3.5}])
    assert table.column_names == ["a", "b", "c"]
    assert table.to_pylist()[1] == {"a": 2, "b": "x", "c": None}


def test_a_whole_number_beyond_64_bits_is_found_at_any_depth() -> None:
    from microseg.ingest import oversized_integer

    deep: list[object] = []
    inner = deep
    for _ in range(5_000):  # deeper than Python's recursion limit
        inner.append([])
        inner = inner[-1]  # type: ignore[assignment]
    inner.append(2**70)
    assert oversized_integer([{"a": 1}, {"b": deep}]) == (1, "b")
    assert oversized_integer([{"a": [1, {"c": 2**63 - 1}], "d": -(2**63), "e": True}]) is None
    assert oversized_integer([{"a": 1.0e300, "b": "9" * 40}]) is None
    assert oversized_integer([{"a": -(2**63) - 1}]) == (0, "a")
