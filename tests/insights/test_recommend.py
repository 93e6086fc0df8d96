"""Next-best products on hand-built data where every ranking can be worked out by hand.

Purchases before 2026-01-05 (who bought what):

    P1: a b c      P2: a c d      P3: a b (a returned it)      P4: c d g      P5: e g

Global popularity (buyers; ties by id): P1 3, P2 3, P4 3, P3 2, P5 2. Segment ``north``
(city north): d, e, f, g; among them P4 2, P5 2, P2 1. f has no purchase. Cosine
similarities over buyers: P4~P5 = 1/sqrt(6), P4~P1 = 1/3, P4~P2 = 2/3, P1~P2 = 2/3, ...
After T: e buys P4 and a buys P5 (2026-01-10).
"""

from __future__ import annotations

import json
import math
from datetime import datetime

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from microseg import Workspace
from microseg.cli import app
from microseg.core.errors import MicrosegError
from microseg.insights._recommend import build_recommender
from microseg.insights._recommend_eval import (
    coverage,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
)
from tests.conftest import write

BOUGHT = {
    "a": ["P1", "P2", "P3"],
    "b": ["P1", "P3"],
    "c": ["P1", "P2", "P4"],
    "d": ["P2", "P4"],
    "e": ["P5"],
    "g": ["P4", "P5"],
}
CITY = {
    "a": "south",
    "b": "south",
    "c": "south",
    "d": "north",
    "e": "north",
    "f": "north",
    "g": "north",
}
T = "2026-01-05"


@pytest.fixture
def shop(ws: Workspace) -> Workspace:
    customers = ["customer_id,city"] + [f"{c},{city}" for c, city in CITY.items()]
    write(ws.path / "customers.csv", "\n".join(customers))
    lines = ["customer_id,timestamp,type,product_id,amount"]
    for customer, products in BOUGHT.items():
        for day, product in enumerate(products, start=1):
            lines.append(f"{customer},2025-12-{day:02d}T10:00:00Z,purchase,{product},10")
    lines.append("a,2025-12-20T10:00:00Z,return,P3,10")
    lines.append("e,2026-01-10T10:00:00Z,purchase,P4,10")
    lines.append("a,2026-01-10T10:00:00Z,purchase,P5,10")
    write(ws.path / "events.csv", "\n".join(lines))
    ws.ingest("customers", ws.path / "customers.csv")
    ws.ingest("events", ws.path / "events.csv")
    rule = {"name": "north", "rule": {"attribute": "city", "eq": "north"}}
    (ws.path / "segments" / "north.yaml").write_text(json.dumps(rule), encoding="utf-8")
    return ws


def _ids(result: object) -> list[str]:
    return [p.product_id for p in result.products]  # type: ignore[attr-defined]


def test_popularity_excludes_bought_and_returned_products(shop: Workspace) -> None:
    recommend = shop.insights.recommend
    # a bought P1 P2 P3 and returned P3: only P4 (3 buyers) then P5 (2) remain
    assert _ids(recommend("a", method="popular", as_of=T)) == ["P4", "P5"]
    assert _ids(recommend("b", method="popular", as_of=T)) == ["P2", "P4", "P5"]
    # f bought nothing: the whole popularity order, ties by id
    assert _ids(recommend("f", method="popular", as_of=T)) == ["P1", "P2", "P4", "P3", "P5"]
    assert _ids(recommend("f", method="popular", as_of=T, k=2)) == ["P1", "P2"]
    result = recommend("a", method="popular", as_of=T)
    assert result.excluded == 3
    assert [p.score for p in result.products] == [1.0, pytest.approx(2 / 3, abs=1e-6)]
    # after T, a bought P5 too: nothing is left but P4
    assert _ids(recommend("a", method="popular", as_of="2026-01-12")) == ["P4"]


def test_segment_popularity_reads_the_customers_segment(shop: Workspace) -> None:
    result = shop.insights.recommend("f", method="segment", segment="north", as_of=T)
    # north buyers: P4 2, P5 2 (tie: P4 is more popular overall), P2 1, then P1, P3 (0)
    assert _ids(result) == ["P4", "P5", "P2", "P1", "P3"]
    assert [p.score for p in result.products[:3]] == [1.0, 1.0, 0.5]
    assert result.group == "north"
    # no segment and no discovery run: the method falls back to global popularity
    plain = shop.insights.recommend("f", method="segment", as_of=T)
    assert plain.group is None
    assert _ids(plain) == ["P1", "P2", "P4", "P3", "P5"]


def test_itemknn_and_blend_rank_by_similarity(shop: Workspace) -> None:
    # e bought P5 only; P5's one neighbour among the candidates is P4 (1/sqrt(6))
    knn = shop.insights.recommend("e", method="itemknn", as_of=T)
    assert _ids(knn) == ["P4", "P1", "P2", "P3"]
    assert [p.score for p in knn.products] == [1.0, 0.0, 0.0, 0.0]
    # b (P1, P3): P2 = 2/3 + 1/sqrt(6), P4 = 1/3, P5 = 0
    assert _ids(shop.insights.recommend("b", method="itemknn", as_of=T)) == ["P2", "P4", "P5"]
    # blend for e: P4 0.6 + 0.15; P1 and P2 0.15; P3 0.15 * 2/3
    blend = shop.insights.recommend("e", as_of=T)
    assert _ids(blend) == ["P4", "P1", "P2", "P3"]
    assert blend.products[0].score == pytest.approx(0.75)
    assert blend.products[3].score == pytest.approx(0.1)


