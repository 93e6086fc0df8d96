"""Hypothesis strategies for the language: leaves from a schema, rule and expression trees,
small event histories with times at the edges of windows.

Each rule kind, expression kind and operator has a generator case in the tables below
(:data:`RULE_CASES`, :data:`EXPR_CASES`, :data:`ATTRIBUTE_OPERATORS`...); the coverage test
compares them with the language's registries, so a new kind fails until it is generated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from microseg.core.duration import parse_duration
from microseg.lang import Clock
from microseg.lang._schema import OPERATORS_BY_TYPE

Strategy = st.SearchStrategy[Any]

AS_OFS = [datetime(2026, 3, 29, 12, 0), datetime(2026, 1, 1, 0, 0), datetime(2025, 11, 2, 6, 30)]
ZONES = ["UTC", "Europe/Paris", "America/New_York"]

#: The customers' attributes and their types: one of every attribute type.
ATTRIBUTES = {
    "age": "number",
    "city": "text",
    "signup": "date",
    "last_login": "timestamp",
    "vip": "boolean",
    "tags": "list",
}
EVENT_TYPES = ["purchase", "view", "tag"]
#: Windows and spans whose edges the event times sit on (and a microsecond either side).
LASTS = ["30 days", "1 month", "2 weeks", "1 hour"]
WITHINS = ["1 day", "2 days", "1 hour"]
RELATIVE = ["today", "1 day ago", "30 days ago", "1 month ago", "2 weeks ago", "1 hour ago"]
ISO_DATES = ["2026-03-01", "2026-01-01", "2025-12-31", "2025-11-01", "2025-10-03"]
ISO_TIMES = ["2026-03-29T10:00:00Z", "2025-12-31T23:00:00", "2025-11-01T04:00:00Z"]
WINDOWS: list[dict[str, Any]] = [
    *({"last": last} for last in LASTS),
    {"from": "60 days ago", "to": "30 days ago"},
    {"from": "2025-12-15"},
    {"to": "7 days ago"},
    {"since": "2026-01-01"},
    {"since": "1 month ago"},
]

NUMBERS = [0, 1, 2, 9.99, 10, 29.5, 30, 53.96, -2, 1e6]
TEXTS = ["", "Paris", "paris", "PARIS ", "Lyon", "São Paulo", "x'y", "a.b"]
TAGS = ["travel", "Travel", "music", "a.b", ""]
PATTERNS = ["^pa", "is$", r"a\.b", "[ly]", "", "são", "^(a+)+$"]
JSON_VALUES: list[Any] = ["red", "RED", "3", 3, 3.5, 0, True, False]


# -- operands ---------------------------------------------------------------------------------


def _scalar(kind: str) -> Strategy:
    if kind == "number":
        return st.sampled_from(NUMBERS)
    if kind == "date":
        return st.sampled_from(RELATIVE + ISO_DATES + ISO_TIMES[:1])
    if kind == "timestamp":
        return st.sampled_from(RELATIVE + ISO_TIMES + ISO_DATES[:2])
    if kind == "boolean":
        return st.booleans()
    if kind == "list":
        return st.sampled_from(TAGS)
    if kind == "json":
        return st.sampled_from(JSON_VALUES)
    return st.sampled_from(TEXTS)


def _same_type(kind: str, size: tuple[int, int]) -> Strategy:
    """A list of operands of one type (a JSON list compares with one view)."""
    if kind != "json":
        return st.lists(_scalar(kind), min_size=size[0], max_size=size[1])
    views = [["red", "RED", "3"], [3, 3.5, 0], [True, False]]
    return st.sampled_from(views).flatmap(
        lambda pool: st.lists(st.sampled_from(pool), min_size=size[0], max_size=size[1])
    )


def _operand(kind: str, op: str) -> Strategy:
    """An operand for ``op`` on a value of type ``kind`` (at and next to the boundaries)."""
    if op == "is_null":
        return st.booleans()
    if op in ("in", "not_in"):
        return _same_type(kind, (1, 3))
    if op == "between":
        return _same_type(kind, (2, 2))
    if op in ("contains_any", "contains_all"):
        return st.lists(
            st.sampled_from(TAGS if kind == "list" else TEXTS[1:]), min_size=1, max_size=3
        )
    if op == "matches":
        return st.sampled_from(PATTERNS)
    if op in ("contains", "starts_with", "ends_with"):
        return st.sampled_from(TAGS if kind == "list" else TEXTS)
    return _scalar(kind)


#: Every operator of every attribute type: the coverage test compares this with the schema.
ATTRIBUTE_OPERATORS: dict[str, list[str]] = {
    kind: sorted(OPERATORS_BY_TYPE[kind]) for kind in set(ATTRIBUTES.values())
}


def predicate(kind: str, ops: list[str] | None = None) -> Strategy:
    """``{op: operand}`` for a value of type ``kind``."""
    choices = sorted(ops if ops is not None else OPERATORS_BY_TYPE[kind])
    return st.sampled_from(choices).flatmap(
        lambda op: _operand(kind, op).map(lambda operand: {op: operand})
    )


# -- event properties ---------------------------------------------------------------------

#: Properties that ``where`` filters and aggregates read, with their types.
PROPERTIES = {
    "amount": "number",
    "quantity": "number",
    "discount": "number",
    "category": "text",
    "channel": "text",
    "query": "text",
    "timestamp": "timestamp",
    "month": "number",
    "day": "number",
    "weekday": "number",
    "hour": "number",
    "order": "text",
    "color": "json",
    "a.b": "json",
    "size": "json",
}
NUMBER_PROPERTIES = ["amount", "quantity", "discount", "size"]


def where() -> Strategy:
    one = st.sampled_from(sorted(PROPERTIES)).flatmap(
        lambda name: predicate(PROPERTIES[name]).map(lambda p: {"property": name, **p})
    )
    return st.lists(one, max_size=2)


def window() -> Strategy:
    return st.none() | st.sampled_from(WINDOWS)


def _drop_none(node: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in node.items() if v is not None and v != []}


#: Event-rule aggregates and the test of each.
EVENT_AGGREGATES: dict[str, Callable[[], Strategy]] = {
    "count": lambda: predicate("number", ["eq", "gt", "gte", "lt", "lte", "in", "between"]),
    "sum": lambda: _property_test(NUMBER_PROPERTIES, "number"),
    "avg": lambda: _property_test(NUMBER_PROPERTIES, "number"),
    "min": lambda: (
        _property_test(NUMBER_PROPERTIES, "number") | _property_test(["timestamp"], "timestamp")
    ),
    "max": lambda: (
        _property_test(NUMBER_PROPERTIES, "number") | _property_test(["timestamp"], "timestamp")
    ),
    "distinct": lambda: _property_test(
        ["category", "color", "channel", "quantity", "order"], "number"
    ),
}


def _property_test(names: list[str], kind: str) -> Strategy:
    return st.tuples(st.sampled_from(names), predicate(kind)).map(
        lambda pair: {"property": pair[0], **pair[1]}
    )


def event_rule() -> Strategy:
    aggregate = st.sampled_from([None, *EVENT_AGGREGATES]).flatmap(
        lambda name: (
            st.just({}) if name is None else EVENT_AGGREGATES[name]().map(lambda t: {name: t})
        )
    )
    return st.tuples(st.sampled_from([*EVENT_TYPES, "any"]), where(), window(), aggregate).map(
        lambda p: _drop_none({"event": p[0], "where": p[1], "window": p[2], **p[3]})
    )


def sequence_rule() -> Strategy:
    step = st.tuples(st.sampled_from(EVENT_TYPES), where()).map(
        lambda p: _drop_none({"event": p[0], "where": p[1]})
    )
    later = st.tuples(step, st.sampled_from(WITHINS)).map(lambda p: {**p[0], "within": p[1]})
    return st.tuples(step, st.lists(later, min_size=1, max_size=2), st.booleans(), window()).map(
        lambda p: {
            "sequence": _drop_none(
                {
                    "steps": [p[0], *p[1][:-1], {**p[1][-1], "absent": p[2]}],
                    "window": p[3],
                }
            )
        }
    )


# -- rules ----------------------------------------------------------------------------------


def attribute_rule() -> Strategy:
    return st.sampled_from(sorted(ATTRIBUTES)).flatmap(
        lambda name: predicate(ATTRIBUTES[name]).map(lambda p: {"attribute": name, **p})
    )


#: The traits a ``trait:`` leaf may test, with their types (defined by the world).
TRAITS = {"t_num": "number", "t_text": "text", "t_flag": "boolean"}


def trait_rule() -> Strategy:
    return st.sampled_from(sorted(TRAITS)).flatmap(
        lambda name: predicate(TRAITS[name]).map(lambda p: {"trait": name, **p})
    )


def bucket_rule() -> Strategy:
    return (
        st.tuples(st.sampled_from(["x", "spring", ""]), st.integers(0, 99), st.integers(1, 100))
        .filter(lambda p: p[1] < p[2])
        .map(lambda p: {"bucket": {"salt": p[0], "from": p[1], "to": p[2]}})
    )


def cluster_rule() -> Strategy:
    listed = st.lists(
        st.sampled_from([0, 1, 2, "young", "Older", "unclustered"]), min_size=1, max_size=2
    )
    return st.tuples(st.sampled_from(["by-age", 7]), listed).map(
        lambda p: {"cluster": {"run": p[0], "in": p[1]}}
    )


#: Thresholds of ``score:`` leaves: 0.5 is the stand-in model's score at age 40 exactly.
SCORE_THRESHOLDS = [0.1, 0.25, 0.5, 0.7, 0.9]


def score_rule() -> Strategy:
    single = st.tuples(
        st.sampled_from(["gt", "gte", "lt", "lte"]), st.sampled_from(SCORE_THRESHOLDS)
    ).map(lambda p: {"score": {"model": "age-score", p[0]: p[1]}})
    pair = (
        st.tuples(st.sampled_from(SCORE_THRESHOLDS), st.sampled_from(SCORE_THRESHOLDS))
        .filter(lambda p: p[0] <= p[1])
        .map(lambda p: {"score": {"model": "age-score", "between": [p[0], p[1]]}})
    )
    return st.one_of(single, pair)


#: A generator case for every rule kind (the coverage test compares with KINDS).
RULE_CASES: dict[str, Callable[[Strategy], Strategy]] = {
    "all": lambda inner: st.lists(inner, min_size=1, max_size=3).map(lambda xs: {"all": xs}),
    "any": lambda inner: st.lists(inner, min_size=1, max_size=3).map(lambda xs: {"any": xs}),
    "not": lambda inner: inner.map(lambda x: {"not": x}),
    "attribute": lambda _: attribute_rule(),
    "trait": lambda _: trait_rule(),
    "event": lambda _: event_rule(),
    "sequence": lambda _: sequence_rule(),
    "segment": lambda _: st.just({"segment": "helper"}),
    "bucket": lambda _: bucket_rule(),
    "cluster": lambda _: cluster_rule(),
    "has": lambda _: st.sampled_from(["email", "phone"]).map(lambda kind: {"has": kind}),
    "score": lambda _: score_rule(),
}
_BRANCHES = ("all", "any", "not")


def rules(*, leaves: tuple[str, ...] | None = None, depth: int = 3) -> Strategy:
    """Random rule trees over the leaf kinds ``leaves`` (every leaf kind when None), at
    most ``depth`` branches deep; a leaf or each branch kind is as likely at every level."""
    kinds = leaves or tuple(k for k in RULE_CASES if k not in _BRANCHES)
    leaf = st.sampled_from(kinds).flatmap(lambda k: RULE_CASES[k](st.nothing()))
    if depth == 0:
        return leaf
    inner = rules(leaves=kinds, depth=depth - 1)
    return st.sampled_from(("leaf", *_BRANCHES)).flatmap(
        lambda k: leaf if k == "leaf" else RULE_CASES[k](inner)
    )


#: Leaves of the rules inside expressions (case rows, flags): no reference back to traits.
SIMPLE_LEAVES = ("attribute", "event", "bucket", "cluster", "has", "score")


# -- expressions -------------------------------------------------------------------------

#: ``aggregate`` expressions: every aggregate of AggregateExpr, over properties that suit it.
EXPR_AGGREGATES: dict[str, list[str | None]] = {
    "count": [None],
    "sum": NUMBER_PROPERTIES,
    "avg": NUMBER_PROPERTIES,
    "min": NUMBER_PROPERTIES,
    "max": NUMBER_PROPERTIES,
    "distinct": ["category", "color", "quantity", "order"],
    "mode": ["category", "color", "channel", "order"],
}


def aggregate_expr(names: list[str]) -> Strategy:
    return st.sampled_from(names).flatmap(
        lambda agg: st.tuples(
            st.sampled_from(EXPR_AGGREGATES[agg]),
            st.sampled_from([*EVENT_TYPES, "any"]),
            where(),
            window(),
        ).map(
            lambda p: _drop_none(
                {"aggregate": agg, "property": p[0], "event": p[1], "where": p[2], "window": p[3]}
            )
        )
    )


MODELS = [{"model": "p_alive"}, {"model": "clv", "horizon": "90 days"}]


def _case(inner: Strategy) -> Strategy:
    row = st.tuples(rules(leaves=SIMPLE_LEAVES, depth=1), inner).map(
        lambda p: {"when": p[0], "then": p[1]}
    )
    return st.tuples(st.lists(row, min_size=1, max_size=2), st.none() | inner).map(
        lambda p: _drop_none({"case": p[0], "else": p[1]})
    )


def _days_since() -> Strategy:
    return st.tuples(
        st.sampled_from(["min", "max"]), st.sampled_from([*EVENT_TYPES, "any"]), window()
    ).map(
        lambda p: {
            "days_since": _drop_none(
                {"aggregate": p[0], "event": p[1], "property": "timestamp", "window": p[2]}
            )
        }
    )


#: A generator case for every expression kind, of number values (the coverage test
#: compares with EXPR_KINDS); ``mode`` aggregates give the text trait its values.
EXPR_CASES: dict[str, Callable[[Strategy], Strategy]] = {
    "value": lambda _: st.sampled_from([*NUMBERS, None]).map(lambda v: {"value": v}),
    "attribute": lambda _: st.just({"attribute": "age"}),
    "trait": lambda _: st.just({"trait": "t_base"}),
    "aggregate": lambda _: aggregate_expr([a for a in EXPR_AGGREGATES if a != "mode"]),
    "model": lambda _: st.sampled_from(MODELS),
    "days_since": lambda _: _days_since(),
    "add": lambda inner: st.lists(inner, min_size=2, max_size=3).map(lambda xs: {"add": xs}),
    "sub": lambda inner: st.lists(inner, min_size=2, max_size=2).map(lambda xs: {"sub": xs}),
    "mul": lambda inner: st.lists(inner, min_size=2, max_size=3).map(lambda xs: {"mul": xs}),
    "div": lambda inner: st.lists(inner, min_size=2, max_size=2).map(lambda xs: {"div": xs}),
    "coalesce": lambda inner: st.lists(inner, min_size=1, max_size=3).map(
        lambda xs: {"coalesce": xs}
    ),
    "max_of": lambda inner: st.lists(inner, min_size=2, max_size=3).map(lambda xs: {"max_of": xs}),
    "min_of": lambda inner: st.lists(inner, min_size=2, max_size=3).map(lambda xs: {"min_of": xs}),
    "score": lambda inner: st.tuples(inner, st.integers(2, 4), st.booleans()).map(
        lambda p: {"score": p[0], "bins": p[1], "higher_is_better": p[2]}
    ),
    "case": _case,
}
_EXPR_LEAVES = ("value", "attribute", "trait", "aggregate", "model", "days_since")


def expressions(max_leaves: int = 4) -> Strategy:
    """Random number-valued expression trees."""
    leaf = st.one_of(*(EXPR_CASES[k](st.nothing()) for k in _EXPR_LEAVES))
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            *(EXPR_CASES[k](inner) for k in EXPR_CASES if k not in _EXPR_LEAVES)
        ),
        max_leaves=max_leaves,
    )


def text_expressions() -> Strategy:
    """Text-valued expressions: a ``mode`` aggregate, or a case of text values."""
    mode = aggregate_expr(["mode"])
    value = st.sampled_from(TEXTS).map(lambda v: {"value": v})
    return mode | _case(mode | value)


# -- histories ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    """One generated shop: its zone and ``as_of``, customers, events, traits and rules."""

    zone: str
    as_of: datetime
    customers: list[dict[str, Any]]
    events: list[dict[str, Any]]
    rule: dict[str, Any]
    helper: dict[str, Any]
    traits: dict[str, dict[str, Any]]
    merged: bool  # the batch plan that merges its parts before joining them


def edges(as_of: datetime, zone: str) -> list[datetime]:
    """Instants at, and a microsecond or a second either side of, the windows' edges."""
    clock = Clock(as_of, zone)
    marks = [clock.back(parse_duration(d)) for d in LASTS]
    marks += [clock.instant(t) for t in RELATIVE + ISO_DATES + ISO_TIMES]
    marks += [as_of - timedelta(days=d) for d in (0, 1, 2, 60, 400)]
    tick, second = timedelta(microseconds=1), timedelta(seconds=1)
    found = {m + d for m in marks for d in (-second, -tick, timedelta(0), tick)}
    # one after as_of (never counted), one before 1970 (local time without the offset table)
    return sorted(found | {as_of + timedelta(days=1), datetime(1969, 12, 31, 23, 30)})


