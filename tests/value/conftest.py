"""The CDNOW sample, ingested through the normal path into a real workspace."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from microseg import Workspace

CDNOW = Path(__file__).resolve().parents[1] / "data" / "CDNOW_sample.txt"
#: The standard set-up: calibration from 1997-01-01 through 1997-09-30, weekly unit.
CALIBRATION_END = "1997-09-30"


def cdnow_events(path: Path) -> Path:
    """The raw transactions as an events CSV: one purchase per line of the sample."""
    raw = pd.read_csv(
        CDNOW,
        sep=r"\s+",
        header=None,
        names=["customer_id", "sample_id", "date", "quantity", "amount"],
        dtype={"customer_id": str, "date": str},
    )
    events = pd.DataFrame(
        {
            "customer_id": "c" + raw.customer_id,
            "timestamp": pd.to_datetime(raw.date, format="%Y%m%d").dt.strftime("%Y-%m-%d"),
            "type": "purchase",
            "amount": raw.amount,
            "quantity": raw.quantity,
        }
    )
    events.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def cdnow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    root = tmp_path_factory.mktemp("cdnow")
    ws = Workspace.init(
        root / "ws", timezone="America/New_York", clock=lambda: datetime(1998, 7, 1, tzinfo=UTC)
    )
    ws.ingest("events", cdnow_events(root / "cdnow.csv"))
    yield ws
    ws.close()
