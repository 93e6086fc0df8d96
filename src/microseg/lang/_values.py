"""Operator semantics on Python values: the reference the batch lowering must match.

A comparison on a missing value is false; ``is_null`` asks for missing values. ``eq``,
``ne``, ``in`` and ``not_in`` are exact; ``contains``, ``starts_with``, ``ends_with`` and
``matches`` ignore case; ``matches`` is an RE2 search (:mod:`microseg.lang._regex`).
Properties outside the promoted columns are JSON values: an operand of text matches only
text values, a number only numbers, a boolean only booleans.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from microseg.lang._dialect import bucket_of, regex_search
from microseg.lang._nodes import Predicate
from microseg.lang._semantics import json_value, operand
from microseg.lang._when import Clock

__all__ = ["AGGREGATE_DECIMALS", "bucket_of", "compare", "json_value", "round_aggregate"]


#: Decimals kept of sums and averages (of amounts above all), in both evaluators.
AGGREGATE_DECIMALS = 9


def round_aggregate(value: float) -> float:
    """``value`` rounded to :data:`AGGREGATE_DECIMALS` decimals exactly as DuckDB's
    ``round(x, 9)`` does it (half away from zero, on ``x * 1e9``), bit for bit.

    Sums of decimal amounts depend on the order of addition in their last bits: 53.96,
    56.22, 104.95 and 104.87 average to 79.99999999999999 or to 80.0. Rounded, they are
    80.0 whichever order the batch plan or the interpreter adds them in, so a threshold
    that an amount meets exactly is met both ways.
    """
    scaled = value * 1e9
    if not math.isfinite(scaled):
        return value
    size = abs(scaled)
    whole = math.floor(size)
    rounded = math.copysign(whole + (1.0 if size - whole >= 0.5 else 0.0), scaled) / 1e9
    return rounded if math.isfinite(rounded) else value


def compare(pred: Predicate, value: Any, kind: str, clock: Clock) -> bool:  # noqa: C901 - one case per operator (lang/_nodes.OPERATORS)
    """Apply ``pred`` to ``value`` of type ``kind``."""
    op = pred.op
    if kind == "json":
        value = json_value(value, pred.operand)
    if op == "is_null":
        return (value is None) == bool(pred.operand)
    if value is None:
        return False
    wanted = operand(kind, pred.operand, clock)
    if kind == "number" or (kind == "json" and isinstance(value, float)):
        value = float(value)
    if kind == "date" and isinstance(value, datetime):
        value = value.date()
    if kind == "list":
        items = [str(v).lower() for v in value]
        if op == "contains":
            return str(wanted).lower() in items
        if op == "contains_any":
            return any(str(o).lower() in items for o in wanted)
        if op == "contains_all":
            return all(str(o).lower() in items for o in wanted)
        return False
    if op == "eq":
        return bool(value == wanted)
    if op == "ne":
        return bool(value != wanted)
    if op == "in":
        return value in wanted
    if op == "not_in":
        return value not in wanted
    if op in ("gt", "gte", "lt", "lte", "between"):
        return _ordered(op, value, wanted)
    text = str(value).lower()
    if op == "contains":
        return str(wanted).lower() in text
    if op == "contains_any":
        return any(str(o).lower() in text for o in wanted)
    if op == "contains_all":
        return all(str(o).lower() in text for o in wanted)
    if op == "starts_with":
        return text.startswith(str(wanted).lower())
    if op == "ends_with":
        return text.endswith(str(wanted).lower())
    if op == "matches":
        return regex_search(str(value), str(wanted))
    raise AssertionError(f"no evaluation rule for operator {op!r}")  # OPERATORS has a case


def _ordered(op: str, value: Any, operand: Any) -> bool:
    try:
        if op == "gt":
            return bool(value > operand)
        if op == "gte":
            return bool(value >= operand)
        if op == "lt":
            return bool(value < operand)
        if op == "lte":
            return bool(value <= operand)
        low, high = operand
        return bool(low <= value <= high)
    except TypeError:  # e.g. a date against a number: never true
        return False
