"""Identity stitching across customer ids, e-mails, phones and anonymous ids."""

from __future__ import annotations

from pathlib import Path

from microseg import Workspace
from tests.conftest import write


def _owner(ws: Workspace) -> dict[str, str]:
    rows = ws.store.fetchall("SELECT event_id, customer_id FROM events")
    return dict(rows)


def test_email_and_phone_are_normalised(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest(
        "customers",
        write(
            tmp_path / "c.csv",
            "customer_id,email,phone\n"
            "C1,  Ana@Example.COM ,+33 6 12 34 56 78\n"
            "C2,,0033 6 99 88 77 66",
        ),
    )
    ids = set(ws.store.fetchall("SELECT id_type, id_value, customer_id FROM identities"))
    assert ("email", "ana@example.com", "C1") in ids
    assert ("phone", "+33612345678", "C1") in ids
    assert ("phone", "+33699887766", "C2") in ids
    report = ws.ingest(
        "events",
        write(
            tmp_path / "e.csv",
            "event_id,email,phone,timestamp,type\n"
            "e1,ANA@example.com,,2025-01-01,view\n"
            "e2,,+33-6-99-88-77-66,2025-01-01,view",
        ),
    )
    assert report.new_customers == 0
    assert _owner(ws) == {"e1": "C1", "e2": "C2"}


def test_anonymous_browsing_is_stitched_on_login(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest(
        "events",
        write(
            tmp_path / "before.csv",
            "event_id,anonymous_id,timestamp,type\nv1,anon-1,2025-01-01,view\nv2,anon-1,2025-01-02,view",
        ),
    )
    minted = _owner(ws)["v1"]
    assert minted.startswith("u-")
    assert _owner(ws)["v2"] == minted
    report = ws.ingest(
        "events",
        write(
            tmp_path / "login.csv",
            "event_id,customer_id,anonymous_id,timestamp,type\nv3,C7,anon-1,2025-01-03,view",
        ),
    )
    assert report.merged_customers == 1
    # the real customer id survives; earlier anonymous events follow it
    assert set(_owner(ws).values()) == {"C7"}
    assert ws.store.fetchall("SELECT loser, survivor, via_type FROM merges") == [
        (minted, "C7", "anonymous_id")
    ]
    live = ws.customers().customer_id.to_pyarrow().to_pylist()
    assert live == ["C7"]


def test_merge_of_two_existing_customers_with_events(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest(
        "customers",
        write(
            tmp_path / "crm.csv",
            "customer_id,email,city,gender\nC1,a@x.com,Lyon,\nC2,b@x.com,,female",
        ),
        valid_from=None,
    )
    ws.ingest(
        "events",
        write(
            tmp_path / "e.csv",
            "event_id,customer_id,timestamp,type\ne1,C1,2025-01-01,purchase\ne2,C2,2025-01-02,purchase",
        ),
    )
    # the web shop's export says b@x.com is also known as customer C1
    report = ws.ingest(
        "events",
        write(
            tmp_path / "web.csv",
            "event_id,customer_id,email,timestamp,type\ne3,C1,b@x.com,2025-01-03,view",
        ),
    )
    assert report.merged_customers == 1
    assert _owner(ws) == {"e1": "C1", "e2": "C1", "e3": "C1"}
    current = ws.customers().to_pyarrow().to_pylist()
    assert current == [{"customer_id": "C1", "city": "Lyon", "gender": "female"}]
    assert ws.store.fetchall(
        "SELECT customer_id, merged_into FROM customer_registry WHERE customer_id = 'C2'"
    ) == [("C2", "C1")]
    # later events for the merged id land on the survivor
    ws.ingest(
        "events",
        write(tmp_path / "late.csv", "event_id,customer_id,timestamp,type\ne4,C2,2025-01-04,view"),
    )
    assert _owner(ws)["e4"] == "C1"


def test_transitive_links_in_one_load(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest(
        "events",
        write(
            tmp_path / "e.csv",
            "event_id,anonymous_id,email,phone,timestamp,type\n"
            "e1,dev-1,x@y.z,,2025-01-01,view\n"
            "e2,dev-2,,0612345678,2025-01-01,view\n"
            "e3,,x@y.z,0612345678,2025-01-01,view",
        ),
    )
    assert len(set(_owner(ws).values())) == 1
