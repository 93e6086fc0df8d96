"""File paths are paths, and one bad line never costs the rest of a file."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from microseg import Workspace
from microseg.core.errors import SourceNotFoundError

HEADER = "customer_id,timestamp,type,note\n"


def _events(path: Path, *ids: str) -> Path:
    path.write_text(HEADER + "".join(f"{i},2025-01-01,view,x\n" for i in ids), encoding="utf-8")
    return path


def test_a_path_with_glob_characters_is_read_literally(ws: Workspace, tmp_path: Path) -> None:
    star = _events(tmp_path / "a*.csv", "C1")
    _events(tmp_path / "ab.csv", "C2")
    bracket = _events(tmp_path / "[b].csv", "C3")
    _events(tmp_path / "b.csv", "C4")
    report = ws.ingest("events", [star, bracket])
    assert report.accepted == 2
    ids = {r[0] for r in ws.store.fetchall("SELECT customer_id FROM events")}
    assert ids == {"C1", "C3"}


def test_glob_is_explicit(ws: Workspace, tmp_path: Path) -> None:
    _events(tmp_path / "web-1.csv", "C1")
    _events(tmp_path / "web-2.csv", "C2")
    with pytest.raises(SourceNotFoundError):
        ws.ingest("events", str(tmp_path / "web-*.csv"))
    report = ws.ingest("events", str(tmp_path / "web-*.csv"), glob=True)
    assert report.accepted == 2
    assert report.sources == (str(tmp_path / "web-1.csv"), str(tmp_path / "web-2.csv"))
    with pytest.raises(SourceNotFoundError, match="no file matches"):
        ws.ingest("events", str(tmp_path / "nothing-*.csv"), glob=True)


def test_glob_from_the_cli(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from microseg.cli import app

    runner = CliRunner()
    workspace = str(tmp_path / "ws")
    assert runner.invoke(app, ["init", workspace]).exit_code == 0
    _events(tmp_path / "web-1.csv", "C1")
    _events(tmp_path / "web-2.csv", "C2")
    pattern = str(tmp_path / "web-*.csv")
    result = runner.invoke(app, ["--workspace", workspace, "ingest", "events", pattern, "--glob"])
    assert result.exit_code == 0, result.output
    assert "2" in result.output


@pytest.mark.parametrize("compressed", [False, True])
def test_an_over_long_line_is_rejected_and_the_rest_loads(
    ws: Workspace, tmp_path: Path, compressed: bool
) -> None:
    lines = [HEADER, "C1,2025-01-01,view,ok\n", "C2,2025-01-01,view," + "x" * 3_000_000 + "\n"]
    lines += ["C3,2025-01-01,view,ok\n", "C4,2025-01-01\n", "C5,2025-01-01,view,ok\n"]
    data = "".join(lines).encode()
    path = tmp_path / ("long.csv.gz" if compressed else "long.csv")
    path.write_bytes(gzip.compress(data) if compressed else data)
    report = ws.ingest("events", path, max_rejected="100%")  # rejects on purpose
    assert (report.rows_read, report.accepted, report.rejected) == (5, 3, 2)
    rejects = {r["line"]: r for r in ws.rejects(limit=None).to_pyarrow().to_pylist()}
    assert set(rejects) == {3, 5}
    assert "bytes long, more than the 2,000,000" in str(rejects[3]["reason"])
    assert len(str(rejects[3]["raw"])) < 10_000
    # rows after the long line keep their own row and line numbers
    stored = ws.store.fetchall("SELECT customer_id FROM events ORDER BY customer_id")
    assert [r[0] for r in stored] == ["C1", "C3", "C5"]


def test_an_over_long_json_line_is_rejected_and_the_rest_loads(
    ws: Workspace, tmp_path: Path
) -> None:
    row = '{"customer_id": "%s", "timestamp": "2025-01-01", "type": "view", "note": "%s"}\n'
    path = tmp_path / "long.jsonl"
    path.write_text(row % ("C1", "ok") + row % ("C2", "x" * 3_000_000) + row % ("C3", "ok"))
    report = ws.ingest("events", path, max_rejected="100%")  # rejects on purpose
    assert (report.rows_read, report.accepted, report.rejected) == (3, 2, 1)
    (reject,) = ws.rejects(limit=None).to_pyarrow().to_pylist()
    assert reject["line"] == 2
    assert "bytes long" in str(reject["reason"])
