"""A customer's first known attributes hold backwards in time (history.first_version)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from microseg import Workspace
from microseg.cli import app
from microseg.synth import generate_shop
from tests.conftest import NOW, write


def _row(ws: Workspace, customer: str, as_of: object = None) -> dict[str, object]:
    table = ws.customers(as_of=as_of)  # type: ignore[arg-type]
    rows = table.filter(table.customer_id == customer).to_pyarrow().to_pylist()
    assert len(rows) == 1
    return rows[0]  # type: ignore[no-any-return]


def _from_load(ws: Workspace) -> Workspace:
    path = ws.path / "microseg.yaml"
    path.write_text(
        path.read_text(encoding="utf-8") + "\n" + "history: {first_version: from_load}\n",
        encoding="utf-8",
    )
    ws.close()
    return Workspace.open(ws.path, clock=lambda: NOW)


def test_past_as_of_sees_the_first_version(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest("customers", write(tmp_path / "c.csv", "customer_id,city,age\nC1,Lyon,40"))
    # loaded on 2026-01-15, yet a year before the customer already lived in Lyon
    assert _row(ws, "C1", as_of=date(2025, 1, 1))["city"] == "Lyon"
    ws.ingest("customers", write(tmp_path / "d.csv", "customer_id,city\nC1,Nice"))
    # a later undated version keeps its load instant
    assert _row(ws, "C1", as_of=date(2025, 1, 1))["city"] == "Lyon"
    assert _row(ws, "C1")["city"] == "Nice"


def test_from_load_keeps_values_from_the_load_time_only(ws: Workspace, tmp_path: Path) -> None:
    ws = _from_load(ws)
    try:
        ws.ingest("customers", write(tmp_path / "c.csv", "customer_id,city\nC1,Lyon"))
        assert _row(ws, "C1", as_of=date(2026, 1, 1))["city"] is None
        assert _row(ws, "C1", as_of=date(2026, 1, 16))["city"] == "Lyon"
    finally:
        ws.close()


def test_bad_first_version_setting_is_refused(tmp_path: Path) -> None:
    from microseg.config import load_config
    from microseg.core.errors import ConfigError

    path = write(tmp_path / "microseg.yaml", "version: 1\nhistory: {first_version: always}")
    with pytest.raises(ConfigError, match="first_version"):
        load_config(path)


def test_an_explicit_valid_from_is_honoured(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest(
        "customers",
        write(tmp_path / "c.csv", "customer_id,valid_from,city\nC1,2025-03-01,Lyon\nC2,,Paris"),
    )
    assert _row(ws, "C1", as_of=date(2025, 2, 28))["city"] is None
    assert _row(ws, "C1", as_of=date(2025, 3, 2))["city"] == "Lyon"
    # an empty cell says nothing: the first version then holds from the beginning
    assert _row(ws, "C2", as_of=date(2025, 2, 28))["city"] == "Paris"
    ws.ingest(
        "customers",
        write(tmp_path / "s.csv", "customer_id,signed,city\nC3,2025-06-01,Nice"),
        valid_from="signed",
    )
    assert _row(ws, "C3", as_of=date(2025, 5, 1))["city"] is None
    assert _row(ws, "C3", as_of=date(2025, 6, 2))["city"] == "Nice"


def test_updates_after_a_backfilled_version_apply_in_time(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest("customers", write(tmp_path / "c.csv", "customer_id,marital_status\nC1,single"))
    report = ws.ingest(
        "customers",
        write(tmp_path / "u.csv", "customer_id,updated_at,marital_status\nC1,2025-06-01,married"),
    )
    assert (report.accepted, report.rejected) == (1, 0)
    assert _row(ws, "C1", as_of=date(2025, 5, 31))["marital_status"] == "single"
    assert _row(ws, "C1", as_of=date(2025, 6, 2))["marital_status"] == "married"


def test_the_synthetic_shops_updates_load_without_rejects(tmp_path: Path) -> None:
    """The getting-started path: customers without --valid-from, then customer_updates."""
    shop = generate_shop(tmp_path / "data", customers=600, seed=1)
    updates = pq.read_table(shop.paths["customer_updates"]).num_rows
    assert updates > 0
    runner = CliRunner()
    assert runner.invoke(app, ["init", str(tmp_path / "shop")]).exit_code == 0
    base = ["--workspace", str(tmp_path / "shop"), "--json", "ingest", "customers"]
    first = runner.invoke(app, [*base, str(shop.paths["customers"])])
    assert first.exit_code == 0, first.output
    result = runner.invoke(app, [*base, str(shop.paths["customer_updates"])])
    assert result.exit_code == 0, result.output
    assert '"rejected": 0' in result.output
    assert f'"accepted": {updates}' in result.output
    again = runner.invoke(app, [*base, str(shop.paths["customer_updates"])])
    assert '"accepted": 0' in again.output
    assert '"rejected": 0' in again.output
    with Workspace.open(tmp_path / "shop") as ws:
        past = ws.customers(as_of="2026-10-31")
        married = past.filter(past.marital_status == "married").count().to_pyarrow().as_py()
        assert married > 0


def test_open_versions_cannot_fan_out(ws: Workspace, tmp_path: Path) -> None:
    """A customer with two open versions (the ingest fuzzer once counted 32 duplicates for
    one row read): a row is applied and counted once, and one open version remains."""
    path = write(tmp_path / "c.csv", 'customer_id,city\n"12,50",Lyon')
    ws.ingest("customers", path)
    for table in ("customer_history", "customer_registry"):
        ws.store.execute(f"INSERT INTO {table} SELECT * FROM {table}")
    again = ws.ingest("customers", path)
    assert (again.rows_read, again.accepted, again.duplicates, again.rejected) == (1, 0, 1, 0)
    moved = ws.ingest("customers", write(tmp_path / "m.csv", 'customer_id,city\n"12,50",Nice'))
    assert (moved.rows_read, moved.accepted, moved.duplicates) == (1, 1, 0)
    open_versions = ws.store.scalar(
        "SELECT count(*) FROM customer_history WHERE customer_id = '12,50' AND valid_to IS NULL"
    )
    assert open_versions == 1
    city = ws.store.scalar(
        "SELECT city FROM customer_history WHERE customer_id = '12,50' AND valid_to IS NULL"
    )
    assert city == "Nice"


def test_a_file_of_successive_updates_loaded_again_adds_nothing(
    ws: Workspace, tmp_path: Path
) -> None:
    """Found on the synthetic shop: a customer's earlier update in a file loaded again was
    older than the current version, and rejected as backdated instead of a duplicate."""
    ws.ingest(
        "customers", write(tmp_path / "c.csv", "customer_id,marital_status,size\nC1,single,1")
    )
    path = write(
        tmp_path / "u.csv",
        "customer_id,updated_at,marital_status,size\nC1,2025-06-01,married,2\nC1,2025-09-01,,3",
    )
    assert ws.ingest("customers", path).accepted == 2
    again = ws.ingest("customers", path)
    assert (again.accepted, again.duplicates, again.rejected) == (0, 2, 0)
    late = ws.ingest(
        "customers",
        write(tmp_path / "late.csv", "customer_id,updated_at,size\nC1,2025-07-01,5"),
        max_rejected="100%",  # its one row is refused on purpose
    )
    assert late.rejected == 1  # a genuinely new change dated in the past is still refused
