"""The language's registries, its one walker, exhaustive visitors and the dialect seam."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from pydantic import ValidationError

from microseg.core.errors import MicrosegError, TimeInputError
from microseg.lang import (
    EXPR_KINDS,
    EXPR_MODELS,
    KINDS,
    RULE_MODELS,
    AttributeRule,
    Clock,
    EvaluationError,
    NotRule,
    Schema,
    SegmentRule,
    TraitRule,
    check_rule,
    children,
    parse_definition,
    segment_references,
    walk,
    walk_expr,
)
from microseg.lang._dialect import Dialect, bucket_of, local_time, regex_search
from microseg.lang._expr import CaseExpr, TraitDefinition, TraitExpr
from microseg.lang._walk import nodes_below
from microseg.lang.profile import Profile, ProfileEvaluator
from microseg.store import DuckDBDialect, Store

RULE = {
    "all": [
        {"attribute": "age", "gt": 3},
        {"not": {"segment": "other"}},
        {"any": [{"trait": "t", "eq": 1}, {"event": "purchase"}]},
    ]
}


def _rule(data: dict[str, Any]) -> Any:
    return parse_definition({"name": "s", "rule": data}).rule


def test_the_registries_generate_kinds_models_and_unions() -> None:
    assert tuple(RULE_MODELS) == KINDS
    assert tuple(EXPR_MODELS) == EXPR_KINDS
    for kind, model in {**RULE_MODELS, **EXPR_MODELS}.items():
        assert kind == model.KIND
    with pytest.raises(ValidationError, match="exactly one of: " + ", ".join(KINDS)):
        RULE_MODELS["all"].model_validate({"all": [{"attribute": "a", "segment": "b"}]})
    with pytest.raises(MicrosegError, match="unknown rule kind"):
        _rule({"nothing": 1})


def test_walk_yields_every_node_in_written_order() -> None:
    rule = _rule(RULE)
    kinds = [type(n).KIND for n in walk(rule)]
    assert kinds == ["all", "attribute", "not", "segment", "any", "trait", "event"]
    assert [type(n).KIND for n in children(rule)] == ["attribute", "not", "any"]
    assert segment_references(rule) == {"other"}


def test_walk_enters_rules_inside_case_expressions() -> None:
    definition = TraitDefinition.model_validate(
        {
            "name": "x",
            "value": {
                "add": [
                    {"trait": "a"},
                    {
                        "case": [{"when": {"trait": "b", "eq": 1}, "then": {"trait": "c"}}],
                        "else": {"value": 0},
                    },
                ]
            },
        }
    )
    found = list(walk(definition.value))
    assert [type(n).KIND for n in found] == ["add", "trait", "case", "trait", "trait", "value"]
    assert {n.trait for n in found if isinstance(n, TraitExpr | TraitRule)} == {"a", "b", "c"}
    assert walk_expr(definition.value) == found
    case = next(n for n in found if isinstance(n, CaseExpr))
    assert [type(n).KIND for n in nodes_below(case)] == ["trait", "trait", "value"]


def test_walk_needs_no_recursion() -> None:
    rule = _rule({"attribute": "age", "gt": 1})
    for _ in range(5000):
        rule = NotRule(**{"not": rule})
    assert sum(1 for _ in walk(rule)) == 5001


def test_visitors_refuse_what_is_not_a_node() -> None:
    """``assert_never`` at the end of each visitor: nothing passes silently at run time."""
    schema = Schema(attributes={"age": "number"})
    stranger: Any = object()
    with pytest.raises(AssertionError):
        check_rule(stranger, schema)
    with pytest.raises(AssertionError):
        list(walk(stranger))
    evaluator = ProfileEvaluator(Profile("c"), Clock(datetime(2026, 1, 1)))
    with pytest.raises(AssertionError):
        evaluator.holds(stranger)
    with pytest.raises(AssertionError):
        evaluator.value(stranger)


def test_evaluation_errors_are_typed_and_say_what_to_do() -> None:
    evaluator = ProfileEvaluator(Profile("c"), Clock(datetime(2026, 1, 1)))
    with pytest.raises(EvaluationError, match="no segments are known") as info:
        evaluator.holds(SegmentRule(segment="x"))
    assert isinstance(info.value, ValueError)
    assert info.value.hint
    with pytest.raises(TimeInputError, match="is not a time"):
        Clock(datetime(2026, 1, 1)).instant("soon")
    rule = AttributeRule.model_validate({"attribute": "age", "eq": 1})
    assert not evaluator.holds(rule)


# -- the dialect and its Python twins -----------------------------------------------------------


def test_duckdb_dialect_matches_its_python_twins(tmp_path: Any) -> None:
    dialect: Dialect = DuckDBDialect()
    store = Store(tmp_path / "d.duckdb", timezone="Europe/Paris")
    try:
        ids = [f"customer-{n}" for n in range(200)] + ["", "é ü", "x'y"]
        start = datetime(2026, 3, 29, 0, 30)
        moments = [start + timedelta(minutes=17 * n) for n in range(200)]
        moments += [datetime(1969, 7, 20, 20, 17), datetime(2026, 10, 25, 0, 59, 59, 999999)]
        moments += [start] * (len(ids) - len(moments))
        data = pa.table({"customer_id": ids, "ts": pa.array(moments, pa.timestamp("us"))})
        table = store.ibis.create_table("dialect_rows", data)
        for zone in ("Europe/Paris", "America/New_York", "UTC"):
            rows = (
                table.select(
                    "customer_id",
                    "ts",
                    bucket=dialect.bucket(table.customer_id, "spring"),
                    local=dialect.local_time(table.ts, zone),
                    hit=dialect.regex_search(table.customer_id, "^CUSTOMER-1[0-4]$"),
                )
                .to_pyarrow()
                .to_pylist()
            )
            for row in rows:
                assert row["bucket"] == bucket_of(row["customer_id"], "spring")
                assert row["local"] == local_time(row["ts"], zone).replace(tzinfo=None)
                assert row["hit"] == regex_search(row["customer_id"], "^CUSTOMER-1[0-4]$")
    finally:
        store.close()
