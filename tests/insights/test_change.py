"""The life-event example (``microseg insights change``): a difference in differences whose
every figure is worked out by hand, and the planted marriages of the synthetic shop."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from scipy import stats
from typer.testing import CliRunner

from microseg import Workspace
from microseg.cli import app
from microseg.core.errors import ParameterError
from tests.conftest import write

# Two changers marry at 2025-06-01 00:00 UTC; windows of 10 days: before [May 22, Jun 1),
# after [Jun 1, Jun 11). Both controls (single throughout) get that instant as pseudo date.
# K3 marries outside the events' reach, K4's history begins inside its first window, M1 is
# married throughout: none of them counts.
CUSTOMERS = """
customer_id,valid_from,marital_status
K1,,single
K2,,single
K3,,single
K4,2025-05-28T00:00:00Z,single
C1,,single
C2,,single
M1,,married
"""
UPDATES = """
customer_id,valid_from,marital_status
K1,2025-06-01T00:00:00Z,married
K2,2025-06-01T00:00:00Z,married
K3,2025-12-30T00:00:00Z,married
K4,2025-06-01T00:00:00Z,married
"""
PRODUCTS = """
product_id,category,price
P1,grocery,2
P2,home,10
P3,travel,100
"""
# list prices 2, 10, 100: terciles 7.33 and 40 (low: grocery, mid: home, high: travel)
EVENTS = """
event_id,customer_id,timestamp,type,amount,product_id,category,order_id
E01,M1,2025-01-01T10:00:00Z,purchase,5,P1,grocery,O0
E02,K1,2025-05-25T10:00:00Z,purchase,100,P3,travel,O1
E03,K1,2025-06-03T10:00:00Z,purchase,20,P1,grocery,O2
E04,K1,2025-06-05T10:00:00Z,purchase,10,P1,grocery,O3
E05,K1,2025-06-05T10:00:00Z,purchase,30,P2,home,O3
E06,K1,2025-06-20T10:00:00Z,purchase,999,P3,travel,O99
E07,K2,2025-05-28T10:00:00Z,purchase,200,P3,travel,O4
E08,K2,2025-05-30T10:00:00Z,purchase,50,P2,home,O5
E09,K2,2025-06-08T10:00:00Z,purchase,40,P1,grocery,O6
E10,C1,2025-05-25T10:00:00Z,purchase,100,P3,travel,O7
E11,C1,2025-06-04T10:00:00Z,purchase,100,P3,travel,O8
E12,C2,2025-05-26T10:00:00Z,purchase,10,P1,grocery,O9
E13,C2,2025-06-02T10:00:00Z,purchase,10,P1,grocery,O10
E14,C2,2025-06-09T10:00:00Z,purchase,30,P2,home,O11
E15,C2,2025-06-09T11:00:00Z,email_open,,,,
E16,K4,2025-05-29T10:00:00Z,purchase,70,P3,travel,O12
E17,M1,2025-12-31T10:00:00Z,purchase,5,P1,grocery,O13
"""
ARGS: dict[str, Any] = {"since": "2025-05-01", "until": "2025-12-31", "window": "10 days"}


@pytest.fixture
def shop(ws: Workspace, tmp_path: Path) -> Workspace:
    ws.ingest("products", write(tmp_path / "p.csv", PRODUCTS))
    ws.ingest("customers", write(tmp_path / "c.csv", CUSTOMERS))
    ws.ingest("customers", write(tmp_path / "u.csv", UPDATES))
    ws.ingest("events", write(tmp_path / "e.csv", EVENTS))
    return ws


def _welch(z_k: list[float], z_c: list[float], estimate: float) -> tuple[float, float]:
    """The 95% Welch interval from per-customer (linearised) differences, by the formula."""

    def var(z: list[float]) -> float:
        mean = sum(z) / len(z)
        return sum((x - mean) ** 2 for x in z) / (len(z) - 1) / len(z)

    vk, vc = var(z_k), var(z_c)
    df = (vk + vc) ** 2 / (vk**2 / (len(z_k) - 1) + vc**2 / (len(z_c) - 1))
    half = stats.t.ppf(0.975, df) * math.sqrt(vk + vc)
    return estimate - half, estimate + half


def test_every_figure_by_hand(shop: Workspace) -> None:
    report = shop.insights.change("marital_status", from_value="single", to_value="married", **ARGS)
    # K1, K2, K3, K4 changed; K3's after window ends past the last event (2025-12-31 10:00)
    assert report.found == 4
    assert report.excluded == {"windows_outside_events": 1, "history_began_later": 1}
    assert (report.changers.customers, report.controls.customers) == (2, 2)
    assert (report.changers.buyers_before, report.changers.buyers_after) == (2, 2)
    assert report.price_band_cuts == pytest.approx([2 + 8 * 2 / 3, 10 + 90 / 3])
    by = {m.label: m for m in report.measures}

    # orders: K1 1 -> 2, K2 2 -> 1 (O3 is one order of two lines); C1 1 -> 1, C2 1 -> 2
    orders = by["orders per customer"]
    assert (orders.changers_before, orders.changers_after) == (1.5, 1.5)
    assert (orders.controls_before, orders.controls_after) == (1.0, 1.5)
    assert orders.did == -0.5
    # per-customer differences, centred: K (1, -1), C (-0.5, 0.5)
    low, high = _welch([1.0, -1.0], [-0.5, 0.5], -0.5)
    assert [orders.low, orders.high] == pytest.approx([low, high])
    assert not orders.significant

    # spend: K 100 -> 60 and 250 -> 40; C 100 -> 100 and 10 -> 40 (E06 is after the window)
    spend = by["spend per customer"]
    assert (spend.changers_before, spend.changers_after) == (175.0, 50.0)
    assert (spend.controls_before, spend.controls_after) == (55.0, 70.0)
    assert spend.did == -140.0

    aov = by["average order value"]  # spend / orders of the group
    assert aov.changers_before == pytest.approx(350 / 3)
    assert aov.changers_after == pytest.approx(100 / 3)
    assert [aov.controls_before, aov.controls_after] == pytest.approx([55.0, 140 / 3])
    assert aov.did == pytest.approx(-75.0)

    grocery = by["share: grocery"]
    assert (grocery.changers_before, grocery.changers_after) == (0.0, 0.7)
    assert grocery.controls_before == pytest.approx(10 / 110)
    assert grocery.controls_after == pytest.approx(10 / 140)
    assert grocery.did == pytest.approx(0.7 - (10 / 140 - 10 / 110))
    # linearised: z = (N1 - R1 D1) / mean D1 - (N0 - R0 D0) / mean D0
    z_k = [(30 - 0.7 * 60) / 50, (40 - 0.7 * 40) / 50]  # -0.24, 0.24
    r0, r1 = 10 / 110, 10 / 140
    z_c = [(0 - r1 * 100) / 70 - (0 - r0 * 100) / 55, (10 - r1 * 40) / 70 - (10 - r0 * 10) / 55]
    low, high = _welch(z_k, z_c, grocery.did)
    assert [grocery.low, grocery.high] == pytest.approx([low, high])

    travel = by["share: travel"]
    assert travel.changers_before == pytest.approx(300 / 350)
    assert travel.did == pytest.approx((0 - 300 / 350) - (100 / 140 - 100 / 110))
    home = by["share: home"]
    assert home.did == pytest.approx((30 / 100 - 50 / 350) - (30 / 140 - 0))
    # price bands follow the categories here: grocery low, home mid, travel high
    assert by["price band: low"].did == pytest.approx(grocery.did)
    assert by["price band: high"].did == pytest.approx(travel.did)
    assert report.categories == ["travel", "home", "grocery"]  # by spend in the windows
    assert any("only 2 changers" in note for note in report.notes)


def test_a_change_after_the_period_makes_a_control(shop: Workspace) -> None:
    report = shop.insights.change(
        "marital_status",
        from_value="single",
        to_value="married",
        since="2025-05-01",
        until="2025-12-01",
        window="10 days",
    )
    # K3 married 2025-12-30, after the period: single throughout the windows, so a control
    assert (report.found, report.changers.customers, report.controls.customers) == (2 + 1, 2, 3)
    assert report.excluded == {"windows_outside_events": 0, "history_began_later": 1}
    orders = next(m for m in report.measures if m.measure == "orders")
    assert (orders.controls_before, orders.controls_after) == (2 / 3, 1.0)


def test_too_few_changers_is_said_in_words(shop: Workspace) -> None:
    report = shop.insights.change(
        "marital_status",
        from_value="single",
        to_value="married",
        since="2025-05-01",
        until="2025-05-31",
        window="10 days",
    )
    assert report.changers.customers == 0
    assert "no customer changed between these values in the period" in report.notes
    assert all(math.isnan(m.low) for m in report.measures)


def test_bad_input_is_refused_clearly(shop: Workspace) -> None:
    with pytest.raises(ParameterError, match="did you mean 'marital_status'"):
        shop.insights.change("marital_stat", from_value="single", to_value="married")
    with pytest.raises(ParameterError, match="two different values"):
        shop.insights.change("marital_status", from_value="single", to_value="single")
    with pytest.raises(ParameterError, match="not a duration"):
        shop.insights.change("marital_status", from_value="a", to_value="b", window="soon")


def test_the_command_prints_the_table_and_json(shop: Workspace) -> None:
    runner = CliRunner()
    base = ["-w", str(shop.path), "insights", "change", "marital_status", "--from", "single"]
    options = ["--to", "married", "--since", "2025-05-01", "--until", "2025-12-31"]
    shop.close()
    result = runner.invoke(app, [*base, *options, "--window", "10 days"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "changers 2 (bought before 2, after 2); controls 2" in result.output
    orders = next(line for line in lines if line.startswith("orders/customer"))
    assert orders.split()[1:6] == ["1.50", "1.50", "1.00", "1.50", "-0.50"]
    grocery = next(line for line in lines if line.strip().startswith("grocery"))
    assert grocery.split()[1:6] == ["0.0", "70.0", "9.1", "7.1", "71.9"]
    assert "note: only 2 changers" in result.output
    result = runner.invoke(app, [*base, *options, "--window", "10 days", "--json"])
    data = json.loads(result.output)
    assert data["changers"]["customers"] == 2
    assert data["measures"][0]["did"] == -0.5
    bad = runner.invoke(app, [*base, "--to", "married", "--window", "soon"])
    assert bad.exit_code == 2
    assert "not a duration" in bad.output
    bad = runner.invoke(app, [*base, "--to", "married", "--since", "2025-13-01"])
    assert bad.exit_code != 0
    assert "not a valid date" in bad.output
    assert "internal error" not in bad.output


@pytest.mark.slow
def test_the_planted_marriages_shift_spending_to_family_goods(tmp_path: Path) -> None:
    """The synthetic shop's background singles who marry buy wedding goods (fashion, travel,
    home, beauty) in the two months before, and mostly groceries, home goods and toys after
    (src/microseg/synth/_purchases.py): the shift shows, and the intervals exclude 0."""
    from datetime import UTC, date, datetime

    from microseg.synth import generate_shop

    ws = Workspace.init(
        tmp_path / "ws",
        timezone="Europe/Paris",
        clock=lambda: datetime(2026, 10, 31, 23, 59, tzinfo=UTC),
    )
    try:
        shop = generate_shop(tmp_path / "data", customers=100_000, seed=5, end=date(2026, 10, 31))
        ws.ingest("products", shop.paths["products"])
        ws.ingest("customers", shop.paths["customers"], valid_from="signup_date")
        ws.ingest("customers", shop.paths["customer_updates"])
        ws.ingest("events", list(shop.event_files))
        report = ws.insights.change("marital_status", from_value="single", to_value="married")
    finally:
        ws.close()
    assert report.changers.customers > 300
    assert report.controls.customers > 10_000
    by = {m.key or m.measure: m for m in report.measures}
    for family in ("toys", "grocery"):
        assert by[family].did > 0
        assert by[family].low > 0, family
    for wedding in ("fashion", "travel"):
        assert by[wedding].did < 0
        assert by[wedding].high < 0, wedding
    # the wedding shopping is over: fewer orders after than before, against the controls
    assert by["orders"].high < 0
