"""Re-loading adds nothing; genuinely repeated rows all stay."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from microseg import Workspace
from tests.conftest import write

NO_IDS = """
customer_id,timestamp,type,amount
C1,2025-03-01,purchase,20
C1,2025-03-01,purchase,20
C2,2025-03-02,purchase,5
"""


def _count(ws: Workspace) -> int:
    return int(ws.events().count().to_pyarrow().as_py())


def test_same_file_twice_adds_nothing(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "orders.csv", NO_IDS)
    first = ws.ingest("events", path)
    second = ws.ingest("events", path)
    # two identical purchases on the same day are two purchases, and both stay
    assert (first.accepted, first.duplicates) == (3, 0)
    assert (second.accepted, second.duplicates) == (0, 3)
    assert _count(ws) == 3


def test_overlapping_export_adds_only_new_rows(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest("events", write(tmp_path / "week1.csv", NO_IDS))
    overlap = NO_IDS + "C1,2025-03-01,purchase,20\nC3,2025-03-09,purchase,7\n"
    report = ws.ingest("events", write(tmp_path / "week1and2.csv", overlap))
    # the third identical C1 purchase is new: the earlier export had two of them
    assert (report.accepted, report.duplicates) == (2, 3)
    assert _count(ws) == 5


def test_event_id_dedup_across_formats_and_within_a_file(ws: Workspace, tmp_path: Path) -> None:
    table = pa.table(
        {
            "event_id": ["a", "b", "b"],
            "customer_id": ["C1", "C1", "C1"],
            "timestamp": pa.array(["2025-01-01T00:00:00Z"] * 3),
            "type": ["view", "view", "view"],
        }
    )
    pq.write_table(table, tmp_path / "e.parquet")
    first = ws.ingest("events", tmp_path / "e.parquet")
    assert (first.accepted, first.duplicates) == (2, 1)
    again = ws.ingest(
        "events",
        write(tmp_path / "e.csv", "event_id,customer_id,timestamp,type\na,C1,2025-01-01,view"),
    )
    assert (again.accepted, again.duplicates) == (0, 1)


def test_loads_are_recorded(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "orders.csv", NO_IDS)
    ws.ingest("events", path)
    ws.ingest("events", path)
    rows = ws.store.fetchall("SELECT load_id, accepted, duplicates FROM loads ORDER BY load_id")
    assert rows == [(1, 3, 0), (2, 0, 3)]


def test_an_event_id_repeated_under_another_customer_is_reported(
    ws: Workspace, tmp_path: Path
) -> None:
    """A repeat of an event id is a duplicate; under another customer it is more likely a
    source numbering its events per customer, and the load says so (it kept the first)."""
    first = write(tmp_path / "a.csv", """
event_id,customer_id,timestamp,type,amount
1,C1,2025-03-01T10:00:00Z,purchase,20
2,C1,2025-03-02T10:00:00Z,purchase,5
2,C1,2025-03-02T10:00:00Z,purchase,5
3,C2,2025-03-02T10:00:00Z,purchase,7
3,C3,2025-03-03T10:00:00Z,purchase,9
""")  # fmt: skip
    report = ws.ingest("events", first)
    assert (report.accepted, report.duplicates) == (3, 2)
    assert [w for w in report.warnings if "repeated under different customers" in w] == [
        f"{first}: event ids repeated under different customers ('3' for 'C2' and 'C3'): the "
        "first (or the stored one) was kept and the others counted as duplicates; check how "
        "the source numbers its events"
    ]
    again = write(tmp_path / "b.csv", """
event_id,customer_id,timestamp,type,amount
1,C1,2025-03-01T10:00:00Z,purchase,20
1,C4,2025-04-01T10:00:00Z,purchase,30
""")  # fmt: skip
    later = ws.ingest("events", again)
    assert (later.accepted, later.duplicates) == (0, 2)
    (warning,) = [w for w in later.warnings if "repeated under different customers" in w]
    assert "'1' for 'C4' and 'C1'" in warning
    plain = ws.ingest("events", first)  # the same file again: repeats, no clash to tell
    assert plain.duplicates == 5
    assert [w for w in plain.warnings if "C2' and 'C3" in w]  # its own clash, still there


LINES = """
order,customer_id,timestamp,type,product_id,amount
O1,C1,2025-03-01T10:00:00Z,purchase,P1,20
O1,C1,2025-03-01T10:00:00Z,purchase,P2,5
O1,C1,2025-03-01T10:00:00Z,purchase,P3,7
O2,C2,2025-03-02T10:00:00Z,purchase,P1,20
O3,C2,2025-03-03T10:00:00Z,purchase,P4,9
O3,C2,2025-03-03T10:00:00Z,purchase,P4,9
"""


def test_an_order_id_taken_for_event_ids_is_reported(ws: Workspace, tmp_path: Path) -> None:
    """A line-item log whose order id is mapped to ``event_id``: the lines of an order
    share the id, the first line is kept and the others were counted as duplicates with
    nothing said, so an order's amount was its first line's. The load now says so, with
    examples and what to do; a row sent twice (the same contents) is still a plain
    duplicate."""
    path = write(tmp_path / "lines.csv", LINES)
    report = ws.ingest("events", path, map={"order": "event_id"})
    assert (report.accepted, report.duplicates) == (3, 3)
    (warning,) = [w for w in report.warnings if "different contents" in w]
    assert warning == (
        f"{path}: 1 event id is on several rows with different contents ('O1', 3 rows): "
        "only the first row of each was kept and 2 counted as duplicates. If they are the "
        "lines of one order, map a line id to event_id, or leave event_id unmapped (each "
        "row then gets an id from its contents), and map the order id to order_id"
    )
    table = pa.table(
        {
            "order": ["A", "A", "B"],
            "customer_id": ["C1", "C1", "C1"],
            "timestamp": pa.array([1, 1, 2], pa.timestamp("s")),
            "type": ["purchase"] * 3,
            "amount": [1.0, 2.0, 3.0],
        }
    )
    parquet = tmp_path / "lines.parquet"  # a typed source takes another path through loading
    pq.write_table(table, parquet)
    typed = ws.ingest("events", parquet, map={"order": "event_id"})
    assert typed.duplicates == 1
    assert any("('A', 2 rows)" in w for w in typed.warnings), typed.warnings
    mapped = ws.ingest("events", path, map={"order": "order_id"})  # as advised
    assert (mapped.accepted, mapped.duplicates) == (6, 0)
    assert not [w for w in mapped.warnings if "different contents" in w]