def _events(moments: list[datetime], customer_ids: list[str]) -> Strategy:
    props = st.dictionaries(
        st.sampled_from(["color", "a.b", "size"]),
        st.sampled_from([*JSON_VALUES, "L", None]),
        max_size=2,
    )
    one = st.fixed_dictionaries(
        {
            "customer_id": st.sampled_from(customer_ids),
            "type": st.sampled_from(EVENT_TYPES),
            "timestamp": st.sampled_from(moments),
            "amount": st.sampled_from([None, 0.0, 9.99, 10.0, 53.96, 56.22, 104.95]),
            "quantity": st.sampled_from([None, 1, 2]),
            "discount": st.sampled_from([None, 0.0, 0.3]),
            "category": st.sampled_from([None, "anime", "Anime", "books"]),
            "channel": st.sampled_from([None, "web", "app"]),
            "order_id": st.sampled_from([None, None, "", "o1", "o2"]),
            "query": st.sampled_from([None, "naruto figure", "Paris", "a.b"]),
            "properties": props,
        }
    )
    return st.lists(one, max_size=10)


def _customer(customer_id: str, as_of: datetime, zone: str, moments: list[datetime]) -> Strategy:
    today = Clock(as_of, zone).today()
    days = [today - timedelta(days=d) for d in (0, 1, 14, 30, 31, 365)] + [date(2026, 1, 1)]
    return st.fixed_dictionaries(
        {
            "customer_id": st.just(customer_id),
            "age": st.sampled_from([None, *[float(n) for n in NUMBERS]]),
            "city": st.sampled_from([None, *TEXTS]),
            "signup": st.sampled_from([None, *days]),
            "last_login": st.sampled_from([None, *moments]),
            "vip": st.sampled_from([None, True, False]),
            "tags": st.sampled_from([None, [], ["travel"], ["Travel", "music"], ["a.b", ""]]),
            "_m_p_alive": st.sampled_from([None, 0.25, 0.5]),
            "_m_clv_90_days": st.sampled_from([None, 0.0, 120.5]),
            # the identity types the customer holds (has:), not a column of the customers
            "_identities": st.sampled_from(
                [[], ["customer_id"], ["email"], ["phone", "phone"], ["email", "phone"]]
            ),
        }
    )


@st.composite
def worlds(draw: st.DrawFn, *, depth: int = 3) -> World:
    zone = draw(st.sampled_from(ZONES))
    as_of = draw(st.sampled_from(AS_OFS))
    moments = edges(as_of, zone)
    ids = [f"c{i}" for i in range(draw(st.integers(2, 4)))]
    customers = [draw(_customer(cid, as_of, zone, moments)) for cid in ids]
    events = draw(_events(moments, ids))
    for n, event in enumerate(events):
        event["event_id"] = f"e{n}"
    traits = {
        "t_base": {"aggregate": "count", "event": "purchase"},
        "t_num": draw(expressions()),
        "t_text": draw(text_expressions()),
        "t_flag": draw(
            rules(leaves=SIMPLE_LEAVES, depth=1).map(
                lambda r: {"case": [{"when": r, "then": {"value": True}}], "else": {"value": False}}
            )
        ),
    }
    return World(
        zone=zone,
        as_of=as_of,
        customers=customers,
        events=events,
        rule=draw(rules(depth=depth)),
        helper=draw(rules(leaves=SIMPLE_LEAVES, depth=1)),
        traits=traits,
        merged=draw(st.booleans()),
    )
