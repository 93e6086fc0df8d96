"""Orders, not lines: a line-item log (several rows per order) gives per-order traits.

Lines of one order share an ``order_id``; without one, lines of a customer at the same
instant are one order. Both evaluators (batch and per-profile) and the value-model summary
count orders, from Python and from the CLI.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from microseg import Workspace
from microseg.cli import app
from microseg.config import ValueSettings
from microseg.lang import Clock
from microseg.value import profile_summary, summary_table

AS_OF = "2025-06-01"
NOW = datetime(2025, 6, 1, tzinfo=UTC)

#: (customer, order_id, timestamp, amount, channel); order_id "" = none given
LINES = [
    # A: two orders with an order_id; the lines of O2 were stamped seconds apart, across
    # midnight in Paris (they are one order all the same)
    ("A", "O1", "2025-01-10T09:00:00Z", 10.0, "Site web"),
    ("A", "O1", "2025-01-10T09:00:00Z", 20.0, "Site web"),
    ("A", "O1", "2025-01-10T09:00:00Z", 1.5, "Site web"),
    ("A", "O2", "2025-02-09T22:59:58Z", 30.0, "Magasin"),
    ("A", "O2", "2025-02-09T23:00:03Z", 3.0, "Magasin"),
    # B: a shop without order ids: lines of one basket share the customer and the instant
    ("B", "", "2025-03-01T12:00:00Z", 5.0, "Appli"),
    ("B", "", "2025-03-01T12:00:00Z", 6.0, "Appli"),
    ("B", "", "2025-03-01T12:00:00Z", 9.0, "Appli"),
    ("B", "", "2025-03-11T12:00:00Z", 40.0, "Appli"),
    ("B", "", "2025-03-11T12:00:00Z", 2.0, "Appli"),
    ("B", "", "2025-03-21T12:00:00Z", 8.0, "Appli"),
    # C: one order, one line
    ("C", "O3", "2025-04-01T08:00:00Z", 12.0, "Magasin"),
]

EXPECTED: dict[str, dict[str, Any]] = {
    "A": {
        "purchase_count": 2,
        "purchase_line_count": 5,
        "repeat_purchase_count": 1,
        "avg_order_value": 32.25,  # (31.5 + 33) / 2
        # whole days since each order (142 and 111 at the end of June 1st): 31, not the
        # 7.75 days of four gaps between five lines
        "mean_days_between_purchases": 31.0,
        "gross_spend": 64.5,
    },
    "B": {
        "purchase_count": 3,
        "purchase_line_count": 6,
        "repeat_purchase_count": 2,
        "avg_order_value": 70.0 / 3,
        "mean_days_between_purchases": 10.0,
    },
    "C": {"purchase_count": 1, "avg_order_value": 12.0, "mean_days_between_purchases": None},
}


def _write_log(path: Path) -> Path:
    rows = ["event_id,customer_id,order_id,timestamp,type,amount,channel"]
    rows += [
        f"L{i},{c},{o},{t},purchase,{a},{ch}" for i, (c, o, t, a, ch) in enumerate(LINES, start=1)
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def line_shop(tmp_path: Path) -> Path:
    """A workspace (Paris time) loaded from a line-item CSV by the CLI."""
    root = tmp_path / "ws"
    runner = CliRunner()
    out = runner.invoke(app, ["init", str(root), "--timezone", "Europe/Paris"])
    assert out.exit_code == 0, out.output
    log = _write_log(tmp_path / "lines.csv")
    out = runner.invoke(app, ["--workspace", str(root), "ingest", "events", str(log)])
    assert out.exit_code == 0, out.output
    return root


def _close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)


def test_traits_count_orders_in_both_evaluators(line_shop: Path) -> None:
    ws = Workspace.open(line_shop, clock=lambda: NOW)
    run = ws.traits.compute(as_of=AS_OF, save=False)
    batch = {r["customer_id"]: r for r in run.result.to_pyarrow().to_pylist()}
    for customer, expected in EXPECTED.items():
        single = ws.traits.of(customer, as_of=AS_OF)
        for name, value in expected.items():
            assert _close(batch[customer][name], value), (customer, name, batch[customer][name])
            assert _close(single[name], value), (customer, name, single[name])
        for name in run.summary:  # every trait: batch and per-profile agree
            b, s = batch[customer][name], single[name]
            assert b == s or _close(b, s), (customer, name, b, s)
    ws.close()


def test_the_profile_command_shows_per_order_traits(line_shop: Path) -> None:
    out = CliRunner().invoke(
        app, ["--workspace", str(line_shop), "profile", "A", "--as-of", AS_OF, "--json"]
    )
    assert out.exit_code == 0, out.output
    traits = json.loads(out.output)["traits"]
    assert traits["purchase_count"] == 2
    assert math.isclose(traits["avg_order_value"], 32.25)
    assert math.isclose(traits["mean_days_between_purchases"], 31.0)


def test_the_value_summary_counts_orders(line_shop: Path) -> None:
    """O2's lines fall on two Paris days; it is one order, bought on its first line's day."""
    ws = Workspace.open(line_shop, clock=lambda: NOW)
    clock = Clock(datetime(2025, 6, 1), "Europe/Paris")
    settings = ValueSettings(unit="day")
    table = summary_table(ws.events(), clock, settings).to_pyarrow().to_pylist()
    batch = {r["customer_id"]: r for r in table}
    for customer in ("A", "B"):
        events = list(ws.profile.of(customer, as_of=AS_OF).events)
        single = profile_summary(events, clock, settings)
        assert single is not None
        assert single.frequency == batch[customer]["frequency"]
        assert single.recency == batch[customer]["recency"]
        assert _close(single.monetary_value, batch[customer]["monetary_value"])
    assert batch["A"]["frequency"] == 1.0  # not 2: O2 is one purchase
    assert batch["A"]["recency"] == 30.0
    assert _close(batch["A"]["monetary_value"], 33.0)
    assert batch["B"]["frequency"] == 2.0
    assert _close(batch["B"]["monetary_value"], 25.0)  # (42 + 8) / 2
    ws.close()
