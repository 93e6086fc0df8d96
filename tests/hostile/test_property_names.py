"""Property names are data: any name reads that one key, the same in both evaluators.

The agreement test (tests/lang/test_agreement.py) evaluates rules on such names over a
whole shop; these tests pin the simplest cases on a handful of events.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from microseg import Workspace
from microseg.lang import parse_definition
from microseg.segments import SegmentCatalog, evaluate_profile, evaluate_segments

NAMES = ["a.b", "it's", 'say "hi"', "*", "$x", "[0]", "é ü", "a b", "a/b", "~0", "$"]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    root: Path = tmp_path_factory.mktemp("props")
    ws = Workspace.init(root / "ws", clock=lambda: datetime(2026, 1, 15, tzinfo=UTC))
    customers = root / "customers.csv"
    customers.write_text("customer_id,age\nc1,30\nc2,40\nc3,50\n", encoding="utf-8")
    ws.ingest("customers", customers)
    events = root / "events.jsonl"
    rows: list[dict[str, Any]] = []
    for i, name in enumerate(NAMES):
        # c1 has every name set to "blue", c2 the same values under other names, c3 a nest
        rows.append({"customer_id": "c1", "type": "tag", "timestamp": "2026-01-02", name: "blue"})
        rows.append(
            {"customer_id": "c2", "type": "tag", "timestamp": "2026-01-02", f"x{i}": "blue"}
        )
    rows.append({"customer_id": "c3", "type": "tag", "timestamp": "2026-01-02", "a": {"b": "blue"}})
    events.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    ws.ingest("events", events)
    yield ws
    ws.close()


@pytest.mark.parametrize("name", NAMES)
def test_property_name_reads_that_key_both_ways(shop: Workspace, name: str) -> None:
    rule = {"event": "tag", "where": [{"property": name, "eq": "blue"}]}
    catalog = SegmentCatalog({"p": parse_definition({"name": "p", "rule": rule})}, {})
    catalog.check(shop.traits.schema())
    clock = shop.context.clock("2026-01-10")
    run = evaluate_segments(
        shop.store,
        catalog,
        ["p"],
        shop.profile.batch(clock, "2026-01-10"),
        save=False,
        traits=shop.traits.list(),
        cuts={},
    )
    rows = run.result.to_pyarrow().to_pylist()
    batch = {r["customer_id"]: r["p"] for r in rows}
    assert batch == {"c1": True, "c2": False, "c3": False}
    for customer_id, member in batch.items():
        profile = shop.profile.of(customer_id, as_of="2026-01-10")
        assert evaluate_profile(catalog, ["p"], profile, clock)["p"] is member
