"""What a marketer reads: members with chosen columns, a profile, explain in sentences,
rules in YAML, times in the workspace's zone, and progress on stderr."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from microseg import Workspace
from microseg.cli import app
from microseg.cli._common import PhaseProgress
from microseg.cli._readable import number, rule_yaml, value_text, when

runner = CliRunner()

CUSTOMERS = """customer_id,email,phone,city,interests,marital_status,birth_date,newsletter,since
C1,ann@example.com,+33677187530,Paris,sports|anime|fashion,married,1990-04-02,true,2020-01-01
C2,bob@example.com,,Lyon,books,single,1985-01-01,false,2020-01-01
"""
EVENTS = """customer_id,timestamp,type,amount,category
C1,2026-06-01T10:00:00,purchase,30.0,Sport
C1,2026-07-01T10:00:00,purchase,45.5,Sport
C1,2026-08-01T10:00:00,purchase,12.0,Sport
C2,2026-08-01T10:00:00,purchase,20.0,Books
"""
SEGMENT = """name: married-sport
title: Married customers who bought Sport lately
rule:
  all:
    - event: purchase
      where: [{property: category, eq: Sport}]
      window: {last: 6 months}
      count: {gte: 1}
    - {attribute: marital_status, eq: married}
"""


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("readable") / "shop"
    ws = Workspace.init(root, timezone="Europe/Paris")
    try:
        (root / "customers.csv").write_text(CUSTOMERS, encoding="utf-8")
        (root / "events.csv").write_text(EVENTS, encoding="utf-8")
        ws.ingest("customers", [root / "customers.csv"], valid_from="since")
        ws.ingest("events", [root / "events.csv"])
    finally:
        ws.close()
    (root / "segments" / "married-sport.yaml").write_text(SEGMENT, encoding="utf-8")
    return root


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args), env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    return result.stdout


def test_members_with_columns(shop: Path) -> None:
    text = invoke("segment", "members", "married-sport", "-w", str(shop), "--columns", "email,city")
    assert text.splitlines() == ["customer_id,email,city", "C1,ann@example.com,Paris"]
    data = json.loads(
        invoke(
            "segment",
            "members",
            "married-sport",
            "-w",
            str(shop),
            "--columns",
            "phone,interests",
            "--json",
        )
    )
    assert data["customers"] == 1
    member = data["members"][0]
    assert member["customer_id"] == "C1"
    assert member["phone"] == "+33677187530"
    assert member["interests"] == ["sports", "anime", "fashion"]


def test_members_unknown_column_suggests(shop: Path) -> None:
    result = runner.invoke(
        app, ["segment", "members", "married-sport", "-w", str(shop), "--columns", "emial"]
    )
    assert result.exit_code == 2
    assert "did you mean 'email'" in result.stderr


def test_members_columns_from_python(shop: Path) -> None:
    ws = Workspace.open(shop)
    try:
        rows = ws.segments.members("married-sport", columns=["city"]).to_pyarrow().to_pylist()
    finally:
        ws.close()
    assert rows == [{"customer_id": "C1", "city": "Paris"}]


def test_profile_reads_like_a_person(shop: Path) -> None:
    text = invoke("profile", "C1", "-w", str(shop))
    assert "sports, anime, fashion" in text
    assert "['sports'" not in text
    assert "yes" in text  # the newsletter boolean
    assert "True" not in text
    assert "married-sport" in text


def test_explain_in_sentences(shop: Path) -> None:
    text = invoke(
        "segment", "explain", "married-sport", "C1", "-w", str(shop), "--as-of", "2026-10-31"
    )
    assert "C1 is in married-sport" in text
    assert "bought Sport 3 times in the last 6 months (needs at least 1)" in text
    assert "marital_status is married (needs married)" in text
    assert "rule.all[" not in text
    out = invoke(
        "segment", "explain", "married-sport", "C2", "-w", str(shop), "--as-of", "2026-10-31"
    )
    assert "C2 is not in married-sport" in out
    assert "bought Sport 0 times in the last 6 months (needs at least 1)" in out


def test_explain_json_keeps_the_tree(shop: Path) -> None:
    data = json.loads(
        invoke("segment", "explain", "married-sport", "C1", "-w", str(shop), "--json")
    )
    assert data["holds"] is True
    assert data["children"][0]["path"] == "rule.all[0]"


def test_times_in_the_workspace_zone(shop: Path) -> None:
    text = " ".join(invoke("segment", "evaluate", "-w", str(shop), "--as-of", "2026-10-31").split())
    assert "as of end of 2026-10-31 (Europe/Paris)" in text
    assert "UTC" not in text


def test_words_for_values() -> None:
    assert value_text(["sports", "anime", "fashion"]) == "sports, anime, fashion"
    assert value_text(True) == "yes"
    assert value_text(False) == "no"
    assert value_text(1.76225e06) == "1,762,250"
    assert "e+" not in value_text(18278900.123)
    assert number(0.000123) == "0.000123"
    assert when(None) == "-"
    rule = {
        "all": [{"trait": "lifecycle_stage", "eq": "lapsed"}, {"attribute": "x", "contains": "y"}]
    }
    assert (
        rule_yaml(rule)
        == "all:\n- trait: lifecycle_stage\n  eq: lapsed\n- attribute: x\n  contains: y"
    )


def test_discover_show_prints_rules_as_yaml(tmp_path: Path) -> None:
    from microseg.cli import _discover

    data = {
        "name": "r",
        "run_id": 1,
        "as_of": "2026-10-31",
        "seconds": 1,
        "metrics": {"stability_ari": 0.9, "clusters": 1, "coverage": 1.0, "customers": 10},
        "features": {"notes": []},
        "macros": [],
        "clusters": [
            {
                "id": 1,
                "name": "sporty",
                "size": 10,
                "share": 1.0,
                "revenue": 10.0,
                "precision": 1.0,
                "recall": 1.0,
                "top_features": [],
                "rule": {"all": [{"attribute": "interests", "contains": "sports"}]},
            }
        ],
    }
    buffer = io.StringIO()
    console = Console(file=buffer, width=80)
    original = _discover.console
    _discover.console = console
    try:
        _discover._print_run(data, rules=True)
    finally:
        _discover.console = original
    assert "    all:\n    - attribute: interests\n      contains: sports" in buffer.getvalue()


def test_progress_lines_when_not_a_terminal() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=False, width=80)
    with PhaseProgress(console) as progress:
        progress("loading events: validating a.csv", 0, 2)
        progress("loading events: writing a.csv", 1, 2)
        progress("fitting the value models", 0, 1)
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("loading events (")
    assert lines[0].endswith(" s)")
    assert lines[1].startswith("fitting the value models (")


def test_progress_timer_ticks_after_a_finished_step() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=80)
    with PhaseProgress(console) as progress:
        progress("loading events: writing", 1, 1)  # a step that reached its total
        progress("discovering micro-segments", 0, 1)  # a long step with no updates
        first = progress.elapsed()
        time.sleep(0.2)
        second = progress.elapsed()
    assert second - first >= 0.15


def test_ingest_progress_on_stderr(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    assert runner.invoke(app, ["init", str(root)]).exit_code == 0
    path = tmp_path / "events.csv"
    path.write_text(EVENTS, encoding="utf-8")
    result = runner.invoke(app, ["ingest", "events", str(path), "-w", str(root)])
    assert result.exit_code == 0, result.output
    phases = [line for line in result.stderr.splitlines() if line.endswith(" s)")]
    assert any(line.startswith("validating ") and "events.csv (" in line for line in phases)
    assert any(line.startswith("writing ") and "events.csv (" in line for line in phases)
