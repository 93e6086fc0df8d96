"""``microseg quality`` on a hand-built shop where every figure is worked out by hand."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from microseg import Workspace
from microseg.cli import app

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)

CUSTOMERS = """
customer_id,city
c1,Paris
c2,Paris
c3,
c4,Lyon
c5,
c6,Lyon
"""

# purchases 20 22 21 19 23 20 10000 24 18: the logs' median is ln 21 and their MAD ln(23/21),
# so 10000 is the one outlier (robust z = 0.6745 ln(10000/21) / ln(23/21) = 45); c6's 18
# is stamped after NOW (within the 1 day tolerance);
# one return is negative; one line has no date (rejected); the e-mail open has no amount.
EVENTS = """
customer_id,type,timestamp,amount
c1,purchase,2025-01-01T10:00:00Z,20
c1,purchase,2025-02-01T10:00:00Z,22
c1,purchase,2025-03-01T10:00:00Z,21
c1,email_open,2025-03-02T10:00:00Z,
c2,purchase,2025-01-05T10:00:00Z,19
c2,purchase,2025-04-01T10:00:00Z,23
c3,purchase,2025-02-10T10:00:00Z,20
c4,purchase,2025-03-03T10:00:00Z,10000
c6,purchase,2025-06-01T10:00:00Z,24
c6,return,2025-06-05T10:00:00Z,-5
c6,purchase,2026-01-16T06:00:00Z,18
c1,purchase,not a date,10
"""


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Workspace]:
    ws = Workspace.init(tmp_path / "ws", timezone="UTC", clock=lambda: NOW)
    (tmp_path / "customers.csv").write_text(CUSTOMERS.strip() + "\n", encoding="utf-8")
    (tmp_path / "events.csv").write_text(EVENTS.strip() + "\n", encoding="utf-8")
    ws.ingest("customers", tmp_path / "customers.csv")
    ws.ingest("events", tmp_path / "events.csv")
    ws.ingest("events", tmp_path / "events.csv")  # again: every row a duplicate
    for name, city in (("paris", "Paris"), ("lyon", "Lyon")):
        text = f"name: {name}\nrule: {{attribute: city, eq: {city}}}\n"
        (ws.path / "segments" / f"{name}.yaml").write_text(text, encoding="utf-8")
    ws.segments.evaluate()
    yield ws
    ws.close()


def test_null_rates_and_distinct_counts(shop: Workspace) -> None:
    report = shop.govern.quality()
    tables = {t.table: t for t in report.tables}
    city = next(c for c in tables["customers"].columns if c.column == "city")
    assert (tables["customers"].rows, city.nulls, city.distinct) == (6, 2, 2)
    assert city.null_rate == round(2 / 6, 4)
    amount = next(c for c in tables["events"].columns if c.column == "amount")
    assert (tables["events"].rows, amount.nulls, amount.null_rate) == (11, 1, round(1 / 11, 4))
    kinds = next(c for c in tables["events"].columns if c.column == "type")
    assert kinds.distinct == 3


def test_duplicates_and_rejects(shop: Workspace) -> None:
    report = shop.govern.quality()
    events = next(load for load in report.loads if load.kind == "events")
    assert (events.loads, events.rows_read, events.accepted) == (2, 24, 11)
    assert events.duplicates == 11
    assert events.rejected == 2  # the undated line, once per load
    assert sum(r.rows for r in report.rejects if r.kind == "events") == 2


def test_future_timestamp_negative_amount_and_outlier(shop: Workspace) -> None:
    report = shop.govern.quality()
    assert report.times.future == 1
    assert report.times.before_earliest == 0
    amounts = {a.type: a for a in report.amounts}
    assert amounts["return"].negative == 1
    purchase = amounts["purchase"]
    assert (purchase.amounts, purchase.negative, purchase.median) == (9, 0, 21)
    reach = 3.5 * math.log(23 / 21) / 0.6745  # in log units
    assert purchase.low == round(21 * math.exp(-reach), 2)
    assert purchase.high == round(21 * math.exp(reach), 2)
    assert purchase.outliers == 1
    assert purchase.extremes == [10000.0]
    assert any("1 events are stamped after now" in f for f in report.findings)


def test_thin_history_and_its_segments(shop: Workspace) -> None:
    thin = shop.govern.quality().thin_history
    # c5 never bought; c3, c4 and c6 (its second purchase is after now) bought on one day
    assert (thin.customers, thin.no_purchase, thin.one_purchase_day) == (6, 1, 3)
    segments = {s.segment: s for s in thin.segments}
    assert (segments["paris"].members, segments["paris"].thin) == (2, 0)
    assert (segments["lyon"].members, segments["lyon"].thin, segments["lyon"].share) == (2, 2, 1.0)


def test_cli_quality_json_and_table(shop: Workspace) -> None:
    runner = CliRunner()
    where = ["-w", str(shop.path)]
    shop.close()
    out = runner.invoke(app, [*where, "--json", "quality"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    # the command runs at the real now (after c6's January 2026 purchase)
    assert data["times"]["future"] == 0
    assert data["amounts"][0]["type"] == "purchase"
    assert data["amounts"][0]["outliers"] == 1
    assert data["thin_history"]["no_purchase"] == 1
    assert data["staleness"]["stale"] == 0
    table = runner.invoke(app, [*where, "quality"])
    assert table.exit_code == 0, table.output
    assert "outlying" in table.output
    assert max(len(line) for line in table.output.splitlines()) <= 80
