"""``explain`` says why an attribute is missing: never loaded, or not yet valid then."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from typer.testing import CliRunner

from microseg import Workspace
from microseg.cli import app
from microseg.profile import ProfileSnapshot
from tests.conftest import write

SEGMENT = "name: married\nrule:\n  attribute: marital_status\n  eq: married\n"


def _shop(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest("customers", write(tmp_path / "c.csv", "customer_id,city\nC1,Lyon\nC2,Paris"))
    ws.ingest(
        "customers",
        write(
            tmp_path / "u.csv",
            "customer_id,updated_at,marital_status\nC2,2025-06-01T08:00:00Z,married",
        ),
    )
    (ws.path / "segments" / "married.yaml").write_text(SEGMENT, encoding="utf-8")


def test_explain_says_never_loaded_or_not_yet_valid(ws: Workspace, tmp_path: Path) -> None:
    _shop(ws, tmp_path)
    never = ws.segments.explain("married", "C1", as_of="2025-01-01")
    assert never.missing == {"attribute": "marital_status", "reason": "never_loaded"}
    assert "marital_status is missing (never loaded for this customer)" in never.text
    early = ws.segments.explain("married", "C2", as_of="2025-01-01")
    assert early.holds is False
    assert early.missing == {
        "attribute": "marital_status",
        "reason": "not_yet_valid",
        "valid_from": "2025-06-01T08:00:00Z",
    }
    assert "not yet valid at 2025-01-01 23:00:00 UTC: valid from 2025-06-01 08:00:00 UTC" in (
        early.text
    )
    later = ws.segments.explain("married", "C2", as_of="2025-07-01")
    assert later.holds is True
    assert later.missing is None
    assert "missing" not in later.to_dict()


def test_explain_reason_in_the_cli_json(ws: Workspace, tmp_path: Path) -> None:
    _shop(ws, tmp_path)
    root = str(ws.path)
    ws.close()
    args = ["--workspace", root, "segment", "explain", "married", "C2", "--as-of", "2025-01-01"]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["missing"]["reason"] == "not_yet_valid"
    text = CliRunner().invoke(app, args)
    # the CLI says it in the workspace's zone (Paris: UTC+2 in June)
    said = " ".join(text.output.split())
    assert "not yet valid then: valid from 2025-06-01 10:00 (Europe/Paris)" in said
    never = CliRunner().invoke(app, [*args[:5], "C1", *args[6:]])
    assert "is missing (never loaded for this customer)" in " ".join(never.output.split())


def test_the_snapshot_carries_the_same_reasons(ws: Workspace, tmp_path: Path) -> None:
    _shop(ws, tmp_path)
    snapshot = ProfileSnapshot(ws.store, ws.profile.attribute_types(), "Europe/Paris")
    clock = ws.context.clock("2025-01-01")
    assert snapshot.of("C2", clock, current=False).pending == {
        "marital_status": datetime(2025, 6, 1, 8, 0)
    }
    assert snapshot.of("C1", clock, current=False).pending == {}
    assert snapshot.of("C2", clock, current=True).pending == {}
