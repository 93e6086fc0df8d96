"""Which event types can change a rule's answer (the real-time path's shortcut)."""

from __future__ import annotations

from typing import Any

import pytest

from microseg.lang import event_filters, event_kinds, parse_definition, profile_reads
from microseg.lang._expr import TraitDefinition

SEGMENTS: dict[str, Any] = {
    "viewers": {"event": "view", "count": {"gte": 3}},
    "late-buyers": {"sequence": {"steps": [{"event": "cart_add"},
                                           {"event": "purchase", "within": "2 days"}]}},
}  # fmt: skip
TRAITS = {
    "spend": TraitDefinition.model_validate(
        {"name": "spend", "value": {"aggregate": "sum", "event": "purchase", "property": "amount"}}
    ),
    "clv": TraitDefinition.model_validate({"name": "clv", "value": {"model": "clv"}}),
}


def _rule(data: dict[str, Any]) -> Any:
    return parse_definition({"name": "s", "rule": data}).rule


def _kinds(data: dict[str, Any]) -> frozenset[str] | None:
    return event_kinds(
        _rule(data),
        segment_rule=lambda name: _rule(SEGMENTS[name]),
        trait_definition=TRAITS.__getitem__,
    )


@pytest.mark.parametrize(
    ("rule", "kinds"),
    [
        ({"attribute": "country", "eq": "FR"}, frozenset()),
        ({"event": "email_open", "window": {"last": "90 days"}}, {"email_open"}),
        ({"all": [{"segment": "viewers"}, {"not": {"segment": "late-buyers"}}]},
         {"view", "cart_add", "purchase"}),
        ({"trait": "spend", "gt": 100}, {"purchase"}),
        ({"event": "any", "count": {"gte": 1}}, None),
        ({"trait": "clv", "gt": 100}, None),  # a model's output: any event may move it
        ({"trait": "nowhere", "gt": 1}, None),
    ],
)  # fmt: skip
def test_event_kinds_follow_segments_and_traits(rule: dict[str, Any], kinds: Any) -> None:
    assert _kinds(rule) == (frozenset(kinds) if kinds is not None else None)


def test_event_filters_keep_each_where_list_once() -> None:
    rule = _rule({"any": [
        {"event": "purchase", "where": [{"property": "category", "eq": "anime"}]},
        {"event": "purchase", "where": [{"property": "category", "eq": "anime"}],
         "count": {"gte": 2}},
        {"segment": "late-buyers"},
        {"trait": "spend", "gt": 100},
    ]})  # fmt: skip
    filters = event_filters(
        rule, segment_rule=lambda name: _rule(SEGMENTS[name]), trait_definition=TRAITS.__getitem__
    )
    assert filters is not None
    found = sorted(
        (kind, [(p.property, p.op, p.operand) for p in where]) for kind, where in filters
    )
    assert found == [
        ("cart_add", []),
        ("purchase", []),  # the sequence's step and the trait's sum: one filter
        ("purchase", [("category", "eq", "anime")]),
    ]
    model = _rule({"trait": "clv", "gt": 1})
    assert event_filters(model, segment_rule=_rule, trait_definition=TRAITS.__getitem__) is None


BASICS = {"customer_id", "timestamp", "type"}


@pytest.mark.parametrize(
    ("rules", "events", "attributes"),
    [
        ([{"attribute": "country", "eq": "FR"}], set(), {"country"}),
        ([{"event": "purchase", "where": [{"property": "category", "eq": "anime"}],
           "sum": {"property": "amount", "gte": 10}}], {"category", "amount"}, set()),
        # derived from the instant, the order (its id, else its instant), a JSON key
        ([{"event": "view", "where": [{"property": "hour", "lt": 12}]},
          {"event": "purchase", "distinct": {"property": "order", "gte": 2}},
          {"event": "view", "where": [{"property": "device", "eq": "mobile"}]}],
         {"order_id", "properties"}, set()),
        ([{"sequence": {"steps": [
            {"event": "cart_add", "where": [{"property": "channel", "eq": "web"}]},
            {"event": "purchase", "within": "2 days"}]}}], {"channel"}, set()),
        # followed into the segments and traits named
        ([{"segment": "viewers"}, {"trait": "spend", "gt": 100}], {"amount"}, set()),
        ([{"trait": "clv", "gt": 100}], None, set()),  # a model reads the events as fitted
        ([{"cluster": {"run": 1, "in": [0]}}], set(), None),  # its run's attributes
        ([{"trait": "nowhere", "gt": 1}, {"attribute": "age", "gt": 1}], None, None),
    ],
)  # fmt: skip
def test_profile_reads_are_what_the_rules_read(
    rules: list[dict[str, Any]], events: set[str] | None, attributes: set[str] | None
) -> None:
    reads = profile_reads(
        [_rule(r) for r in rules],
        segment_rule=lambda name: _rule(SEGMENTS[name]),
        trait_definition=TRAITS.__getitem__,
    )
    assert reads.events == (None if events is None else frozenset(events | BASICS))
    assert reads.attributes == (None if attributes is None else frozenset(attributes))
