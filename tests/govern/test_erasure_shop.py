"""``forget`` and ``retention`` on the synthetic shop."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from microseg import Workspace
from microseg.synth import generate_shop

NOW = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[tuple[Workspace, Path]]:
    data = generate_shop(tmp_path / "data", customers=300, seed=3)
    ws = Workspace.init(tmp_path / "ws", clock=lambda: NOW)
    ws.ingest("customers", data.paths["customers"], valid_from="signup_date")
    ws.ingest("events", list(data.event_files))
    ws.segments.evaluate()
    yield ws, data.paths["customers"]
    ws.close()


def test_forget_a_shop_customer(shop: tuple[Workspace, Path]) -> None:
    ws, customers = shop
    people = pq.read_table(customers).to_pylist()
    person = next(p for p in people if p.get("email") and p.get("phone"))
    events = ws.store.scalar(
        "SELECT count(*) FROM events WHERE customer_id = $1", [person["customer_id"]]
    )
    others = ws.store.scalar(
        "SELECT count(*) FROM events WHERE customer_id <> $1", [person["customer_id"]]
    )
    report = ws.govern.forget(person["customer_id"])
    assert report.proof.clean
    assert report.removed["events"] == events
    assert sum(report.events.values()) == events
    assert report.proof.looked_for == {"customer_id": 1, "email": 1, "phone": 1}
    assert ws.store.scalar("SELECT count(*) FROM events") == others
    raw = Path(ws.store.path).read_bytes()
    assert person["email"].lower().encode() not in raw
    # loading the whole file again takes everyone back but them
    again = ws.ingest("customers", customers, valid_from="signup_date")
    assert again.reasons == {"forgotten": 1}
    assert ws.store.find_person(person["customer_id"]) is None


def test_retention_on_the_shop(shop: tuple[Workspace, Path]) -> None:
    ws, _ = shop
    first, _last = ws.store.event_range()
    assert first is not None
    assert first.year < 2025
    path = ws.path / "microseg.yaml"
    text = path.read_text(encoding="utf-8").replace("events: 3 years", "events: 1 year")
    path.write_text(text.replace("action: delete", "action: archive"), encoding="utf-8")
    with Workspace.open(ws.path, clock=lambda: NOW) as again:
        total = again.store.scalar("SELECT count(*) FROM events")
        report = again.govern.retention()
        old = report.tables[0]
        assert old.removed == total - again.store.scalar("SELECT count(*) FROM events")
        assert old.removed == sum(old.by_type.values()) > 0
        assert old.archive is not None
        archived = pq.read_table(again.path / old.archive)
        assert archived.num_rows == old.removed
        assert max(archived.column("timestamp").to_pylist()) < datetime(2025, 11, 1)
        remaining = again.store.event_range()[0]
        assert remaining is not None
        assert remaining >= datetime(2025, 11, 1)
