"""A Parquet load leaves nothing behind but its rows, rejects and load record (issue 12,
point 11): the source file may move or go once it is loaded."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from microseg import Workspace
from microseg.cli import app
from tests.conftest import NOW


def _catalog(path: Path) -> set[tuple[str, str]]:
    """Every view and table of the store file, as another process opening it sees them."""
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(
            "SELECT 'view', view_name FROM duckdb_views() WHERE NOT internal "
            "UNION ALL SELECT 'table', table_name FROM duckdb_tables() WHERE NOT internal"
        ).fetchall()
    return {(str(kind), str(name)) for kind, name in rows}


def test_parquet_load_outlives_its_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the file is named as a user names it: relative
    ws = Workspace.init(tmp_path / "ws", timezone="Europe/Paris", clock=lambda: NOW)
    store_file = tmp_path / "ws" / "microseg.duckdb"
    ws.close()
    before = _catalog(store_file)
    source = tmp_path / "exports" / "events.parquet"
    source.parent.mkdir()
    pq.write_table(
        pa.table(
            {
                "customer_id": ["C1", "C1", "C2"],
                "timestamp": ["2025-11-01T10:00:00Z", "2025-12-01T10:00:00Z", "2025-12-02"],
                "type": ["purchase", "purchase", "view"],
                "amount": [12.5, 30.0, None],
            }
        ),
        source,
    )
    runner = CliRunner()
    base = ["--workspace", str(tmp_path / "ws")]
    loaded = runner.invoke(app, [*base, "ingest", "events", "exports/events.parquet"])
    assert loaded.exit_code == 0, loaded.output
    after = _catalog(store_file)
    assert after == before, f"left in the store: {sorted(after - before)}"

    source.rename(tmp_path / "moved.parquet")
    as_of = ["--as-of", "2026-01-01"]
    for command in (["status"], ["traits", "compute", *as_of], ["segment", "evaluate", *as_of]):
        result = runner.invoke(app, [*base, *command])
        assert result.exit_code == 0, (command, result.output)
        assert "No files found" not in result.output
    with Workspace.open(tmp_path / "ws", clock=lambda: NOW) as reopened:
        assert reopened.events().count().to_pyarrow().as_py() == 3
