"""A hand-built shop for the governance tests: 82 customers in four postcodes, north and
south, where religion follows the postcode (north mostly A, south mostly B) and ``vip``
alternates within every postcode and religion, so it says nothing of religion."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from microseg import Workspace

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
