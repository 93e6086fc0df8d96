"""Shared fixtures of the hostile-input tests: a small shop to evaluate rules on."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from microseg import Workspace
from microseg.synth import generate_shop


@pytest.fixture(scope="package")
def small_shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """60 synthetic customers with their events (read only: tests write no segments here)."""
    root: Path = tmp_path_factory.mktemp("hostile-shop")
    data = generate_shop(root / "data", customers=60, seed=3)
    ws = Workspace.init(
        root / "ws", timezone="Europe/Paris", clock=lambda: datetime(2026, 11, 1, tzinfo=UTC)
    )
    ws.ingest("customers", data.paths["customers"], valid_from="signup_date")
    ws.ingest("events", list(data.event_files))
    yield ws
    ws.close()
