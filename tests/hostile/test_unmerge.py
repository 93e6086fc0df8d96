"""Undoing a merge from the merge log (issue 10, item 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from microseg import MicrosegError, Workspace
from tests.conftest import write


def _state(ws: Workspace) -> dict[str, Any]:
    """What a merge changes and an unmerge must give back."""
    fetch = ws.store.fetchall
    return {
        "events": sorted(fetch("SELECT event_id, customer_id FROM events")),
        "identities": sorted(
            fetch("SELECT id_type, id_value, customer_id, first_seen, load_id FROM identities")
        ),
        "history": sorted(fetch("SELECT * FROM customer_history"), key=str),
        "registry": sorted(fetch("SELECT * FROM customer_registry"), key=str),
        "customers": sorted(fetch("SELECT * FROM customers"), key=str),
    }


@pytest.fixture
def two_customers(ws: Workspace, tmp_path: Path) -> Workspace:
    ws.ingest(
        "customers",
        write(
            tmp_path / "crm.csv",
            "customer_id,email,phone,city,gender\n"
            "C1,a@x.com,,Lyon,\nC2,b@x.com,0611111111,,female\nC3,c@x.com,,Nice,male",
        ),
    )
    ws.ingest(
        "events",
        write(
            tmp_path / "e.csv",
            "event_id,customer_id,email,anonymous_id,timestamp,type,amount\n"
            "e1,C1,,,2025-01-01,purchase,10\n"
            "e2,C2,,,2025-01-02,purchase,20\n"
            "e3,,b@x.com,dev-9,2025-01-03,view,\n"
            "e4,C3,,,2025-01-04,purchase,5",
        ),
    )
    return ws


def test_merge_then_unmerge_restores_the_tables(two_customers: Workspace, tmp_path: Path) -> None:
    ws = two_customers
    before = _state(ws)
    link = write(tmp_path / "link.csv", "customer_id,email\nC1,b@x.com")
    report = ws.ingest("customers", link)
    assert report.merged_customers == 1
    assert _state(ws) != before
    result = ws.identity.unmerge("C2")
    assert result.restored == ["C2"]
    assert result.survivor == "C1"
    assert _state(ws) == before
    # the unmerge is recorded, and the identifier that made the link no longer links
    assert ws.store.fetchall(
        "SELECT loser, survivor, via_type, via_value, unmerged_at IS NOT NULL FROM merges"
    ) == [("C2", "C1", "email", "b@x.com", True)]
    again = ws.ingest("customers", link)
    assert again.merged_customers == 0
    assert again.identifiers_set_aside == {"shared_email": 1}
    assert _state(ws)["events"] == before["events"]


def test_unmerge_by_survivor_restores_everyone_it_absorbed(
    two_customers: Workspace, tmp_path: Path
) -> None:
    ws = two_customers
    before = _state(ws)
    ws.ingest("customers", write(tmp_path / "l1.csv", "customer_id,email\nC1,b@x.com"))
    ws.ingest("customers", write(tmp_path / "l2.csv", "customer_id,email\nC1,c@x.com"))
    assert ws.store.scalar("SELECT count(*) FROM customers") == 1
    result = ws.identity.unmerge("C1")
    assert sorted(result.restored) == ["C2", "C3"]
    assert _state(ws) == before


def test_chained_merges_unmerge_in_any_order(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest(
        "customers",
        write(
            tmp_path / "c.csv",
            "customer_id,email,city\nA,a@x.com,Lyon\nB,b@x.com,Paris\nC,c@x.com,",
        ),
    )
    ws.ingest(
        "events",
        write(
            tmp_path / "e.csv",
            "event_id,customer_id,timestamp,type\ne1,A,2025-01-01,view\n"
            "e2,B,2025-01-01,view\ne3,C,2025-01-01,view",
        ),
    )
    before = _state(ws)
    ws.ingest("customers", write(tmp_path / "l1.csv", "customer_id,email\nB,c@x.com"))
    ws.ingest("customers", write(tmp_path / "l2.csv", "customer_id,email\nA,b@x.com"))
    assert set(ws.store.fetchall("SELECT customer_id FROM events")) == {("A",)}
    # B absorbed C, then A absorbed B: undoing A's merge brings B back with C inside
    assert ws.identity.unmerge("B").restored == ["B"]
    owners = dict(ws.store.fetchall("SELECT event_id, customer_id FROM events"))
    assert owners == {"e1": "A", "e2": "B", "e3": "B"}
    assert ws.identity.unmerge("C").restored == ["C"]
    assert _state(ws) == before


def test_unmerge_of_a_customer_that_was_never_merged(two_customers: Workspace) -> None:
    with pytest.raises(MicrosegError) as err:
        two_customers.identity.unmerge("C1")
    assert "C1" in str(err.value)
    assert err.value.hint
    with pytest.raises(MicrosegError, match="no customer"):
        two_customers.identity.unmerge("nobody")


@pytest.mark.slow
def test_cli_unmerge(two_customers: Workspace, tmp_path: Path) -> None:
    ws = two_customers
    ws.ingest("customers", write(tmp_path / "link.csv", "customer_id,email\nC1,b@x.com"))
    root = str(ws.path)
    ws.close()
    out = subprocess.run(
        [sys.executable, "-m", "microseg", "-w", root, "identity", "unmerge", "C2", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["restored"] == ["C2"]
    assert data["survivor"] == "C1"
    again = subprocess.run(
        [sys.executable, "-m", "microseg", "-w", root, "identity", "unmerge", "C2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 1
    assert "Traceback" not in again.stderr


def test_merges_from_before_the_log_are_kept_and_refused(tmp_path: Path) -> None:
    import duckdb

    from microseg.ingest._unmerge import unmerge
    from microseg.store import Store
    from microseg.store._schema import MIGRATIONS

    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    for statements in MIGRATIONS[:7]:
        for statement in statements:
            con.execute(statement)
    con.execute("INSERT INTO meta VALUES ('schema_version', '7')")
    con.execute(
        "INSERT INTO customer_registry VALUES ('A', TIMESTAMP '2025-01-01', false, NULL, 1), "
        "('B', TIMESTAMP '2025-01-01', false, 'A', 1)"
    )
    con.execute(
        "INSERT INTO merges VALUES ('B', 'A', 'email', 'b@x.com', TIMESTAMP '2025-01-02', 2)"
    )
    con.close()
    store = Store(path)
    assert store.fetchall("SELECT merge_id, logged, unmerged_at FROM merges") == [(1, False, None)]
    with pytest.raises(MicrosegError, match="cannot be undone") as err:
        unmerge(store, "B", now=datetime(2026, 1, 1))
    assert err.value.hint
    store.close()
