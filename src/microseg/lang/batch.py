"""The batch evaluator: rules lowered to Ibis expressions over every customer at once.

Every event rule of every segment becomes one conditional aggregate of a single
``group_by(customer_id)`` pass over the events; rules then become boolean columns over
the customers joined with those aggregates. Sequences need ordered pairs of events and
are computed by joins, one per step. Values from rules reach the backend only as Ibis
literals, never as SQL text.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from microseg._duration import parse_duration
from microseg.lang._expr import (
    AddExpr,
    AggregateExpr,
    AttributeExpr,
    CaseExpr,
    CoalesceExpr,
    DaysSinceExpr,
    DivExpr,
    Expr,
    MaxOfExpr,
    MinOfExpr,
    ModelExpr,
    MulExpr,
    ScoreExpr,
    SubExpr,
    TraitDefinition,
    TraitExpr,
    ValueExpr,
)
from microseg.lang._nodes import (
    AllRule,
    AnyRule,
    AttributeRule,
    BucketRule,
    EventRule,
    NotRule,
    Predicate,
    PropertyPredicate,
    Rule,
    SegmentRule,
    SequenceRule,
    SequenceStep,
    TraitRule,
    Window,
)
from microseg.lang._schema import DERIVED_TIME_PROPERTIES, EVENT_PROPERTY_TYPES
from microseg.lang._values import _is_number
from microseg.lang._when import Clock
from microseg.lang.profile import _operands

__all__ = ["BatchCompiler"]


@ibis.udf.scalar.builtin(name="md5_number_lower")  # type: ignore[untyped-decorator]
def _md5_low(value: str) -> dt.UInt64:
    """DuckDB's low 64 bits of md5, as in :func:`microseg.lang._values.bucket_of`."""


@ibis.udf.scalar.builtin(name="timezone")  # type: ignore[untyped-decorator]
def _utc_instant(zone: str, ts: dt.timestamp) -> dt.Timestamp(timezone="UTC"):  # type: ignore[valid-type]
    """DuckDB's timezone(): a naive timestamp read in ``zone``, as an instant."""


@ibis.udf.scalar.builtin(name="timezone")  # type: ignore[untyped-decorator]
def _instant_to_local(zone: str, ts: dt.Timestamp(timezone="UTC")) -> dt.timestamp:  # type: ignore[valid-type]
    """DuckDB's timezone(): an instant as local time in ``zone`` (naive)."""


def _lit(value: Any) -> ir.Value:
    return ibis.literal(value)


