"""The per-profile evaluator: one customer's attributes and events, in Python, no database.

It interprets the same tree the batch compiler lowers to Ibis, and must agree with it for
every customer, segment and ``as_of`` (tests/lang/test_agreement.py proves it).
"""

from __future__ import annotations

import bisect
import json
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

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
    MulExpr,
    ScoreExpr,
    SubExpr,
    TraitDefinition,
    TraitExpr,
    ValueExpr,
    score_of,
)
from microseg.lang._nodes import (
    AllRule,
    AnyRule,
    AttributeRule,
    BucketRule,
    EventRule,
    NotRule,
    PropertyPredicate,
    Rule,
    SegmentRule,
    SequenceRule,
    SequenceStep,
    TraitRule,
    Window,
)
from microseg.lang._schema import DERIVED_TIME_PROPERTIES, EVENT_PROPERTY_TYPES
from microseg.lang._values import _is_number, bucket_of, compare, json_value
from microseg.lang._when import Clock

__all__ = ["Profile", "ProfileEvaluator"]

Event = Mapping[str, Any]


@dataclass(frozen=True)
class Profile:
    """One customer: attributes as of the evaluation, events (timestamps naive UTC)."""

    customer_id: str
    attributes: Mapping[str, Any] = field(default_factory=dict)
    events: Sequence[Event] = ()
    traits: Mapping[str, Any] = field(default_factory=dict)
    attribute_types: Mapping[str, str] = field(default_factory=dict)


def _property(event: Event, name: str, clock: Clock | None = None) -> Any:
    if name in DERIVED_TIME_PROPERTIES:
        if clock is None:
            raise ValueError(f"{name} needs the workspace time zone")
        local = clock.local(event["timestamp"])
        parts = {
            "month": local.month,
            "day": local.day,
            "weekday": local.isoweekday(),
            "hour": local.hour,
        }
        return float(parts[name])
    if name in EVENT_PROPERTY_TYPES:
        return event.get(name)
    props = event.get("properties")
    if isinstance(props, str):
        props = json.loads(props)
    return props.get(name) if isinstance(props, dict) else None


def _window_bounds(window: Window | None, clock: Clock) -> tuple[datetime | None, datetime]:
    if window is None:
        return None, clock.as_of
    return clock.window(window.last_duration, window.from_, window.to, window.since)


