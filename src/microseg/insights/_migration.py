"""Migration between segments over time (docs/insights.md, "Migration between segments").

A *state* is what a customer is at one instant: the first segment (in the order given)
they are a member of, or ``none``; a trait's value (``lifecycle_stage``, ``rfm_group``);
or a discovery run's cluster. Each state at a date D reads attributes as of D and events
before D only, so a back-filled history is what the evaluations would have said then.

Segment states come from stored snapshots (``memberships``, stamped with ``as_of`` and
the definition version): a snapshot already stored for the same definitions and the same
data is reused, any other is evaluated and stored. The snapshots of a series are
evaluated one date after another (one aggregation pass over the events per date).

Every figure is computed in Ibis through the store's backend.
"""

from __future__ import annotations

import calendar
import hashlib
import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir
from pydantic import Field

from microseg.core.errors import ParameterError
from microseg.core.results import Instant, Result
from microseg.core.text import did_you_mean
from microseg.core.time import AsOf

__all__ = [
    "NONE",
    "CustomerHistory",
    "Flow",
    "Migration",
    "MovementAlert",
    "SankeyLink",
    "SankeyNode",
    "SnapshotStamp",
    "StateSize",
    "Transition",
    "add_months",
    "series_dates",
]

#: The state of a customer in none of the segments (or without a value, or a cluster).
NONE = "none"
#: At most this many snapshots in one series (a typo in --from should not start 5000).
MAX_SNAPSHOTS = 400
EVERY = ("month", "week")


# -- results ----------------------------------------------------------------------------------


class Flow(Result):
    """Customers in ``source`` at the first date and ``target`` at the second: their
    number, their share of ``source`` (row share), the revenue they spent between the two
    dates and their predicted CLV at the second date (None without a value model)."""

    source: str
    target: str
    customers: int
    share: float
    revenue: float
    clv: float | None


class Transition(Result):
    """The transition matrix between two snapshots, as its non-empty cells."""

    start: Instant
    end: Instant
    flows: list[Flow]

    def cell(self, source: str, target: str) -> Flow | None:
        """The flow from ``source`` to ``target`` (None when nobody moved so)."""
        return next((f for f in self.flows if (f.source, f.target) == (source, target)), None)

    def counts(self) -> dict[tuple[str, str], int]:
        """(source, target) -> customers, for the non-empty cells."""
        return {(f.source, f.target): f.customers for f in self.flows}


class StateSize(Result):
    """One state at one snapshot: members, share, the revenue they spent in the period
    ending at the snapshot, and their total predicted CLV then (None without a model)."""

    as_of: Instant
    state: str
    customers: int
    share: float
    revenue: float
    clv: float | None


class SankeyNode(Result):
    """A state at a snapshot (a Sankey diagram's column is a date)."""

    id: int
    state: str
    as_of: Instant


class SankeyLink(Result):
    """Customers going from one node to a node of the next snapshot."""

    source: int
    target: int
    customers: int
    revenue: float
    clv: float | None


class MovementAlert(Result):
    """A state whose ``measure`` (customers, revenue or clv) moved more than the threshold
    between two consecutive snapshots. ``change`` is relative (0.25: +25 %); None when the
    measure grew from zero."""

    state: str
    start: Instant
    end: Instant
    measure: str
    before: float
    after: float
    change: float | None


class SnapshotStamp(Result):
    """One snapshot of the series: its instant, the definition versions (segments), and
    whether a stored snapshot was reused."""

    as_of: Instant
    versions: dict[str, str]
    reused: bool


class Migration(Result):
    """Movement between states over snapshots (``ws.insights.migration``).

    ``matrix`` goes from the first date to the last; ``steps`` are the consecutive
    transitions of a series (one for two dates); ``sizes`` is the stacked area's data and
    ``nodes``/``links`` the Sankey diagram's.
    """

    basis: str
    states: list[str]
    dates: list[Instant]
    matrix: Transition
    steps: list[Transition]
    sizes: list[StateSize]
    nodes: list[SankeyNode]
    links: list[SankeyLink]
    threshold: float
    alerts: list[MovementAlert]
    snapshots: list[SnapshotStamp]
    notes: list[str] = Field(default_factory=list)

    def size(self, as_of_index: int, state: str) -> StateSize | None:
        """The size of ``state`` at the ``as_of_index``-th snapshot."""
        moment = self.dates[as_of_index]
        return next((s for s in self.sizes if (s.as_of, s.state) == (moment, state)), None)


class HistoryEntry(Result):
    """A change of one customer's memberships: ``entered`` or ``left`` a segment, seen at
    the snapshot ``as_of`` (it happened since the previous snapshot)."""

    as_of: Instant
    segment: str
    change: str


