"""One customer's events, sorted and indexed once, for the per-profile interpreter.

:class:`ProfileIndex` keeps a customer's events by type in time order, with the filters
that rules share computed on first use; the real-time path keeps one per customer and
adds events as they arrive. :class:`~microseg.lang.profile.ProfileEvaluator` reads it.
"""

from __future__ import annotations

import bisect
import json
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from microseg.lang._dialect import local_time
from microseg.lang._nodes import PropertyPredicate, where_key
from microseg.lang._schema import (
    DERIVED_TIME_PROPERTIES,
    EVENT_PROPERTY_TYPES,
    ORDER_PROPERTY,
    ORDER_TIME_FORMAT,
)
from microseg.lang._semantics import json_value, property_kind
from microseg.lang._values import compare
from microseg.lang._when import Clock, is_time_text

__all__ = ["Event", "ProfileIndex", "order_of"]

Event = Mapping[str, Any]

#: per ``where`` list of the rules (by id; the list is kept, so its id is not reused while
#: it is here): its key and whether it compares with times relative to ``as_of``, worked
#: out once rather than at each evaluation (an index lives for one evaluation but on the
#: real-time path). Emptied when it holds this many (definitions read again and again).
_WHERE: dict[int, tuple[Sequence[PropertyPredicate], Any, bool]] = {}
_WHERE_KEPT = 4_096


def _property(event: Event, name: str, clock: Clock) -> Any:
    if name in DERIVED_TIME_PROPERTIES:
        local = local_time(event["timestamp"], clock.timezone)
        parts = {
            "month": local.month,
            "day": local.day,
            "weekday": local.isoweekday(),
            "hour": local.hour,
        }
        return float(parts[name])
    if name == ORDER_PROPERTY:
        return order_of(event)
    if name in EVENT_PROPERTY_TYPES:
        return event.get(name)
    props = event.get("properties")
    if isinstance(props, str):
        props = json.loads(props)
    return props.get(name) if isinstance(props, dict) else None


def order_of(event: Event) -> str:
    """The order an event belongs to: its ``order_id``, or without one its instant (so one
    customer's lines at one instant are one order)."""
    order_id = event.get("order_id")
    if isinstance(order_id, str) and order_id:  # a missing one may be None or NaN
        return order_id
    moment: datetime = event["timestamp"]
    return moment.strftime(ORDER_TIME_FORMAT)