class ProfileEvaluator:
    """Evaluate rules for one profile at one ``as_of``.

    ``segment_rule`` maps a segment name to its full rule (parent included), for
    ``segment:`` references.
    """

    def __init__(
        self,
        profile: Profile,
        clock: Clock,
        *,
        segment_rule: Callable[[str], Rule] | None = None,
        trait_definition: Callable[[str], TraitDefinition] | None = None,
        cuts: Mapping[str, list[float]] | None = None,
    ) -> None:
        self.profile = profile
        self.cuts = cuts or {}
        self.clock = clock
        self.segment_rule = segment_rule
        self.trait_definition = trait_definition
        self._segments: dict[str, bool] = {}
        self._traits: dict[str, Any] = {}
        self.events = sorted(
            (e for e in profile.events if e["timestamp"] < clock.as_of),
            key=operator.itemgetter("timestamp"),
        )
        # events by type, each list in time order, with its timestamps for bisecting windows
        self._by_type: dict[str, list[Event]] = {"any": self.events}
        for event in self.events:
            self._by_type.setdefault(event["type"], []).append(event)
        self._times = {k: [e["timestamp"] for e in v] for k, v in self._by_type.items()}
        self._parsed: dict[int, dict[str, Any]] = {}
        self._indexes: dict[tuple[str, str], dict[Any, list[Event]]] = {}
        self._filters: dict[tuple[str, tuple[Any, ...]], tuple[list[Event], list[datetime]]] = {}

    def segment(self, name: str) -> bool:
        if name not in self._segments:
            if self.segment_rule is None:
                raise ValueError(f"segment {name!r} referenced but no segments are known")
            self._segments[name] = self.holds(self.segment_rule(name))
        return self._segments[name]

    def holds(self, rule: Rule) -> bool:
        if isinstance(rule, AllRule):
            return all(self.holds(r) for r in rule.all)
        if isinstance(rule, AnyRule):
            return any(self.holds(r) for r in rule.any)
        if isinstance(rule, NotRule):
            return not self.holds(rule.not_)
        if isinstance(rule, AttributeRule):
            kind = self._attribute_kind(rule.attribute)
            return compare(rule, self.profile.attributes.get(rule.attribute), kind, self.clock)
        if isinstance(rule, TraitRule):
            value = self.trait(rule.trait)
            kind = (
                "boolean"
                if isinstance(value, bool)
                else ("number" if isinstance(value, int | float) else "text")
            )
            if self.trait_definition is not None:
                kind = self.trait_definition(rule.trait).type
            return compare(rule, value, kind, self.clock)
        if isinstance(rule, EventRule):
            return self._event(rule)
        if isinstance(rule, SequenceRule):
            return self._sequence(rule)
        if isinstance(rule, SegmentRule):
            return self.segment(rule.segment)
        if isinstance(rule, BucketRule):
            spec = rule.bucket
            return spec.from_ <= bucket_of(self.profile.customer_id, spec.salt) < spec.to
        raise ValueError(f"no per-profile evaluation rule for {type(rule).__name__}")

    def _attribute_kind(self, name: str) -> str:
        if name in self.profile.attribute_types:
            return str(self.profile.attribute_types[name])
        value = self.profile.attributes.get(name)
        if isinstance(value, bool):
            return "boolean"
        if isinstance(value, int | float):
            return "number"
        if isinstance(value, datetime):
            return "timestamp"
        if isinstance(value, list | tuple):
            return "list"
        if hasattr(value, "isoformat"):
            return "date"
        return "text"

    def _select(
        self,
        kind: str,
        where: Sequence[PropertyPredicate],
        lower: datetime | None,
        upper: datetime,
    ) -> list[Event]:
        """Events of ``kind`` in [lower, upper) that satisfy ``where``, in time order."""
        events, times = self._filtered(kind, where)
        start = bisect.bisect_left(times, lower) if lower is not None else 0
        end = bisect.bisect_left(times, upper)
        return events[start:end]

    def _filtered(
        self, kind: str, where: Sequence[PropertyPredicate]
    ) -> tuple[list[Event], list[datetime]]:
        """All events of ``kind`` satisfying ``where`` (memoised: rules share filters)."""
        if not where:
            return self._by_type.get(kind, []), self._times.get(kind, [])
        key = (kind, tuple((p.property, p.op, repr(p.operand)) for p in where))
        if key not in self._filters:
            candidates = self._by_type.get(kind, [])
            first, rest = where[0], list(where[1:])
            if first.op == "eq" and EVENT_PROPERTY_TYPES.get(first.property) in ("text", "number"):
                # an index of (type, property) -> value -> events, built once and shared
                candidates = self._index(kind, first.property).get(first.operand, [])
            else:
                rest = list(where)
            chosen = [e for e in candidates if self._matches(e, "any", rest)]
            self._filters[key] = (chosen, [e["timestamp"] for e in chosen])
        return self._filters[key]

    def _index(self, kind: str, prop: str) -> dict[Any, list[Event]]:
        if (kind, prop) not in self._indexes:
            index: dict[Any, list[Event]] = {}
            for event in self._by_type.get(kind, []):
                value = _property(event, prop, self.clock)
                if value is not None:
                    index.setdefault(value, []).append(event)
            self._indexes[(kind, prop)] = index
        return self._indexes[(kind, prop)]

    def _matches(
        self,
        event: Event,
        kind: str,
        where: Sequence[PropertyPredicate],
    ) -> bool:
        if kind != "any" and event.get("type") != kind:
            return False
        for pred in where:
            prop_kind = EVENT_PROPERTY_TYPES.get(pred.property, "json")
            if prop_kind == "json":
                value = self._properties(event).get(pred.property)
            else:
                value = _property(event, pred.property, self.clock)
            if pred.op == "eq" and prop_kind in ("text", "number"):
                if value is None or value != pred.operand:  # the common case, without compare
                    return False
            elif pred.op == "eq" and prop_kind == "json" and isinstance(pred.operand, str):
                if not isinstance(value, str) or value != pred.operand:
                    return False
            elif not compare(pred, value, prop_kind, self.clock):
                return False
        return True

    def _properties(self, event: Event) -> Mapping[str, Any]:
        """An event's ``properties`` as a mapping (parsed once per event)."""
        props = event.get("properties")
        if isinstance(props, str):
            key = id(event)
            if key not in self._parsed:
                parsed = json.loads(props)
                self._parsed[key] = parsed if isinstance(parsed, dict) else {}
            return self._parsed[key]
        return props if isinstance(props, Mapping) else {}

    def _event(self, rule: EventRule) -> bool:
        value, kind = self.event_value(rule)
        return compare(rule.aggregate[1], value, kind, self.clock)

    def event_value(self, rule: EventRule) -> tuple[Any, str]:
        """The aggregate an event rule tests, and its type (number or timestamp)."""
        name, test = rule.aggregate
        prop = getattr(test, "property", None)
        return self.aggregate(name, rule.event, prop, rule.where, rule.window)

    def aggregate(
        self,
        name: str,
        kind: str,
        prop: str | None,
        where: Sequence[PropertyPredicate],
        window: Window | None,
    ) -> tuple[Any, str]:
        """count/sum/avg/min/max/distinct over the matching events, and its type."""
        lower, upper = _window_bounds(window, self.clock)
        chosen = self._select(kind, where, lower, upper)
        if name == "count" or prop is None:
            return float(len(chosen)), "number"
        prop_kind = EVENT_PROPERTY_TYPES.get(prop, "json")
        if name == "mode":
            counts: dict[Any, int] = {}
            for e in chosen:
                v = _property(e, prop, self.clock)
                if prop_kind == "json":
                    v = v if isinstance(v, str) else None
                if v is not None:
                    counts[v] = counts.get(v, 0) + 1
            if not counts:
                return None, prop_kind
            best = min(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]
            return best, prop_kind
        if name == "distinct":
            raw = [_property(e, prop, self.clock) for e in chosen]
            if prop_kind == "json":
                values = {v for v in raw if isinstance(v, str)}
            else:
                values = {v for v in raw if v is not None}
            return float(len(values)), "number"
        numbers = [_property(e, prop, self.clock) for e in chosen]
        if prop_kind == "json":
            numbers = [json_value(v, 0.0) for v in numbers]
        present = [v for v in numbers if v is not None]
        if prop_kind != "timestamp":
            present = [float(v) for v in present]
        value: Any
        if name == "sum":
            value = float(sum(present)) if present else 0.0
        elif not present:
            value = None
        elif name == "avg":
            value = float(sum(present)) / len(present)
        elif name == "min":
            value = min(present)
        else:
            value = max(present)
        return value, "timestamp" if prop_kind == "timestamp" else "number"

    # -- expressions (traits) ------------------------------------------------------------

    def trait(self, name: str) -> Any:
        if name in self.profile.traits:
            return self.profile.traits[name]
        if name not in self._traits:
            if self.trait_definition is None:
                raise ValueError(f"trait {name!r} referenced but no traits are known")
            self._traits[name] = self.value(self.trait_definition(name).value)
        return self._traits[name]

    def value(self, expr: Expr) -> Any:
        """The value of an expression for this profile (None when missing)."""
        if isinstance(expr, ValueExpr):
            literal: Any = expr.value
            return float(literal) if _is_number(literal) else literal
        if isinstance(expr, AttributeExpr):
            value: Any = self.profile.attributes.get(expr.attribute)
            return float(value) if _is_number(value) else value
        if isinstance(expr, TraitExpr):
            return self.trait(expr.trait)
        if isinstance(expr, AggregateExpr):
            return self.aggregate(
                expr.aggregate, expr.event, expr.property, expr.where, expr.window
            )[0]
        if isinstance(expr, AddExpr | SubExpr | MulExpr | DivExpr):
            return _arithmetic(expr, [self.value(e) for e in _operands(expr)])
        if isinstance(expr, CoalesceExpr):
            return next((v for v in (self.value(e) for e in expr.coalesce) if v is not None), None)
        if isinstance(expr, MaxOfExpr | MinOfExpr):
            items = expr.max_of if isinstance(expr, MaxOfExpr) else expr.min_of
            present = [v for v in (self.value(e) for e in items) if v is not None]
            if not present:
                return None
            return max(present) if isinstance(expr, MaxOfExpr) else min(present)
        if isinstance(expr, DaysSinceExpr):
            moment = self.value(expr.days_since)
            if moment is None:
                return None
            return float(math.floor((self.clock.as_of - moment).total_seconds() / 86400))
        if isinstance(expr, ScoreExpr):
            if expr.key not in self.cuts:
                raise ValueError(
                    "cut points for a score are missing: run `microseg traits compute`"
                )
            inner = self.value(expr.score)
            return score_of(inner, self.cuts[expr.key], higher_is_better=expr.higher_is_better)
        if isinstance(expr, CaseExpr):
            for row in expr.case:
                if self.holds(row.when):
                    return self.value(row.then)
            return self.value(expr.else_) if expr.else_ is not None else None
        raise ValueError(f"no per-profile evaluation rule for {type(expr).__name__}")

    def _step_events(self, step: SequenceStep) -> list[datetime]:
        return [
            e["timestamp"] for e in self._select(step.event, step.where, None, self.clock.as_of)
        ]

    def _sequence(self, rule: SequenceRule) -> bool:
        spec = rule.sequence
        lower, upper = _window_bounds(spec.window, self.clock)
        first = spec.steps[0]
        previous = sorted(
            {t for t in self._step_events(first) if (lower is None or t >= lower) and t < upper}
        )
        for step in spec.steps[1:]:
            within = parse_duration(step.within or "0 days").approx_timedelta()
            times = sorted(self._step_events(step))
            if step.absent:
                # some t whose whole period has passed with no event in (t, t + within]
                for t in previous:
                    if t + within > self.clock.as_of:
                        continue
                    nxt = bisect.bisect_right(times, t)
                    if nxt == len(times) or times[nxt] > t + within:
                        return True
                return False
            # events u with some previous t in [u - within, u)
            kept = []
            for u in times:
                i = bisect.bisect_left(previous, u - within)
                if i < len(previous) and previous[i] < u:
                    kept.append(u)
            previous = sorted(set(kept))
            if not previous:
                return False
        return bool(previous)


def _operands(expr: AddExpr | SubExpr | MulExpr | DivExpr) -> list[Expr]:
    if isinstance(expr, AddExpr):
        return list(expr.add)
    if isinstance(expr, SubExpr):
        return list(expr.sub)
    if isinstance(expr, MulExpr):
        return list(expr.mul)
    return list(expr.div)


def _arithmetic(expr: AddExpr | SubExpr | MulExpr | DivExpr, values: list[Any]) -> Any:
    if any(v is None for v in values):
        return None
    numbers = [float(v) for v in values]
    if isinstance(expr, AddExpr):
        return float(sum(numbers))
    if isinstance(expr, SubExpr):
        return numbers[0] - numbers[1]
    if isinstance(expr, MulExpr):
        return float(math.prod(numbers))
    return None if numbers[1] == 0 else numbers[0] / numbers[1]
