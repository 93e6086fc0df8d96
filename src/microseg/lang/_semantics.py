"""What both evaluators mean by a rule: the decisions the batch compiler and the per-profile
interpreter share, written once.

How an operand is read for a type (relative times resolved, numbers as floats), which events
a window spans, which typed view of a JSON property an operand compares with, what type an
event property has, the operands of arithmetic, the steps of a sequence that count and how
long each may follow the one before. The batch compiler turns these into Ibis expressions,
the interpreter applies them to Python values; neither decides any of them on its own.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from microseg.core.duration import parse_duration
from microseg.lang._expr import AddExpr, DivExpr, Expr, MulExpr, SubExpr
from microseg.lang._nodes import SequenceSpec, SequenceStep, Window
from microseg.lang._schema import DERIVED_TIME_PROPERTIES, EVENT_PROPERTY_TYPES
from microseg.lang._when import Clock

__all__ = [
    "JsonView",
    "aggregate_kind",
    "arithmetic_operands",
    "empty_aggregate",
    "is_number",
    "json_value",
    "json_view",
    "live_steps",
    "operand",
    "property_kind",
    "step_span",
    "window_bounds",
]

#: The typed views of a JSON property: as a boolean, a number or text.
JsonView = Literal["bool", "float", "str"]


def is_number(value: object) -> bool:
    """Whether ``value`` is a number (a boolean is not)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def operand(kind: str, value: Any, clock: Clock) -> Any:
    """A rule's operand as a value of type ``kind``: times resolved, numbers as floats."""
    if isinstance(value, list | tuple):
        return [operand(kind, v, clock) for v in value]
    if kind == "date":
        return clock.day(value)
    if kind == "timestamp":
        return clock.instant(value)
    if kind == "number" or (kind == "json" and is_number(value)):
        return float(value)
    return value


def window_bounds(window: Window | None, clock: Clock) -> tuple[datetime | None, datetime]:
    """[lower, upper) of the events a window spans (no lower bound when None)."""
    if window is None:
        return None, clock.as_of
    return clock.window(window.last_duration, window.from_, window.to, window.since)


def json_view(value: Any) -> JsonView:
    """Which typed view of a JSON property an operand compares with: bool, float or str."""
    sample = value[0] if isinstance(value, list | tuple) and value else value
    if isinstance(sample, bool):
        return "bool"
    if is_number(sample):
        return "float"
    return "str"


def json_value(value: Any, operand: Any) -> Any:
    """A JSON property value as the operand's view sees it (None when the types differ)."""
    view = json_view(operand)
    if view == "bool":
        return value if isinstance(value, bool) else None
    if view == "float":
        return float(value) if is_number(value) else None
    return value if isinstance(value, str) else None


def property_kind(name: str) -> str:
    """The type of an event property: a promoted column's, derived times' or ``json``."""
    if name in DERIVED_TIME_PROPERTIES:
        return "number"
    return EVENT_PROPERTY_TYPES.get(name, "json")


def aggregate_kind(agg: str, prop: str | None) -> str:
    """The type of an aggregate's value: a number, or a timestamp (the extremes of
    ``timestamp``), or the property's own type (a ``mode``)."""
    if prop is None or agg in ("count", "distinct"):
        return "number"
    kind = property_kind(prop)
    if agg == "mode":
        return kind
    return "timestamp" if agg in ("min", "max") and kind == "timestamp" else "number"


def empty_aggregate(agg: str, prop: str | None) -> float | None:
    """An aggregate's value over no events: 0 counts and sums, missing otherwise."""
    if prop is None or agg in ("count", "distinct", "sum"):
        return 0.0
    return None


def arithmetic_operands(expr: AddExpr | SubExpr | MulExpr | DivExpr) -> list[Expr]:
    """The operands of an arithmetic expression, in order."""
    if isinstance(expr, AddExpr):
        return list(expr.add)
    if isinstance(expr, SubExpr):
        return list(expr.sub)
    if isinstance(expr, MulExpr):
        return list(expr.mul)
    return list(expr.div)


def step_span(step: SequenceStep) -> timedelta:
    """How long after the step before a step may happen (months and years approximated)."""
    return parse_duration(step.within or "0 days").approx_timedelta()


def live_steps(sequence: SequenceSpec) -> list[SequenceStep]:
    """The steps the evaluators read: up to and including the first absent one."""
    steps = []
    for step in sequence.steps:
        steps.append(step)
        if step.absent:
            break
    return steps