class BatchCompiler:
    """Lower rules for one ``as_of`` over ``customers`` and ``events`` Ibis tables.

    Call :meth:`rule` for each rule (collecting aggregates), then :meth:`table` to get the
    customers joined with every aggregate, and evaluate the returned deferred expressions
    on it.
    """

    def __init__(
        self,
        customers: ir.Table,
        events: ir.Table,
        clock: Clock,
        *,
        attribute_types: dict[str, str],
        segment_rule: Callable[[str], Rule] | None = None,
        trait_definition: Callable[[str], TraitDefinition] | None = None,
        cuts: dict[str, list[float]] | None = None,
    ) -> None:
        self.customers = customers
        self.events = events.filter(events.timestamp < _lit(clock.as_of))
        self.clock = clock
        self.attribute_types = attribute_types
        self.segment_rule = segment_rule
        self.trait_definition = trait_definition
        self.cuts = cuts or {}
        self._traits: dict[str, Callable[[ir.Table], ir.Value]] = {}
        self._aggregates: dict[str, ir.Scalar] = {}
        self._defaults: dict[str, Any] = {}
        self._keys: dict[str, str] = {}
        self._sequences: dict[str, ir.Table] = {}
        self._modes: dict[str, ir.Table] = {}
        self._segments: dict[str, Callable[[ir.Table], ir.BooleanValue]] = {}

    # -- the joined table ------------------------------------------------------------------

    def table(self) -> ir.Table:
        base = self.customers
        if self._aggregates:
            agg = self.events.group_by("customer_id").aggregate(**self._aggregates)
            base = base.left_join(agg, "customer_id").drop("customer_id_right")
            fills = {k: v for k, v in self._defaults.items() if v is not None}
            if fills:
                base = base.mutate(**{k: base[k].fill_null(v) for k, v in fills.items()})
        for name, top in self._modes.items():
            base = base.left_join(top.rename({name: "_v"}), "customer_id").drop("customer_id_right")
        for name, holders in self._sequences.items():
            marked = holders.select("customer_id").distinct().mutate(**{name: ibis.literal(True)})
            base = base.left_join(marked, "customer_id").drop("customer_id_right")
            base = base.mutate(**{name: base[name].fill_null(False)})
        return base

    # -- rules ------------------------------------------------------------------------------

    def rule(self, rule: Rule) -> Callable[[ir.Table], ir.BooleanValue]:
        """A function of the joined table giving the rule's (never null) boolean column."""
        if isinstance(rule, AllRule | AnyRule):
            parts = [self.rule(r) for r in (rule.all if isinstance(rule, AllRule) else rule.any)]
            both = isinstance(rule, AllRule)

            def combine(t: ir.Table) -> ir.BooleanValue:
                result = parts[0](t)
                for part in parts[1:]:
                    result = (result & part(t)) if both else (result | part(t))
                return result

            return combine
        if isinstance(rule, NotRule):
            inner = self.rule(rule.not_)
            return lambda t: ~inner(t)
        if isinstance(rule, AttributeRule):
            kind = self.attribute_types.get(rule.attribute, "text")
            return lambda t: self._compare(rule, t[rule.attribute], kind)
        if isinstance(rule, TraitRule):
            trait = self.trait(rule.trait)
            kind = self.trait_definition(rule.trait).type if self.trait_definition else "number"
            return lambda t: self._compare(rule, trait(t), kind)
        if isinstance(rule, EventRule):
            return self._event(rule)
        if isinstance(rule, SequenceRule):
            return self._sequence(rule)
        if isinstance(rule, SegmentRule):
            return self.segment(rule.segment)
        if isinstance(rule, BucketRule):
            spec = rule.bucket

            def bucket(t: ir.Table) -> ir.BooleanValue:
                key = _lit(spec.salt + ":").concat(t.customer_id)
                value = (_md5_low(key) % 100).cast("int64")
                return (value >= spec.from_) & (value < spec.to)

            return bucket
        raise ValueError(f"no batch lowering for {type(rule).__name__}")

    def segment(self, name: str) -> Callable[[ir.Table], ir.BooleanValue]:
        if name not in self._segments:
            if self.segment_rule is None:
                raise ValueError(f"segment {name!r} referenced but no segments are known")
            self._segments[name] = self.rule(self.segment_rule(name))
        return self._segments[name]

    # -- comparisons ------------------------------------------------------------------------

    def _operand(self, kind: str, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return [self._operand(kind, v) for v in value]
        if kind == "date":
            return self.clock.day(value)
        if kind == "timestamp":
            return self.clock.instant(value)
        if kind == "number" or (kind == "json" and _is_number(value)):
            return float(value)
        return value

    def _compare(self, pred: Predicate, column: ir.Value, kind: str) -> ir.BooleanValue:
        op = pred.op
        operand = pred.operand
        if kind == "json":
            sample = operand[0] if isinstance(operand, list | tuple) and operand else operand
            if isinstance(sample, bool):
                column = column.bool
            elif _is_number(sample):
                column = column.float
            else:
                column = column.str
        if op == "is_null":
            return column.isnull() if operand else column.notnull()
        value = self._operand(kind, operand)
        if kind == "number" or (kind == "json" and _is_number(operand)):
            column = column.cast("float64")
        result = self._apply(op, column, value, kind)
        return result.fill_null(False)

    def _apply(self, op: str, col: Any, value: Any, kind: str) -> ir.BooleanValue:
        if kind == "list":
            lowered = col.map(lambda x: x.lower())
            if op == "contains":
                return lowered.contains(str(value).lower())
            parts = [lowered.contains(str(v).lower()) for v in value]
            result = parts[0]
            for part in parts[1:]:
                result = (result | part) if op == "contains_any" else (result & part)
            return result
        if op == "eq":
            return col == _lit(value)
        if op == "ne":
            return col != _lit(value)
        if op == "in":
            return col.isin(value)
        if op == "not_in":
            return col.notin(value)
        if op == "gt":
            return col > _lit(value)
        if op == "gte":
            return col >= _lit(value)
        if op == "lt":
            return col < _lit(value)
        if op == "lte":
            return col <= _lit(value)
        if op == "between":
            return col.between(_lit(value[0]), _lit(value[1]))
        text = col.cast("string").lower()
        if op == "contains":
            return text.contains(str(value).lower())
        if op in ("contains_any", "contains_all"):
            parts = [text.contains(str(v).lower()) for v in value]
            result = parts[0]
            for part in parts[1:]:
                result = (result | part) if op == "contains_any" else (result & part)
            return result
        if op == "starts_with":
            return text.startswith(str(value).lower())
        if op == "ends_with":
            return text.endswith(str(value).lower())
        if op == "matches":
            return col.cast("string").re_search("(?i)" + str(value))
        raise ValueError(f"no batch lowering for operator {op!r}")

    # -- events ------------------------------------------------------------------------------

    def _local_time(self) -> ir.TimestampValue:
        instant = _utc_instant("UTC", self.events.timestamp)
        return _instant_to_local(self.clock.timezone, instant)

    def _property(self, name: str) -> tuple[ir.Value, str]:
        if name in DERIVED_TIME_PROPERTIES:
            local = self._local_time()
            parts = {
                "month": local.month(),
                "day": local.day(),
                "weekday": local.day_of_week.index() + 1,
                "hour": local.hour(),
            }
            return parts[name].cast("float64"), "number"
        if name in EVENT_PROPERTY_TYPES:
            return self.events[name], EVENT_PROPERTY_TYPES[name]
        return self.events.properties[name], "json"

    def _window(self, window: Window | None) -> tuple[datetime | None, datetime]:
        if window is None:
            return None, self.clock.as_of
        return self.clock.window(window.last_duration, window.from_, window.to, window.since)

    def _matches(
        self, kind: str, where: list[PropertyPredicate], window: Window | None
    ) -> ir.BooleanValue:
        ev = self.events
        cond: ir.BooleanValue = ibis.literal(True)
        if kind != "any":
            cond = ev.type == _lit(kind)
        lower, upper = self._window(window)
        if lower is not None:
            cond = cond & (ev.timestamp >= _lit(lower))
        if upper < self.clock.as_of:
            cond = cond & (ev.timestamp < _lit(upper))
        for pred in where:
            column, prop_kind = self._property(pred.property)
            cond = cond & self._compare(pred, column, prop_kind)
        return cond

    def _aggregate(
        self,
        agg: str,
        kind: str,
        prop: str | None,
        where: list[PropertyPredicate],
        window: Window | None,
    ) -> tuple[str, str]:
        """Register a conditional aggregate of the single events pass; (column, type)."""
        key = json.dumps(
            [
                agg,
                kind,
                prop,
                [w.model_dump(mode="json", by_alias=True, exclude_none=True) for w in where],
                window.model_dump(mode="json", by_alias=True, exclude_none=True)
                if window
                else None,
            ],
            sort_keys=True,
        )
        value_kind = "number"
        if agg in ("min", "max") and prop is not None and self._property(prop)[1] == "timestamp":
            value_kind = "timestamp"
        if agg == "mode" and prop is not None:
            column, prop_kind = self._property(prop)
            value_kind = prop_kind
        if key not in self._keys:
            name = f"_e{len(self._keys)}"
            self._keys[key] = name
            cond = self._matches(kind, where, window)
            if agg == "mode" and prop is not None:
                self._modes[name] = self._mode(prop, cond)
            elif agg == "count" or prop is None:
                self._aggregates[name] = self.events.event_id.count(where=cond)
                self._defaults[name] = 0
            else:
                column, prop_kind = self._property(prop)
                if agg == "distinct":
                    if prop_kind == "json":
                        column = column.str
                    self._aggregates[name] = column.nunique(where=cond)
                    self._defaults[name] = 0
                else:
                    if prop_kind == "json":
                        column = column.float
                    if prop_kind != "timestamp":
                        column = column.cast("float64")
                    reducer = {"sum": "sum", "avg": "mean", "min": "min", "max": "max"}[agg]
                    self._aggregates[name] = getattr(column, reducer)(where=cond)
                    self._defaults[name] = 0.0 if agg == "sum" else None
        return self._keys[key], value_kind

    def _mode(self, prop: str, cond: ir.BooleanValue) -> ir.Table:
        """Most frequent value per customer among matching events; ties: the smallest."""
        column, kind = self._property(prop)
        if kind == "json":
            column = column.str
        chosen = self.events.mutate(_v=column).filter(cond)
        chosen = chosen.filter(chosen._v.notnull())
        counted = chosen.group_by(["customer_id", "_v"]).aggregate(_n=chosen.count())
        ranked = counted.mutate(
            _r=ibis.row_number().over(
                group_by="customer_id", order_by=[ibis.desc("_n"), ibis.asc("_v")]
            )
        )
        return ranked.filter(ranked._r == 0).select("customer_id", "_v")

    def _event(self, rule: EventRule) -> Callable[[ir.Table], ir.BooleanValue]:
        agg, test = rule.aggregate
        name, kind = self._aggregate(
            agg, rule.event, getattr(test, "property", None), rule.where, rule.window
        )
        return lambda t: self._compare(test, t[name], kind)

    # -- expressions (traits) ----------------------------------------------------------------

    def trait(self, name: str) -> Callable[[ir.Table], ir.Value]:
        if name not in self._traits:
            if self.trait_definition is None:
                raise ValueError(f"trait {name!r} referenced but no traits are known")
            self._traits[name] = self.value(self.trait_definition(name).value)
        return self._traits[name]

    def value(self, expr: Expr) -> Callable[[ir.Table], ir.Value]:
        """A function of the joined table giving the expression's column."""
        if isinstance(expr, ValueExpr):
            literal: Any = expr.value
            if literal is None:
                return lambda t: ibis.null()
            if _is_number(literal):
                return lambda t: ibis.literal(float(literal))
            return lambda t: ibis.literal(literal)
        if isinstance(expr, AttributeExpr):
            kind = self.attribute_types.get(expr.attribute, "text")
            if kind == "number":
                return lambda t: t[expr.attribute].cast("float64")
            return lambda t: t[expr.attribute]
        if isinstance(expr, TraitExpr):
            return self.trait(expr.trait)
        if isinstance(expr, AggregateExpr):
            name, _ = self._aggregate(
                expr.aggregate, expr.event, expr.property, expr.where, expr.window
            )
            return lambda t: t[name]
        if isinstance(expr, AddExpr | SubExpr | MulExpr | DivExpr):
            parts = [self.value(e) for e in _operands(expr)]

            def arithmetic(t: ir.Table) -> ir.Value:
                values = [p(t).cast("float64") for p in parts]
                if isinstance(expr, DivExpr):
                    return values[0] / values[1].nullif(0.0)
                result = values[0]
                for v in values[1:]:
                    if isinstance(expr, AddExpr):
                        result = result + v
                    elif isinstance(expr, SubExpr):
                        result = result - v
                    else:
                        result = result * v
                return result

            return arithmetic
        if isinstance(expr, CoalesceExpr):
            items = [self.value(e) for e in expr.coalesce]
            return lambda t: ibis.coalesce(*(i(t) for i in items))
        if isinstance(expr, MaxOfExpr | MinOfExpr):
            many = expr.max_of if isinstance(expr, MaxOfExpr) else expr.min_of
            items = [self.value(e) for e in many]
            pick = ibis.greatest if isinstance(expr, MaxOfExpr) else ibis.least
            return lambda t: pick(*(i(t) for i in items))
        if isinstance(expr, DaysSinceExpr):
            inner = self.value(expr.days_since)
            as_of = _lit(self.clock.as_of)

            def days(t: ir.Table) -> ir.Value:
                seconds = as_of.epoch_seconds() - inner(t).epoch_seconds()
                return (seconds / 86400).floor().cast("float64")

            return days
        if isinstance(expr, ScoreExpr):
            if expr.key not in self.cuts:
                raise ValueError("cut points for a score are missing: compute them first")
            cuts = self.cuts[expr.key]
            inner_value = self.value(expr.score)

            def score(t: ir.Table) -> ir.Value:
                v = inner_value(t).cast("float64")
                result: ir.Value = ibis.literal(1.0)
                for c in cuts:
                    beyond = (v > c) if expr.higher_is_better else (v < c)
                    result = result + beyond.ifelse(1.0, 0.0)
                return v.isnull().ifelse(ibis.null().cast("float64"), result)

            return score
        if isinstance(expr, ModelExpr):
            if expr.column not in self.customers.columns:
                raise ValueError("no fitted value model: run `microseg clv fit`")
            column = expr.column
            return lambda t: t[column]
        if isinstance(expr, CaseExpr):
            rows = [(self.rule(r.when), self.value(r.then)) for r in expr.case]
            otherwise = self.value(expr.else_) if expr.else_ is not None else None

            def case(t: ir.Table) -> ir.Value:
                branches = [(w(t), v(t)) for w, v in rows]
                return ibis.cases(*branches, else_=otherwise(t) if otherwise else None)

            return case
        raise ValueError(f"no batch lowering for {type(expr).__name__}")

    def _step_table(self, step: SequenceStep, window: Window | None = None) -> ir.Table:
        cond = self._matches(step.event, step.where, window)
        return self.events.filter(cond).select("customer_id", "timestamp").distinct()

    def _sequence(self, rule: SequenceRule) -> Callable[[ir.Table], ir.BooleanValue]:
        key = rule.model_dump_json(by_alias=True, exclude_none=True)
        if key not in self._keys:
            name = f"_s{len(self._keys)}"
            self._keys[key] = name
            spec = rule.sequence
            previous = self._step_table(spec.steps[0], spec.window)
            for step in spec.steps[1:]:
                within = parse_duration(step.within or "0 days").approx_timedelta()
                span = ibis.interval(seconds=int(within.total_seconds()))
                nxt = self._step_table(step).rename(n_customer="customer_id", n_ts="timestamp")
                link = (
                    (previous.customer_id == nxt.n_customer)
                    & (nxt.n_ts > previous.timestamp)
                    & (nxt.n_ts <= previous.timestamp + span)
                )
                if step.absent:
                    ripe = previous.filter(previous.timestamp + span <= _lit(self.clock.as_of))
                    link = (
                        (ripe.customer_id == nxt.n_customer)
                        & (nxt.n_ts > ripe.timestamp)
                        & (nxt.n_ts <= ripe.timestamp + span)
                    )
                    previous = ripe.anti_join(nxt, link)
                    break
                previous = (
                    previous.inner_join(nxt, link)
                    .select(customer_id="n_customer", timestamp="n_ts")
                    .distinct()
                )
            self._sequences[name] = previous
        name = self._keys[key]
        return lambda t: t[name]
