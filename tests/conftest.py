from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from microseg import Workspace

#: The fixed "now" of every test workspace: deterministic tests, no clock reads.
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    workspace = Workspace.init(tmp_path / "ws", timezone="Europe/Paris", clock=lambda: NOW)
    yield workspace
    workspace.close()


def write(path: Path, text: str) -> Path:
    path.write_text(text.strip() + "\n", encoding="utf-8")
    return path
