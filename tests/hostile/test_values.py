"""Every bad value is a reject for its row with a reason; the rest of the load goes on."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from microseg import Workspace
from tests.conftest import write


def _rejects(ws: Workspace) -> dict[int, dict[str, object]]:
    return {r["row"]: r for r in ws.rejects(limit=None).to_pyarrow().to_pylist()}


def _stored(ws: Workspace, column: str) -> dict[str, object]:
    rows = ws.store.fetchall(f"SELECT event_id, {column} FROM events ORDER BY event_id")
    return {str(k): v for k, v in rows}


def test_each_timestamp_is_read_on_its_own(ws: Workspace, tmp_path: Path) -> None:
    """A zone name on one row never leaks into the next (workspace zone: Europe/Paris)."""
    path = write(
        tmp_path / "ev.csv",
        """
event_id,customer_id,timestamp,type
e1,C1,2025-05-01T12:00:00 America/New_York,view
e2,C1,2025-05-01T12:00:00,view
e3,C1,2025-05-01T12:00:00+02:00,view
e4,C1,2025-05-01T12:00:00Z,view
e5,C1,2025-05-01 12:00:00 UTC,view
e6,C1,2025-03-30T02:30:00,view
e7,C1,2025-10-26T02:30:00,view
e8,C1,2025-05-01T12:00:00.250-0330,view
e9,C1,2025-05-01,view
e10,C1,2025-05-01T12:00:00 Mars/Olympus_Mons,view
""",
    )
    report = ws.ingest("events", path)
    assert (report.accepted, report.rejected) == (9, 1)
    assert _stored(ws, "timestamp") == {
        "e1": datetime(2025, 5, 1, 16, 0),
        "e2": datetime(2025, 5, 1, 10, 0),
        "e3": datetime(2025, 5, 1, 10, 0),
        "e4": datetime(2025, 5, 1, 12, 0),
        "e5": datetime(2025, 5, 1, 12, 0),
        # 02:30 does not exist that night in Paris: read as 03:30 summer time
        "e6": datetime(2025, 3, 30, 1, 30),
        # 02:30 happens twice that night in Paris: read as the second, winter time
        "e7": datetime(2025, 10, 26, 1, 30),
        "e8": datetime(2025, 5, 1, 15, 30, 0, 250000),
        "e9": datetime(2025, 4, 30, 22, 0),
    }
    reason = str(_rejects(ws)[10]["reason"])
    assert "Mars/Olympus_Mons" in reason


def test_epoch_numbers_in_any_unit(ws: Workspace, tmp_path: Path) -> None:
    moment = datetime(2025, 5, 1, 12, 0, tzinfo=UTC).timestamp()
    table = pa.table(
        {
            "event_id": ["s", "ms", "us", "text-ms"],
            "customer_id": ["C1"] * 4,
            "timestamp": [moment, moment * 1e3, moment * 1e6, moment * 1e3],
            "type": ["view"] * 4,
        }
    )
    pq.write_table(
        table.drop(["timestamp"]).append_column("timestamp", table["timestamp"]),
        tmp_path / "e.parquet",
    )
    report = ws.ingest("events", tmp_path / "e.parquet")
    assert report.accepted == 4
    assert set(_stored(ws, "timestamp").values()) == {datetime(2025, 5, 1, 12, 0)}
    path = write(
        tmp_path / "e.csv", f"event_id,customer_id,timestamp,type\nt,C1,{int(moment * 1000)},view"
    )
    assert ws.ingest("events", path).accepted == 1
    assert _stored(ws, "timestamp")["t"] == datetime(2025, 5, 1, 12, 0)


@pytest.mark.parametrize(
    "value",
    ["0001-01-01", "0000-01-01", "-0001-01-01", "-infinity", "infinity", "epoch", "1850-01-01"],
)
def test_implausible_times_are_rejected(ws: Workspace, tmp_path: Path, value: str) -> None:
    path = write(
        tmp_path / "ev.csv",
        f"event_id,customer_id,timestamp,type\nbad,C1,{value},view\nok,C1,2025-01-01,view",
    )
    report = ws.ingest("events", path, max_rejected="100%")  # rejects on purpose
    assert (report.accepted, report.rejected) == (1, 1)
    assert _rejects(ws)[1]["column"] == "timestamp"


def test_numeric_timestamps_that_are_not_times(ws: Workspace, tmp_path: Path) -> None:
    table = pa.table(
        {
            "event_id": ["nan", "huge", "inf", "ok"],
            "customer_id": ["C1"] * 4,
            "timestamp": [float("nan"), 2.0**62, float("inf"), 1.7e9],
            "type": ["view"] * 4,
        }
    )
    pq.write_table(table, tmp_path / "e.parquet")
    report = ws.ingest("events", tmp_path / "e.parquet", max_rejected="100%")  # rejects on purpose
    assert (report.accepted, report.rejected) == (1, 3)


def test_non_finite_and_absurd_numbers(ws: Workspace, tmp_path: Path) -> None:
    path = write(
        tmp_path / "ev.csv",
        """
