"""Next-best products on a small synthetic shop: the real-time path agrees with the batch
ranking, nothing bought or returned is recommended, and the evaluation runs every method."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from microseg import Workspace
from microseg.synth import generate_shop

NOW = datetime(2026, 11, 1, tzinfo=UTC)
T = "2026-09-04"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    root: Path = tmp_path_factory.mktemp("recommend")
    data = generate_shop(root / "data", customers=400, seed=7)
    ws = Workspace.init(root / "ws", timezone="Europe/Paris", clock=lambda: NOW)
    ws.ingest("customers", data.paths["customers"], valid_from="signup_date")
    ws.ingest("events", list(data.event_files))
    ws.discover.run(as_of=T, seed=1, name="train", refits=0, max_clusters=4)
    yield ws
    ws.close()


def test_one_customer_agrees_with_the_batch_and_never_repeats_a_purchase(
    shop: Workspace,
) -> None:
    prepared = shop.insights.prepare_recommender(as_of=T)
    assert prepared.groups is not None
    assert prepared.groups.label == "discovery run train"
    events = shop.events().to_pyarrow().to_pylist()
    before = datetime(2026, 9, 4, 22, 0)  # the end of 2026-09-04 in Paris, as stored (UTC)
    owned: dict[str, set[str]] = {}
    returned: dict[str, set[str]] = {}
    for e in events:
        if e["timestamp"] < before and e["product_id"] and e["type"] in ("purchase", "return"):
            owned.setdefault(e["customer_id"], set()).add(e["product_id"])
            if e["type"] == "return":
                returned.setdefault(e["customer_id"], set()).add(e["product_id"])
    again = {p for p, r in zip(prepared.products, prepared.repeatable, strict=True) if r}
    buyers = [c for c in prepared.customers if c in owned][:60]
    assert len(buyers) == 60
    for method in ("popular", "segment", "itemknn", "blend"):
        rows = np.array([prepared.row_of[c] for c in buyers])
        batch = prepared.rank(prepared.scores(rows, method), rows, 10)
        for customer, top in zip(buyers, batch, strict=True):
            one = prepared.recommend(customer, method=method)
            ids = [p.product_id for p in one.products]
            assert len(ids) == 10
            assert ids == [prepared.products[i] for i in top], (customer, method)
            # an owned product comes back only when its buyers buy it again; returned, never
            assert set(ids) & owned[customer] <= again
            assert not set(ids) & returned.get(customer, set())
    # the facade answers the same as the prepared state
    facade = shop.insights.recommend(buyers[0], as_of=T)
    assert facade.products == prepared.recommend(buyers[0]).products
    assert facade.group == prepared.group_of(buyers[0]) is not None


def test_evaluation_scores_every_method(shop: Workspace) -> None:
    result = shop.insights.evaluate_recommendations(as_of=T, weeks=8, k=10)
    assert result.customers > 20
    assert result.group == "discovery run train"
    assert [m.method for m in result.methods] == ["popular", "segment", "itemknn", "blend"]
    for m in result.methods:
        assert 0 <= m.precision <= 1
        assert 0 <= m.recall <= 1
        assert 0 <= m.ndcg <= 1
        assert 0 < m.coverage <= 1
    popular = result.methods[0]
    assert popular.vs_popular == 1.0
    # ten products for everyone: the popular lists cover only a handful of candidates
    assert popular.coverage < result.methods[2].coverage
