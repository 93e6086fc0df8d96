"""An attribute can be removed deliberately, with its history; nothing else changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from microseg import Workspace
from microseg.cli import app
from microseg.core.errors import WorkspaceError
from tests.conftest import NOW, write


def test_drop_an_attribute_with_its_history(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest(
        "customers", write(tmp_path / "a.csv", "customer_id,city,customer_id_right\nC1,Paris,x")
    )
    ws.ingest("customers", write(tmp_path / "b.csv", "customer_id,city\nC1,Lyon"))
    assert ws.store.scalar("SELECT count(*) FROM customer_history") == 2
    ws.attributes.drop("customer_id_right")
    assert "customer_id_right" not in ws.store.attribute_columns()
    assert [r["city"] for r in ws.customers().to_pyarrow().to_pylist()] == ["Lyon"]
    assert ws.store.scalar("SELECT count(*) FROM customer_history") == 2
    with pytest.raises(WorkspaceError, match="did you mean 'city'"):
        ws.attributes.drop("cty")
    with pytest.raises(WorkspaceError, match="not an attribute"):
        ws.attributes.drop("valid_from")


def test_drop_from_the_cli_asks_first(tmp_path: Path) -> None:
    runner = CliRunner()
    workspace = tmp_path / "ws"
    Workspace.init(workspace, clock=lambda: NOW).close()
    ws = Workspace.open(workspace, clock=lambda: NOW)
    ws.ingest("customers", write(tmp_path / "a.csv", "customer_id,city,score\nC1,Paris,3"))
    ws.close()
    base = ["--workspace", str(workspace), "attributes"]
    refused = runner.invoke(app, [*base, "drop", "score"], input="n\n")
    assert refused.exit_code != 0
    listed = runner.invoke(app, [*base, "list", "--json"])
    assert {a["name"] for a in json.loads(listed.output)} == {"city", "score"}
    done = runner.invoke(app, [*base, "drop", "score", "--yes", "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output) == {"dropped": "score"}
    listed = runner.invoke(app, [*base, "list", "--json"])
    assert [a["name"] for a in json.loads(listed.output)] == ["city"]
