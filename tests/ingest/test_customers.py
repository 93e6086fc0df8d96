"""Customer attributes: partial updates, types, and history as of any instant."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa

from microseg import Workspace
from tests.conftest import write


def _row(ws: Workspace, customer: str, as_of: object = None) -> dict[str, object]:
    table = ws.customers(as_of=as_of)  # type: ignore[arg-type]
    rows = table.filter(table.customer_id == customer).to_pyarrow().to_pylist()
    assert len(rows) == 1
    return rows[0]  # type: ignore[no-any-return]


def test_types_are_inferred_and_lists_declared(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest(
        "customers",
        write(
            tmp_path / "c.csv",
            "customer_id,income,vip,birth_date,city,interests\n"
            "C1,52000,yes,1990-05-04,Lyon,travel|sports\n"
            "C2,,no,1985-12-30,Paris,",
        ),
    )
    assert ws.store.attribute_columns() == {
        "income": "number",
        "vip": "boolean",
        "birth_date": "date",
        "city": "text",
        "interests": "list",
    }
    # without a valid_from column a customer's first values hold from the beginning
    # (history.first_version: backfill), though they were loaded on 2026-01-15
    assert _row(ws, "C1", as_of=date(2026, 1, 1))["city"] == "Lyon"
    row = _row(ws, "C1", as_of=date(2026, 5, 4))
    assert row["interests"] == ["travel", "sports"]
    assert row["vip"] is True
    assert row["income"] == 52000.0
    assert row["age"] == 36  # a birthday on the as_of day counts
    assert _row(ws, "C1", as_of=date(2026, 5, 3))["age"] == 35


def test_partial_file_updates_only_its_columns(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest(
        "customers",
        write(tmp_path / "crm.csv", "customer_id,city,marital_status\nC1,Lyon,single"),
    )
    ws.ingest("customers", write(tmp_path / "interests.csv", "customer_id,interests\nC1,anime"))
    row = _row(ws, "C1")
    assert (row["city"], row["marital_status"], row["interests"]) == ("Lyon", "single", ["anime"])


def test_attribute_history_as_of(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest(
        "customers",
        write(
            tmp_path / "c.csv",
            "customer_id,signup_date,marital_status,city\nC1,2024-01-10,single,Lyon",
        ),
        valid_from="signup_date",
    )
    report = ws.ingest(
        "customers",
        write(
            tmp_path / "u.csv",
            "customer_id,updated_at,marital_status,city\n"
            "C1,2025-06-01T09:00:00Z,married,\n"
            "C1,2025-09-01T00:00:00Z,,Paris",
        ),
    )
    assert report.accepted == 2
    assert _row(ws, "C1", as_of="2024-01-09")["marital_status"] is None
    assert _row(ws, "C1", as_of="2024-01-10")["marital_status"] == "single"
    assert _row(ws, "C1", as_of="2025-05-31")["marital_status"] == "single"
    june = _row(ws, "C1", as_of="2025-06-02")
    assert (june["marital_status"], june["city"]) == ("married", "Lyon")
    now = _row(ws, "C1")
    assert (now["marital_status"], now["city"]) == ("married", "Paris")
    versions = ws.store.scalar("SELECT count(*) FROM customer_history WHERE customer_id = 'C1'")
    assert versions == 3


def test_unchanged_rows_are_duplicates_and_backdated_updates_rejected(
    ws: Workspace, tmp_path: Path
) -> None:
    path = write(tmp_path / "c.csv", "customer_id,updated_at,city\nC1,2025-05-01,Lyon")
    ws.ingest("customers", path)
    again = ws.ingest("customers", path)
    assert (again.accepted, again.duplicates) == (0, 1)
    late = ws.ingest(
        "customers",
        write(tmp_path / "old.csv", "customer_id,updated_at,city\nC1,2024-01-01,Nice"),
        max_rejected="100%",  # its one row is rejected on purpose
    )
    assert late.rejected == 1
    reason = ws.store.scalar("SELECT reason FROM rejects WHERE problem = 'backdated_update'")
    assert "older than the current version of customer C1" in reason
    assert _row(ws, "C1")["city"] == "Lyon"


def test_unreadable_attribute_value_rejected_with_column(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest("customers", write(tmp_path / "a.csv", "customer_id,income\nC1,100"))
    report = ws.ingest(
        "customers", write(tmp_path / "b.csv", "customer_id,income\nC2,lots"), max_rejected=1
    )
    assert report.rejected == 1
    column, reason = ws.store.fetchone('SELECT "column", reason FROM rejects')  # type: ignore[misc]
    assert column == "income"
    assert "could not read 'lots' as a number" in reason


def test_frames_from_pandas_polars_and_arrow(ws: Workspace) -> None:
    import pandas as pd
    import polars as pl

    ws.ingest("customers", pd.DataFrame({"customer_id": ["C1"], "city": ["Lyon"]}))
    ws.ingest("customers", pl.DataFrame({"customer_id": ["C2"], "city": ["Nice"]}))
    ws.ingest(
        "customers",
        pa.table({"customer_id": ["C3"], "tags": pa.array([["a", "b"]], pa.list_(pa.string()))}),
    )
    rows = ws.customers().order_by("customer_id").to_pyarrow().to_pylist()
    assert [r["city"] for r in rows] == ["Lyon", "Nice", None]
    assert rows[2]["tags"] == ["a", "b"]


def test_an_age_column_never_silently_replaces_the_age_derived_from_birth_dates(
    ws: Workspace, tmp_path: Path
) -> None:
    import pytest

    from microseg.core.errors import IngestError

    ws.ingest("customers", write(tmp_path / "c.csv", "customer_id,birth_date\nC1,1990-05-04\n"))
    with pytest.raises(IngestError, match="derives from birth_date") as caught:
        ws.ingest("customers", write(tmp_path / "u.csv", "customer_id,age\nC2,old\n"))
    assert str(caught.value.where).endswith("u.csv")
    assert "age" not in ws.store.attribute_columns()  # nothing stored
    assert isinstance(_row(ws, "C1")["age"], int)  # still derived


def test_a_declared_age_is_stored_beside_birth_dates(tmp_path: Path) -> None:
    from tests.conftest import NOW

    root = tmp_path / "shop"
    Workspace.init(root, clock=lambda: NOW).close()
    config = root / "microseg.yaml"
    config.write_text(
        config.read_text().replace("attributes:\n", "attributes:\n  age: {type: number}\n", 1),
        encoding="utf-8",
    )
    ws = Workspace.open(root, clock=lambda: NOW)
    data = write(tmp_path / "c.csv", "customer_id,birth_date,age\nC1,1990-05-04,7\n")
    ws.ingest("customers", data)
    assert _row(ws, "C1")["age"] == 7
