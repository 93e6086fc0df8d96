"""A small loaded workspace for the store's reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from microseg import Workspace
from tests.conftest import write

CUSTOMERS = """
customer_id,city,signup_date
C1,Lyon,2024-01-01
C2,Paris,2024-02-01
C3,Paris,2024-03-01
"""

EVENTS = """
event_id,customer_id,timestamp,type,amount,quantity
e1,C1,2025-01-01T10:00:00Z,purchase,10.5,1
e2,C1,2025-01-02T10:00:00Z,view,,
e3,C2,2025-01-03T10:00:00Z,view,,
e4,C3,2025-02-05T08:30:00Z,purchase,12.5,1
e5,C3,2025-02-06T08:30:00Z,view,,
e6,C9,2025-02-07T08:30:00Z,bogus-day,,
e7,C1,,view,,
"""


@pytest.fixture
def loaded(ws: Workspace, tmp_path: Path) -> Workspace:
    ws.ingest("customers", write(tmp_path / "customers.csv", CUSTOMERS))
    # e7 is rejected on purpose (1 of 7 rows, over the default limit of 10%)
    ws.ingest("events", write(tmp_path / "events.csv", EVENTS), max_rejected=1)
    return ws
