"""``retention apply``: events and rejected rows older than the configured periods are
deleted or archived, said, recorded, and no evaluation sees them again."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from microseg import Workspace
from microseg.cli import app
from microseg.config import load_config, render_default_config
from microseg.core.duration import parse_duration
from microseg.govern._retention import before
from tests.conftest import NOW, write

runner = CliRunner()

# NOW is 2026-01-15 12:00 UTC: three years back is 2023-01-15 12:00. Older events of the
# shop (tests/govern/conftest.py): e1 (C1 purchase, 2021-03-01), e4 (C2 purchase,
# 2021-06-01), e5 (C2 view, 2022-06-01). The rejects are from the load time: kept.
OLD = {"e1", "e4", "e5"}
TWO_PURCHASES = """
name: repeat-buyers
rule:
  event: purchase
  window: {last: 10 years}
  count: {gte: 2}
"""


def _configure(ws: Workspace, **settings: str) -> Workspace:
    path = ws.path / "microseg.yaml"
    text = path.read_text(encoding="utf-8")
    for key, value in settings.items():
        text = text.replace(f"  {key}: {_default(key)}", f"  {key}: {value}", 1)
    path.write_text(text, encoding="utf-8")
    root = ws.path
    ws.close()
    return Workspace.open(root, clock=lambda: NOW)


def _default(key: str) -> str:
    return {"events": "3 years", "rejects": "1 year", "action": "delete"}[key]


def test_dry_run_says_what_would_go_and_changes_nothing(shop: Workspace) -> None:
    events = shop.store.scalar("SELECT count(*) FROM events")
    report = shop.govern.retention(dry_run=True)
    assert report.dry_run
    assert report.run_id is None
    assert [t.table for t in report.tables] == ["events", "rejects"]
    old = report.tables[0]
    assert old.period == "3 years"
    assert old.cutoff == datetime.fromisoformat("2023-01-15T12:00:00+00:00")
    assert old.removed == 3
    assert old.by_type == {"purchase": 2, "view": 1}
    assert (old.first.date().isoformat(), old.last.date().isoformat()) == (  # type: ignore[union-attr]
        "2021-03-01",
        "2022-06-01",
    )
    assert report.tables[1].removed == 0
    assert shop.store.scalar("SELECT count(*) FROM events") == events
    assert shop.govern.retention_history() == []


def test_apply_deletes_records_and_evaluations_never_see_them(shop: Workspace) -> None:
    (shop.path / "segments" / "repeat-buyers.yaml").write_text(TWO_PURCHASES, encoding="utf-8")
    members = shop.segments.evaluate(["repeat-buyers"], save=False)
    assert members.sizes == {"repeat-buyers": 2}  # C1 (e1 e2 e91), C2 (e4 e6); C3 one
    events = shop.store.scalar("SELECT count(*) FROM events")
    report = shop.govern.retention()
    assert report.run_id == 1
    assert not report.dry_run
    assert report.removed == 3
    assert shop.store.scalar("SELECT count(*) FROM events") == events - 3
    left = shop.events().to_pyarrow().column("event_id").to_pylist()
    assert not OLD & set(left)
    # C2 has one purchase left: no longer a repeat buyer
    assert shop.segments.evaluate(["repeat-buyers"], save=False).sizes == {"repeat-buyers": 1}
    history = shop.govern.retention_history()
    assert [(r["run_id"], r["table_name"], r["removed"]) for r in history] == [
        (1, "events", 3),
        (1, "rejects", 0),
    ]
    assert history[0]["by_type"] == {"purchase": 2, "view": 1}
    assert history[0]["action"] == "delete"
    assert history[0]["archive"] is None
    # a second run finds nothing more
    assert shop.govern.retention().removed == 0


def test_archive_writes_parquet_before_deleting(shop: Workspace) -> None:
    ws = _configure(shop, action="archive", events="4 years", rejects="null")
    try:
        report = ws.govern.retention()
        assert [t.table for t in report.tables] == ["events"]  # rejects kept forever
        old = report.tables[0]
        assert old.removed == 2  # before 2022-01-15: e1, e4
        assert old.archive == "archive/events-before-20220115T120000.parquet"
        table = pq.read_table(ws.path / old.archive)
        assert table.column("event_id").to_pylist() == ["e1", "e4"]
        assert table.column("amount").to_pylist() == [40.0, 25.0]
        assert table.column("customer_id").to_pylist() == ["C1", "C2"]
        assert "load_id" in table.column_names
        assert not list((ws.path / "archive").glob("*.partial"))
        assert ws.store.scalar("SELECT count(*) FROM events WHERE event_id IN ('e1', 'e4')") == 0
        assert ws.govern.retention_history()[0]["archive"] == old.archive
    finally:
        ws.close()


def test_old_rejects_go_too(shop: Workspace, tmp_path: Path) -> None:
    later = datetime.fromisoformat("2027-03-01T00:00:00+00:00")
    root = shop.path
    shop.close()
    with Workspace.open(root, clock=lambda: later) as ws:
        ws.ingest(
            "events",
            write(tmp_path / "bad.csv", "event_id,customer_id,timestamp,type\nz1,C3,soon,view\n"),
            max_rejected="100%",
        )
        report = ws.govern.retention(dry_run=True)
        rejects = report.tables[1]
        assert rejects.removed == 2  # the two rows rejected on 2026-01-15, not today's
        assert rejects.by_type == {"events": 2}


def test_calendar_periods() -> None:
    march = datetime(2024, 3, 31, 8)
    assert before(march, parse_duration("1 month")) == datetime(2024, 2, 29, 8)
    assert before(datetime(2024, 2, 29), parse_duration("1 year")) == datetime(2023, 2, 28)
    assert before(march, parse_duration("14 months")) == datetime(2023, 1, 31, 8)
    assert before(march, parse_duration("2 days")) == datetime(2024, 3, 29, 8)


def test_the_template_documents_retention_as_it_behaves(tmp_path: Path) -> None:
    text = render_default_config("x")
    assert "retention:" in text
    assert "microseg retention apply" in text
    path = tmp_path / "microseg.yaml"
    path.write_text(text, encoding="utf-8")
    settings = load_config(path).retention
    assert (settings.events, settings.rejects, settings.action, settings.archive) == (
        "3 years",
        "1 year",
        "delete",
        "archive",
    )


def test_a_bad_action_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "microseg.yaml"
    path.write_text("name: x\nretention:\n  action: shred\n", encoding="utf-8")
    from microseg.core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"microseg.yaml:3.*retention.action"):
        load_config(path)


def test_cli_retention(shop: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    root = str(shop.path)
    shop.close()
    # the command line reads the system clock: here it reads the tests' fixed now
    from microseg.cli._common import State

    monkeypatch.setattr(
        State, "open", lambda self: Workspace.open(self.workspace, clock=lambda: NOW)
    )
    dry = runner.invoke(app, ["--json", "retention", "apply", "--dry-run", "-w", root])
    assert dry.exit_code == 0, dry.output
    data = json.loads(dry.stdout)
    assert data["dry_run"] is True
    assert data["removed"] == 3
    assert data["tables"][0]["cutoff"] == "2023-01-15T12:00:00Z"
    text = runner.invoke(app, ["retention", "apply", "-w", root])
    assert text.exit_code == 0, text.output
    assert "Retention run 1: 3 rows deleted" in text.stdout
    assert "events by type: purchase 2, view 1" in text.stdout
    history = runner.invoke(app, ["retention", "history", "-w", root, "--json"])
    assert history.exit_code == 0, history.output
    assert [r["removed"] for r in json.loads(history.stdout)] == [3, 0]