def test_products_to_push_to_a_segment(shop: Workspace) -> None:
    result = shop.insights.recommend(segment="north", method="popular", k=1, as_of=T)
    # each member's top 1 by popularity: d, e, f and g -> P1
    assert result.customer_id is None
    assert _ids(result) == ["P1"]
    assert result.products[0].score == 1.0
    knn = shop.insights.recommend(segment="north", method="itemknn", k=1, as_of=T)
    # d (P2 P4) -> P1 (2/3 + 1/3); e -> P4; g (P4 P5) -> P2 (2/3); f (none) -> P1:
    # P1 is the top product of half the members (k products are returned: one)
    assert [(p.product_id, p.score) for p in knn.products] == [("P1", 0.5)]


def test_bad_input_is_refused_clearly(shop: Workspace) -> None:
    with pytest.raises(MicrosegError, match="'method' parameter of recommend"):
        shop.insights.recommend("a", method="magic")
    with pytest.raises(MicrosegError, match="'k' parameter"):
        shop.insights.recommend("a", k=0)
    with pytest.raises(MicrosegError, match="no customer 'zz'"):
        shop.insights.recommend("zz")


def test_a_repeat_bought_product_stays_a_candidate() -> None:
    # ten buyers of coffee, two of them at two instants (a share of 0.2): repeatable;
    # the mug, bought once by each of its eleven buyers, is not
    pairs = pa.table(
        {
            "customer_id": [f"c{i}" for i in range(10)] + [f"c{i}" for i in range(11)],
            "product_id": ["coffee"] * 10 + ["mug"] * 11,
            "times": [2, 1, 1, 1, 1, 1, 1, 1, 1, 2] + [1] * 11,
        }
    )
    returned = pa.table({"customer_id": ["c1"], "product_id": ["coffee"]})
    state = build_recommender(pairs, returned, as_of=datetime(2026, 1, 1))
    assert _ids(state.recommend("c0", method="popular")) == ["coffee"]
    assert _ids(state.recommend("c1", method="popular")) == []  # returned: never again
    assert _ids(state.recommend("nobody", method="popular")) == ["mug", "coffee"]
    assert state.repeatable.tolist() == [True, False]  # coffee, mug
    # one repeat buyer of ten is not enough: the coffee becomes a one-off
    once = pairs.set_column(2, "times", pa.array([2] + [1] * 20))
    assert _ids(build_recommender(once, returned, as_of=datetime(2026, 1, 1)).recommend("c0")) == []


def test_metric_functions_on_a_hand_example() -> None:
    recommended, relevant = ["x", "y", "z"], {"y", "q"}
    assert precision_at_k(recommended, relevant, 3) == pytest.approx(1 / 3)
    assert recall_at_k(recommended, relevant, 3) == pytest.approx(1 / 2)
    # a hit at rank 2 (1 / log2 3) over the best of two hits (1 + 1 / log2 3)
    best = 1 + 1 / math.log2(3)
    assert ndcg_at_k(recommended, relevant, 3) == pytest.approx((1 / math.log2(3)) / best)
    assert ndcg_at_k(["y", "q"], relevant, 2) == pytest.approx(1.0)
    assert coverage([["a", "b"], ["b", "c"]], 4) == 0.75


def test_time_split_evaluation(shop: Workspace) -> None:
    result = shop.insights.evaluate_recommendations(as_of=T, weeks=8, k=2)
    # tested: a (buys P5 after T) and e (buys P4); f has no history
    assert result.customers == 2
    assert result.test_purchases == 2
    assert result.candidates == 5
    by = {m.method: m for m in result.methods}
    # popular: a [P4 P5] hit at 2; e [P1 P2] no hit
    assert (by["popular"].precision, by["popular"].recall) == (0.25, 0.5)
    assert by["popular"].ndcg == pytest.approx((1 / math.log2(3)) / 2, abs=1e-5)
    assert by["popular"].coverage == 0.8  # P4 P5 P1 P2 of 5
    # itemknn: a [P4 P5] hit at 2; e [P4 P1] hit at 1
    assert (by["itemknn"].precision, by["itemknn"].recall) == (0.5, 1.0)
    assert by["itemknn"].ndcg == pytest.approx((1 / math.log2(3) + 1) / 2, abs=1e-5)
    assert by["itemknn"].coverage == 0.6
    assert by["itemknn"].vs_popular == 2.0


def test_cli_recommend(shop: Workspace) -> None:
    runner = CliRunner()
    base = ["-w", str(shop.path), "recommend"]
    shown = runner.invoke(app, [*base, "e", "--method", "itemknn", "--as-of", T])
    assert shown.exit_code == 0, shown.output
    assert "P4" in shown.output
    assert max(len(line) for line in shown.output.splitlines()) <= 80
    data = json.loads(
        runner.invoke(app, [*base, "a", "--json", "--as-of", T, "--method", "popular"]).output
    )
    assert [p["product_id"] for p in data["products"]] == ["P4", "P5"]
    group = runner.invoke(app, [*base, "--segment", "north", "--k", "1", "--json", "--as-of", T])
    assert group.exit_code == 0, group.output
    assert json.loads(group.output)["segment"] == "north"
    bad = runner.invoke(app, [*base, "a", "--method", "magic"])
    assert bad.exit_code == 2
    assert "method" in bad.output
    nothing = runner.invoke(app, base)
    assert nothing.exit_code == 2
    assert "give a CUSTOMER_ID, or --segment NAME" in nothing.output
    unknown = runner.invoke(app, [*base, "a", "--segment", "nope"])
    assert unknown.exit_code == 1
    assert "no segment named 'nope'" in unknown.output
