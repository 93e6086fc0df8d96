"""Type checking an expression (a trait's value) against the workspace, before it runs.

The expression half of :mod:`microseg.lang._check`: every problem is collected as
(field path, message); the rules of ``case`` rows are checked by :func:`check_rule`. Which
traits exist is the caller's (the trait catalog's) to say: ``traits`` are the names
defined, ``broken`` the reasons of those left out.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import assert_never

from microseg.core.text import did_you_mean
from microseg.lang._check import (
    Warning_,
    check_event_type,
    check_property,
    check_rule,
    check_where,
    check_window,
)
from microseg.lang._expr import (
    AddExpr,
    AggregateExpr,
    AttributeExpr,
    CaseExpr,
    CoalesceExpr,
    DaysSinceExpr,
    DivExpr,
    Expr,
    ExprNode,
    MaxOfExpr,
    MinOfExpr,
    ModelExpr,
    MulExpr,
    ScoreExpr,
    SubExpr,
    TraitExpr,
    ValueExpr,
)
from microseg.lang._schema import Schema
from microseg.lang._walk import nodes_below

__all__ = ["check_expr"]


def check_expr(
    expr: Expr,
    schema: Schema,
    *,
    traits: Collection[str],
    broken: Mapping[str, str] | None = None,
    path: str = "value",
) -> list[tuple[str, str]]:
    """All problems of ``expr`` as (field path, message), in written order.

    ``traits`` are the trait names that exist; ``broken`` maps a left-out trait to why.
    """
    found = _check(expr, schema, traits, broken or {}, path)
    return [(p, m) for p, m in found if not isinstance(m, Warning_)]


def _check(
    expr: Expr, schema: Schema, traits: Collection[str], broken: Mapping[str, str], path: str
) -> Iterator[tuple[str, str]]:
    match expr:
        case TraitExpr():
            if expr.trait in broken:
                yield path, f"uses the trait {expr.trait!r}, which is broken: {broken[expr.trait]}"
            elif expr.trait not in traits:
                yield path, f"unknown trait {expr.trait!r}{did_you_mean(expr.trait, traits)}"
        case AttributeExpr():
            if expr.attribute not in schema.attributes:
                yield path, f"unknown attribute {expr.attribute!r}"
        case AggregateExpr():
            yield from check_event_type(expr.event, schema, f"{path}.event")
            yield from check_where(expr.where, path, schema)
            if expr.property is not None:
                yield from check_property(expr.property, schema, f"{path}.property")
            yield from check_window(expr.window, path)
        case CaseExpr():
            for row in expr.case:
                yield from check_rule(row.when, schema, f"{path}.case.when")
        case DaysSinceExpr():
            if not _is_time(expr.days_since):
                yield (
                    f"{path}.days_since",
                    "needs a timestamp, e.g. the max of property timestamp",
                )
        case (
            ValueExpr()
            | AddExpr()
            | SubExpr()
            | MulExpr()
            | DivExpr()
            | CoalesceExpr()
            | MaxOfExpr()
            | MinOfExpr()
            | ScoreExpr()
            | ModelExpr()
        ):
            pass  # nothing of their own to check; their operands are checked below
        case _:
            assert_never(expr)
    for below in _expressions_below(expr):
        yield from _check(below, schema, traits, broken, path)


def _expressions_below(expr: Expr) -> list[Expr]:
    """The expressions directly below ``expr`` (not the rules of its ``case`` rows)."""
    if isinstance(expr, CaseExpr):
        found = [row.then for row in expr.case]
        return found + ([expr.else_] if expr.else_ is not None else [])
    return [node for node in nodes_below(expr) if isinstance(node, ExprNode)]


def _is_time(expr: Expr) -> bool:
    return (
        isinstance(expr, AggregateExpr)
        and expr.aggregate in ("min", "max")
        and (expr.property == "timestamp")
    )
