"""The batch compiler and the per-profile interpreter agree on generated shops and rules.

Everything is generated (tests/lang/_generated.py): a few customers with an attribute of
every type (nulls included), a few events of a few types whose times sit at and next to
the edges of the windows, promoted and JSON properties, and random rule trees over every
node kind with traits from random expression trees over every expression kind. Both
evaluators are driven directly (no workspace): the batch compiler over DuckDB tables built
here, the interpreter over the same rows read back. A coverage test fails when a node
kind, an expression kind or an operator has no generator case.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, get_args

import ibis
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings

from microseg.lang import (
    EXPR_KINDS,
    KINDS,
    OPERATORS,
    Clock,
    Schema,
    check_expr,
    check_rule,
    parse_definition,
    walk,
)
from microseg.lang._clusters import cluster_column
from microseg.lang._expr import AggregateExpr, ScoreExpr, TraitDefinition
from microseg.lang._nodes import EventRule
from microseg.lang._schema import OPERATORS_BY_TYPE
from microseg.lang._scores import score_column
from microseg.lang.batch import BatchCompiler
from microseg.lang.profile import Profile, ProfileEvaluator
from microseg.store import Store

from ._generated import (
    ATTRIBUTE_OPERATORS,
    ATTRIBUTES,
    EVENT_AGGREGATES,
    EVENT_TYPES,
    EXPR_AGGREGATES,
    EXPR_CASES,
    RULE_CASES,
    TRAITS,
    ZONES,
    World,
    worlds,
)

_SETTINGS = {"deadline": None, "suppress_health_check": list(HealthCheck), "derandomize": False}


class AgeRun:
    """A stand-in discovery run: cluster 1 under 30, 2 from 30, 0 without an age."""

    run_id = 7
    name = "by-age"
    clusters = {0: "unclustered", 1: "Young", 2: "Older"}  # noqa: RUF012
    traits: list[str] = []  # noqa: RUF012
    attributes = ["age"]  # noqa: RUF012

    def assign_one(self, traits: Mapping[str, Any], attributes: Mapping[str, Any]) -> int:
        age = attributes.get("age")
        return 0 if age is None else (1 if age < 30 else 2)

    def assign_table(self, traits: Any, customers: Any) -> Any:
        raise NotImplementedError  # the batch column is added by the test


def _lookup(run: str | int) -> AgeRun:
    if str(run) not in ("by-age", "7"):
        raise KeyError(run)
    return AgeRun()


class AgeScore:
    """A stand-in look-alike model: a logistic function of age (0.5 at 40 and without one)."""

    model_id = 3
    name = "age-score"
    traits: list[str] = []  # noqa: RUF012
    attributes = ["age"]  # noqa: RUF012

    def score_one(self, traits: Mapping[str, Any], attributes: Mapping[str, Any]) -> float:
        age = attributes.get("age")
        return 0.5 if age is None else 1.0 / (1.0 + math.exp(-(float(age) - 40.0) / 10.0))

    def score_table(self, traits: Any, customers: Any) -> Any:
        raise NotImplementedError  # the batch column is added by the test


def _score_lookup(model: str) -> AgeScore:
    if model != "age-score":
        raise KeyError(model)
    return AgeScore()


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Store]]:
    """A store per time zone (the session's zone is the workspace's, as in a workspace)."""
    root: Path = tmp_path_factory.mktemp("generated")
    opened = {zone: Store(root / f"{n}.duckdb", timezone=zone) for n, zone in enumerate(ZONES)}
    yield opened
    for store in opened.values():
        store.close()


def _identities(store: Store, world: World) -> ibis.Table:
    """The world's identities: one row per identity a customer holds (a type may repeat)."""
    rows = [
        {"id_type": kind, "id_value": f"{c['customer_id']}-{n}", "customer_id": c["customer_id"]}
        for c in world.customers
        for n, kind in enumerate(c["_identities"])
    ]
    schema = pa.schema(
        {"id_type": pa.string(), "id_value": pa.string(), "customer_id": pa.string()}
    )
    table = pa.Table.from_pylist(rows, schema=schema)
    return store.ibis.create_table("gen_identities", table, overwrite=True)


