"""A hand-built shop for the governance tests: 82 customers in four postcodes, north and
south, where religion follows the postcode (north mostly A, south mostly B) and ``vip``
alternates within every postcode and religion, so it says nothing of religion."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from microseg import Workspace
from tests.conftest import write

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)

#: (postcode, city, religion, customers)
CELLS = [
    ("NE1", "Leeds", "A", 15),
    ("NW2", "Leeds", "A", 15),
    ("NE1", "Leeds", "B", 5),
    ("NW2", "Leeds", "B", 5),
    ("NE1", "Leeds", "C", 2),
    ("SE3", "Bristol", "A", 6),
    ("SE3", "Bristol", "B", 16),
    ("SW4", "Bristol", "B", 16),
    ("SW4", "Bristol", "C", 2),
]


def customers_csv() -> str:
    lines = ["customer_id,postcode,city,religion,vip"]
    n = 0
    for postcode, city, religion, count in CELLS:
        for i in range(count):
            n += 1
            vip = "true" if i % 2 == 0 else "false"
            lines.append(f"c{n:03d},{postcode},{city},{religion},{vip}")
    return "\n".join(lines) + "\n"


SEGMENTS = {
    "north": "name: north\nrule: {attribute: postcode, in: [NE1, NW2]}\n",
    "vip": "name: vip\nrule: {attribute: vip, eq: true}\n",
}


@pytest.fixture
def towns(tmp_path: Path) -> Iterator[Workspace]:
    ws = Workspace.init(tmp_path / "ws", timezone="UTC", clock=lambda: NOW)
    path = tmp_path / "customers.csv"
    path.write_text(customers_csv(), encoding="utf-8")
    ws.ingest("customers", path)
    for name, text in SEGMENTS.items():
        (ws.path / "segments" / f"{name}.yaml").write_text(text, encoding="utf-8")
    yield ws
    ws.close()


# -- retention and erasure: A hand-built workspace for retention and erasure: Alice (C1, who
# absorbed C9 by a merge), Bob (C2) and Carol (C3), with events, attribute history, memberships,
# traits, rejected rows, and tables another tool could add (a partner's assignments, its
# outbox) that microseg's erasure does not know by name.

ALICE_EMAIL = "alice.martin@example.com"
ALICE_PHONE = "+33612345678"
BOB_EMAIL = "bob@example.org"

SEGMENT = """
name: buyers
rule:
  event: purchase
  window: {last: 5 years}
"""


def build(root: Path) -> Workspace:
    ws = Workspace.init(root, timezone="UTC", clock=lambda: NOW)
    data = root.parent
    # C9 first appears alone, by a device id, with two events
    ws.ingest(
        "events",
        write(
            data / "e0.csv",
            """
event_id,customer_id,anonymous_id,timestamp,type,amount
e90,C9,dev-9,2025-06-01T10:00:00Z,view,
e91,C9,dev-9,2025-06-02T10:00:00Z,purchase,15
""",
        ),
    )
    ws.ingest(
        "customers",
        write(
            data / "c1.csv",
            f"""
customer_id,email,phone,city,valid_from
C1,{ALICE_EMAIL},{ALICE_PHONE},Lyon,2022-01-01
C2,{BOB_EMAIL},,Paris,2022-01-01
C3,carol@example.net,,Nantes,2022-01-01
""",
        ),
    )
    # Alice moved: a second version of her attributes
    ws.ingest(
        "customers",
        write(data / "c2.csv", "customer_id,city,valid_from\nC1,Lille,2024-03-01\n"),
    )
    ws.ingest(
        "events",
        write(
            data / "e1.csv",
            f"""
event_id,customer_id,email,timestamp,type,amount,note
e1,C1,,2021-03-01T10:00:00Z,purchase,40,
e2,C1,,2023-05-01T10:00:00Z,purchase,60,
e3,C1,,2025-12-01T10:00:00Z,email_open,,
e4,C2,,2021-06-01T10:00:00Z,purchase,25,
e5,C2,,2022-06-01T10:00:00Z,view,,
e6,C2,,2025-11-01T10:00:00Z,purchase,30,refer {ALICE_EMAIL}
e7,C3,,2025-10-01T10:00:00Z,purchase,12,
e8,C9,{ALICE_EMAIL},2025-12-10T10:00:00Z,view,,
""",
        ),
    )
    # a rejected row of Alice's (bad amount) and one of Bob's
    ws.ingest(
        "events",
        write(
            data / "e2.csv",
            f"""
event_id,customer_id,email,timestamp,type,amount
x1,C1,{ALICE_EMAIL},2025-12-11T10:00:00Z,purchase,lots
x2,C2,,2025-12-11T10:00:00Z,purchase,many
""",
        ),
        max_rejected="100%",
    )
    (root / "segments" / "buyers.yaml").write_text(SEGMENT, encoding="utf-8")
    ws.traits.compute()
    ws.segments.evaluate()
    store = ws.store
    # tables another feature adds: erasure must find them by their columns
    store.execute("CREATE TABLE partner_assignments (campaign VARCHAR, customer_id VARCHAR)")
    store.execute(
        "INSERT INTO partner_assignments VALUES ('spring', 'C1'), ('spring', 'C2'), "
        "('spring', 'C9'), ('spring', 'C3')"
    )
    store.execute("CREATE TABLE partner_outbox (batch_id BIGINT, payload JSON)")
    store.execute(
        "INSERT INTO partner_outbox VALUES ($1, $2), ($3, $4)",
        [1, f'{{"email": "{ALICE_EMAIL.upper()}"}}', 2, f'{{"email": "{BOB_EMAIL}"}}'],
    )
    return ws


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Workspace]:
    ws = build(tmp_path / "ws")
    yield ws
    ws.close()
