"""The command line, run as a user runs it: a real process, real files."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "microseg", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    result = run("init", str(root))
    assert result.returncode == 0, result.stderr
    return root


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    # progress lines (one per finished phase, "... (0.08 s)") may come first
    lines = [line for line in result.stderr.strip().splitlines() if line]
    lines = [line for line in lines if not re.fullmatch(r".* \(\d+\.\d\d s\)", line)]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_missing_file(workspace: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    line = _one_line_error(run("--workspace", str(workspace), "ingest", "events", str(missing)))
    assert line == f"error: {missing}: file not found"


@pytest.mark.slow
def test_wrong_format(workspace: Path, tmp_path: Path) -> None:
    fake = tmp_path / "events.parquet"
    fake.write_text("customer_id,timestamp,type\nC1,2025-01-01,view\n")
    line = _one_line_error(run("--workspace", str(workspace), "ingest", "events", str(fake)))
    assert line.startswith(f"error: {fake}: could not read it as parquet")
    unknown = tmp_path / "events.xlsx"
    unknown.write_text("x")
    line = _one_line_error(run("--workspace", str(workspace), "ingest", "events", str(unknown)))
    assert "cannot tell the format" in line
    assert "--format" in line


@pytest.mark.slow
def test_missing_required_column(workspace: Path, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("customer_id,when,type\nC1,2025-01-01,view\n")
    line = _one_line_error(run("--workspace", str(workspace), "ingest", "events", str(path)))
    assert line.startswith(f"error: {path}: missing required column 'timestamp'")
    # the hint works: map the column
    ok = run(
        "--workspace",
        str(workspace),
        "ingest",
        "events",
        str(path),
        "--map",
        "when=timestamp",
        "--json",
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["accepted"] == 1


@pytest.mark.slow
def test_nothing_loaded_when_one_of_several_files_is_bad(workspace: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text("customer_id,timestamp,type\nC1,2025-01-01,view\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("customer_id,type\nC1,view\n")
    _one_line_error(run("-w", str(workspace), "ingest", "events", str(good), str(bad)))
    status = json.loads(run("-w", str(workspace), "status", "--json").stdout)
    assert status["tables"]["events"] == 0


@pytest.mark.slow
def test_ingest_status_rejects_json(workspace: Path, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        "event_id,customer_id,timestamp,type,amount\n"
        "e1,C1,2025-01-01T10:00:00Z,purchase,12.5\n"
        "e2,C1,never,view,\n"
    )
    # one of its two rows is rejected on purpose: over the default limit of 10%
    result = run(
        "--json",
        "--workspace",
        str(workspace),
        "ingest",
        "events",
        str(path),
        "--max-rejected",
        "1",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["accepted"], report["rejected"]) == (1, 1)
    assert report["reasons"] == {"unreadable_timestamp": 1}
    status = json.loads(run("-w", str(workspace), "status", "--json").stdout)
    assert status["tables"]["events"] == 1
    assert status["first_event"] == "2025-01-01T10:00:00Z"
    assert status["last_load"]["kind"] == "events"
    rejects = json.loads(run("-w", str(workspace), "rejects", "--json").stdout)
    assert [(r["row"], r["column"], r["value"]) for r in rejects] == [(2, "timestamp", "never")]
    text = run("-w", str(workspace), "rejects")
    assert text.returncode == 0
    assert "never" in text.stdout
    assert "timestamp" in text.stdout


def test_workspace_from_environment(workspace: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "microseg", "status", "--json"],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "MICROSEG_WORKSPACE": str(workspace)},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["tables"]["customers"] == 0


def test_not_a_workspace(tmp_path: Path) -> None:
    line = _one_line_error(run("status", cwd=tmp_path))
    assert "not a microseg workspace" in line
    assert "microseg init" in line


def test_bad_config_is_reported_with_line(workspace: Path) -> None:
    config = workspace / "microseg.yaml"
    config.write_text(config.read_text().replace("currency: EUR", "curency: EUR"))
    result = run("-w", str(workspace), "status")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "microseg.yaml:5" in result.stderr
    assert "did you mean 'currency'?" in result.stderr
