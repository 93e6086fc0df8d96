"""The batch evaluator's plan (lang/_batch_events.py): sequences at ties and boundaries, JSON
views, local time, each checked by both evaluators, and the shape of the compiled SQL that
keeps memory bounded."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ibis
import pandas as pd
import pytest

from microseg import Workspace
from microseg.lang import parse_definition
from microseg.lang.batch import BatchCompiler
from microseg.profile import BatchInputs
from microseg.segments import SegmentCatalog, evaluate_profile, evaluate_segments
from microseg.traits import TraitCatalog
from microseg.traits._compute import _scores

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
AS_OF = "2026-01-14T12:00:00Z"

#: (customer, timestamp, type, category, properties); the comment says what each tests
EVENTS: list[tuple[str, str, str, str | None, str | None]] = [
    # A: one purchase: nothing after it
    ("A", "2026-01-01T10:00:00Z", "purchase", "anime", None),
    # B: two purchases at the same instant: neither is after the other
    ("B", "2026-01-01T10:00:00Z", "purchase", "anime", None),
    ("B", "2026-01-01T10:00:00Z", "purchase", "sports", None),
    # C: two purchases a microsecond apart
    ("C", "2026-01-01T10:00:00Z", "purchase", "anime", None),
    ("C", "2026-01-01T10:00:00.000001Z", "purchase", "sports", None),
    # D: exactly 30 days apart (within is inclusive)
    ("D", "2025-12-01T10:00:00Z", "purchase", "anime", None),
    ("D", "2025-12-31T10:00:00Z", "purchase", "sports", None),
    # E: 30 days and a second apart
    ("E", "2025-12-01T10:00:00Z", "purchase", "anime", None),
    ("E", "2025-12-31T10:00:01Z", "purchase", "sports", None),
    # F: sports then anime: an anime purchase with nothing after it
    ("F", "2026-01-01T10:00:00Z", "purchase", "sports", None),
    ("F", "2026-01-01T11:00:00Z", "purchase", "anime", None),
    # G: a cart and a purchase at the same instant, 5 days ago: abandoned (not after it)
    ("G", "2026-01-09T12:00:00Z", "cart_add", None, None),
    ("G", "2026-01-09T12:00:00Z", "purchase", "home", None),
    # H: a cart exactly 2 days before as_of: ripe; P: a second later: not yet
    ("H", "2026-01-12T12:00:00Z", "cart_add", None, None),
    ("P", "2026-01-12T12:00:01Z", "cart_add", None, None),
    # Q: a purchase exactly 2 days after the cart (within is inclusive)
    ("Q", "2026-01-10T00:00:00Z", "cart_add", None, None),
    ("Q", "2026-01-12T00:00:00Z", "purchase", "home", None),
    # I: view, cart 25 h later (too late for within 1 day), purchase after
    ("I", "2026-01-01T00:00:00Z", "view", None, '{"label": "5"}'),
    ("I", "2026-01-02T01:00:00Z", "cart_add", None, None),
    ("I", "2026-01-02T02:00:00Z", "purchase", "home", None),
    # J: two views; the cart is within a day of the second; purchase 71 h after the cart
    ("J", "2026-01-01T00:00:00Z", "view", None, '{"size": 5}'),
    ("J", "2026-01-01T10:00:00Z", "view", None, '{"gift": true}'),
    ("J", "2026-01-02T01:00:00Z", "cart_add", None, None),
    ("J", "2026-01-05T00:00:00Z", "purchase", "home", None),
    # K: as J, but the purchase is 73 h after the cart, and another at the cart's instant
    ("K", "2026-01-01T10:00:00Z", "view", None, '{"size": 7}'),
    ("K", "2026-01-02T01:00:00Z", "cart_add", None, None),
    ("K", "2026-01-02T01:00:00Z", "purchase", "home", None),
    ("K", "2026-01-05T02:00:00Z", "purchase", "home", None),
    # L: a view outside the sequence's window, cart inside it
    ("L", "2026-01-06T10:00:00Z", "view", None, None),
    ("L", "2026-01-07T13:00:00Z", "cart_add", None, None),
    # M: view and cart both inside the window
    ("M", "2026-01-08T10:00:00Z", "view", None, None),
    ("M", "2026-01-08T11:00:00Z", "cart_add", None, None),
    # N: a purchase at 00:30 on New Year's Day in Paris (23:30 UTC the day before)
    ("N", "2025-12-31T23:30:00Z", "purchase", "home", '{"label": "L"}'),
]

#: every customer with events, and Z with none
PEOPLE = sorted({e[0] for e in EVENTS} | {"Z"})

REPEAT = {
    "sequence": {
        "steps": [
            {"event": "purchase", "where": [{"property": "category", "eq": "anime"}]},
            {"event": "purchase", "within": "30 days"},
        ]
    }
}
ABANDON = {
    "sequence": {
        "steps": [{"event": "cart_add"}, {"event": "purchase", "within": "2 days", "absent": True}]
    }
}
FUNNEL = {
    "sequence": {
        "steps": [
            {"event": "view"},
            {"event": "cart_add", "within": "1 day"},
            {"event": "purchase", "within": "3 days"},
        ]
    }
}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root: Path = tmp_path_factory.mktemp("scale")
    ws = Workspace.init(root / "ws", timezone="Europe/Paris", clock=lambda: NOW)
    ws.ingest(
        "customers",
        pd.DataFrame({"customer_id": PEOPLE, "valid_from": ["2020-01-01"] * len(PEOPLE)}),
    )
    lines = []
    for i, (cid, ts, kind, category, props) in enumerate(EVENTS):
        event = {"event_id": str(i), "customer_id": cid, "timestamp": ts, "type": kind}
        if category is not None:
            event["category"] = category
        lines.append(json.dumps(event | (json.loads(props) if props else {})))
    (root / "events.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    ws.ingest("events", root / "events.jsonl")
    yield ws
    ws.close()


def _both(ws: Workspace, rules: dict[str, Any]) -> dict[str, set[str]]:
    """Members of each rule by the batch evaluator, after checking the interpreter agrees."""
    catalog = SegmentCatalog(
        {n: parse_definition({"name": n, "rule": r}) for n, r in rules.items()}, {}
    )
    names = list(rules)
    catalog.check(ws.traits.schema(), names)
    clock = ws.context.clock(AS_OF)
    run = evaluate_segments(
        ws.store,
        catalog,
        names,
        BatchInputs(
            customers=ws.customers(as_of=AS_OF),
            events=ws.events(),
            clock=clock,
            attribute_types=ws.traits.schema().attributes,
        ),
        save=False,
    )
    rows = run.result.to_pyarrow().to_pylist()
    batch = {n: {r["customer_id"] for r in rows if r[n]} for n in names}
    for cid in PEOPLE:
        one = evaluate_profile(catalog, names, ws.profile.of(cid, as_of=AS_OF), clock)
        for n in names:
            assert one[n] == (cid in batch[n]), f"{n} disagrees for {cid}"
    return batch


def test_sequences_at_ties_and_boundaries(shop: Workspace) -> None:
    got = _both(
        shop,
        {
            "repeat": REPEAT,
            "abandon": ABANDON,
            "funnel": FUNNEL,
            # the window bounds the first step only
            "recent-view-cart": {
                "sequence": {
                    "steps": [{"event": "view"}, {"event": "cart_add", "within": "1 day"}],
                    "window": {"last": "7 days"},
                }
            },
            "early-view-cart": {
                "sequence": {
                    "steps": [{"event": "view"}, {"event": "cart_add", "within": "1 day"}],
                    "window": {"from": "2026-01-01", "to": "2026-01-02"},
                }
            },
        },
    )
    assert got["repeat"] == {"C", "D"}
    assert got["abandon"] == {"G", "H", "J", "K", "L", "M"}
    assert got["funnel"] == {"J"}
    assert got["recent-view-cart"] == {"M"}
    assert got["early-view-cart"] == {"J", "K"}


def test_json_views_and_local_time(shop: Workspace) -> None:
    # a JSON property matches only values of the operand's type
    got = _both(
        shop,
        {
            "label": {"event": "view", "where": [{"property": "label", "eq": "5"}]},
            "label-number": {"event": "view", "where": [{"property": "label", "gte": 5}]},
            "size": {"event": "view", "where": [{"property": "size", "gte": 5}]},
            "size-text": {"event": "view", "where": [{"property": "size", "eq": "5"}]},
            "gift": {"event": "view", "where": [{"property": "gift", "eq": True}]},
            "labels": {"event": "any", "distinct": {"property": "label", "gte": 1}},
            "size-sum": {"event": "view", "sum": {"property": "size", "gt": 6}},
            "new-year": {
                "event": "purchase",
                "where": [{"property": "month", "eq": 1}, {"property": "day", "eq": 1}],
            },
            "midnight": {"event": "purchase", "where": [{"property": "hour", "eq": 0}]},
        },
    )
    assert got["label"] == {"I"}
    assert got["label-number"] == got["size-text"] == set()
    assert got["size"] == {"J", "K"}
    assert got["gift"] == {"J"}
    assert got["labels"] == {"I", "N"}
    assert got["size-sum"] == {"K"}
    # local time in Europe/Paris: N bought at 00:30 on New Year's Day (23:30 UTC)
    assert got["new-year"] == {"A", "B", "C", "F", "N"}
    assert got["midnight"] == {"N"}


def _sql(ws: Workspace, rules: dict[str, Any]) -> str:
    catalog = SegmentCatalog(
        {n: parse_definition({"name": n, "rule": r}) for n, r in rules.items()}, {}
    )
    traits = ws.traits.list()
    clock = ws.context.clock(AS_OF)
    compiler = BatchCompiler(
        ws.customers(as_of=AS_OF),
        ws.events(),
        clock,
        attribute_types=ws.profile.attribute_types(),
        segment_rule=catalog.full_rule,
        trait_definition=traits.definitions.__getitem__,
        cuts={s: [1.0, 2.0, 3.0, 4.0] for s in _score_keys(traits)},
    )
    segments = {n: compiler.segment(n) for n in rules}
    values = {n: compiler.trait(n) for n in traits.definitions}
    table = compiler.table()
    return ibis.to_sql(
        table.select("customer_id", **{n: f(table) for n, f in {**segments, **values}.items()}),
        dialect="duckdb",
    )


def _score_keys(traits: TraitCatalog) -> list[str]:
    return [s.key for s in _scores(traits, list(traits.definitions))]


def test_no_common_table_expression(shop: Workspace) -> None:
    # DuckDB materializes a WITH query that is read more than once, in full (the old plan's
    # was every event before as_of): each part of the plan reads the events on its own
    # (the segments and every built-in trait here)
    sql = _sql(shop, {"repeat": REPEAT, "abandon": ABANDON, "funnel": FUNNEL})
    assert not re.search(r"^\s*WITH\b", sql, re.MULTILINE)
    # sequences are windows over the events in time order, not joins of event pairs
    assert "OVER" in sql
    assert all("timestamp" not in on for on in re.findall(r"\bON\b(.*)", sql))


def test_merged_plan_gives_the_same_table(shop: Workspace) -> None:
    # the plan for large shops (parts merged by one aggregation, which spills) and the
    # plain joins give the same segments and traits, value for value
    rules = {"repeat": REPEAT, "abandon": ABANDON, "funnel": FUNNEL}
    rules["gift"] = {"event": "view", "where": [{"property": "gift", "eq": True}]}
    rules["labels"] = {"event": "any", "distinct": {"property": "label", "gte": 1}}
    catalog = SegmentCatalog(
        {n: parse_definition({"name": n, "rule": r}) for n, r in rules.items()}, {}
    )
    traits = shop.traits.list()
    compiler = BatchCompiler(
        shop.customers(as_of=AS_OF),
        shop.events(),
        shop.context.clock(AS_OF),
        attribute_types=shop.profile.attribute_types(),
        segment_rule=catalog.full_rule,
        trait_definition=traits.definitions.__getitem__,
        cuts={s: [1.0, 2.0, 3.0, 4.0] for s in _score_keys(traits)},
    )
    columns = {n: compiler.segment(n) for n in rules} | {
        n: compiler.trait(n) for n in traits.definitions
    }

    def rows(merged: bool) -> list[dict[str, Any]]:
        table = compiler.table(merged=merged)
        chosen = table.select("customer_id", **{n: f(table) for n, f in columns.items()})
        return sorted(chosen.to_pyarrow().to_pylist(), key=lambda r: r["customer_id"])

    assert rows(merged=True) == rows(merged=False)
