"""The value table and overlap on a hand-built shop where every figure is worked out by hand,
and the value table on the synthetic shop with a value fit."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from microseg import Workspace
from microseg.cli import app
from microseg.core.errors import MicrosegError

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
AS_OF = "2025-12-31"  # the end of that day, UTC: the period is all of 2025

CUSTOMERS = """
customer_id,city,vip
c1,Paris,true
c2,Paris,false
c3,Lyon,true
c4,Lyon,false
c5,Nice,true
c6,Paris,true
c7,Nice,false
"""

# A line-item log: c1's first order has two lines, c2's May order three, c3's lines carry
# no order_id but share one instant (one order); c2 and c5 bought before 2025 too.
EVENTS = """
customer_id,type,timestamp,amount,order_id
c1,purchase,2025-03-01T10:00:00Z,30,A1
c1,purchase,2025-03-01T10:00:00Z,20,A1
c1,purchase,2025-06-01T10:00:00Z,50,A2
c1,return,2025-06-10T10:00:00Z,20,
c1,email_sent,2025-02-01T08:00:00Z,,
c1,email_sent,2025-04-01T08:00:00Z,,
c1,email_open,2025-04-01T09:00:00Z,,
c2,purchase,2024-12-15T10:00:00Z,100,B0
c2,purchase,2025-05-01T10:00:00Z,10,B1
c2,purchase,2025-05-01T10:00:00Z,10,B1
c2,purchase,2025-05-01T10:01:00Z,20,B1
c3,purchase,2025-08-01T10:00:00Z,25,
c3,purchase,2025-08-01T10:00:00Z,35,
c4,email_sent,2025-09-01T08:00:00Z,,
c5,purchase,2024-06-01T10:00:00Z,100,E0
"""

SEGMENTS = {
    "paris": {"attribute": "city", "eq": "Paris"},  # c1 c2 c6
    "vip": {"attribute": "vip", "eq": True},  # c1 c3 c5 c6
    "lyon": {"attribute": "city", "eq": "Lyon"},  # c3 c4
}


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Workspace]:
    ws = Workspace.init(tmp_path / "ws", timezone="UTC", clock=lambda: NOW)
    customers = tmp_path / "customers.csv"
    customers.write_text(CUSTOMERS.strip() + "\n", encoding="utf-8")
    events = tmp_path / "events.csv"
    events.write_text(EVENTS.strip() + "\n", encoding="utf-8")
    ws.ingest("customers", customers)
    ws.ingest("events", events)
    for name, rule in SEGMENTS.items():
        text = json.dumps({"name": name, "rule": rule})
        (ws.path / "segments" / f"{name}.yaml").write_text(text, encoding="utf-8")
    yield ws
    ws.close()


def test_value_table_by_hand(shop: Workspace) -> None:
    table = shop.insights.value(as_of=AS_OF)
    assert table.customers == 7
    assert table.period == "12 months"
    assert table.period_start == datetime(2025, 1, 1, tzinfo=UTC)
    assert table.by == "revenue"  # no value fit: ranked by revenue
    arrow = table.to_arrow()
    assert arrow.column("group").to_pylist() == ["vip", "paris", "lyon"]
    assert arrow.column("orders").to_pylist() == [3, 3, 1]
    assert [r.group for r in table.rows] == ["vip", "paris", "lyon"]
    rows = {r.group: r for r in table.rows}
    paris, vip, lyon = rows["paris"], rows["vip"], rows["lyon"]
    # paris = c1 c2 c6: c1 spent 30+20 (order A1) + 50 (A2), c2 10+10+20 (order B1)
    assert (paris.members, paris.share, paris.buyers) == (3, round(3 / 7, 4), 2)
    assert (paris.revenue, paris.orders) == (140.0, 3)
    assert paris.aov == round(140 / 3, 2)
    assert paris.frequency == 1.0
    assert (paris.returns, paris.return_share) == (20.0, round(20 / 140, 4))
    assert (paris.emails_sent, paris.emails_opened, paris.open_rate) == (2, 1, 0.5)
    # vip = c1 c3 c5 c6: c3's two lines without an order_id at one instant are one order
    assert (vip.members, vip.revenue, vip.orders, vip.buyers) == (4, 160.0, 3, 2)
    assert vip.aov == round(160 / 3, 2)
    assert vip.frequency == 0.75
    # lyon = c3 c4: one order of 60, one e-mail sent and none opened
    assert (lyon.revenue, lyon.orders, lyon.aov, lyon.frequency) == (60.0, 1, 60.0, 0.5)
    assert (lyon.open_rate, lyon.return_share) == (0.0, 0.0)
    # no fit: said so, model columns null
    assert table.no_fit is not None
    assert "clv fit" in table.no_fit
    assert table.fit_id is None
    assert all(r.clv_total is None and r.market_potential is None for r in table.rows)
    assert "members x p_any_purchase x expected_spend" in table.market_potential_formula
    # growth: nothing stored before, so the same computation a period earlier (2024):
    # paris had c2's 100, vip c5's 100, lyon nothing
    assert table.previous is not None
    assert table.previous.source == "computed"
    assert table.previous.as_of == datetime(2025, 1, 1, tzinfo=UTC)
    assert (paris.members_previous, paris.revenue_previous) == (3, 100.0)
    assert (paris.size_growth, paris.revenue_growth) == (0.0, 0.4)
    assert vip.revenue_growth == 0.6
    assert lyon.revenue_previous == 0.0
    assert lyon.revenue_growth is None


def test_growth_against_a_stored_evaluation(shop: Workspace) -> None:
    shop.segments.evaluate(["paris", "vip", "lyon"], as_of="2025-06-30")
    table = shop.insights.value(["paris"], as_of=AS_OF, by="orders")
    assert table.previous is not None
    assert table.previous.source == "stored"
    assert table.previous.as_of == datetime(2025, 7, 1, tzinfo=UTC)
    (paris,) = table.rows
    # the 12 months before 2025-07-01: c2's 100 (Dec 2024) and 40, c1's 100
    assert paris.revenue_previous == 240.0
    assert paris.revenue_growth == round((140 - 240) / 240, 4)
    # the table's own evaluation is stored: the next one compares with it
    later = shop.insights.value(["paris"], as_of="2026-01-10")
    assert later.previous is not None
    assert later.previous.as_of == datetime(2026, 1, 1, tzinfo=UTC)


def test_ranking_and_bad_column(shop: Workspace) -> None:
    table = shop.insights.value(as_of=AS_OF, by="members")
    assert [r.group for r in table.rows] == ["vip", "paris", "lyon"]
    table = shop.insights.value(as_of=AS_OF, by="aov")
    assert [r.group for r in table.rows] == ["lyon", "vip", "paris"]
    with pytest.raises(MicrosegError, match=r"clv_totl.*clv_total"):
        shop.insights.value(as_of=AS_OF, by="clv_totl")
    with pytest.raises(MicrosegError, match=r"--period: 'a year' is not a duration"):
        shop.insights.value(as_of=AS_OF, period="a year")
    with pytest.raises(MicrosegError, match="only one of them"):
        shop.insights.value(["paris"], grid=["city"], as_of=AS_OF)


def test_value_from_the_cli(shop: Workspace) -> None:
    runner = CliRunner()
    base = ["--workspace", str(shop.path)]
    out = runner.invoke(app, [*base, "insights", "value", "--as-of", AS_OF, "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert [r["group"] for r in data["rows"]] == ["vip", "paris", "lyon"]
    assert data["previous"]["source"] == "computed"
    assert data["no_fit"].startswith("no value fit")
    assert data["rows"][1]["orders"] == 3
    text = runner.invoke(app, [*base, "insights", "value", "paris", "lyon", "--as-of", AS_OF])
    assert text.exit_code == 0, text.output
    assert "no value fit" in text.output
    assert "members x p_any_purchase x expected_spend" in text.output
    assert max(len(line) for line in text.output.splitlines()) <= 80
    # a long segment name wraps in its column, never cut with an ellipsis
    long_name = "customers-living-in-lyon-france"
    rule = json.dumps({"name": long_name, "rule": SEGMENTS["lyon"]})
    (shop.path / "segments" / f"{long_name}.yaml").write_text(rule, encoding="utf-8")
    text = runner.invoke(app, [*base, "insights", "value", long_name, "--as-of", AS_OF])
    assert text.exit_code == 0, text.output
    assert "…" not in text.output
    assert "customers-living" in text.output
    assert max(len(line) for line in text.output.splitlines()) <= 80
    bad = runner.invoke(app, [*base, "insights", "value", "--as-of", AS_OF, "--by", "nope"])
    assert bad.exit_code != 0
    assert "nope" in bad.output


def test_overlap_by_hand(shop: Workspace) -> None:
    overlap = shop.insights.overlap(["paris", "vip", "lyon"], as_of=AS_OF)
    assert overlap.sizes == {"paris": 3, "vip": 4, "lyon": 2}
    pairs = {(p.a, p.b): p for p in overlap.pairs}
    paris_vip = pairs[("paris", "vip")]  # c1 c6 in both; union c1 c2 c3 c5 c6
    assert (paris_vip.both, paris_vip.union) == (2, 5)
    assert (paris_vip.jaccard, paris_vip.share_of_smaller) == (0.4, round(2 / 3, 4))
    vip_lyon = pairs[("vip", "lyon")]  # c3
    assert (vip_lyon.both, vip_lyon.union, vip_lyon.jaccard) == (1, 5, 0.2)
    assert vip_lyon.share_of_smaller == 0.5
    assert pairs[("paris", "lyon")].both == 0
    assert pairs[("paris", "lyon")].jaccard == 0.0
    combos = [(i.segments, i.customers) for i in overlap.intersections]
    assert combos[0] == (["paris", "vip"], 2)
    assert sorted(combos[1:]) == [(["lyon"], 1), (["paris"], 1), (["vip"], 1), (["vip", "lyon"], 1)]
    assert (overlap.in_none, overlap.in_several) == (1, 3)  # c7; c1 c6 c3


def test_overlap_from_the_cli(shop: Workspace) -> None:
    runner = CliRunner()
    base = ["--workspace", str(shop.path), "insights", "overlap"]
    out = runner.invoke(app, [*base, "paris", "vip", "--as-of", AS_OF, "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["pairs"][0]["jaccard"] == 0.4
    assert data["intersections"][0] == {
        "segments": ["paris", "vip"],
        "customers": 2,
        "share": round(2 / 7, 4),
    }
    text = runner.invoke(app, [*base, "paris", "vip", "lyon", "--as-of", AS_OF])
    assert text.exit_code == 0, text.output
    assert "paris + vip" in text.output
    assert max(len(line) for line in text.output.splitlines()) <= 80
    one = runner.invoke(app, [*base, "paris", "--as-of", AS_OF])
    assert one.exit_code != 0
    assert "two or more" in one.output
    unknown = runner.invoke(app, [*base, "paris", "pariss", "--as-of", AS_OF])
    assert unknown.exit_code != 0
    assert "pariss" in unknown.output


SYNTH_NOW = datetime(2026, 11, 1, tzinfo=UTC)
SYNTH_AS_OF = "2026-10-31"
EXAMPLES = Path(__file__).parents[2] / "src" / "microseg" / "segments" / "examples"


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    from microseg.synth import generate_shop

    root = tmp_path_factory.mktemp("value-synth")
    data = generate_shop(root / "data", customers=300, seed=5)
    ws = Workspace.init(root / "ws", timezone="Europe/Paris", clock=lambda: SYNTH_NOW)
    ws.ingest("customers", data.paths["customers"], valid_from="signup_date")
    ws.ingest("events", list(data.event_files))
    for example in EXAMPLES.glob("*.yaml"):
        shutil.copy(example, ws.path / "segments" / example.name)
    ws.value.fit(as_of=SYNTH_AS_OF)
    yield ws
    ws.close()


def test_value_on_the_synthetic_shop(synthetic: Workspace) -> None:
    table = synthetic.insights.value(as_of=SYNTH_AS_OF)
    assert table.by == "clv_total"
    assert table.no_fit is None
    assert table.fit_id is not None
    assert len(table.rows) >= 5
    totals = [r.clv_total for r in table.rows]
    assert totals == sorted(totals, reverse=True)  # type: ignore[type-var]
    predictions = synthetic.value.predict(as_of=SYNTH_AS_OF).to_pylist()
    clv = {p["customer_id"]: p for p in predictions}
    for row in table.rows[:3]:
        members = synthetic.segments.members(row.group, as_of=SYNTH_AS_OF).to_pyarrow()
        ids = members.column("customer_id").to_pylist()
        scored = [clv[c] for c in ids if c in clv]
        assert row.members == len(ids)
        assert row.scored == len(scored)
        assert row.clv_total == pytest.approx(sum(p["clv"] for p in scored), abs=0.01)
        high = sum(p["churn_risk"] == "high" for p in scored) / len(scored)
        assert row.high_churn_share == round(high, 4)
        assert row.p_any_purchase is not None
        assert row.expected_spend is not None
        potential = row.members * row.p_any_purchase * row.expected_spend
        assert row.market_potential == pytest.approx(potential, rel=1e-3)


def test_value_of_a_discovery_run(synthetic: Workspace) -> None:
    synthetic.discover.run(as_of=SYNTH_AS_OF, seed=1, name="v", refits=0, max_clusters=3)
    table = synthetic.insights.value(run="v", as_of=SYNTH_AS_OF, by="members")
    assert table.source == "run"
    assert table.run == "v"
    assert sum(r.members for r in table.rows) == table.customers
    stored = synthetic.discover.assignments("v").to_pylist()
    counts: dict[str, int] = {}
    for row in stored:
        counts[str(row["cluster"])] = counts.get(str(row["cluster"]), 0) + 1
    assert {r.group: r.members for r in table.rows if r.members} == counts
    assert all(r.title for r in table.rows)
    assert table.previous is not None
    assert table.previous.source == "computed"
    runner = CliRunner()
    base = ["--workspace", str(synthetic.path), "insights", "value", "--run", "v"]
    out = runner.invoke(app, [*base, "--as-of", SYNTH_AS_OF, "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["rows"][0]["group"] == table.rows[0].group
    text = runner.invoke(app, [*base, "--as-of", SYNTH_AS_OF])
    assert text.exit_code == 0, text.output
    assert table.rows[0].title is not None
    assert table.rows[0].title[:8] in text.output
    assert max(len(line) for line in text.output.splitlines()) <= 80
    both = runner.invoke(app, [*base, "anime-buyers", "--as-of", SYNTH_AS_OF])
    assert both.exit_code != 0
    assert "only one of them" in both.output


def test_value_of_grid_cells(shop: Workspace) -> None:
    table = shop.insights.value(grid=["city"], as_of=AS_OF, min_size=1)
    assert table.source == "grid"
    assert table.dimensions == ["city"]
    assert [(r.group, r.members, r.revenue, r.orders) for r in table.rows] == [
        ("city Paris", 3, 140.0, 3),
        ("city Lyon", 2, 60.0, 1),
        ("city Nice", 2, 0.0, 0),  # c5 bought in 2024 only
    ]
    assert table.rows[2].aov is None
    grid = shop.segments.grid(["city"], as_of=AS_OF, min_size=1)
    assert sorted(c.size for c in grid.cells) == sorted(r.members for r in table.rows)
    hidden = shop.insights.value(grid=["city"], as_of=AS_OF, min_size=3)
    assert [r.group for r in hidden.rows] == ["city Paris"]
    assert hidden.warnings == [
        "hid 2 cells under 3 customers (4 in all): a lower min_size shows them"
    ]
    runner = CliRunner()
    base = ["--workspace", str(shop.path), "insights", "value", "--as-of", AS_OF]
    out = runner.invoke(app, [*base, "--grid", "city", "--grid", "vip", "--min-size", "1"])
    assert out.exit_code == 0, out.output
    assert "city Paris" in out.output
    assert max(len(line) for line in out.output.splitlines()) <= 80
