"""``forget``: one person out of every table, proved, with nothing left in the file, the
others untouched, and their return refused."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from microseg import Workspace
from microseg.cli import app
from microseg.core.errors import WorkspaceError
from tests.conftest import NOW, write
from tests.govern.conftest import ALICE_EMAIL, ALICE_PHONE, BOB_EMAIL

runner = CliRunner()

#: what Alice is: her ids (C9 was merged into C1) and identifiers
ALICE_IDS = ("C1", "C9")
ALICE_VALUES = (ALICE_EMAIL, ALICE_PHONE, "dev-9")


def _rows(ws: Workspace) -> dict[str, list[tuple[str, ...]]]:
    """Every row of every table, each value as text (the test's own reading)."""
    store = ws.store
    tables = [
        r[0]
        for r in store.fetchall(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'main' AND table_type = 'BASE TABLE' ORDER BY 1"
        )
    ]
    return {
        t: sorted(tuple(str(v) for v in row) for row in store.fetchall(f'SELECT * FROM "{t}"'))
        for t in tables
    }


def _mentions_alice(row: tuple[str, ...]) -> bool:
    """A row holding one of Alice's ids as a whole value or JSON string, or any of her
    identifiers anywhere (in any case)."""
    text = " | ".join(row).lower()
    if any(v.lower() in text for v in ALICE_VALUES):
        return True
    return any(cell == i or re.search(rf'"{i}"', cell) for cell in row for i in ALICE_IDS)


def _fingerprint(tables: dict[str, list[tuple[str, ...]]], keep: Any) -> str:
    """A hash of every row ``keep`` accepts, of every table but the tombstone."""
    digest = hashlib.sha256()
    for table, rows in sorted(tables.items()):
        if table == "forgotten":
            continue
        for row in rows:
            if table == "meta" and row[0] == "erasure_salt":
                continue
            if keep(table, row):
                digest.update(json.dumps([table, row]).encode())
    return digest.hexdigest()


def test_forget_the_survivor_erases_every_id_merged_into_it(shop: Workspace) -> None:
    before = _rows(shop)
    alice_traits = shop.store.scalar("SELECT count(*) FROM trait_values WHERE customer_id = 'C1'")
    assert alice_traits > 0
    report = shop.govern.forget("C1")
    assert report.customer_id == "C1"
    assert report.ids == ["C1", "C9"]
    # counted by hand from tests/govern/conftest.py
    assert report.removed == {
        "partner_assignments": 2,  # C1 and C9: a table microseg does not know by name
        "customer_history": 2,  # Lyon, then Lille
        "customer_registry": 2,
        "events": 6,  # e1 e2 e3 e8 (C1, C9's merged in), e90 e91 (C9's before the merge)
        "identities": 5,  # C1, C9, her e-mail, phone and device id
        "memberships": 1,
        "merge_moves": 4,  # what the merge of C9 into C1 moved
        "merges": 1,
        "rejects": 1,  # her rejected row x1
        "trait_values": alice_traits,
        "partner_outbox": 1,  # a batch holding her e-mail, upper-cased
    }
    assert report.events == {"purchase": 3, "view": 2, "email_open": 1}
    assert report.first_event is not None
    assert report.first_event.year == 2021
    assert report.redacted == {"events": 1}  # Bob's e6 names her e-mail in a note
    assert report.tombstones == 5
    assert report.proof.clean
    assert report.proof.tables == len(before) + 1 - 1  # same tables (forgotten existed)
    assert report.proof.looked_for == {"customer_id": 2, "anonymous_id": 1, "email": 1, "phone": 1}

    after = _rows(shop)
    # the test's own scan of every cell: no trace of Alice
    for table, rows in after.items():
        for row in rows:
            assert not _mentions_alice(row), (table, row)
    # the tombstone holds salted hashes only, none of them her values' plain hashes
    stones = after["forgotten"]
    assert len(stones) == 5
    plain = {hashlib.sha256(v.encode()).hexdigest() for v in (*ALICE_IDS, *ALICE_VALUES)}
    for digest, _kind, _at in stones:
        assert re.fullmatch(r"[0-9a-f]{64}", digest)
        assert digest not in plain
    # Bob keeps his purchase, with the mention masked
    e6 = shop.store.fetchone(
        "SELECT customer_id, amount, properties FROM events WHERE event_id = 'e6'"
    )
    assert e6 == ("C2", 30.0, '{"note":"refer [forgotten]"}')


def test_every_other_customers_data_is_untouched(shop: Workspace) -> None:
    # hers: rows naming her, and what her merge (merge 1) moved
    before = _fingerprint(
        _rows(shop),
        lambda table, row: not _mentions_alice(row) and (table, row[0]) != ("merge_moves", "1"),
    )
    shop.govern.forget("C9")  # a merged id: forgets the person it was merged into
    after_rows = _rows(shop)
    # Bob's event that named her e-mail is kept with the mention masked (checked above)
    after = _fingerprint(after_rows, lambda table, row: "[forgotten]" not in " ".join(row))
    assert after == before
    assert [r[0] for r in after_rows["customer_registry"]] == ["C2", "C3"]
    # the store still works, and evaluations see the others only
    assert shop.segments.evaluate(["buyers"]).sizes == {"buyers": 2}


def test_nothing_left_in_the_raw_database_file(shop: Workspace) -> None:
    store = shop.store
    store.execute("CHECKPOINT")
    path = Path(store.path)
    assert ALICE_EMAIL.encode() in path.read_bytes()  # the check can fail
    shop.govern.forget("C1")
    wal = Path(str(path) + ".wal")
    for raw in (path.read_bytes(), wal.read_bytes() if wal.exists() else b""):
        for value in (ALICE_EMAIL, ALICE_PHONE, "dev-9"):
            assert value.encode() not in raw
            assert value.encode("utf-16-le") not in raw
    assert BOB_EMAIL.encode() in path.read_bytes()  # the others are still in it
    assert not Path(str(path) + ".rewrite").exists()


def test_a_reimport_of_a_forgotten_person_is_refused(shop: Workspace, tmp_path: Path) -> None:
    shop.govern.forget("C1")
    report = shop.ingest(
        "events",
        write(
            tmp_path / "again.csv",
            f"""
event_id,customer_id,email,phone,timestamp,type
n1,C9,,,2026-01-02T10:00:00Z,view
n2,,{ALICE_EMAIL.upper()},,2026-01-02T10:00:00Z,view
n3,,,{ALICE_PHONE},2026-01-02T10:00:00Z,view
n4,C2,,,2026-01-02T10:00:00Z,view
""",
        ),
        max_rejected="100%",
    )
    assert report.accepted == 1
    assert report.reasons == {"forgotten": 3}
    rejects = shop.store.fetchall(
        "SELECT reason, value, raw FROM rejects WHERE problem = 'forgotten' ORDER BY \"row\""
    )
    assert len(rejects) == 3
    assert all(value is None and raw is None for _, value, raw in rejects)
    assert "erased" in rejects[0][0]
    customers = shop.ingest(
        "customers",
        write(tmp_path / "crm.csv", f"customer_id,email,city\nC7,{ALICE_EMAIL},Lyon\n"),
        max_rejected="100%",
    )
    assert customers.reasons == {"forgotten": 1}
    assert shop.store.trace_hits(list(ALICE_IDS), list(ALICE_VALUES)) == {}
    assert shop.store.scalar("SELECT count(*) FROM customer_registry") == 2


def test_unknown_and_already_forgotten_ids(shop: Workspace) -> None:
    with pytest.raises(WorkspaceError, match="no customer 'C404'"):
        shop.govern.forget("C404")
    shop.govern.forget("C1")
    with pytest.raises(WorkspaceError, match="already forgotten"):
        shop.govern.forget("C9")


def test_cli_forget_json(shop: Workspace) -> None:
    root = str(shop.path)
    shop.close()
    result = runner.invoke(app, ["--json", "forget", "C1", "--yes", "-w", root])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ids"] == ["C1", "C9"]
    assert data["proof"]["hits"] == {}
    assert data["removed"]["events"] == 6
    text = runner.invoke(app, ["forget", "C2", "--yes", "-w", root])
    assert text.exit_code == 0, text.output
    assert "Forgot C2: " in text.stdout
    assert "0 hits" in text.stdout


def test_cli_forget_asks_first(shop: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    root = str(shop.path)
    shop.close()
    refused = runner.invoke(app, ["forget", "C1", "-w", root])
    assert refused.exit_code == 1
    assert "pass --yes" in refused.output
    assert "nothing was erased" in refused.output
    from microseg.cli import _erasure

    monkeypatch.setattr(_erasure, "_interactive", lambda: True)
    declined = runner.invoke(app, ["forget", "C1", "-w", root], input="n\n")
    assert declined.exit_code == 1
    assert "nothing erased" in declined.output
    with Workspace.open(root, clock=lambda: NOW) as ws:
        assert ws.store.find_person("C1") is not None
    agreed = runner.invoke(app, ["forget", "C1", "-w", root], input="y\n")
    assert agreed.exit_code == 0, agreed.output
    with Workspace.open(root, clock=lambda: NOW) as ws:
        assert ws.store.find_person("C1") is None


def test_a_numeric_id_equal_to_other_values(tmp_path: Path) -> None:
    """Customer 10: an order number 10 of another customer, an amount of 10 and the store's
    schema version are look-alikes, kept; the proof stays clean."""
    ws = Workspace.init(tmp_path / "ws", clock=lambda: NOW)
    try:
        ws.ingest(
            "customers",
            write(tmp_path / "c.csv", "customer_id,email\n10,ten@example.org\n11,eleven@x.org\n"),
        )
        ws.ingest(
            "events",
            write(
                tmp_path / "e.csv",
                """
event_id,customer_id,timestamp,type,amount,order_id
a1,10,2025-01-01T10:00:00Z,purchase,5,7
a2,11,2025-01-02T10:00:00Z,purchase,10,10
""",
            ),
        )
        version = ws.store.meta_value("schema_version")
        report = ws.govern.forget("10")
        assert report.proof.clean
        assert report.removed["events"] == 1
        assert report.proof.lookalikes["events.order_id"] == 1
        assert "events.amount" in report.proof.lookalikes
        assert ws.store.fetchall("SELECT event_id, amount, order_id FROM events") == [
            ("a2", 10.0, "10")
        ]
        assert ws.store.meta_value("schema_version") == version
    finally:
        ws.close()
    with Workspace.open(tmp_path / "ws", clock=lambda: NOW) as again:
        assert again.store.find_person("11") is not None


def test_forget_reaches_what_activation_and_the_service_keep(
    shop: Workspace, tmp_path: Path
) -> None:
    """A campaign's assignment, an export's member list, a webhook push's stored bodies
    and the real-time membership log hold her too: all of them are erased."""
    from microseg.service._realtime import Change, record

    shop.activate.campaign_create("spring", audience=["C1", "C2", "C3"], holdout="50%")
    shop.activate.export("buyers", to=tmp_path / "buyers.csv")
    at = datetime(2026, 1, 1, tzinfo=UTC)
    record(shop.store, [Change(at=at, customer_id="C1", segment="buyers", change="entered",
                               trigger="e1")])  # fmt: skip
    held = {
        "campaign_assignments": "customer_id",
        "export_members": "customer_id",
        "membership_log": "customer_id",
    }
    for table, column in held.items():
        rows = shop.store.table(table).to_pyarrow().column(column).to_pylist()
        assert "C1" in rows, table
    report = shop.govern.forget("C1")
    assert report.proof.clean
    for table, column in held.items():
        rows = shop.store.table(table).to_pyarrow().column(column).to_pylist()
        assert "C1" not in rows, table
        assert report.removed.get(table, 0) >= 1, table