class CustomerHistory(Result):
    """One customer's segments at each snapshot, and the entries and exits between them."""

    customer_id: str
    dates: list[Instant]
    segments: list[list[str]]
    changes: list[HistoryEntry]


# -- dates ------------------------------------------------------------------------------------


def _bare_date(value: AsOf) -> date | None:
    if isinstance(value, datetime):
        return None
    if isinstance(value, date):
        return value
    text = value.strip()
    if len(text) != 10:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    last = calendar.monthrange(year, month)[1]
    if day.day == calendar.monthrange(day.year, day.month)[1]:
        return day.replace(year=year, month=month, day=last)  # month ends step to month ends
    return day.replace(year=year, month=month, day=min(day.day, last))


def _step(value: date | datetime, every: str, k: int) -> Any:
    if every == "week":
        return value + timedelta(days=7 * k)
    if isinstance(value, datetime):
        moved = add_months(value.date(), k)
        return value.replace(year=moved.year, month=moved.month, day=moved.day)
    return add_months(value, k)


def series_dates(
    start: AsOf, end: AsOf, every: str | None, instant: Callable[[AsOf], datetime]
) -> tuple[list[AsOf], datetime]:
    """The snapshot dates from ``start`` to ``end`` (both included) every month or week,
    and the start of the period before the first one (for its revenue).

    Bare dates step as calendar dates (each the end of its day in the workspace zone);
    timestamps step as instants. ``instant`` resolves an as_of to the store's time.
    """
    if every is not None and every not in EVERY:
        raise ParameterError(f"every {every!r}: use month or week (or leave it out)")
    first, last = instant(start), instant(end)
    if last <= first:
        raise ParameterError(
            f"the end ({end}) must come after the start ({start})",
            hint="--from is the earlier date, --to the later",
        )
    if every is None:
        return [start, end], first - (last - first)
    # timestamps step as UTC instants (a naive datetime would be read as local time)
    base: date | datetime = _bare_date(start) or first.replace(tzinfo=UTC)
    dates: list[AsOf] = []
    k = 0
    while instant(step := _step(base, every, k)) < last:
        dates.append(step)
        k += 1
        if k > MAX_SNAPSHOTS:
            raise ParameterError(
                f"more than {MAX_SNAPSHOTS} snapshots between {start} and {end} every {every}",
                hint="choose a shorter period or --every month",
            )
    dates.append(end)
    return dates, instant(_step(base, every, -1))


# -- the computation --------------------------------------------------------------------------


@dataclass
class StateSource:
    """How to get the state table at a date: ``states(as_of)`` returns an Ibis table
    (customer_id, state) and the snapshot stamp; ``order`` the states' preferred order."""

    basis: str
    states: Callable[[AsOf], tuple[ir.Table, SnapshotStamp]]
    order: list[str]
    notes: list[str] = field(default_factory=list)


@dataclass
class MigrationInputs:
    """What the computation reads beside the states."""

    events: ir.Table
    purchase: str
    instant: Callable[[AsOf], datetime]
    clv: Callable[[datetime], ir.Table | None]
    materialise: Callable[[ir.Table], ir.Table]


def compute_migration(
    source: StateSource,
    inputs: MigrationInputs,
    dates: Sequence[AsOf],
    before: datetime,
    *,
    threshold: float = 0.2,
) -> Migration:
    """The transition matrix, the series' flows and sizes, and the alerts."""
    if threshold < 0:
        raise ParameterError(f"threshold must be at least 0, got {threshold}")
    moments = [inputs.instant(d) for d in dates]
    tables: list[ir.Table] = []
    stamps: list[SnapshotStamp] = []
    for moment_date in dates:
        table, stamp = source.states(moment_date)
        tables.append(inputs.materialise(table))
        stamps.append(stamp)
    clvs = [inputs.clv(m) for m in moments]
    notes = list(source.notes)
    if all(c is None for c in clvs):
        notes.append("no value model fitted at these dates: CLV is left out (microseg clv fit)")
    starts = [before, *moments[:-1]]
    sizes = [
        size
        for i, table in enumerate(tables)
        for size in _sizes(table, _revenue(inputs, starts[i], moments[i]), clvs[i], moments[i])
    ]
    steps = [
        _transition(tables[i], tables[i + 1], inputs, moments[i], moments[i + 1], clvs[i + 1])
        for i in range(len(tables) - 1)
    ]
    matrix = (
        steps[0]
        if len(tables) == 2
        else _transition(tables[0], tables[-1], inputs, moments[0], moments[-1], clvs[-1])
    )
    states = _ordered({s.state for s in sizes}, source.order)
    nodes, links = _sankey(steps, sizes, states)
    return Migration(
        basis=source.basis,
        states=states,
        dates=moments,
        matrix=matrix,
        steps=steps,
        sizes=sorted(sizes, key=lambda s: (s.as_of, states.index(s.state))),
        nodes=nodes,
        links=links,
        threshold=threshold,
        alerts=_alerts(sizes, states, threshold),
        snapshots=stamps,
        notes=notes,
    )


