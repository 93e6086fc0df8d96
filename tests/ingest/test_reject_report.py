"""The rejects report (issue 12, point 5): one reason per bad cell, physical line numbers,
and a load that rejects too much writes nothing but its rejects."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from microseg import MicrosegError, RejectLimitError, Workspace
from microseg.cli import app
from tests.conftest import NOW, write


def _rejects(ws: Workspace) -> list[dict[str, object]]:
    return ws.rejects(limit=None).to_pyarrow().to_pylist()  # type: ignore[no-any-return]


def test_one_bad_cell_gives_one_reason(ws: Workspace, tmp_path: Path) -> None:
    # signup_date is both the valid-from column and a stored date attribute: its bad value
    # was reported twice (as a timestamp, and as a date)
    first = write(tmp_path / "first.csv", "customer_id,signup_date\nC1,2025-01-01\n")
    ws.ingest("customers", first, valid_from="signup_date")
    later = write(
        tmp_path / "later.csv",
        "customer_id,signup_date\nC2,01/02/2025\nC3,2025-02-01\nC4,2025-02-02\n"
        "C5,2025-02-03\nC6,2025-02-04\nC7,2025-02-05\nC8,2025-02-06\nC9,2025-02-07\n"
        "C10,2025-02-08\nC11,2025-02-09\n",
    )
    report = ws.ingest("customers", later, valid_from="signup_date", max_rejected=1)
    found = _rejects(ws)
    assert [(r["row"], r["line"], r["column"]) for r in found] == [(1, 2, "signup_date")]
    assert "'01/02/2025'" in str(found[0]["reason"])
    assert report.rejected == 1
    assert report.reasons == {"unreadable_signup_date": 1}


def _bad_events(tmp_path: Path, good: int, bad: int) -> Path:
    rows = [f"e{i},C{i},2025-01-0{1 + i % 9},purchase,{i}.5" for i in range(good)]
    rows += [f"x{i},C{i},yesterday,purchase,{i}.5" for i in range(bad // 2)]
    rows += [f"y{i},C{i},2025-01-01,purchase,lots" for i in range(bad - bad // 2)]
    return write(
        tmp_path / "events.csv", "event_id,customer_id,timestamp,type,amount\n" + "\n".join(rows)
    )


def test_a_load_over_the_limit_writes_only_its_rejects(ws: Workspace, tmp_path: Path) -> None:
    path = _bad_events(tmp_path, good=7, bad=3)  # 30% rejected; the default limit is 10%
    with pytest.raises(RejectLimitError) as caught:
        ws.ingest("events", path)
    error = caught.value
    assert isinstance(error, MicrosegError)
    assert (error.rows_read, error.rejected) == (10, 3)
    assert "3 of 10 rows rejected (30%), more than the limit of 10%" in str(error)
    assert "nothing was loaded" in str(error)
    problems = {p: (n, at, why) for p, n, at, why in error.reasons}
    assert problems["unreadable_amount"][:2] == (2, "line 10")
    assert "could not read 'lots' as a number" in problems["unreadable_amount"][2]
    assert problems["unreadable_timestamp"][:2] == (1, "line 9")
    assert f"microseg rejects --load {error.load_id}" in str(error)
    # nothing but the rejects: no events, no customers, no load record
    counts = ws.store.status_counts()
    assert counts["events"] == 0
    assert counts["customers"] == 0
    assert ws.store.scalar("SELECT count(*) FROM loads") == 0
    assert {r["load_id"] for r in _rejects(ws)} == {error.load_id}
    assert len(_rejects(ws)) == 3
    # the next load has an id of its own, and a limit that allows the rejects loads the rest
    report = ws.ingest("events", path, max_rejected=3)
    assert report.load_id == error.load_id + 1
    assert (report.accepted, report.rejected) == (7, 3)
    with pytest.raises(RejectLimitError):
        ws.ingest("events", _bad_events(tmp_path, good=7, bad=3), max_rejected=2)


def test_the_limit_from_the_config_and_from_the_cli(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    Workspace.init(root, clock=lambda: NOW).close()
    config = root / "microseg.yaml"
    text = config.read_text(encoding="utf-8")
    assert "  max_rejected: 10%" in text
    config.write_text(text.replace("  max_rejected: 10%", "  max_rejected: 50%"), encoding="utf-8")
    runner = CliRunner()
    base = ["--workspace", str(root), "ingest", "events"]
    ok = runner.invoke(app, [*base, str(_bad_events(tmp_path, good=7, bad=3))])
    assert ok.exit_code == 0, ok.output
    refused = runner.invoke(
        app, [*base, str(_bad_events(tmp_path, good=7, bad=3)), "--max-rejected", "20%"]
    )
    assert refused.exit_code == 1
    assert "Traceback" not in refused.output
    assert "3 of 10 rows rejected (30%), more than the limit of 20%" in refused.output
    assert "unreadable_amount: 2 rows, e.g. line 10: could not read 'lots'" in refused.output
    assert "unreadable_timestamp: 1 row, e.g. line 9" in refused.output
    bad = runner.invoke(app, [*base, str(tmp_path / "events.csv"), "--max-rejected", "lots"])
    assert bad.exit_code == 2
    assert "not a reject limit" in bad.output


#: a multi-line quoted field and blank lines: the physical lines of rows 2 and 3 are 5
#: and 8 where a count of records would say 3 and 4
SHIFTED = (
    "event_id,customer_id,timestamp,type,note\n"
    'e1,C1,2025-01-01,view,"first line\nsecond line"\n'
    "\n"
    "e2,C1,2025-13-01,view,bad month\n"  # line 5
    "\n"
    "\n"
    "e3,C1,2025-01-02,view,too,many\n"  # line 8: malformed
    'e4,C1,2025-01-03,view,"a\n\nb"\n'
    "e5,,2025-01-04,view,no customer\n"  # line 12
)


def test_reject_lines_are_physical_lines(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "shifted.csv"
    path.write_text(SHIFTED, encoding="utf-8")
    report = ws.ingest("events", path, max_rejected="100%")
    assert (report.accepted, report.rejected) == (2, 3)
    found = [(r["row"], r["line"], r["problem"]) for r in _rejects(ws)]
    assert found == [
        (2, 5, "unreadable_timestamp"),
        (3, 8, "malformed_line"),
        (5, 12, "missing_customer"),
    ]


def test_rejects_says_when_it_shows_fewer_rows(ws: Workspace, tmp_path: Path) -> None:
    path = _bad_events(tmp_path, good=1, bad=60)
    ws.ingest("events", path, max_rejected="100%")
    ws.close()
    runner = CliRunner()
    base = ["--workspace", str(tmp_path / "ws"), "rejects"]
    shown = runner.invoke(app, base)
    assert shown.exit_code == 0, shown.output
    assert "showing 50 of 60 rejects; all of them: microseg rejects --limit 0" in (
        " ".join(shown.output.split())
    )
    everything = runner.invoke(app, [*base, "--limit", "0"])
    assert "showing" not in everything.output


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    records=st.lists(
        st.tuples(
            st.booleans(),  # the timestamp is readable
            st.text(alphabet='ab ,\n"', max_size=12),  # a note: commas, quotes, line breaks
            st.integers(min_value=0, max_value=2),  # blank lines before the record
        ),
        min_size=1,
        max_size=12,
    )
)
def test_reject_lines_are_the_lines_an_editor_shows(
    tmp_path_factory: pytest.TempPathFactory, records: list[tuple[bool, str, int]]
) -> None:
    folder = tmp_path_factory.mktemp("lines")
    out = io.StringIO()
    out.write("event_id,customer_id,timestamp,type,note\n")
    expected = []  # physical start line of each rejected record
    line = 2
    for i, (readable, note, blanks) in enumerate(records):
        out.write("\n" * blanks)
        line += blanks
        if not readable:
            expected.append((i + 1, line))
        field = io.StringIO()
        csv.writer(field, lineterminator="\n").writerow(
            [f"e{i}", "C1", "2025-01-01" if readable else "never", "view", note]
        )
        out.write(field.getvalue())
        line += field.getvalue().count("\n")
    path = folder / "events.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    with Workspace.init(folder / "ws", clock=lambda: NOW) as ws:
        report = ws.ingest("events", path, max_rejected="100%")
        found = [(r["row"], r["line"]) for r in _rejects(ws)]
    assert report.rejected == len(expected)
    assert found == expected
