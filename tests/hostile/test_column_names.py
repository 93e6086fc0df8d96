"""Column names are data: hostile headers are stored exactly and never run as SQL."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from microseg import Workspace
from tests.conftest import write

INJECTION = (
    "a', val:=NULL, reason:='x', code:='y') END]); COPY (SELECT 42) TO '/tmp/microseg-pwned.csv'; "
    "DELETE FROM events; SELECT 1 --"
)

#: Headers a careless or hostile export may carry (none of them collides with another).
HOSTILE = [
    "it's",
    'say "hi"',
    "semi;colon",
    "-- comment",
    "/* block */",
    "$1",
    "?",
    "back\\slash",
    "tab\there",
    "ｃｕｓｔｏｍｅｒ＿ｉｄ",  # fullwidth letters: a confusable, not the canonical column
    "сity",  # Cyrillic 'с'
    "x" * 1000,
    "SELECT",
    "struct_pack(col := 1)",
    INJECTION,
]


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _counts(ws: Workspace) -> dict[str, int]:
    store = ws.store
    return {t: int(store.scalar(f'SELECT count(*) FROM "{t}"')) for t in ("events", "merges")}


def test_injection_through_a_failed_attribute_type(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest(
        "events", write(tmp_path / "ev.csv", "customer_id,timestamp,type\nC1,2025-01-01,view")
    )
    first = _write_csv(tmp_path / "a.csv", ["customer_id", INJECTION], [["C1", "1"]])
    second = _write_csv(tmp_path / "b.csv", ["customer_id", INJECTION], [["C2", "abc"]])
    report = ws.ingest("customers", [first, second], max_rejected=1)  # one reject on purpose
    assert _counts(ws)["events"] == 1
    assert not Path("/tmp/microseg-pwned.csv").exists()
    assert report.rejected == 1
    rejects = ws.rejects(limit=None).to_pyarrow().to_pylist()
    assert [r["column"] for r in rejects] == [INJECTION]
    assert INJECTION in ws.store.attribute_columns()


def test_an_apostrophe_in_a_failing_column(ws: Workspace, tmp_path: Path) -> None:
    first = _write_csv(tmp_path / "a.csv", ["customer_id", "it's"], [["C1", "1"]])
    second = _write_csv(tmp_path / "b.csv", ["customer_id", "it's"], [["C2", "abc"]])
    report = ws.ingest("customers", [first, second], max_rejected=1)  # one reject on purpose
    assert (report.accepted, report.rejected) == (1, 1)
    assert ws.rejects(limit=None).to_pyarrow().to_pylist()[0]["column"] == "it's"


@pytest.mark.parametrize("kind", ["customers", "events"])
def test_hostile_headers_are_stored_exactly(ws: Workspace, tmp_path: Path, kind: str) -> None:
    ws.ingest(
        "events", write(tmp_path / "seed.csv", "customer_id,timestamp,type\nC0,2025-01-01,view")
    )
    before = _counts(ws)
    base = ["customer_id"] if kind == "customers" else ["customer_id", "timestamp", "type"]
    base_row = ["C1"] if kind == "customers" else ["C1", "2025-02-01T10:00:00Z", "view"]
    header = base + HOSTILE
    rows = [base_row + [f"v{i}" for i in range(len(HOSTILE))]]
    report = ws.ingest(kind, _write_csv(tmp_path / "hostile.csv", header, rows))
    assert (report.accepted, report.rejected) == (1, 0)
    if kind == "customers":
        assert set(HOSTILE) <= set(ws.store.attribute_columns())
        rows = ws.customers().to_pyarrow().to_pylist()
        assert [{k: r[k] for k in HOSTILE} for r in rows if r["customer_id"] == "C1"] == [
            {name: f"v{i}" for i, name in enumerate(HOSTILE)}
        ]
        assert _counts(ws) == before
    else:
        props = ws.store.scalar("SELECT properties FROM events WHERE customer_id = 'C1'")
        assert json.loads(props) == {name: f"v{i}" for i, name in enumerate(HOSTILE)}
        assert _counts(ws)["events"] == before["events"] + 1
    assert not Path("/tmp/microseg-pwned.csv").exists()


#: Names microseg used (or uses) for its own columns while loading and reading.
INTERNAL = [
    "_row",
    "_line",
    "ordinality",
    "_ok",
    "_key",
    "_round",
    "_h",
    "_problems",
    "id_email",
    "id_customer_id",
    "is_new",
    "cur_from",
    "changed",
    "apply",
    "backdated",
    "customer_id_right",
    "file_row_number",
    "j",
    "x",
    "resolved_id",
]


def test_internal_names_as_attributes(ws: Workspace, tmp_path: Path) -> None:
    header = ["customer_id", *INTERNAL]
    rows = [["C1", *(f"a{i}" for i in range(len(INTERNAL)))]]
    rows.append(["C2", *(f"b{i}" for i in range(len(INTERNAL)))])
    report = ws.ingest("customers", _write_csv(tmp_path / "c.csv", header, rows))
    assert (report.accepted, report.rejected) == (2, 0)
    # a second version of C1 goes through the history machinery
    again = _write_csv(
        tmp_path / "c2.csv", header, [["C1", *(f"z{i}" for i in range(len(INTERNAL)))]]
    )
    assert ws.ingest("customers", again).accepted == 1
    stored = {r["customer_id"]: r for r in ws.customers().to_pyarrow().to_pylist()}
    assert {k: stored["C1"][k] for k in INTERNAL} == {n: f"z{i}" for i, n in enumerate(INTERNAL)}
    assert {k: stored["C2"][k] for k in INTERNAL} == {n: f"b{i}" for i, n in enumerate(INTERNAL)}
    # the workspace stays usable
    assert ws.customers(as_of="2026-01-01").count().to_pyarrow().as_py() == 2


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_internal_names_as_event_properties(ws: Workspace, tmp_path: Path, suffix: str) -> None:
    values = {name: f"v{i}" for i, name in enumerate(INTERNAL)}
    base = {"customer_id": "C1", "timestamp": "2025-02-01T10:00:00Z", "type": "view"}
    path = tmp_path / f"ev.{suffix}"
    if suffix == "csv":
        _write_csv(path, [*base, *values], [[*base.values(), *values.values()]])
    else:
        path.write_text(json.dumps({**base, **values}) + "\n", encoding="utf-8")
    report = ws.ingest("events", path)
    assert (report.accepted, report.rejected) == (1, 0)
    props = ws.store.scalar("SELECT properties FROM events")
    assert json.loads(props) == values


def test_unreadable_row_keeps_its_internal_named_values(ws: Workspace, tmp_path: Path) -> None:
    header = ["customer_id", "timestamp", "type", "_row", "_line"]
    path = _write_csv(tmp_path / "ev.csv", header, [["C1", "not a time", "view", "r", "l"]])
    report = ws.ingest("events", path, max_rejected=1)
    assert report.rejected == 1
    raw = json.loads(ws.rejects(limit=None).to_pyarrow().to_pylist()[0]["raw"])
    assert raw == dict(zip(header, ["C1", "not a time", "view", "r", "l"], strict=True))


@pytest.mark.parametrize(
    ("header", "words"),
    [
        (["customer_id", "a", "a"], "column 3"),
        (["customer_id", "city", "City"], "differ only in case"),
        (["customer_id", ""], "has no name"),
        (["customer_id", "__ms_x"], "reserved"),
    ],
)
def test_names_that_cannot_be_stored_are_refused(
    ws: Workspace, tmp_path: Path, header: list[str], words: str
) -> None:
    from microseg.core.errors import IngestError

    path = _write_csv(tmp_path / "c.csv", header, [["C1", *(["1"] * (len(header) - 1))]])
    with pytest.raises(IngestError, match=words):
        ws.ingest("customers", path)
    assert ws.store.scalar("SELECT count(*) FROM customer_registry") == 0


def test_an_attribute_differing_in_case_from_a_stored_one(ws: Workspace, tmp_path: Path) -> None:
    from microseg.core.errors import IngestError

    ws.ingest(
        "customers", _write_csv(tmp_path / "a.csv", ["customer_id", "city"], [["C1", "Paris"]])
    )
    with pytest.raises(IngestError, match="differs only in case"):
        ws.ingest(
            "customers", _write_csv(tmp_path / "b.csv", ["customer_id", "City"], [["C2", "Nice"]])
        )
    assert [r["city"] for r in ws.customers().to_pyarrow().to_pylist()] == ["Paris"]
