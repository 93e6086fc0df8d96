"""The migration back-fill: missing snapshots of a series are computed together, in one
pass over the events (``ws.segments.evaluate_series``), stored ones are reused."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from microseg import Workspace
from microseg.cli import app
from microseg.segments.api import Segments
from tests.insights.test_migration import NAMES, _shop


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[list[Any]]:
    """The dates of each series evaluation; one date at a time is an error."""
    calls: list[list[Any]] = []
    series = Segments.evaluate_series

    def spy(self: Segments, names: Sequence[str], dates: Sequence[Any], **kw: Any) -> Any:
        calls.append(list(dates))
        return series(self, names, dates, **kw)

    def alone(*args: Any, **kw: Any) -> Any:
        raise AssertionError("the back-fill evaluated one date at a time")

    monkeypatch.setattr(Segments, "evaluate_series", spy)
    monkeypatch.setattr(Segments, "evaluate", alone)
    return calls


def test_backfill_is_one_series_and_reuses_stored_dates(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _shop(ws, tmp_path)
    calls = _spy(monkeypatch)
    first = ws.insights.migration(NAMES, start="2025-04-30", end="2025-06-30", every="month")
    assert [[str(d) for d in dates] for dates in calls] == [
        ["2025-04-30", "2025-05-31", "2025-06-30"]
    ]
    assert not any(s.reused for s in first.snapshots)
    # one month more: only the new date is evaluated, the others are reused
    longer = ws.insights.migration(NAMES, start="2025-04-30", end="2025-07-31", every="month")
    assert len(calls) == 2
    assert [str(d) for d in calls[1]] == ["2025-07-31"]
    assert [s.reused for s in longer.snapshots] == [True, True, True, False]
    sizes = {(longer.dates.index(s.as_of), s.state): s.customers for s in longer.sizes}
    assert sizes == {
        (0, "married"): 1,
        (0, "none"): 4,
        (1, "married"): 1,
        (1, "recent-buyers"): 2,
        (1, "none"): 2,
        (2, "married"): 2,
        (2, "recent-buyers"): 1,
        (2, "none"): 2,
        (3, "married"): 2,
        (3, "none"): 3,
    }
    again = ws.insights.migration(NAMES, start="2025-04-30", end="2025-07-31", every="month")
    assert len(calls) == 2  # nothing to compute
    assert all(s.reused for s in again.snapshots)


def test_cli_backfill_then_reuse(ws: Workspace, tmp_path: Path) -> None:
    _shop(ws, tmp_path)
    root = str(ws.path)
    ws.close()
    args = ["--workspace", root, "--json", "insights", "migration", *NAMES]
    args += ["--from", "2025-04-30", "--to", "2025-07-31", "--every", "month"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    data = json.loads(first.output)
    assert [s["reused"] for s in data["snapshots"]] == [False] * 4
    second = CliRunner().invoke(app, args)
    assert second.exit_code == 0, second.output
    again = json.loads(second.output)
    assert [s["reused"] for s in again["snapshots"]] == [True] * 4
    assert again["matrix"] == data["matrix"]
