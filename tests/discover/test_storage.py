"""Migration 7: runs stored before it get a name and stay readable."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from microseg.discover import DiscoveryError, load_assigner
from microseg.discover._storage import resolve_run
from microseg.store import SCHEMA_VERSION, Store
from microseg.store._schema import MIGRATIONS


def test_runs_stored_before_names_are_called_run_id(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    for statements in MIGRATIONS[:6]:
        for statement in statements:
            con.execute(statement)
    con.execute("INSERT INTO meta VALUES ('schema_version', '6')")
    run = json.dumps({"run_id": 4, "metrics": {"coverage": 1.0}, "clusters": []})
    con.execute(
        "INSERT INTO discovery_runs VALUES "
        "(4, TIMESTAMP '2026-10-31 23:00', TIMESTAMP '2026-11-01', 'kmeans', 10, 2, $1)",
        [run],
    )
    con.close()
    store = Store(path)
    assert SCHEMA_VERSION >= 7  # 7 named the runs; later migrations keep them
    assert store.fetchall("SELECT run_id, name, assigner FROM discovery_runs") == [
        (4, "run-4", None)
    ]
    assert resolve_run(store, "run-4") == resolve_run(store, 4) == resolve_run(store, "4") == 4
    with pytest.raises(DiscoveryError, match="stored before runs kept an assigner"):
        load_assigner(store, "run-4")
    with pytest.raises(
        DiscoveryError, match=r"no discovery run named 'x'; known runs: run-4 \(4\)"
    ):
        resolve_run(store, "x")
    store.close()


def test_unknown_run_in_an_empty_store(tmp_path: Path) -> None:
    store = Store(tmp_path / "new.duckdb")
    with pytest.raises(DiscoveryError, match="no run is stored yet") as err:
        load_assigner(store, 1)
    assert "microseg discover run" in str(err.value)
    store.close()
