"""Staleness: stored results computed before a load that changed the data are marked stale
wherever they are shown (``ws.govern.staleness()``, ``microseg quality``, ``clv predict``,
``discover list``); a load that adds nothing stales nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from microseg import Workspace
from microseg.cli import app

T0 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=2)


def _events(first: int, last: int) -> str:
    """Customers c00..c39 buy every (n % 5 + 1) months of 2025, varied amounts."""
    rng = np.random.default_rng(3)
    lines = ["customer_id,type,timestamp,amount"]
    for n in range(first, last):
        for month in range(1 + n % 3, 13, n % 5 + 1):
            amount = round(float(rng.gamma(4.0, 5.0 + n)), 2)
            lines.append(f"c{n:02d},purchase,2025-{month:02d}-{1 + n % 27:02d}T10:00:00Z,{amount}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[tuple[Workspace, list[datetime]]]:
    now = [T0]
    ws = Workspace.init(tmp_path / "ws", timezone="UTC", clock=lambda: now[0])
    customers = "customer_id,city\n" + "".join(
        f"c{n:02d},{'Paris' if n % 2 else 'Lyon'}\n" for n in range(40)
    )
    (tmp_path / "customers.csv").write_text(customers, encoding="utf-8")
    (tmp_path / "events.csv").write_text(_events(0, 40), encoding="utf-8")
    ws.ingest("customers", tmp_path / "customers.csv")
    ws.ingest("events", tmp_path / "events.csv")
    (ws.path / "segments" / "paris.yaml").write_text(
        "name: paris\nrule: {attribute: city, eq: Paris}\n", encoding="utf-8"
    )
    ws.segments.evaluate()
    ws.traits.compute(["purchase_count"])
    ws.value.fit()
    yield ws, now
    ws.close()


def test_results_are_fresh_until_a_load_changes_the_data(
    shop: tuple[Workspace, list[datetime]], tmp_path: Path
) -> None:
    ws, now = shop
    before = ws.govern.staleness()
    kinds = sorted(r.kind for r in before.results)
    assert kinds == ["segment_snapshot", "traits", "value_fit"]
    assert before.stale == 0
    assert all(not r.stale and r.stale_since is None for r in before.results)

    now[0] = T1  # two hours later, a new order arrives
    (tmp_path / "late.csv").write_text(
        "customer_id,type,timestamp,amount\nc01,purchase,2026-01-10T10:00:00Z,99\n",
        encoding="utf-8",
    )
    ws.ingest("events", tmp_path / "late.csv")
    after = ws.govern.staleness()
    assert after.latest_ingest == T1
    assert after.stale == 3
    assert all(r.stale and r.stale_since == T1 for r in after.results)
    assert ws.govern.stale_since(T0) == T1
    assert ws.govern.stale_since(T1) is None

    ws.value.fit()  # a new fit is fresh; the old one stays stale
    fits = [r for r in ws.govern.staleness().results if r.kind == "value_fit"]
    assert [(r.name, r.stale) for r in fits] == [("fit #1 bgnbd", True), ("fit #2 bgnbd", False)]

    now[0] = T1 + timedelta(hours=1)
    ws.ingest("events", tmp_path / "late.csv")  # every row a duplicate: nothing changes
    assert ws.govern.staleness().stale == 3


def test_sources_report_last_load_and_last_event(shop: tuple[Workspace, list[datetime]]) -> None:
    ws, _ = shop
    sources = {s.kind: s for s in ws.govern.staleness().sources}
    assert sources["events"].source.endswith("events.csv")
    assert sources["events"].last_load == T0
    last = max(line.split(",")[2] for line in _events(0, 40).splitlines()[1:])
    assert sources["events"].last_event == datetime.fromisoformat(last)
    days = (T0 - datetime.fromisoformat(last)).total_seconds() / 86400
    assert sources["events"].days_since_last_event == pytest.approx(days, abs=0.05)
    assert sources["customers"].last_event is None


def test_stale_is_marked_in_the_clis_json_and_tables(
    shop: tuple[Workspace, list[datetime]], tmp_path: Path
) -> None:
    ws, now = shop
    ws.discover.run(min_size=5, name="tiny")
    now[0] = T1
    (tmp_path / "late.csv").write_text(
        "customer_id,type,timestamp,amount\nc02,purchase,2026-01-10T10:00:00Z,99\n",
        encoding="utf-8",
    )
    ws.ingest("events", tmp_path / "late.csv")
    ws.close()
    runner = CliRunner()
    where = ["-w", str(ws.path)]
    out = runner.invoke(app, [*where, "--json", "quality"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["staleness"]["stale"] == 4
    assert {r["stale_since"] for r in data["staleness"]["results"]} == {"2026-01-15T14:00:00Z"}
    table = runner.invoke(app, [*where, "quality"])
    marked = [line for line in table.output.splitlines() if line.rstrip(" │").endswith("stale")]
    assert len(marked) == 4
    assert any("value fit" in line for line in marked)
    assert any("discovery" in line for line in marked)
    predicted = runner.invoke(app, [*where, "--json", "clv", "predict"])
    assert predicted.exit_code == 0, predicted.output
    data = json.loads(predicted.output)
    assert (data["fit_id"], data["stale"], data["stale_since"]) == (1, True, "2026-01-15T14:00:00Z")
    shown = runner.invoke(app, [*where, "clv", "predict"])
    assert "stale fit" in shown.output
    assert "microseg clv fit" in shown.output
    runs = json.loads(runner.invoke(app, [*where, "--json", "discover", "list"]).output)
    assert (runs[0]["name"], runs[0]["stale"], runs[0]["stale_since"]) == (
        "tiny",
        True,
        "2026-01-15T14:00:00Z",
    )
    assert "tiny (stale)" in runner.invoke(app, [*where, "discover", "list"]).output
    one = json.loads(runner.invoke(app, [*where, "--json", "discover", "show", "tiny"]).output)
    assert one["stale"] is True
    assert "stale:" in runner.invoke(app, [*where, "discover", "show", "tiny"]).output
    # the audit of a run's clusters: coverage is everyone clustered
    audited = runner.invoke(app, [*where, "--json", "audit", "--run", "tiny"])
    assert audited.exit_code == 0, audited.output
    coverage = json.loads(audited.output)["coverage"]
    assert (coverage["customers"], coverage["share"]) == (40, 1.0)
