"""The rejects report (issue 12, point 5): one reason per bad cell, physical line numbers,
and a load that rejects too much writes nothing but its rejects."""

from __future__ import annotations

from pathlib import Path

from microseg import Workspace
from tests.conftest import write


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
    report = ws.ingest("customers", later, valid_from="signup_date")
    found = _rejects(ws)
    assert [(r["row"], r["line"], r["column"]) for r in found] == [(1, 2, "signup_date")]
    assert "'01/02/2025'" in str(found[0]["reason"])
    assert report.rejected == 1
    assert report.reasons == {"unreadable_signup_date": 1}