def _tables(store: Store, world: World) -> tuple[ibis.Table, ibis.Table]:
    """The world's customers (with model and cluster columns) and events, in DuckDB."""
    backend = store.ibis
    rows = [
        {
            **{k: v for k, v in c.items() if k != "_identities"},
            cluster_column(7): AgeRun().assign_one({}, {"age": c["age"]}),
            score_column(3): AgeScore().score_one({}, {"age": c["age"]}),
        }
        for c in world.customers
    ]
    types = {
        "customer_id": pa.string(),
        "age": pa.float64(),
        "city": pa.string(),
        "signup": pa.date32(),
        "last_login": pa.timestamp("us"),
        "vip": pa.bool_(),
        "tags": pa.list_(pa.string()),
        "_m_p_alive": pa.float64(),
        "_m_clv_90_days": pa.float64(),
        cluster_column(7): pa.int64(),
        score_column(3): pa.float64(),
    }
    customers = pa.Table.from_pylist(rows, schema=pa.schema(types))
    backend.create_table("gen_customers", customers, overwrite=True)
    columns = {
        "event_id": pa.string(),
        "customer_id": pa.string(),
        "timestamp": pa.timestamp("us"),
        "type": pa.string(),
        "amount": pa.float64(),
        "quantity": pa.int64(),
        "product_id": pa.string(),
        "category": pa.string(),
        "channel": pa.string(),
        "order_id": pa.string(),
        "campaign": pa.string(),
        "discount": pa.float64(),
        "query": pa.string(),
        "properties": pa.string(),
    }
    events = [
        {**dict.fromkeys(columns), **e, "properties": json.dumps(e["properties"])}
        for e in world.events
    ]
    raw = pa.Table.from_pylist(events, schema=pa.schema(columns))
    backend.create_table("gen_raw", raw, overwrite=True)
    store.execute("DELETE FROM events")
    names = ", ".join(f'"{c}"' for c in columns if c != "properties")
    store.execute(
        f"INSERT INTO events ({names}, properties, load_id) "
        f"SELECT {names}, CAST(properties AS JSON), 1 FROM gen_raw"
    )
    return backend.table("gen_customers"), backend.table("events")


def _catalogs(world: World) -> tuple[dict[str, Any], dict[str, TraitDefinition]]:
    rules = {
        "generated": parse_definition({"name": "generated", "rule": world.rule}).rule,
        "helper": parse_definition({"name": "helper", "rule": world.helper}).rule,
    }
    types = {"t_base": "number", **TRAITS}
    traits = {
        name: TraitDefinition.model_validate({"name": name, "type": types[name], "value": value})
        for name, value in world.traits.items()
    }
    return rules, traits


def _cuts(rules: dict[str, Any], traits: dict[str, TraitDefinition]) -> dict[str, list[float]]:
    """Cut points for every score in the world (as if computed before), made up."""
    roots = [*rules.values(), *(d.value for d in traits.values())]
    scores = [n for root in roots for n in walk(root) if isinstance(n, ScoreExpr)]
    return {s.key: [0.5, 2.0, 30.0][: s.bins - 1] for s in scores}


def _check(world: World, rules: dict[str, Any], traits: dict[str, TraitDefinition]) -> None:
    """The generated rules are valid: the generator makes only what the checker accepts."""
    schema = Schema(
        attributes=ATTRIBUTES,
        traits={name: d.type for name, d in traits.items()},
        segments=frozenset(rules),
        event_types=frozenset(EVENT_TYPES),
        clusters={"by-age": AgeRun.clusters, "7": AgeRun.clusters},
        score_models=frozenset({"age-score"}),
    )
    for rule in rules.values():
        assert check_rule(rule, schema) == [], world
    for definition in traits.values():
        assert check_expr(definition.value, schema, traits=traits) == [], world