def _ordered(found: set[str], preferred: Sequence[str]) -> list[str]:
    first = [s for s in preferred if s in found and s != NONE]
    rest = sorted(found - set(first) - {NONE})
    return [*first, *rest, *([NONE] if NONE in found else [])]


def _revenue(inputs: MigrationInputs, start: datetime, end: datetime) -> ir.Table:
    """customer_id, _revenue: purchase amounts in [start, end)."""
    events = inputs.events
    bought = events.filter(
        (events.type == ibis.literal(inputs.purchase))
        & (events.timestamp >= ibis.literal(start))
        & (events.timestamp < ibis.literal(end))
    )
    return bought.group_by("customer_id").aggregate(
        _revenue=bought.amount.cast("float64").sum().fill_null(0.0)
    )


def _valued(
    ids: ir.Table, states: dict[str, ir.Table], revenue: ir.Table, clv: ir.Table | None
) -> ir.Table:
    """customer_id, one state column per entry of ``states`` (``none`` when absent), and
    each customer's ``_revenue`` and ``_clv`` (null without a value model), in one chain
    of left joins from ``ids``."""
    chain = ids
    parts = [*((label, table.rename({label: "state"})) for label, table in states.items())]
    parts.append(("_revenue", revenue))
    if clv is not None:
        parts.append(("_clv", clv))
    for label, table in parts:
        key = f"_{label}_customer"
        right = table.rename({key: "customer_id"})
        chain = chain.left_join(right, ids.customer_id == right[key])
    columns: dict[str, ir.Value] = {label: chain[label].fill_null(NONE) for label in states}
    columns["_revenue"] = chain._revenue.fill_null(0.0)
    columns["_clv"] = chain._clv.fill_null(0.0) if clv is not None else ibis.null("float64")
    return chain.select("customer_id", **columns)


def _sizes(
    table: ir.Table, revenue: ir.Table, clv: ir.Table | None, moment: datetime
) -> list[StateSize]:
    valued = _valued(table.select("customer_id"), {"state": table}, revenue, clv)
    grouped = valued.group_by("state").aggregate(
        customers=valued.count(), revenue=valued._revenue.sum(), clv=valued._clv.sum()
    )
    rows = grouped.to_pyarrow().to_pylist()
    total = sum(r["customers"] for r in rows)
    return [
        StateSize(
            as_of=moment,
            state=r["state"],
            customers=r["customers"],
            share=round(r["customers"] / total, 4) if total else 0.0,
            revenue=round(r["revenue"] or 0.0, 2),
            clv=None if clv is None else round(r["clv"] or 0.0, 2),
        )
        for r in rows
    ]


def _transition(
    first: ir.Table,
    second: ir.Table,
    inputs: MigrationInputs,
    start: datetime,
    end: datetime,
    clv: ir.Table | None,
) -> Transition:
    ids = first.select("customer_id").union(second.select("customer_id"), distinct=True)
    states = {"source": first, "target": second}
    valued = _valued(ids, states, _revenue(inputs, start, end), clv)
    grouped = valued.group_by(["source", "target"]).aggregate(
        customers=valued.count(), revenue=valued._revenue.sum(), clv=valued._clv.sum()
    )
    rows = grouped.to_pyarrow().to_pylist()
    totals: dict[str, int] = {}
    for r in rows:
        totals[r["source"]] = totals.get(r["source"], 0) + r["customers"]
    flows = [
        Flow(
            source=r["source"],
            target=r["target"],
            customers=r["customers"],
            share=round(r["customers"] / totals[r["source"]], 4),
            revenue=round(r["revenue"] or 0.0, 2),
            clv=None if clv is None else round(r["clv"] or 0.0, 2),
        )
        for r in rows
    ]
    flows.sort(key=lambda f: (-f.customers, f.source, f.target))
    return Transition(start=start, end=end, flows=flows)


