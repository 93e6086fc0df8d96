"""Staleness: how fresh each source is, and which stored results were computed before the
latest ingest (docs/governance.md, "Data quality and staleness").

A stored result (trait values, a segment snapshot, a value fit, a discovery run) is
*stale* when a load that changed the data (accepted rows or merged customers) finished
after the result was computed: what it says may no longer hold for the data in the store.
``stale_since`` is when the first such load finished. This one rule is applied wherever
such results are shown (``microseg quality``, ``discover list``/``show``, ``clv predict``):
:class:`LoadClock` is the one place that decides.
"""

from __future__ import annotations

import bisect
from datetime import datetime
from typing import Literal

import ibis

from microseg.core.results import Instant, Result, as_utc
from microseg.store import Store

__all__ = [
    "LoadClock",
    "SourceFreshness",
    "StaleResult",
    "Staleness",
    "fit_computed_at",
    "staleness",
]

ResultKind = Literal["traits", "segment_snapshot", "value_fit", "discovery_run"]


class SourceFreshness(Result):
    """One source (a file or frame name) of one table: its last load and last event."""

    kind: str
    source: str
    loads: int
    last_load: Instant | None
    #: the latest event time this source brought (events sources only)
    last_event: Instant | None
    #: days from the last event to now (events sources only)
    days_since_last_event: float | None


class StaleResult(Result):
    """One stored result and whether a later load made it stale."""

    kind: ResultKind
    name: str
    as_of: Instant
    computed_at: Instant | None
    stale: bool
    stale_since: Instant | None


class Staleness(Result):
    now: Instant
    latest_ingest: Instant | None
    sources: list[SourceFreshness]
    results: list[StaleResult]
    stale: int


class LoadClock:
    """The finish times of the loads that changed the data, to tell what is stale."""

    def __init__(self, store: Store) -> None:
        loads = store.table("loads")
        changed = loads.filter((loads.accepted > 0) | (loads.merged_customers > 0))
        times = changed.select("finished_at").to_pyarrow().column("finished_at").to_pylist()
        self.times: list[datetime] = sorted(t for t in times if t is not None)

    @property
    def latest(self) -> datetime | None:
        return as_utc(self.times[-1]) if self.times else None

    def stale_since(self, computed_at: datetime | None) -> datetime | None:
        """When the first load after ``computed_at`` finished (None: still fresh). A result
        with no computation time (stored before microseg recorded it) is judged by none."""
        if computed_at is None:
            return None
        at = as_utc(computed_at).replace(tzinfo=None)
        index = bisect.bisect_right(self.times, at)
        return as_utc(self.times[index]) if index < len(self.times) else None

    def result(
        self, kind: ResultKind, name: str, as_of: datetime, computed_at: datetime | None
    ) -> StaleResult:
        since = self.stale_since(computed_at)
        return StaleResult(
            kind=kind,
            name=name,
            as_of=as_of,
            computed_at=computed_at,
            stale=since is not None,
            stale_since=since,
        )


def _rows(table: ibis.Table) -> list[dict[str, object]]:
    return list(table.to_pyarrow().to_pylist())


def _sources(store: Store, now: datetime) -> list[SourceFreshness]:
    loads = store.table("loads")
    each = loads.select("load_id", "kind", "finished_at", source=loads.sources.unnest())
    events = store.table("events")
    last = events.group_by("load_id").aggregate(last_event=events.timestamp.max())
    joined = each.left_join(last, each.load_id == last.load_id)
    per = joined.group_by(["kind", "source"]).aggregate(
        loads=joined.load_id.nunique(),
        last_load=joined.finished_at.max(),
        last_event=joined.last_event.max(),
    )
    found = []
    for row in _rows(per.order_by(["kind", "source"])):
        last_event = row["last_event"]
        assert last_event is None or isinstance(last_event, datetime)
        found.append(
            SourceFreshness(
                kind=str(row["kind"]),
                source=str(row["source"]),
                loads=int(row["loads"]),  # type: ignore[call-overload]
                last_load=row["last_load"],  # type: ignore[arg-type]
                last_event=last_event,
                days_since_last_event=None
                if last_event is None
                else round((now - last_event).total_seconds() / 86400, 1),
            )
        )
    return found


def _results(store: Store, clock: LoadClock) -> list[StaleResult]:
    found = []
    traits = store.table("trait_runs")
    latest = traits.group_by("as_of").aggregate(computed_at=traits.computed_at.max())
    for row in _rows(latest.order_by("as_of")):
        found.append(clock.result("traits", "traits", row["as_of"], row["computed_at"]))  # type: ignore[arg-type]
    runs = store.table("segment_runs")
    snapshots = runs.group_by(["segment", "as_of"]).aggregate(at=runs.evaluated_at.max())
    for row in _rows(snapshots.order_by(["segment", "as_of"])):
        found.append(
            clock.result("segment_snapshot", str(row["segment"]), row["as_of"], row["at"])  # type: ignore[arg-type]
        )
    fits = store.table("value_fits").select("fit_id", "model", "as_of", "fitted_at")
    for row in _rows(fits.order_by("fit_id")):
        name = f"fit #{row['fit_id']} {row['model']}"
        found.append(clock.result("value_fit", name, row["as_of"], row["fitted_at"]))  # type: ignore[arg-type]
    discovery = store.table("discovery_runs")
    named = discovery.select(
        "run_id",
        "as_of",
        "created_at",
        name=discovery.name.fill_null(ibis.literal("run-") + discovery.run_id.cast("string")),
    )
    for row in _rows(named.order_by("run_id")):
        found.append(
            clock.result("discovery_run", str(row["name"]), row["as_of"], row["created_at"])  # type: ignore[arg-type]
        )
    return found


def staleness(store: Store, now: datetime) -> Staleness:
    """Every source's freshness and every stored result's staleness at ``now``."""
    clock = LoadClock(store)
    results = _results(store, clock)
    return Staleness(
        now=now,
        latest_ingest=clock.latest,
        sources=_sources(store, now),
        results=results,
        stale=sum(r.stale for r in results),
    )


def fit_computed_at(store: Store, fit_id: int) -> datetime | None:
    """When stored value fit ``fit_id`` was fitted (None: no such fit)."""
    fits = store.table("value_fits")
    rows = fits.filter(fits.fit_id == fit_id).select("fitted_at").to_pyarrow().to_pylist()
    return rows[0]["fitted_at"] if rows else None