def _batch(store: Store, world: World, rules: dict[str, Any], traits: Any, cuts: Any) -> Any:
    customers, events = _tables(store, world)
    clock = Clock(world.as_of, world.zone)
    compiler = BatchCompiler(
        customers,
        events,
        clock,
        attribute_types=ATTRIBUTES,
        segment_rule=rules.__getitem__,
        trait_definition=traits.__getitem__,
        cuts=cuts,
        clusters=_lookup,
        identities=_identities(store, world),
        scores=_score_lookup,
    )
    lowered = compiler.segment("generated")
    values = {name: compiler.trait(name) for name in TRAITS}
    table = compiler.table(merged=world.merged)
    result = table.select(
        "customer_id", member=lowered(table), **{n: f(table) for n, f in values.items()}
    )
    return {r["customer_id"]: r for r in result.to_pyarrow().to_pylist()}, customers, events


def _profiles(customers: ibis.Table, events: ibis.Table, world: World) -> list[Profile]:
    """One profile per customer, from the rows the batch compiler read."""
    held = {c["customer_id"]: frozenset(c["_identities"]) for c in world.customers}
    by_customer: dict[str, list[dict[str, Any]]] = {}
    for event in events.drop("load_id").to_pyarrow().to_pylist():
        by_customer.setdefault(event["customer_id"], []).append(event)
    return [
        Profile(
            customer_id=row["customer_id"],
            attributes={k: v for k, v in row.items() if k != "customer_id"},
            events=by_customer.get(row["customer_id"], []),
            attribute_types=ATTRIBUTES,
            identities=held[row["customer_id"]],
        )
        for row in customers.to_pyarrow().to_pylist()
    ]


def _agree(store: Store, world: World) -> None:
    rules, traits = _catalogs(world)
    _check(world, rules, traits)
    cuts = _cuts(rules, traits)
    batch, customers, events = _batch(store, world, rules, traits, cuts)
    clock = Clock(world.as_of, world.zone)
    for profile in _profiles(customers, events, world):
        attributes = profile.attributes

        def models(expr: Any, _events: Any, _clock: Clock, row: Any = attributes) -> Any:
            return row[expr.column]

        one = ProfileEvaluator(
            profile,
            clock,
            segment_rule=rules.__getitem__,
            trait_definition=traits.__getitem__,
            cuts=cuts,
            models=models,
            clusters=_lookup,
            scores=_score_lookup,
        )
        row = batch[profile.customer_id]
        assert one.segment("generated") == row["member"], (profile.customer_id, world)
        for name in TRAITS:
            assert _same(one.trait(name), row[name]), (name, profile.customer_id, world)


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, str | bool) or isinstance(b, str | bool):
        return type(a) is type(b) and a == b
    return bool(a == b or abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(a))))


@settings(max_examples=40, **_SETTINGS)
@given(world=worlds(depth=2))
def test_generated_rules_agree(stores: dict[str, Store], world: World) -> None:
    _agree(stores[world.zone], world)


@pytest.mark.slow
@settings(max_examples=150, **_SETTINGS)
@given(world=worlds(depth=4))
def test_generated_rules_agree_at_length(stores: dict[str, Store], world: World) -> None:
    _agree(stores[world.zone], world)


# -- every kind has a generator case ----------------------------------------------------------


def test_every_kind_and_operator_is_generated() -> None:
    assert set(RULE_CASES) == set(KINDS)
    assert set(EXPR_CASES) == set(EXPR_KINDS)
    generated_ops = {op for ops in ATTRIBUTE_OPERATORS.values() for op in ops}
    assert generated_ops == set(OPERATORS)
    for kind in OPERATORS_BY_TYPE:
        if kind != "json":  # a property's type: generated by the where filters
            assert kind in ATTRIBUTE_OPERATORS, f"no attribute of type {kind} is generated"
            assert set(ATTRIBUTE_OPERATORS[kind]) == OPERATORS_BY_TYPE[kind]
    aggregates = get_args(AggregateExpr.model_fields["aggregate"].annotation)
    assert set(EXPR_AGGREGATES) == set(aggregates)
    assert set(EVENT_AGGREGATES) == {"count", "sum", "avg", "min", "max", "distinct"}
    assert set(EVENT_AGGREGATES) >= {
        name for name in EventRule.model_fields if name not in ("event", "where", "window")
    }
