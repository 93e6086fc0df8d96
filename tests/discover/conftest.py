from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from microseg import Workspace
from microseg.synth import generate_shop

END = date(2026, 10, 31)


@pytest.fixture(scope="module")
def shop_ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """A workspace holding a 3,000-customer synthetic shop (ground truth in data/)."""
    ws = make_shop(tmp_path_factory.mktemp("discover") / "ws", customers=3000, seed=11)
    yield ws
    ws.close()


def make_shop(root: Path, *, customers: int, seed: int) -> Workspace:
    """A workspace at ``root`` loaded with a synthetic shop (ground truth in root/data)."""
    ws = Workspace.init(
        root, timezone="Europe/Paris", clock=lambda: datetime(2026, 10, 31, 23, 59, tzinfo=UTC)
    )
    shop = generate_shop(root / "data", customers=customers, seed=seed, end=END)
    ws.ingest("products", shop.paths["products"])
    ws.ingest("customers", shop.paths["customers"], valid_from="signup_date")
    ws.ingest("customers", shop.paths["customer_updates"])
    ws.ingest("events", list(shop.event_files))
    return ws
