"""The events side of the batch evaluator: what rules read from the events, as queries.

Rules register what they need (conditional aggregates, modes, sequences) while they are
lowered; :meth:`EventQueries.join` then builds the queries, once everything is known:

- aggregates are grouped into passes over the events, one ``group_by(customer_id)`` each:
  an event type with many aggregates gets a pass over its own events, the others share one;
  distinct counts of one property share a part, from distinct (customer, value) pairs
  flagged for each count (the order counts of the built-in traits are such counts);
- each part (a pass, a distinct count, a mode, the sequences) reads the events on its own,
  with a column for each JSON property view and local-time part it uses, computed once per
  event: parsing JSON and converting time zones cost far more than comparing;
- all sequences are decided in one pass over the events that match any step, by window
  functions over each customer's events in time order
  (:mod:`~microseg.lang._batch_sequences`): DuckDB runs them as partitioned sorts, which
  spill to disk, unlike the range joins of event pairs they replace;
- the parts' per-customer rows are joined to the customers; or, for shops too large for
  that in DuckDB's memory, merged by one aggregation first, then joined once.

In the merged plan every large step is an aggregation, a sort or a single join, which DuckDB
spills to disk: memory stays within its limit at 10M customers. No part shares a derived
table with another: Ibis would write it as a common table expression, which DuckDB
materializes in full. Values from rules reach the backend only as Ibis literals.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.types as ir

from microseg.core.errors import StoreMemoryError
from microseg.lang._batch_filters import EventFilter, event_types
from microseg.lang._batch_sequences import sequence_table
from microseg.lang._dialect import Dialect
from microseg.lang._nodes import (
    Predicate,
    PropertyPredicate,
    SequenceRule,
    SequenceSpec,
    Window,
)
from microseg.lang._schema import (
    DERIVED_TIME_PROPERTIES,
    EVENT_PROPERTY_TYPES,
    ORDER_PROPERTY,
    ORDER_TIME_FORMAT,
)
from microseg.lang._semantics import (
    aggregate_kind,
    empty_aggregate,
    json_view,
    window_bounds,
)
from microseg.lang._values import AGGREGATE_DECIMALS
from microseg.lang._when import Clock

__all__ = ["SERIES_COLUMNS", "EventQueries", "order_column", "share_series"]

#: Lowers one predicate on a column of a given type (the compiler's comparisons).
Compare = Callable[[Predicate, ir.Value, str], ir.BooleanValue]

#: An event type with at least this many aggregates gets a pass of its own (see _passes).
_OWN_PASS = 4

#: The most conditional aggregates one pass of a series computes: the dates are split into
#: groups below it (the aggregation keeps a value of each per customer).
SERIES_COLUMNS = 64

#: Creates a table from the first of its plans that fits in memory (the store's).
Materialise = Callable[[Callable[[], ir.Table]], ir.Table]


def _lit(value: Any) -> ir.Value:
    return ibis.literal(value)


@dataclass(frozen=True)
class _Aggregate:
    """A conditional aggregate (or mode) of one property, or a count when ``prop`` is None."""

    agg: str
    prop: str | None
    events: EventFilter

    @property
    def reads(self) -> tuple[str, str] | None:
        """The property the aggregate reduces, with the JSON view it reads."""
        if self.prop is None:
            return None
        return self.prop, "float" if self.agg in ("sum", "avg", "min", "max") else "str"


class EventQueries:
    """The aggregates, modes and sequences that rules read from ``events`` at ``clock``."""

    def __init__(self, events: ir.Table, clock: Clock, compare: Compare, dialect: Dialect) -> None:
        self.events = events
        self.dialect = dialect
        self.clock = clock
        self._compare = compare
        self._keys: dict[str, str] = {}
        self._aggregates: dict[str, _Aggregate] = {}
        self._defaults: dict[str, Any] = {}
        self._modes: dict[str, _Aggregate] = {}
        self._sequences: dict[str, SequenceSpec] = {}
        self._columns: dict[tuple[str, str], str] = {}
        self._parts = 0
        #: the aggregates' per-customer tables computed for a series of dates, each with
        #: the suffix of this query's columns in it (see :func:`share_series`)
        self._shared: list[tuple[ir.Table, str]] = []

    # -- registration ----------------------------------------------------------------------

    def aggregate(
        self,
        agg: str,
        kind: str,
        prop: str | None,
        where: list[PropertyPredicate],
        window: Window | None,
    ) -> tuple[str, str]:
        """Register a conditional aggregate of the events pass; (column, type)."""
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
        if key not in self._keys:
            name = f"_e{len(self._keys)}"
            self._keys[key] = name
            spec = _Aggregate(agg, prop, EventFilter(kind, tuple(where), window))
            if agg == "mode" and prop is not None:
                self._modes[name] = spec
            else:
                self._aggregates[name] = spec
                empty = empty_aggregate(agg, prop)
                self._defaults[name] = None if empty is None else (0 if agg != "sum" else 0.0)
        return self._keys[key], aggregate_kind(agg, prop)

    def sequence(self, rule: SequenceRule) -> str:
        """Register a sequence; the column that says whether it holds."""
        key = rule.model_dump_json(by_alias=True, exclude_none=True)
        if key not in self._keys:
            name = f"_s{len(self._keys)}"
            self._keys[key] = name
            self._sequences[name] = rule.sequence
        return self._keys[key]

    # -- the joined table --------------------------------------------------------------------

    def join(self, customers: ir.Table, *, merged: bool = False) -> ir.Table:
        """``customers`` joined with every registered aggregate, mode and sequence column.

        Each part (a pass of aggregates, a distinct count, a mode, the sequences) reads the
        events on its own, from the events table itself: parts that shared one derived
        table would make Ibis write it as a common table expression, which DuckDB
        materializes in full. The parts are joined to the customers one by one, the
        fastest plan; or, with ``merged``, stacked and merged per customer by one more
        aggregation, then joined once. The joins of a chain keep their hash tables at
        once: at 10M customers five of them no longer fit DuckDB's memory (not even on
        parts already materialized), while the merging aggregation spills to disk.
        """
        parts = self._parts_tables()
        base = customers
        if merged and len(parts) > 1:
            base = base.left_join(_merge(parts), "customer_id").drop("customer_id_right")
        else:
            for part in parts:
                base = base.left_join(part, "customer_id").drop("customer_id_right")
        fills: dict[str, Any] = {k: v for k, v in self._defaults.items() if v is not None}
        fills |= dict.fromkeys(self._sequences, False)
        if fills:
            base = base.mutate(**{k: base[k].fill_null(v) for k, v in fills.items()})
        return base

    def _parts_tables(self) -> list[ir.Table]:
        """Per-customer tables (customer_id and their columns) of every registered read."""
        parts: list[ir.Table] = []
        for table, suffix in self._shared:
            names = [n for n in self._aggregates if n + suffix in table.columns]
            parts.append(table.select("customer_id", **{n: table[n + suffix] for n in names}))
        for kinds, specs in [] if self._shared else self._passes():
            typed = kinds is None or len(kinds) > 1
            distinct = {n: s for n, s in specs.items() if s.agg == "distinct" and s.prop}
            plain = {n: s for n, s in specs.items() if n not in distinct}
            if plain:
                rows = self._rows(kinds, [(spec.events, spec.reads) for spec in plain.values()])
                parts.append(
                    rows.group_by("customer_id").aggregate(
                        **{n: self._reduce(rows, spec, typed=typed) for n, spec in plain.items()}
                    )
                )
            by_property: dict[str, dict[str, _Aggregate]] = {}
            for name, spec in distinct.items():
                by_property.setdefault(str(spec.prop), {})[name] = spec
            for prop, counts in by_property.items():
                parts.append(self._distinct(kinds, prop, counts, typed=typed))
        for name, spec in self._modes.items():
            parts.append(self._mode(spec).rename({name: "_v"}))
        if self._sequences:
            parts.append(
                sequence_table(
                    self._sequences,
                    lambda filters: self._rows(
                        event_types(f.kind for f in filters), [(f, None) for f in filters]
                    ),
                    self._matches,
                    self.clock.as_of,
                )
            )
        return parts

    def _passes(self) -> list[tuple[frozenset[str] | None, dict[str, _Aggregate]]]:
        """The aggregates grouped into passes over the events: (event types read, specs).

        An event type with many aggregates gets a pass over its own events only: every
        conditional aggregate costs something for every row it sees, matching or not. The
        other aggregates share one pass over their event types (all events for ``any``).
        """
        by_kind: dict[str, dict[str, _Aggregate]] = {}
        for name, spec in self._aggregates.items():
            by_kind.setdefault(spec.events.kind, {})[name] = spec
        passes: list[tuple[frozenset[str] | None, dict[str, _Aggregate]]] = []
        shared: dict[str, _Aggregate] = {}
        for kind, specs in by_kind.items():
            if kind != "any" and len(specs) >= _OWN_PASS:
                passes.append((frozenset([kind]), specs))
            else:
                shared.update(specs)
        if shared:
            passes.append((event_types(spec.events.kind for spec in shared.values()), shared))
        return passes

    # -- the rows each part reads ----------------------------------------------------------

    def _rows(
        self, kinds: frozenset[str] | None, uses: list[tuple[EventFilter, tuple[str, str] | None]]
    ) -> ir.Table:
        """The events before ``as_of`` of ``kinds`` (all when None) for the filters ``uses``.

        Each JSON property view and local-time part that the filters (or the property they
        reduce) read becomes a column, computed once per event and only for the event
        types whose filters read it. A JSON property is extracted once, then read as text,
        number or boolean from that small value.
        """
        ev = self.events
        keep = ev.timestamp < _lit(self.clock.as_of)
        if kinds is not None:
            only = sorted(kinds)
            keep = keep & (ev.type == _lit(only[0]) if len(only) == 1 else ev.type.isin(only))
        # the part's number keeps its rows a distinct expression even when another part
        # reads the same events (DuckDB drops the unused column)
        self._parts += 1
        ev = ev.filter(keep).mutate(_part=ibis.literal(self._parts))
        used: dict[tuple[str, str], set[str]] = {}
        for events, reduced in uses:
            reads = [(p.property, json_view(p.operand)) for p in events.where]
            for name, view in reads + ([reduced] if reduced else []):
                if name in DERIVED_TIME_PROPERTIES:
                    used.setdefault((name, ""), set()).add(events.kind)
                elif name not in EVENT_PROPERTY_TYPES:
                    used.setdefault((name, view), set()).add(events.kind)
        sources: dict[str, set[str]] = {}
        for (name, _), users in used.items():
            sources.setdefault("" if name in DERIVED_TIME_PROPERTIES else name, set()).update(users)

        def only_for(users: set[str], value: ir.Value) -> ir.Value:
            if "any" in users or (kinds is not None and kinds <= users):
                return value
            return ev.type.isin(sorted(users)).ifelse(value, ibis.null(value.type()))

        raw: dict[str, ir.Value] = {}
        for i, (source, users) in enumerate(sorted(sources.items())):
            if source:
                raw[f"_j{i}"] = only_for(users, self.dialect.json_property(ev.properties, source))
            else:
                raw[f"_j{i}"] = only_for(users, self._local_time(ev.timestamp))
        extracted = dict(zip(sorted(sources), raw, strict=True))
        ev = ev.mutate(**raw) if raw else ev
        views: dict[str, ir.Value] = {}
        for name, view in sorted(used):
            column = self._columns.setdefault((name, view), f"_p{len(self._columns)}")
            if name in DERIVED_TIME_PROPERTIES:
                views[column] = _time_part(ev[extracted[""]], name).cast("float64")
            else:
                views[column] = getattr(ev[extracted[name]], view)
        return ev.mutate(**views) if views else ev

    def _local_time(self, ts: ir.TimestampValue) -> ir.TimestampValue:
        """``ts`` (naive UTC) as wall-clock time in the workspace zone.

        The zone's UTC offset is looked up from its transitions, latest first (events are
        mostly recent): converting each event with DuckDB's time zone functions costs
        far more. Times before 1970 fall back to those functions.
        """
        periods = _offsets(self.clock.timezone, self.clock.as_of.year + 1)
        offset = ibis.cases(
            *((ts >= _lit(start), _lit(seconds)) for start, seconds in reversed(periods)),
            else_=ibis.null("int64"),
        )
        converted = self.dialect.local_time(ts, self.clock.timezone)
        return offset.isnull().ifelse(converted, ts + offset.as_interval("s"))

    def _property(self, ev: ir.Table, name: str, view: str = "str") -> tuple[ir.Value, str]:
        """An event property on ``ev`` (from :meth:`_rows`) and its kind."""
        if name in DERIVED_TIME_PROPERTIES:
            return ev[self._columns[(name, "")]], "number"
        if name == ORDER_PROPERTY:
            return order_column(ev), "text"
        if name in EVENT_PROPERTY_TYPES:
            return ev[name], EVENT_PROPERTY_TYPES[name]
        return ev[self._columns[(name, view)]], "json"

    def _matches(
        self, ev: ir.Table, events: EventFilter, *, typed: bool = True, bounded: bool = False
    ) -> ir.BooleanValue:
        """Whether an event of ``ev`` is one of ``events``; without ``typed`` the caller
        has already kept only events of that type. ``bounded``: ``ev`` runs past this
        query's as_of (a series' pass), so the events from it on are left out here."""
        cond: ir.BooleanValue = ibis.literal(True)
        if typed and events.kind != "any":
            cond = ev.type == _lit(events.kind)
        lower, upper = window_bounds(events.window, self.clock)
        if lower is not None:
            cond = cond & (ev.timestamp >= _lit(lower))
        if upper < self.clock.as_of or bounded:
            cond = cond & (ev.timestamp < _lit(min(upper, self.clock.as_of)))
        for pred in events.where:
            column, prop_kind = self._property(ev, pred.property, json_view(pred.operand))
            cond = cond & self._compare(pred, column, prop_kind)
        return cond

    # -- aggregates and modes ----------------------------------------------------------------

    def _reduce(
        self, ev: ir.Table, spec: _Aggregate, *, typed: bool = True, bounded: bool = False
    ) -> ir.Scalar:
        cond = self._matches(ev, spec.events, typed=typed, bounded=bounded)
        if spec.agg == "count" or spec.prop is None:
            return ev.count(where=cond)
        column, kind = self._property(ev, spec.prop, "float")
        if kind != "timestamp":
            column = column.cast("float64")
        reducer = {"sum": "sum", "avg": "mean", "min": "min", "max": "max"}[spec.agg]
        result: ir.Scalar = getattr(column, reducer)(where=cond)
        if spec.agg in ("sum", "avg"):
            # to AGGREGATE_DECIMALS: the same value whatever the order of addition (the
            # interpreter rounds with round_aggregate, DuckDB's own rounding, bit for bit)
            result = result.round(AGGREGATE_DECIMALS)
        return result

    def _distinct(
        self,
        kinds: frozenset[str] | None,
        prop: str,
        counts: dict[str, _Aggregate],
        *,
        typed: bool,
    ) -> ir.Table:
        """Distinct values of ``prop`` per customer among the events of each of ``counts``,
        as (customer_id, one column per count).

        Distinct (customer, value) pairs, each with a flag per count (whether an event of
        the pair matches it), then the flags summed per customer: one pass for every
        distinct count of a property (the order counts of the built-ins share one). At
        10M customers, a pass over all events with ``count(DISTINCT ...)`` among its
        aggregates ran out of DuckDB's memory; these two plain aggregations spill.
        """
        ev = self._rows(kinds, [(spec.events, spec.reads) for spec in counts.values()])
        column, _ = self._property(ev, prop, "str")
        flags = {n: self._matches(ev, spec.events, typed=typed) for n, spec in counts.items()}
        return _distinct_counts(ev, column, flags)

    def _mode(self, spec: _Aggregate) -> ir.Table:
        """Most frequent value per customer among matching events; ties: the smallest."""
        assert spec.prop is not None
        kinds = event_types([spec.events.kind])
        ev = self._rows(kinds, [(spec.events, spec.reads)])
        column, _ = self._property(ev, spec.prop, "str")
        matching = self._matches(ev, spec.events, typed=kinds is None)
        chosen = ev.filter(matching).select("customer_id", _v=column)
        chosen = chosen.filter(chosen._v.notnull())
        counted = chosen.group_by(["customer_id", "_v"]).aggregate(_n=chosen.count())
        ranked = counted.mutate(
            _r=ibis.row_number().over(
                group_by="customer_id", order_by=[ibis.desc("_n"), ibis.asc("_v")]
            )
        )
        return ranked.filter(ranked._r == 0).select("customer_id", "_v")


@functools.lru_cache(maxsize=8)
def _offsets(zone: str, until: int) -> tuple[tuple[datetime, int], ...]:
    """(start as naive UTC, UTC offset in seconds) of each period of ``zone`` from 1970 to
    the start of the year ``until``, found by stepping half a day and bisecting each change
    to the microsecond (Python's tz database, as the per-profile evaluator uses)."""
    info = ZoneInfo(zone)

    def offset(moment: datetime) -> int:
        delta = moment.replace(tzinfo=UTC).astimezone(info).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    start, end = datetime(1970, 1, 1), datetime(until, 1, 1)
    periods = [(start, offset(start))]
    step = timedelta(hours=12)
    moment = start
    while moment < end:
        later = moment + step
        if offset(later) != periods[-1][1]:
            low, high = moment, later  # the offset changes in (low, high]
            while high - low > timedelta(microseconds=1):
                middle = low + (high - low) // 2
                low, high = (middle, high) if offset(middle) == periods[-1][1] else (low, middle)
            periods.append((high, offset(high)))
        moment = later
    return tuple(periods)


def share_series(queries: list[EventQueries], materialise: Materialise) -> int:
    """Compute the aggregates and distinct counts of every query (one per date of a
    series, registered by the same rules) in shared passes over the events; the number of
    tables materialised.

    Each part (a pass of aggregates, the distinct counts of a property) reads the events
    before the latest date of its group once, with one conditional aggregate per
    (aggregate, date), each bounded by its date: the events before it only, its windows
    and relative dates from its own clock. Each part is materialised on its own, for
    groups of dates of at most :data:`SERIES_COLUMNS` columns (halved when the database
    runs out of memory), and each query then reads its columns from them instead of
    running its own passes. Modes and sequences are not shared: each query still computes
    them for its own date (their per-customer rankings and window functions are per date).
    Queries whose registrations differ share nothing.
    """
    if not queries or not queries[0]._aggregates:
        return 0
    first = list(queries[0]._aggregates.items())
    if any(list(q._aggregates.items()) != first for q in queries[1:]):
        return 0
    latest = max(queries, key=lambda q: q.clock.as_of)
    for query in queries:  # the same registrations: one column per property view for all
        query._columns = latest._columns
    indexed = list(enumerate(queries))
    tables = 0
    for part in _series_parts(latest):
        size = max(1, SERIES_COLUMNS // len(part[2]))
        start = 0
        while start < len(indexed):
            group = indexed[start : start + size]
            try:
                table = materialise(functools.partial(_series_part, part, group))
            except StoreMemoryError:
                if size == 1:
                    raise
                size //= 2
                continue
            for index, query in group:
                query._shared.append((table, f"__{index}"))
            tables += 1
            start += len(group)
    return tables


#: A part of a series: (event types read, the property of distinct counts or None, specs).
_Part = tuple[frozenset[str] | None, str | None, dict[str, "_Aggregate"]]


def _series_parts(latest: EventQueries) -> list[_Part]:
    """The parts of the series: each pass of plain aggregates, each property's distinct
    counts (as :meth:`EventQueries._parts_tables` splits them)."""
    parts: list[_Part] = []
    for kinds, specs in latest._passes():
        distinct = {n: s for n, s in specs.items() if s.agg == "distinct" and s.prop}
        plain = {n: s for n, s in specs.items() if n not in distinct}
        if plain:
            parts.append((kinds, None, plain))
        by_property: dict[str, dict[str, _Aggregate]] = {}
        for name, spec in distinct.items():
            by_property.setdefault(str(spec.prop), {})[name] = spec
        parts.extend((kinds, prop, counts) for prop, counts in by_property.items())
    return parts


def _series_part(part: _Part, group: list[tuple[int, EventQueries]]) -> ir.Table:
    """One part's per-customer table for a group of dates, columns suffixed ``__<index>``."""
    kinds, prop, specs = part
    typed = kinds is None or len(kinds) > 1
    last = max((q for _, q in group), key=lambda q: q.clock.as_of)
    ev = last._rows(kinds, [(spec.events, spec.reads) for spec in specs.values()])
    if prop is None:
        return ev.group_by("customer_id").aggregate(
            **{
                f"{n}__{i}": q._reduce(
                    ev, spec, typed=typed, bounded=q.clock.as_of < last.clock.as_of
                )
                for i, q in group
                for n, spec in specs.items()
            }
        )
    column, _ = last._property(ev, prop, "str")
    flags = {
        f"{n}__{i}": q._matches(
            ev, spec.events, typed=typed, bounded=q.clock.as_of < last.clock.as_of
        )
        for i, q in group
        for n, spec in specs.items()
    }
    return _distinct_counts(ev, column, flags)


def _distinct_counts(ev: ir.Table, column: ir.Value, flags: dict[str, ir.BooleanValue]) -> ir.Table:
    """Per customer, the distinct values of ``column`` among the events of each flag."""
    chosen = ev.filter(column.notnull() & ibis.or_(*flags.values())).select(
        "customer_id", _v=column, **flags
    )
    pairs = chosen.group_by(["customer_id", "_v"]).aggregate(**{n: chosen[n].any() for n in flags})
    return pairs.group_by("customer_id").aggregate(
        **{n: pairs[n].cast("int64").sum() for n in flags}
    )


def _merge(parts: list[ir.Table]) -> ir.Table:
    """One row per customer with every part's columns.

    Each part has one row per customer and columns of its own: the parts' rows are stacked
    (with nulls for the other parts' columns), and the maximum of a column per customer is
    its part's value. Plain columns keep the aggregation's state in DuckDB's spillable hash
    table; ``any_value`` of one struct per part was faster but kept its state outside it and
    ran out of memory at 10M customers.
    """
    types = {c: t for part in parts for c, t in part.schema().items() if c != "customer_id"}
    aligned = [
        part.select(
            "customer_id",
            **{c: part[c] if c in part.columns else ibis.null(t) for c, t in types.items()},
        )
        for part in parts
    ]
    rows = ibis.union(*aligned, distinct=False)
    return rows.group_by("customer_id").aggregate(**{c: rows[c].max() for c in types})


def order_column(ev: ir.Table) -> ir.StringValue:
    """The order of each event: its ``order_id``, or without one its instant (as the
    interpreter's ``order_of`` spells it)."""
    given = ev.order_id.notnull() & (ev.order_id != _lit(""))
    return given.ifelse(ev.order_id, ev.timestamp.strftime(ORDER_TIME_FORMAT))


def _time_part(local: ir.TimestampValue, name: str) -> ir.IntegerValue:
    if name == "month":
        return local.month()
    if name == "day":
        return local.day()
    if name == "weekday":
        return local.day_of_week.index() + 1
    return local.hour()
