"""Every validation reason lands in ``rejects`` with the source, row, column and a reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from microseg import Workspace
from tests.conftest import write


def _rejects(ws: Workspace) -> list[dict[str, object]]:
    return ws.rejects(limit=None).to_pyarrow().to_pylist()  # type: ignore[no-any-return]


EVENTS = """
event_id,customer_id,email,timestamp,type,amount,quantity,discount
e01,C1,,2025-01-01T10:00:00Z,purchase,10.5,1,0
e02,,,2025-01-02T10:00:00Z,view,,,
e03,C2,,,view,,,
e04,C2,,yesterday-ish,view,,,
e05,C2,,2031-01-01T00:00:00Z,view,,,
e06,C2,,2025-01-05T00:00:00Z,,,,
e07,C3,,2025-01-05T00:00:00Z,purchase,"12,50",1,0
e08,C3,,2025-01-05T00:00:00Z,purchase,12.5,1.5,0
e09,C3,,2025-01-05T00:00:00Z,purchase,12.5,-2,0
e10,C3,,2025-01-05T00:00:00Z,return,12.5,-2,0
e11,C4,,2025-01-05T00:00:00Z,purchase,12.5,1,ten
e12,,not-an-email,2025-01-05T00:00:00Z,view,,,
e13,NEW,,2025-01-05T00:00:00Z,view,,,
"""


@pytest.fixture
def loaded(ws: Workspace, tmp_path: Path) -> tuple[Workspace, object]:
    # one row per problem: most rows are rejected on purpose
    report = ws.ingest("events", write(tmp_path / "events.csv", EVENTS), max_rejected="100%")
    return ws, report


def test_counts_add_up(loaded: tuple[Workspace, object]) -> None:
    _ws, report = loaded
    # accepted: e01, e10 (a return may carry a negative quantity) and e13
    assert (report.rows_read, report.accepted, report.rejected) == (13, 3, 10)  # type: ignore[attr-defined]
    assert report.duplicates == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("row", "column", "problem", "words"),
    [
        (2, "customer_id", "missing_customer", "missing required field 'customer_id'"),
        (3, "timestamp", "missing_timestamp", "missing required field 'timestamp'"),
        (4, "timestamp", "unreadable_timestamp", "could not read 'yesterday-ish' as a timestamp"),
        (5, "timestamp", "future_timestamp", "is in the future"),
        (6, "type", "missing_type", "missing required field 'type'"),
        (7, "amount", "unreadable_amount", "could not read '12,50' as a number"),
        (8, "quantity", "unreadable_quantity", "could not read '1.5' as a whole number"),
        (9, "quantity", "negative_quantity", "negative quantity -2 on a purchase"),
        (11, "discount", "unreadable_discount", "could not read 'ten' as a number"),
        (12, "customer_id", "missing_customer", "an e-mail needs an @"),
    ],
)
def test_each_reason(
    loaded: tuple[Workspace, object], row: int, column: str, problem: str, words: str
) -> None:
    ws, _ = loaded
    found = [r for r in _rejects(ws) if r["row"] == row]
    assert len(found) == 1, found
    reject = found[0]
    assert reject["column"] == column
    assert reject["problem"] == problem
    assert words in str(reject["reason"])
    assert str(reject["source"]).endswith("events.csv")
    assert reject["line"] == row + 1
    assert '"event_id":"e' in str(reject["raw"])  # the whole original row is kept


def test_accepted_rows_and_unknown_customer(loaded: tuple[Workspace, object]) -> None:
    ws, report = loaded
    ids = sorted(ws.events().event_id.to_pyarrow().to_pylist())
    assert ids == ["e01", "e10", "e13"]
    assert report.rejected == 10  # type: ignore[attr-defined]
    assert report.new_customers == 3  # C1, C3 (via its return), NEW  # type: ignore[attr-defined]


def test_malformed_csv_lines_are_rejected_with_their_line(ws: Workspace, tmp_path: Path) -> None:
    text = "event_id,customer_id,timestamp,type\n"
    rows = [f"e{i},C{i},2025-01-01T00:00:00Z,view" for i in range(1, 2001)]
    rows[999] = "broken,line,with,too,many,fields"
    rows[1499] = "short"
    path = tmp_path / "events.csv"
    path.write_text(text + "\n".join(rows) + "\n", encoding="utf-8")
    report = ws.ingest("events", path)
    assert (report.rows_read, report.accepted, report.rejected) == (2000, 1998, 2)
    lines = sorted(r["line"] for r in _rejects(ws))
    assert lines == [1001, 1501]
    # rows after a malformed line keep their own numbers
    ids = set(ws.events().event_id.to_pyarrow().to_pylist())
    assert "e1000" not in ids
    assert "e1001" in ids
    assert "e2000" in ids


def test_future_tolerance_is_configurable(tmp_path: Path) -> None:
    from tests.conftest import NOW

    ws = Workspace.init(tmp_path / "w", clock=lambda: NOW)
    config = (tmp_path / "w" / "microseg.yaml").read_text()
    (tmp_path / "w" / "microseg.yaml").write_text(
        config.replace("future_tolerance: 1 day", "future_tolerance: 30 days")
    )
    ws.close()
    ws = Workspace.open(tmp_path / "w", clock=lambda: NOW)
    path = write(
        tmp_path / "e.csv",
        "customer_id,timestamp,type\nC1,2026-01-20T00:00:00Z,view\nC1,2026-03-01T00:00:00Z,view",
    )
    report = ws.ingest("events", path, max_rejected=1)
    assert (report.accepted, report.rejected) == (1, 1)
    ws.close()


def test_jsonl_bad_lines_and_nested_values(ws: Workspace, tmp_path: Path) -> None:
    path = write(
        tmp_path / "events.jsonl",
        '{"customer_id": "C1", "timestamp": "2025-01-01T00:00:00Z", "type": "view", '
        '"tags": ["a", "b"], "score": 3}\n'
        "{not json\n"
        '{"customer_id": "C2", "timestamp": "2025-01-02T00:00:00Z", "type": "view"}',
    )
    report = ws.ingest("events", path, max_rejected=1)
    assert (report.rows_read, report.accepted, report.rejected) == (3, 2, 1)
    reject = _rejects(ws)[0]
    assert reject["line"] == 2
    assert "not a JSON object" in str(reject["reason"])
    props = ws.events().order_by("customer_id").properties.to_pyarrow().to_pylist()
    assert props[1] is None
    assert '"score":3' in props[0].replace(" ", "")


def test_an_events_amount_is_never_read_from_true_or_false(ws: Workspace) -> None:
    import pyarrow as pa

    record = {"event_id": "b1", "customer_id": "C1", "timestamp": "2025-01-01T10:00:00Z",
              "type": "purchase", "amount": True}  # fmt: skip
    # a typed table, as the service's records and Parquet files give: amount is BOOLEAN
    ws.ingest("events", [pa.Table.from_pylist([record])], max_rejected="100%")
    rejected = _rejects(ws)
    assert [(r["row"], r["column"]) for r in rejected] == [(1, "amount")]
    assert "could not read 'true' as a number" in str(rejected[0]["reason"])
    assert ws.events().count().to_pyarrow().as_py() == 0


@pytest.mark.parametrize(
    ("stamp", "readable"),
    [
        ("2025-01-01T10:00:00+25:00", False),
        ("2025-01-01T10:00:00-2400", False),
        ("2025-01-01 10:00 GMT+25", False),
        ("2025-01-01T10:00:00+23:00", True),
        ("2025-01-01T10:00:00.5-05:30", True),
    ],
)
def test_an_offset_of_a_day_or_more_is_unreadable(
    ws: Workspace, tmp_path: Path, stamp: str, readable: bool
) -> None:
    data = write(tmp_path / "e.csv", f"event_id,customer_id,timestamp,type\nx1,C1,{stamp},view\n")
    ws.ingest("events", data, max_rejected="100%")
    reasons = [str(r["reason"]) for r in _rejects(ws)]
    assert (reasons == []) is readable, reasons
    if not readable:
        assert "could not read" in reasons[0]


def test_an_email_without_an_at_sign_is_reported_not_dropped_in_silence(
    ws: Workspace, tmp_path: Path
) -> None:
    data = write(
        tmp_path / "c.csv",
        "customer_id,email,city\nC1,not-an-email,Lyon\nC2,c2@example.com,Paris\nC3,,Nice\n",
    )
    report = ws.ingest("customers", data)
    assert report.accepted == 3
    found = [i.model_dump() for i in report.invalid_identifiers]
    assert found == [{"id_type": "email", "values": 1, "examples": ["not-an-email"]}]
    identities = ws.store.table("identities").to_pyarrow().to_pylist()
    assert sorted(r["id_value"] for r in identities if r["id_type"] == "email") == [
        "c2@example.com"
    ]