class ProfileIndex:
    """One customer's events, sorted and indexed once, for evaluations at any ``as_of``.

    Events are grouped by type in time order; filters that rules share (``where`` lists)
    are computed on first use and kept. The real-time path keeps one index per customer and
    calls :meth:`add` when an event arrives: the event is inserted into every list and
    filter it belongs to, so nothing is rebuilt. Evaluators cut everything at their own
    ``as_of`` by bisection.
    """

    def __init__(self, events: Iterable[Event] = (), timezone: str = "UTC") -> None:
        self.timezone = timezone
        self._zone = Clock(datetime(2000, 1, 1), timezone)  # local time of derived properties
        self.events: list[Event] = sorted(events, key=operator.itemgetter("timestamp"))
        self._by_type: dict[str, list[Event]] = {"any": self.events}
        for event in self.events:
            self._by_type.setdefault(event["type"], []).append(event)
        self._times = {k: [e["timestamp"] for e in v] for k, v in self._by_type.items()}
        self._parsed: dict[int, dict[str, Any]] = {}
        self._indexes: dict[tuple[str, str], dict[Any, list[Event]]] = {}
        self._filters: dict[tuple[Any, ...], _Filter] = {}
        # property values aligned with the by-type lists: (kind, property, as_text) -> values
        self._type_values: dict[tuple[str, str, bool], list[Any]] = {}

    def times(self, kind: str) -> list[datetime]:
        return self._times.get(kind, [])

    def add(self, event: Event) -> None:
        """Insert one event (any time) into the lists, indexes and filters it belongs to."""
        moment = event["timestamp"]
        for kind in ("any", event["type"]):
            events = self._by_type.setdefault(kind, [])
            times = self._times.setdefault(kind, [])
            at = bisect.bisect_right(times, moment)
            events.insert(at, event)
            times.insert(at, moment)
            for (of, prop, as_text), values in self._type_values.items():
                if of == kind:
                    values.insert(at, self._value(event, prop, as_text))
        for (kind, prop), index in self._indexes.items():
            if kind in ("any", event["type"]):
                value = _property(event, prop, self._zone)
                if value is not None:
                    bisect.insort_right(
                        index.setdefault(value, []), event, key=operator.itemgetter("timestamp")
                    )
        for chosen in self._filters.values():
            if chosen.kind in ("any", event["type"]) and self.matches(
                event, chosen.where, chosen.clock
            ):
                at = bisect.bisect_right(chosen.times, moment)
                chosen.events.insert(at, event)
                chosen.times.insert(at, moment)
                for (prop, as_text), values in chosen.values.items():
                    values.insert(at, self._value(event, prop, as_text))

    def filtered(
        self, kind: str, where: Sequence[PropertyPredicate], clock: Clock
    ) -> tuple[list[Event], list[datetime]]:
        """All events of ``kind`` satisfying ``where``, in time order (memoised)."""
        if not where:
            return self._by_type.get(kind, []), self._times.get(kind, [])
        key = self._key(kind, where, clock)
        if key not in self._filters:
            candidates = self._by_type.get(kind, [])
            first, rest = where[0], list(where[1:])
            if first.op == "eq" and EVENT_PROPERTY_TYPES.get(first.property) in ("text", "number"):
                # an index of (type, property) -> value -> events, built once and shared
                candidates = self._index(kind, first.property).get(first.operand, [])
            else:
                rest = list(where)
            chosen = [e for e in candidates if self.matches(e, rest, clock)]
            self._filters[key] = _Filter(
                kind, list(where), clock, chosen, [e["timestamp"] for e in chosen]
            )
        found = self._filters[key]
        return found.events, found.times

    def values(
        self,
        kind: str,
        where: Sequence[PropertyPredicate],
        clock: Clock,
        prop: str,
        *,
        as_text: bool,
    ) -> list[Any]:
        """A property of every event of :meth:`filtered`, aligned with it (memoised).

        Numbers for sums and extremes (JSON values read as numbers, timestamps kept), or,
        with ``as_text``, values to count distinct (JSON values only when text).
        """
        events, _ = self.filtered(kind, where, clock)
        if not where:
            key = (kind, prop, as_text)
            if key not in self._type_values:
                self._type_values[key] = self._values(events, prop, as_text)
            return self._type_values[key]
        chosen = self._filters[self._key(kind, where, clock)]
        if (prop, as_text) not in chosen.values:
            chosen.values[(prop, as_text)] = self._values(events, prop, as_text)
        return chosen.values[(prop, as_text)]

    def _values(self, events: list[Event], prop: str, as_text: bool) -> list[Any]:
        """:meth:`_value` of each event; a column's values read at once (the property's
        kind looked up once, not per event)."""
        kind = EVENT_PROPERTY_TYPES.get(prop)
        if kind in (None, "json") or prop in DERIVED_TIME_PROPERTIES or prop == ORDER_PROPERTY:
            return [self._value(e, prop, as_text) for e in events]
        if as_text or kind == "timestamp":
            return [e.get(prop) for e in events]
        return [None if (v := e.get(prop)) is None else float(v) for e in events]

    def _value(self, event: Event, prop: str, as_text: bool) -> Any:
        prop_kind = property_kind(prop)
        value = _property(event, prop, self._zone)
        if prop_kind == "json":
            if as_text:
                return value if isinstance(value, str) else None
            return json_value(value, 0.0)
        if as_text or value is None or prop_kind == "timestamp":
            return value
        return float(value)

    def _key(self, kind: str, where: Sequence[PropertyPredicate], clock: Clock) -> tuple[Any, ...]:
        seen = _WHERE.get(id(where))
        if seen is None or seen[0] is not where:
            if len(_WHERE) >= _WHERE_KEPT:
                _WHERE.clear()
            seen = (where, where_key(where), any(_time_operand(p) for p in where))
            _WHERE[id(where)] = seen
        _, written, relative = seen
        return (kind, written, clock.as_of if relative else None)

    def _index(self, kind: str, prop: str) -> dict[Any, list[Event]]:
        if (kind, prop) not in self._indexes:
            index: dict[Any, list[Event]] = {}
            for event in self._by_type.get(kind, []):
                value = _property(event, prop, self._zone)
                if value is not None:
                    index.setdefault(value, []).append(event)
            self._indexes[(kind, prop)] = index
        return self._indexes[(kind, prop)]

    def matches(self, event: Event, where: Sequence[PropertyPredicate], clock: Clock) -> bool:
        for pred in where:
            prop_kind = property_kind(pred.property)
            if prop_kind == "json":
                value = self.properties(event).get(pred.property)
            else:
                value = _property(event, pred.property, clock)
            if pred.op == "eq" and prop_kind in ("text", "number"):
                if value is None or value != pred.operand:  # the common case, without compare
                    return False
            elif pred.op == "eq" and prop_kind == "json" and isinstance(pred.operand, str):
                if not isinstance(value, str) or value != pred.operand:
                    return False
            elif not compare(pred, value, prop_kind, clock):
                return False
        return True

    def properties(self, event: Event) -> Mapping[str, Any]:
        """An event's ``properties`` as a mapping (parsed once per event)."""
        props = event.get("properties")
        if isinstance(props, str):
            key = id(event)
            if key not in self._parsed:
                parsed = json.loads(props)
                self._parsed[key] = parsed if isinstance(parsed, dict) else {}
            return self._parsed[key]
        return props if isinstance(props, Mapping) else {}


@dataclass
class _Filter:
    """The events of one (type, where) filter, in time order, and how to test new ones."""

    kind: str
    where: list[PropertyPredicate]
    clock: Clock
    events: list[Event]
    times: list[datetime]
    values: dict[tuple[str, bool], list[Any]] = field(default_factory=dict)


def _time_operand(pred: PropertyPredicate) -> bool:
    """Whether a predicate compares with a time that depends on ``as_of``."""
    operand = pred.operand
    values = operand if isinstance(operand, list | tuple) else [operand]
    return any(is_time_text(v) for v in values)