def _sankey(
    steps: list[Transition], sizes: list[StateSize], states: list[str]
) -> tuple[list[SankeyNode], list[SankeyLink]]:
    present = {(s.as_of, s.state) for s in sizes}
    moments = sorted({s.as_of for s in sizes})
    nodes = [
        SankeyNode(id=0, state=state, as_of=moment)
        for moment in moments
        for state in states
        if (moment, state) in present
    ]
    nodes = [n.model_copy(update={"id": i}) for i, n in enumerate(nodes)]
    index = {(n.as_of, n.state): n.id for n in nodes}
    links = [
        SankeyLink(
            source=index[(step.start, f.source)],
            target=index[(step.end, f.target)],
            customers=f.customers,
            revenue=f.revenue,
            clv=f.clv,
        )
        for step in steps
        for f in step.flows
        if (step.start, f.source) in index and (step.end, f.target) in index
    ]
    return nodes, links


def _alerts(sizes: list[StateSize], states: list[str], threshold: float) -> list[MovementAlert]:
    by = {(s.as_of, s.state): s for s in sizes}
    moments = sorted({s.as_of for s in sizes})
    found: list[MovementAlert] = []
    for before_at, after_at in itertools.pairwise(moments):
        for state in states:
            old, new = by.get((before_at, state)), by.get((after_at, state))
            for measure in ("customers", "revenue", "clv"):
                a = _measure(old, measure)
                b = _measure(new, measure)
                if a is None or b is None or a == b:
                    continue
                change = (b - a) / a if a else None
                if change is not None and abs(change) <= threshold:
                    continue
                found.append(
                    MovementAlert(
                        state=state,
                        start=before_at,
                        end=after_at,
                        measure=measure,
                        before=a,
                        after=b,
                        change=None if change is None else round(change, 4),
                    )
                )
    return found


def _measure(size: StateSize | None, measure: str) -> float | None:
    if size is None:
        return None if measure == "clv" else 0.0
    value = getattr(size, measure)
    return None if value is None else float(value)


# -- states -----------------------------------------------------------------------------------


def priority_state(table: ir.Table, names: Sequence[str]) -> ir.Value:
    """The first of ``names`` whose boolean column holds, else ``none``."""
    return ibis.cases(*[(table[n], ibis.literal(n)) for n in names], else_=ibis.literal(NONE))


def memberships_state(
    customers: ir.Table,
    memberships: ir.Table,
    moment: datetime,
    versions: dict[str, str],
) -> ir.Table:
    """customer_id, state: the first segment (in the order of ``versions``) of the stored
    snapshot at ``moment`` each customer is a member of, else ``none``."""
    names = list(versions)
    chosen = memberships.filter(
        (memberships.as_of == ibis.literal(moment))
        & ibis.or_(
            *[
                (memberships.segment == ibis.literal(n))
                & (memberships.version == ibis.literal(versions[n]))
                for n in names
            ]
        )
    )
    ranked = chosen.mutate(
        _rank=ibis.cases(*[(chosen.segment == ibis.literal(n), i) for i, n in enumerate(names)])
    )
    best = ranked.group_by("customer_id").aggregate(_rank=ranked._rank.min())
    best = best.rename(_m_customer="customer_id")
    people = customers.select("customer_id")
    joined = people.left_join(best, people.customer_id == best._m_customer)
    state = ibis.cases(
        *[(joined._rank == i, ibis.literal(n)) for i, n in enumerate(names)],
        else_=ibis.literal(NONE),
    )
    return joined.select("customer_id", state=state)


def value_state(table: ir.Table, column: str) -> ir.Table:
    """customer_id, state: a column's value as text (``none`` when missing)."""
    return table.select("customer_id", state=table[column].cast("string").fill_null(NONE))


def cluster_state(table: ir.Table, column: str, clusters: dict[int, str]) -> ir.Table:
    """customer_id, state: the cluster's name (``none`` when not assigned)."""
    col = table[column]
    state = ibis.cases(
        *[(col == ibis.literal(k), ibis.literal(v)) for k, v in sorted(clusters.items())],
        else_=ibis.literal(NONE),
    )
    return table.select("customer_id", state=state)


def snapshot_key(moment: datetime, name: str, version: str) -> str:
    """The store's meta key recording the data a stored snapshot was evaluated on."""
    return f"snapshot:{moment.isoformat()}:{name}:{version}"


def data_stamp(generation: tuple[Any, ...], definitions: dict[str, str]) -> str:
    """What a stored snapshot depends on beside its own rule: the data (the store's
    generation) and every segment and trait definition it may refer to."""
    text = json.dumps([list(map(str, generation)), sorted(definitions.items())])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def check_trait(name: str, known: Sequence[str]) -> None:
    """A :class:`ParameterError` for a trait that is not in the catalog."""
    if name not in known:
        raise ParameterError(
            f"no trait {name!r}{did_you_mean(name, list(known))}",
            hint="`microseg traits list` shows the traits (lifecycle_stage, rfm_group, ...)",
        )
