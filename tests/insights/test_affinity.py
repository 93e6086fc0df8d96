"""Affinities, occasions and send times of a segment against the population (issue 13.5).

Ten customers, four of them in ``gold``; every figure below is computed by hand from the
rows written here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from microseg import Workspace
from microseg.cli import app
from tests.conftest import write
from tests.discover.conftest import make_shop

CUSTOMERS = "customer_id,tier\n" + "\n".join(
    f"C{i},{'gold' if i <= 4 else 'basic'}" for i in range(1, 11)
)
PRODUCTS = """
product_id,category,brand,price
P1,anime,Kaze,20
P2,books,Page,10
P3,anime,Kaze,80
"""
# times in UTC; the workspace is in Europe/Paris (UTC+1 in winter, UTC+2 in summer)
EVENTS = """
event_id,customer_id,timestamp,type,amount,product_id,category,channel,order_id
E1,C1,2025-12-20T09:30:00Z,purchase,20,P1,anime,web,O1
E2,C1,2025-06-03T16:00:00Z,purchase,10,P2,books,store,O2
E3,C2,2025-10-30T09:00:00Z,purchase,20,P1,anime,web,O3
E4,C3,2025-09-02T09:00:00Z,purchase,80,P3,anime,web,O4
E5,C4,2025-03-04T09:00:00Z,purchase,10,P2,books,store,O5
E6,C5,2025-03-05T09:00:00Z,purchase,10,P2,books,store,O6
E7,C6,2025-03-06T09:00:00Z,purchase,12,P2,books,store,O7
E8,C7,2025-12-10T09:00:00Z,purchase,20,P1,anime,store,O8
E9,C8,2024-06-01T09:00:00Z,purchase,20,P1,anime,web,O9
E10,C9,2026-01-20T09:00:00Z,purchase,20,P1,anime,web,O10
E11,C1,2025-11-03T17:10:00Z,email_open,,,,,
E12,C1,2025-11-10T17:20:00Z,email_open,,,,,
E13,C2,2025-11-04T07:00:00Z,email_open,,,,,
E14,C5,2025-11-05T11:00:00Z,email_open,,,,,
"""
SEGMENT = "name: gold\nrule:\n  attribute: tier\n  eq: gold\n"


def _shop(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest("customers", write(tmp_path / "c.csv", CUSTOMERS))
    ws.ingest("products", write(tmp_path / "p.csv", PRODUCTS))
    ws.ingest("events", write(tmp_path / "e.csv", EVENTS))
    (ws.path / "segments" / "gold.yaml").write_text(SEGMENT, encoding="utf-8")


def _p_value(x1: int, n1: int, x2: int, n2: int) -> float:
    """Two-sided two-proportion z-test, pooled, by hand."""
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    z = (x1 / n1 - x2 / n2) / se
    return math.erfc(abs(z) / math.sqrt(2))


def _wilson(x: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def _rows(result: dict, dimension: str) -> dict[str, dict]:  # type: ignore[type-arg]
    table = next(t for t in result["tables"] if t["dimension"] == dimension)
    return {row["value"]: row for row in table["rows"]}


def test_categories_brands_products_by_hand(ws: Workspace, tmp_path: Path) -> None:
    _shop(ws, tmp_path)
    result = ws.insights.affinity("gold", min_support=1).to_dict()
    assert result["members"] == 4
    assert result["customers"] == 10
    categories = _rows(result, "category")
    # anime: members C1, C2, C3 of 4; population C1, C2, C3, C7 of 10 (C8 bought before
    # the 12 months, C9 after as_of: neither counts)
    anime = categories["anime"]
    assert anime["buyers"] == 3
    assert anime["share"] == pytest.approx(0.75)
    assert anime["population_buyers"] == 4
    assert anime["population_share"] == pytest.approx(0.4)
    assert anime["lift"] == pytest.approx(1.875)
    assert (anime["low"], anime["high"]) == pytest.approx(_wilson(3, 4), abs=1e-6)
    p_anime = _p_value(3, 4, 1, 6)
    assert anime["p_value"] == pytest.approx(p_anime, rel=1e-6)
    books = categories["books"]  # members C1, C4; population C1, C4, C5, C6
    assert (books["buyers"], books["share"], books["lift"]) == (2, 0.5, pytest.approx(1.25))
    p_books = _p_value(2, 4, 2, 6)
    assert books["p_value"] == pytest.approx(p_books, rel=1e-6)
    # Benjamini-Hochberg over the two rows: the smaller p times 2/1, the larger times 2/2
    assert anime["q_value"] == pytest.approx(min(p_anime * 2, p_books), rel=1e-6)
    assert books["q_value"] == pytest.approx(p_books, rel=1e-6)
    assert anime["significant"] is False  # four members: not enough to tell
    assert _rows(result, "brand")["Kaze"]["lift"] == pytest.approx(1.875)
    p1 = _rows(result, "product")["P1"]  # members C1, C2; population C1, C2, C7
    assert (p1["buyers"], p1["population_buyers"]) == (2, 3)
    assert p1["lift"] == pytest.approx(0.5 / 0.3)
    web = _rows(result, "channel")["web"]  # members C1, C2, C3; population the same
    assert web["lift"] == pytest.approx(0.75 / 0.3)


def test_minimum_support_hides_rows(ws: Workspace, tmp_path: Path) -> None:
    _shop(ws, tmp_path)
    result = ws.insights.affinity("gold", min_support=3).to_dict()
    categories = next(t for t in result["tables"] if t["dimension"] == "category")
    assert [row["value"] for row in categories["rows"]] == ["anime"]
    assert categories["hidden"] == 1  # books: two members bought it


def test_price_bands_are_population_quartiles(ws: Workspace, tmp_path: Path) -> None:
    _shop(ws, tmp_path)
    result = ws.insights.affinity("gold", min_support=1).to_dict()
    table = next(t for t in result["tables"] if t["dimension"] == "price_band")
    # the population's lines in the period: 10 10 10 12 20 20 20 80 -> quartiles 10, 16, 20
    assert table["edges"] == pytest.approx([10.0, 16.0, 20.0])
    bands = _rows(result, "price_band")
    # band 1 (<= 10): members C1, C4; population C1, C4, C5
    assert bands["1: up to 10.00"]["buyers"] == 2
    assert bands["1: up to 10.00"]["population_buyers"] == 3
    # band 4 (above 20): C3 alone
    assert bands["4: above 20.00"]["lift"] == pytest.approx(0.25 / 0.1)


def test_when_it_buys_in_local_time_and_occasions(ws: Workspace, tmp_path: Path) -> None:
    _shop(ws, tmp_path)
    result = ws.insights.affinity("gold", min_support=1).to_dict()
    # members' orders O1..O5, population's O1..O8 (orders, not customers)
    months = _rows(result, "month")
    assert months["Dec"]["count"] == 1
    assert months["Dec"]["share"] == pytest.approx(1 / 5)
    assert months["Dec"]["population_share"] == pytest.approx(2 / 8)
    hours = _rows(result, "hour")
    # O1 at 09:30 UTC on 20 December is 10:30 in Paris; O2 at 16:00 UTC in June is 18:00
    assert hours["10"]["count"] == 3  # O1, O3 (30 Oct: UTC+1), O5 (4 Mar)
    assert hours["18"]["count"] == 1
    assert hours["11"]["count"] == 1  # O4, 2 September, summer time
    weekdays = _rows(result, "weekday")
    assert weekdays["Sat"]["count"] == 1  # 20 December 2025
    occasions = _rows(result, "occasion")
    assert occasions["christmas"]["count"] == 1  # O1; O8 (10 Dec) is the population's
    assert occasions["christmas"]["population_share"] == pytest.approx(2 / 8)
    assert occasions["halloween"]["count"] == 1  # O3, 30 October
    assert occasions["halloween"]["lift"] == pytest.approx((1 / 5) / (1 / 8))


def test_send_times_from_opens(ws: Workspace, tmp_path: Path) -> None:
    _shop(ws, tmp_path)
    result = ws.insights.affinity("gold", min_support=1).to_dict()
    send = result["send_times"]
    # C1 opened on two Mondays at 18:10 and 18:20 Paris time, C2 on a Tuesday at 08:00
    assert send["opens"] == 3
    assert send["best_hour"] == {"value": "18", "opens": 2}
    assert send["best_weekday"] == {"value": "Mon", "opens": 2}
    hours = _rows(result, "open_hour")
    assert hours["18"]["share"] == pytest.approx(2 / 3)
    assert hours["18"]["population_share"] == pytest.approx(2 / 4)


def test_calendar_is_configurable(ws: Workspace, tmp_path: Path) -> None:
    _shop(ws, tmp_path)
    config = ws.path / "microseg.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text + "calendar:\n  summer_sale: {from: 06-01, to: 06-30}\n"
        "  black_friday: {around: black_friday, before: 0, after: 0}\n",
        encoding="utf-8",
    )
    reopened = Workspace.open(ws.path, clock=ws.context.time_source)
    try:
        result = reopened.insights.affinity("gold", min_support=1).to_dict()
    finally:
        reopened.close()
    occasions = _rows(result, "occasion")
    assert set(occasions) == {"summer_sale"}  # no order on Black Friday itself
    assert occasions["summer_sale"]["count"] == 1  # O2, 3 June


def test_cli_table_and_json(ws: Workspace, tmp_path: Path) -> None:
    _shop(ws, tmp_path)
    root = str(ws.path)
    ws.close()
    args = ["--workspace", root, "insights", "affinity", "gold", "--min-support", "1"]
    args += ["--as-of", "2026-01-15"]  # the CLI reads the real clock
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert _rows(data, "category")["anime"]["lift"] == pytest.approx(1.875)
    text = CliRunner().invoke(app, [*args, "--all"])
    assert text.exit_code == 0, text.output
    assert all(len(line) <= 80 for line in text.output.splitlines())
    assert "anime" in text.output
    assert "1.88" in text.output
    assert "best send hour 18:00 (2 opens)" in " ".join(text.output.split())
    hidden = CliRunner().invoke(app, args)
    assert "not significant" in " ".join(hidden.output.split())
    unknown = CliRunner().invoke(app, ["--workspace", root, "insights", "affinity", "nope"])
    assert unknown.exit_code != 0
    assert "nope" in unknown.output


def test_bad_parameters(ws: Workspace, tmp_path: Path) -> None:
    _shop(ws, tmp_path)
    with pytest.raises(ValueError, match="min_support"):
        ws.insights.affinity("gold", min_support=0)
    with pytest.raises(ValueError, match="duration"):
        ws.insights.affinity("gold", period="a year")


def test_send_times_count_opens_below_the_minimum_support(ws: Workspace, tmp_path: Path) -> None:
    _shop(ws, tmp_path)
    result = ws.insights.affinity("gold", min_support=3).to_dict()
    assert _rows(result, "open_hour") == {}  # two members opened: under the support
    assert result["send_times"]["best_hour"] == {"value": "18", "opens": 2}


def test_synthetic_anime_fans_over_index_on_anime(tmp_path: Path) -> None:
    """The planted anime-sneaker fans, found by their lifestyle (not by what they buy),
    over-index on anime goods and its brands, significantly."""
    ws = make_shop(tmp_path / "shop", customers=1500, seed=7)
    try:
        write(
            ws.path / "segments" / "anime-fans.yaml",
            "name: anime-fans\nrule:\n  attribute: lifestyle\n  contains: anime_fan\n",
        )
        result = ws.insights.affinity("anime-fans")
    finally:
        ws.close()
    top = result.table("category").rows[0]
    assert top.value == "anime"
    assert top.lift > 3
    assert top.significant
    assert top.low > top.population_share  # the whole interval above the population
    brands = result.table("brand").rows
    assert brands
    assert all(row.lift > 3 for row in brands[:3])


def test_a_bad_calendar_window_is_located(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    Workspace.init(root, timezone="Europe/Paris").close()
    config = root / "microseg.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text + "calendar:\n  xmas: {from: 12-01}\n  bad: {from: 02-30, to: 03-01}\n",
        encoding="utf-8",
    )
    lines = len(text.splitlines())
    with pytest.raises(ValueError, match="calendar") as caught:
        Workspace.open(root)
    message = str(caught.value)
    assert f"microseg.yaml:{lines + 2}: calendar.xmas: give either from and to" in message
    assert f"microseg.yaml:{lines + 3}: calendar.bad: 02-30 is not a day of the year" in message
