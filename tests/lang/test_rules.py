"""Rule semantics on hand-made data, each checked by both evaluators, and rule errors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from microseg import Workspace
from microseg.lang import RuleError, parse_definition
from microseg.profile import BatchInputs
from microseg.segments import SegmentCatalog, evaluate_profile, evaluate_segments

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def tiny(tmp_path: Path) -> Workspace:
    ws = Workspace.init(tmp_path / "ws", clock=lambda: NOW)
    ws.ingest(
        "customers",
        pd.DataFrame(
            {
                "customer_id": ["A", "B", "C"],
                "age": [25.0, None, 41.0],
                "interests": [["Travel", "anime"], [], None],
                "valid_from": ["2020-01-01"] * 3,
            }
        ),
    )
    ws.ingest(
        "events",
        pd.DataFrame(
            {
                "event_id": ["1", "2", "3", "4", "5"],
                "customer_id": ["A", "A", "B", "C", "C"],
                "timestamp": [
                    "2026-01-10T10:00:00Z",  # A: cart 5 days before as_of
                    "2026-01-11T09:00:00Z",  # A: purchase 23 h later
                    "2026-01-14T11:00:00Z",  # B: cart 1 h before as_of
                    "2026-01-12T12:00:00Z",  # C: cart exactly 2 days before as_of
                    "2026-01-14T12:00:00Z",  # C: purchase exactly at as_of: never counts
                ],
                "type": ["cart_add", "purchase", "cart_add", "cart_add", "purchase"],
                "amount": [None, 30.0, None, None, 99.0],
            }
        ),
    )
    return ws


def _both(ws: Workspace, rule: dict[str, Any], as_of: str) -> set[str]:
    definition = parse_definition({"name": "s", "rule": rule})
    catalog = SegmentCatalog({"s": definition}, {})
    catalog.check(ws.traits.schema())
    clock = ws.context.clock(as_of)
    run = evaluate_segments(
        ws.store,
        catalog,
        ["s"],
        BatchInputs(
            customers=ws.customers(as_of=as_of),
            events=ws.events(),
            clock=clock,
            attribute_types=ws.traits.schema().attributes,
        ),
        save=False,
    )
    rows = run.result.to_pyarrow().to_pylist()
    batch = {r["customer_id"] for r in rows if r["s"]}
    ids = ws.customers(as_of=as_of).to_pyarrow().column("customer_id").to_pylist()
    single = {
        cid
        for cid in ids
        if evaluate_profile(catalog, ["s"], ws.profile.of(cid, as_of=as_of), clock)["s"]
    }
    assert batch == single
    return batch


AS_OF = "2026-01-14T12:00:00Z"
ABANDON = {
    "sequence": {
        "steps": [{"event": "cart_add"}, {"event": "purchase", "within": "2 days", "absent": True}]
    }
}


def test_absent_step_waits_for_the_whole_period(tiny: Workspace) -> None:
    # A bought within 2 days; B's cart is an hour old (not abandoned yet); C's two days
    # have just passed and the purchase at as_of itself does not count
    assert _both(tiny, ABANDON, AS_OF) == {"C"}


def test_null_rules(tiny: Workspace) -> None:
    assert _both(tiny, {"attribute": "age", "gt": 30}, AS_OF) == {"C"}
    assert _both(tiny, {"not": {"attribute": "age", "gt": 30}}, AS_OF) == {"A", "B"}
    assert _both(tiny, {"attribute": "age", "is_null": True}, AS_OF) == {"B"}
    assert _both(tiny, {"attribute": "age", "ne": 25}, AS_OF) == {"C"}
    assert _both(tiny, {"attribute": "interests", "contains": "travel"}, AS_OF) == {"A"}


def test_aggregates_over_no_events(tiny: Workspace) -> None:
    assert _both(tiny, {"event": "purchase", "sum": {"property": "amount", "eq": 0}}, AS_OF) == {
        "B",
        "C",
    }
    assert _both(tiny, {"event": "purchase", "avg": {"property": "amount", "lt": 1000}}, AS_OF) == {
        "A"
    }
    # at the end of 2026-01-14 C's purchase counts
    assert _both(tiny, {"event": "purchase", "count": {"eq": 0}}, "2026-01-14") == {"B"}


def test_windows(tiny: Workspace) -> None:
    assert _both(tiny, {"event": "cart_add", "window": {"last": "2 days"}}, AS_OF) == {"B", "C"}
    assert _both(tiny, {"event": "cart_add", "window": {"since": "2026-01-12"}}, AS_OF) == {
        "B",
        "C",
    }
    window = {"from": "2026-01-10", "to": "2026-01-12"}
    assert _both(tiny, {"event": "cart_add", "window": window}, AS_OF) == {"A"}


def test_bucket_is_stable(tiny: Workspace) -> None:
    first = _both(tiny, {"bucket": {"salt": "s1", "from": 0, "to": 50}}, AS_OF)
    assert first == _both(tiny, {"bucket": {"salt": "s1", "from": 0, "to": 50}}, "2026-01-01")
    everyone = _both(tiny, {"bucket": {"salt": "s1", "from": 0, "to": 100}}, AS_OF)
    assert everyone == {"A", "B", "C"}


def _problems(ws: Workspace, files: dict[str, str]) -> str:
    for name, text in files.items():
        (ws.path / "segments" / f"{name}.yaml").write_text(text)
    with pytest.raises(RuleError) as info:
        ws.segments.validate()
    return str(info.value)


def test_every_problem_at_once_with_lines_and_suggestions(tiny: Workspace) -> None:
    text = _problems(
        tiny,
        {
            "a": "name: a\nrule:\n  all:\n    - atribute: age\n      gt: 3\n"
            "    - attribute: agee\n      gt: 3\n    - attribute: age\n      gt: old\n"
            "    - event: purchse\n    - segment: bb\n",
        },
    )
    assert "a.yaml:4: rule.all[0]: unknown rule kind 'atribute'; did you mean 'attribute'?" in text


def test_type_and_reference_errors(tiny: Workspace) -> None:
    text = _problems(
        tiny,
        {
            "a": "name: a\nrule:\n  all:\n    - attribute: agee\n      gt: 3\n"
            "    - attribute: age\n      gt: old\n    - event: purchse\n    - segment: bb\n",
            "b": "name: b\nrule:\n  segment: c\n",
            "c": "name: c\nrule:\n  segment: b\n",
        },
    )
    assert "rule.all[0].attribute: unknown attribute 'agee'; did you mean 'age'?" in text
    assert "rule.all[1]: attribute age is a number; gt needs a number, got 'old'" in text
    assert "unknown event type 'purchse'; did you mean 'purchase'?" in text
    assert "unknown segment 'bb'; did you mean 'b'?" in text
    assert "cycle: b -> c -> b" in text


def test_operator_must_suit_the_type(tiny: Workspace) -> None:
    text = _problems(tiny, {"a": "name: a\nrule:\n  attribute: interests\n  gt: 3\n"})
    assert "gt does not apply to attribute interests (list)" in text


def test_sums_and_averages_meet_decimal_thresholds_exactly(tmp_path: Path) -> None:
    # 53.96, 56.22, 104.95 and 104.87 average to exactly 80 in decimal; in floating point
    # some orders of addition give 79.99999999999999. Every order must count, both ways.
    import itertools

    amounts = [53.96, 56.22, 104.95, 104.87]
    orders = list(itertools.permutations(amounts))
    ws = Workspace.init(tmp_path / "ws", clock=lambda: NOW)
    ids = [f"P{i:02d}" for i in range(len(orders))]
    ws.ingest(
        "customers",
        pd.DataFrame({"customer_id": ids, "valid_from": ["2020-01-01"] * len(ids)}),
    )
    rows = [
        {
            "event_id": f"{cid}-{k}",
            "customer_id": cid,
            "timestamp": f"2026-01-0{k + 1}T10:00:00Z",
            "type": "purchase",
            "amount": amount,
        }
        for cid, order in zip(ids, orders, strict=True)
        for k, amount in enumerate(order)
    ]
    ws.ingest("events", pd.DataFrame(rows))
    average = {"event": "purchase", "avg": {"property": "amount", "gte": 80}}
    total = {"event": "purchase", "sum": {"property": "amount", "lte": 320}}

    assert _both(ws, average, AS_OF) == set(ids)
    assert _both(ws, total, AS_OF) == set(ids)
    ws.close()