event_id,customer_id,timestamp,type,amount,quantity
a,C1,2025-01-01,purchase,NaN,1
b,C1,2025-01-01,purchase,inf,1
c,C1,2025-01-01,purchase,1e309,1
d,C1,2025-01-01,purchase,-Infinity,1
e,C1,2025-01-01,purchase,10,1e20
f,C1,2025-01-01,purchase,10,NaN
g,C1,2025-01-01,purchase,10,inf
h,C1,2025-01-01,purchase,10,9223372036854775808
i,C1,2025-01-01,purchase,1e300,1
ok,C1,2025-01-01,purchase,10.5,2
""",
    )
    report = ws.ingest("events", path, max_rejected="100%")  # rejects on purpose
    assert (report.rows_read, report.accepted, report.rejected) == (10, 1, 9)
    rejects = _rejects(ws)
    assert {rejects[r]["column"] for r in range(1, 5)} == {"amount"}
    assert {rejects[r]["column"] for r in range(5, 9)} == {"quantity"}
    assert "finite" in str(rejects[1]["reason"])


def test_absurd_numbers_in_parquet(ws: Workspace, tmp_path: Path) -> None:
    table = pa.table(
        {
            "event_id": ["nan", "inf", "big", "ok"],
            "customer_id": ["C1"] * 4,
            "timestamp": ["2025-01-01"] * 4,
            "type": ["purchase"] * 4,
            "amount": [float("nan"), float("inf"), 1.0, 2.0],
            "quantity": pa.array([1, 1, 2**64 - 1, 3], pa.uint64()),
        }
    )
    pq.write_table(table, tmp_path / "e.parquet")
    report = ws.ingest("events", tmp_path / "e.parquet", max_rejected="100%")  # rejects on purpose
    assert (report.accepted, report.rejected) == (1, 3)
    assert _stored(ws, "quantity") == {"ok": 3}


def test_non_finite_attributes(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", "customer_id,score\nC1,1.5\nC2,NaN\nC3,inf")
    report = ws.ingest("customers", path, max_rejected="100%")  # rejects on purpose
    # one file: 'score' is sniffed as a number, the non-finite values are rejected
    assert (report.accepted, report.rejected) == (1, 2)
    assert (
        json.dumps(ws.store.scalar("SELECT score FROM customers WHERE customer_id = 'C1'")) == "1.5"
    )


def test_the_earliest_plausible_time_is_configurable(tmp_path: Path) -> None:
    from tests.conftest import NOW

    ws = Workspace.init(tmp_path / "old", timezone="UTC", clock=lambda: NOW)
    config = (tmp_path / "old" / "microseg.yaml").read_text(encoding="utf-8")
    assert "earliest: 1900-01-01" in config
    config = config.replace("earliest: 1900-01-01", "earliest: 1800-01-01")
    (tmp_path / "old" / "microseg.yaml").write_text(config, encoding="utf-8")
    ws.close()
    ws = Workspace.open(tmp_path / "old", clock=lambda: NOW)
    path = write(tmp_path / "ev.csv", "event_id,customer_id,timestamp,type\na,C1,1850-06-01,view")
    assert ws.ingest("events", path).accepted == 1
    ws.close()


def test_an_overlapping_export_loads_each_event_once(ws: Workspace, tmp_path: Path) -> None:
    """The same row without an event id, in files whose other rows make its property's
    guessed type a number in one and text in the other, is one event."""
    first = write(
        tmp_path / "a.csv",
        "customer_id,timestamp,type,coupon\nC1,2025-01-01,purchase,5\nC2,2025-01-02,view,7",
    )
    second = write(
        tmp_path / "b.csv",
        "customer_id,timestamp,type,coupon\nC1,2025-01-01,purchase,5\nC3,2025-01-03,view,SPRING",
    )
    assert ws.ingest("events", first).accepted == 2
    report = ws.ingest("events", second)
    assert (report.accepted, report.duplicates) == (1, 1)
    assert ws.store.scalar("SELECT count(*) FROM events") == 3
