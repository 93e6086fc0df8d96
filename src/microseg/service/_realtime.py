"""The real-time path: every customer's segments kept in memory, updated the moment an
event arrives and the moment a window runs out, and compared with batch on demand.

- **On events.** After a load through the API, the stored rows of that load are added to
  the prepared per-profile state (no reload), and only the customers concerned are
  evaluated again, each with the prepared per-profile evaluator, at the workspace clock's
  now. Entries and exits are logged with the instant and the triggering event, and passed
  to the listeners (the server-sent-events stream).
- **Exact expiry.** A customer's memberships can change with no new event only when one
  of their events leaves a window: at ``event + d`` for each window length ``d`` the
  segments and traits use (``last:``, ``within:``, ``N days ago``), or at a local midnight
  for windows written in days relative to today. Each customer has one timer, at the first
  such instant after now (a heap; no polling of all profiles); when it is due the customer
  is evaluated at that instant and the next timer set. Calendar lengths (months, years)
  use their average length and may be up to a day or two late; the rest are exact to the
  microsecond.
- **Reconciliation.** :meth:`RealTime.reconcile` evaluates every segment in batch at now
  and lists every customer and segment where the two answers differ (the target is none).
"""

from __future__ import annotations

import bisect
import contextlib
import heapq
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel

from microseg.core.duration import Duration, parse_duration
from microseg.core.results import Instant, Result
from microseg.lang import (
    AttributeRule,
    Clock,
    DaysSinceExpr,
    SequenceStep,
    TraitExpr,
    TraitRule,
    Window,
)
from microseg.service._evaluator import RETRY_SECONDS, ForkedEvaluators, can_fork
from microseg.workspace import Workspace

__all__ = ["Change", "RealTime", "Reconciliation", "record", "window_lengths"]

#: an event leaves a window of length d just after event + d
_TICK = timedelta(microseconds=1)
#: disagreements explained node by node (and logged) in one reconciliation
EXPLAINED = 20
_LOG = logging.getLogger("microseg.service")


class Change(Result):
    """A customer entered or left a segment, when, and what caused it."""

    at: Instant
    customer_id: str
    segment: str
    change: Literal["entered", "left"]
    #: the event that caused it (its ``event_id``), ``expiry`` or ``reconcile``
    trigger: str


class Disagreement(Result):
    """A customer and segment where batch and real time differ: both answers, and the
    per-profile explanation tree at the same instant (for the first few)."""

    customer_id: str
    segment: str
    realtime: bool
    batch: bool
    explain: dict[str, Any] | None = None


class Reconciliation(Result):
    """Batch against real time at one instant: every difference (the target is none)."""

    at: Instant
    customers: int
    segments: list[str]
    disagreements: list[Disagreement]
    #: memberships set to the batch answer afterwards (each logged, trigger ``reconcile``)
    healed: int = 0


@dataclass(frozen=True)
class _Lengths:
    """When memberships can change with no new event: an event leaving a window of a
    fixed or calendar length, every local midnight (``today`` windows, ages), or every
    whole day after an event (``days_since`` values)."""

    fixed: tuple[timedelta, ...]
    calendar: tuple[timedelta, ...]
    midnight: bool
    daily: bool = False


def _window_durations(window: Window) -> tuple[list[Duration], bool]:
    found: list[Duration] = []
    midnight = False
    if window.last_duration is not None:
        found.append(window.last_duration)
    for bound in (window.from_, window.to, window.since):
        if isinstance(bound, str):
            text = bound.strip().lower()
            if text.endswith(" ago"):
                found.append(parse_duration(text[: -len(" ago")]))
            midnight = midnight or text == "today"
    return found, midnight


def window_lengths(nodes: Iterable[Any], traits: dict[str, Any] | None = None) -> _Lengths:
    """The window lengths rules use (``last:``, ``N days ago`` bounds, sequence steps'
    ``within:``), found in every field of every node, following the traits they test
    (``traits``: definitions by name) into their definitions."""
    durations: list[Duration] = []
    midnight = daily = False
    followed: set[str] = set()
    stack: list[Any] = list(nodes)
    while stack:
        node = stack.pop()
        if isinstance(node, Window):
            more, day = _window_durations(node)
            durations += more
            midnight = midnight or day
        elif isinstance(node, BaseModel):
            if isinstance(node, SequenceStep) and node.within is not None:
                durations.append(parse_duration(node.within))
            daily = daily or isinstance(node, DaysSinceExpr)
            midnight = midnight or (isinstance(node, AttributeRule) and node.attribute == "age")
            if (
                isinstance(node, TraitRule | TraitExpr)
                and traits
                and node.trait in traits
                and node.trait not in followed
            ):
                followed.add(node.trait)
                stack.append(traits[node.trait])
            stack.extend(getattr(node, field) for field in type(node).model_fields)
        elif isinstance(node, list | tuple):
            stack.extend(node)
    fixed = {d.approx_timedelta() for d in durations if d.unit not in ("months", "years")}
    calendar = {d.approx_timedelta() for d in durations if d.unit in ("months", "years")}
    return _Lengths(tuple(sorted(fixed)), tuple(sorted(calendar)), midnight, daily)


class RealTime:
    """Every customer's segments at now, kept up to date (module docstring)."""

    def __init__(
        self, workspace: Workspace, names: list[str] | None = None, *, processes: int = 0
    ) -> None:
        #: a session of its own: its DuckDB cursor is used under :attr:`_lock` only (one
        #: cursor used by two threads at once fails, or worse)
        self._ws = workspace.session()
        self._lock = threading.RLock()
        self.prepared = self._ws.segments.prepare(names)
        self.names = list(self.prepared.names)
        self._lengths = self._read_lengths()
        #: the last instant :meth:`_midnight_after` was asked about, and its answer
        self._midnight: tuple[datetime, datetime] | None = None
        self.state: dict[str, frozenset[str]] = {}
        #: one set object per distinct membership (:meth:`_kept`)
        self._sets: dict[frozenset[str], frozenset[str]] = {}
        self._timers: list[tuple[datetime, str]] = []
        self._next: dict[str, datetime] = {}
        self.listeners: list[Callable[[list[Change]], None]] = []
        self.changes = 0
        self.expiries = 0
        #: customers read again into the prepared state without a reload (new, updated)
        self.rereads = 0
        #: called with the seconds each customer's evaluation took (``/metrics``)
        self.timed: Callable[[float], None] | None = None
        #: the segment and trait files the segments held were set from
        self._files = self.prepared.generation[1]
        #: evaluate arriving events in ``processes`` forked copies of the prepared state
        #: (none: here; where the platform forks: :mod:`microseg.service._evaluator`)
        self._processes = processes if can_fork() else 0
        self._copies: ForkedEvaluators | None = None
        #: times the copies were made, and evaluations done here because they could not
        self.forks = 0
        self.fallbacks = 0
        #: when making the copies last failed (they are not tried again for a while)
        self._unforked = -math.inf
        #: events absorbed since the copies' last question, which concerned no segment
        self._unsent: list[dict[str, Any]] = []
        self._start()

    def close(self) -> None:
        """End the evaluator processes, close the session it reads the store through."""
        with self._lock:
            self._drop_copies()
            self._ws.close()

    # -- state --------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The workspace clock's now, as the evaluators take it (naive UTC)."""
        # already naive UTC: astimezone would read it as the server's local time
        return self._ws.context.now()

    def _read_lengths(self) -> _Lengths:
        catalog = self.prepared.catalog
        rules = [catalog.full_rule(n) for n in self.names]
        return window_lengths(rules, dict(self.prepared.traits.definitions))

    def _start(self) -> None:
        """Everyone's memberships from one batch evaluation at now, and their timers."""
        members, _ = self._batch_differences(self._ws, {})
        self._sets = {}
        self.state = {c: self._kept(s) for c, s in members}
        now = self.now()
        for customer in self.prepared.snapshot.customers():
            self._schedule(customer, now)

    def _batch_differences(
        self, workspace: Workspace, state: dict[str, frozenset[str]] | None = None
    ) -> tuple[list[tuple[str, frozenset[str]]], int]:
        """The customers whose segments by one batch evaluation at now differ from
        ``state`` (default: the state held), each with the batch's answer, in id order;
        and the customers evaluated. Against an empty state: everyone in a segment."""
        run = workspace.segments.evaluate(self.names, save=False)
        try:
            table = run.result.to_pyarrow() if run.result is not None else None
        finally:
            if run.result is not None:
                run.result.drop()
        if table is None:
            return [], run.customers
        held = self.state if state is None else state
        return differences(table, self.names, held), run.customers

    @property
    def evaluators(self) -> int:
        """How many processes evaluate arriving events now (0: none, this one does)."""
        copies = self._copies
        return 0 if copies is None else len(copies.pids)

    @property
    def scheduled(self) -> int:
        """How many customers have an expiry timer."""
        return len(self._next)

    def _kept(self, members: frozenset[str]) -> frozenset[str]:
        """The one set object held for this membership: customers in the same segments
        share it, so a customer's evaluation leaves no new long-lived object for the
        collector to walk at each pass (it walked one per evaluation). Kept as many as
        there are distinct memberships (started again when far more than customers)."""
        if len(self._sets) > 2 * len(self.state) + 1_000:
            self._sets = {}
        return self._sets.setdefault(members, members)

    def segments_of(self, customer_id: str) -> frozenset[str]:
        return self.state.get(customer_id, frozenset())

    # -- events -------------------------------------------------------------------------------

    def on_load(self, rows: list[dict[str, Any]], *, reload: bool = False) -> list[Change]:
        """Events just stored (rows of ``events``): evaluate the customers they concern.
        New customers are read into the prepared state; ``reload`` (a load merged
        customers, or the fast lane's rows were stored otherwise than absorbed) loads it
        again."""
        with self._lock:
            now = self.now()
            found = self._due(now)
            if reload:  # customers merged, or rows not stored as absorbed: load again
                self.prepared.reload()
                touched = None
            else:  # None: loaded again (a customer unknown even after reading)
                touched = self._absorb_stored(rows)
            if touched is None:
                touched = list(dict.fromkeys(str(r["customer_id"]) for r in rows))
            trigger = {str(r["customer_id"]): str(r["event_id"]) for r in rows}
            for customer in touched:
                found += self._evaluate(customer, None, now, trigger.get(customer, "event"))
                self._schedule(customer, now)
        self._publish(found)
        return found

    def apply(self, rows: list[dict[str, Any]]) -> list[Change] | None:
        """Events not stored yet, whose stored rows are certain (the fast lane of
        :mod:`microseg.service._pipeline`): evaluate the customers they concern. None, with
        nothing done, when a row's customer is not live (new or merged since it was
        screened): the caller stores those rows first."""
        with self._lock:
            if not self._all_live(rows):
                return None
            now = self.now()
            found = self._due(now)
            touched = self.prepared.absorb(rows, stored=False) or []
            trigger = {str(r["customer_id"]): str(r["event_id"]) for r in rows}
            arrived: dict[str, list[dict[str, Any]]] = {}
            for row in rows:
                arrived.setdefault(str(row["customer_id"]), []).append(row)
            asks = []  # the others' answers stand (their timers are set again below)
            for customer in touched:
                names = self.prepared.concerned(arrived[customer])
                if names:
                    asks.append((customer, names))
            asked = self._ask(rows, asks, touched, now)
            for i, (customer, names) in enumerate(asks):
                held = asked[0][i] if asked is not None else None
                found += self._evaluate(customer, None, now, trigger[customer], names, held)
            for i, customer in enumerate(touched):
                if asked is None:
                    self._schedule(customer, now)
                else:
                    self._schedule_at(customer, asked[1][i])
        self._publish(found)
        return found

    def _ask(
        self,
        rows: list[dict[str, Any]],
        asks: list[tuple[str, list[str]]],
        timed: list[str],
        now: datetime,
    ) -> tuple[list[dict[str, bool]], list[datetime | None]] | None:
        """The answers of the evaluator processes to ``asks`` (``rows``: the events just
        absorbed) and the next change of each customer of ``timed`` after ``now``
        (:meth:`next_change`), copies made first when there are none or they are stale;
        None when they are not used or failed (the caller works them out itself: the
        same). Events that concern no segment are kept for the next question (sending
        them alone would cost a round trip for nothing, and not sending them would make
        the copies stale)."""
        if not self._processes:
            return None
        if not asks:
            if self._copies is not None:
                self._unsent += rows
            return None
        rows, self._unsent = [*self._unsent, *rows], []
        if self._copies is None and time.monotonic() - self._unforked < RETRY_SECONDS:
            return None  # the copies could not be made lately
        self.prepared.refresh()  # as an evaluation here would first (a write seen: stale)
        try:
            copies = self._copies
            if copies is None or not copies.holds(self.prepared, len(rows)):
                self._drop_copies()
                try:
                    copies = self._copies = ForkedEvaluators(
                        self.prepared, self.next_change, self._processes
                    )
                except OSError:  # no memory or processes left to fork: later
                    self._unforked = time.monotonic()
                    raise
                self.forks += 1
                rows = []  # the new copies have every event absorbed
            started = time.perf_counter()
            found = copies.evaluate(rows, asks, self.prepared.clock(), timed, now)
            if self.timed is not None:  # one observation per customer, as here
                each = (time.perf_counter() - started) / len(asks)
                for _ in asks:
                    self.timed(each)
            return found
        except Exception as exc:
            _LOG.warning("%s", json.dumps({"event": "evaluator process", "error": repr(exc)}))
            self._drop_copies()
            self.fallbacks += 1
            return None

    def _drop_copies(self) -> None:
        """End the evaluator processes, if any (new ones have every event absorbed)."""
        if self._copies is not None:
            self._copies.close()
            self._copies = None
        self._unsent = []

    def absorb(self, rows: list[dict[str, Any]]) -> bool:
        """Events not stored yet, added to the prepared state without evaluating anyone
        (:meth:`rebase` follows once they are stored); False, with nothing done, when a
        row's customer is not live."""
        with self._lock:
            if not self._all_live(rows):
                return False
            self.prepared.absorb(rows, stored=False)
            return True

    def _all_live(self, rows: list[dict[str, Any]]) -> bool:
        """Whether every row's customer is live in the prepared state (not new, not merged
        away since the rows were screened)."""
        snapshot = self.prepared.snapshot
        return all(snapshot.knows(str(r["customer_id"])) for r in rows)

    def on_bulk_load(
        self, session: Workspace, rows: list[dict[str, Any]], *, reload: bool = False
    ) -> list[Change]:
        """Many events just stored: add them to the prepared state (or load it again),
        then evaluate everyone in batch (:meth:`rebase`)."""
        with self._lock:
            if reload or self._absorb_stored(rows) is None:
                self.prepared.refresh(force=True)
            return self.rebase(session, rows)

    def _absorb_stored(self, rows: list[dict[str, Any]]) -> list[str] | None:
        """Stored rows into the prepared state, their new customers read first."""
        snapshot = self.prepared.snapshot
        new = [c for c in dict.fromkeys(str(r["customer_id"]) for r in rows)
               if not snapshot.knows(c)]  # fmt: skip
        if new:
            self.prepared.reread(new)
            self.rereads += 1
        return self.prepared.absorb(rows)

    def rebase(
        self, session: Workspace, rows: list[dict[str, Any]], *, cause: str = "batch"
    ) -> list[Change]:
        """Every customer's segments from one batch evaluation at now (``rows``, just
        stored, were absorbed without evaluation): the differences from the state held are
        the changes, triggered by each customer's last event of ``rows`` (``cause`` for
        the other customers)."""
        with self._lock:
            now = self.now()
            found = self._due(now)
            timed = len(found)  # counted by _evaluate
            differing, _ = self._batch_differences(session)
            stamp = now.replace(tzinfo=UTC)
            trigger = {str(r["customer_id"]): str(r["event_id"]) for r in rows}
            for customer, after in differing:
                before = self.state.get(customer, frozenset())
                found += _moves(customer, before, after, stamp, trigger.get(customer, cause))
                self.state[customer] = self._kept(after)
            for customer in trigger:
                self._schedule(customer, now)
            self.changes += len(found) - timed
        self._publish(found)
        return found

    # -- definitions --------------------------------------------------------------------------

    def definitions_changed(self, *, force: bool = False) -> bool:
        """Whether a segment or trait file changed since the segments held were set (a
        ``PUT /api/segments/NAME``, a delete, a saved cluster, a file edited by hand); the
        files are looked at most once a second unless ``force``
        (:meth:`PreparedSegments.refresh`)."""
        with self._lock:
            self.prepared.refresh(force=force)
            return bool(self.prepared.generation[1] != self._files)

    def on_definitions(self, session: Workspace) -> list[Change]:
        """The definitions changed: the prepared state is loaded again, the segments held
        become the new catalog's (those without problems), everyone is evaluated in batch
        at now and the differences are the changes (trigger ``definition``); the customers
        with events not stored yet are then evaluated one by one, and every timer is set
        again from the new windows. The caller stores what was acknowledged first."""
        with self._lock:
            self.prepared.refresh(force=True)
            self._files = self.prepared.generation[1]
            self.names = list(self.prepared.names)
            self._lengths = self._read_lengths()
            found = self.rebase(session, [], cause="definition")  # published there
            now = self.now()
            ahead: list[Change] = []
            for customer in self.prepared.ahead_customers():
                ahead += self._evaluate(customer, None, now, "definition")
            self._timers, self._next = [], {}
            for customer in self.prepared.snapshot.customers():
                self._schedule(customer, now)
        self._publish(ahead)
        return found + ahead

    def storing(self) -> contextlib.AbstractContextManager[None]:
        """Around a load whose rows the caller then gives to :meth:`settle`,
        :meth:`on_load`, :meth:`on_bulk_load` or :meth:`on_profiles`
        (:meth:`PreparedSegments.writing`)."""
        return self.prepared.writing()

    def settle(self, rows: list[dict[str, Any]]) -> None:
        """Rows given to :meth:`apply` are in the store now. The store's generation is read
        before the lock is taken: the query waits for the database, busy with the load
        that just ended, and events were not applied meanwhile (up to 40 ms at 600
        events/s). The caller is the one writer and holds the write lock, so nothing is
        stored between the reading and the settling."""
        stamp = self.prepared.store_generation()
        with self._lock:
            self.prepared.settle(rows, stamp)

    def profile(self, customer_id: str) -> tuple[Any, dict[str, Any], frozenset[str]]:
        """The customer now, from memory: their profile, traits and segments."""
        with self._lock:
            self._publish(self._due(self.now()))
            profile, traits = self.prepared.current(customer_id)
            return profile, traits, self.segments_of(customer_id)

    def knows(self, customer_id: str) -> bool:
        """Whether the customer is live in the prepared state."""
        return self.prepared.snapshot.knows(customer_id)

    def resolve(self, customer_id: str) -> str | None:
        """The live customer an id stands for (itself, or whom it was merged into)."""
        return self.prepared.snapshot.resolve(customer_id)

    def known_events(self, pairs: list[tuple[str, str]]) -> list[bool]:
        """Whether each customer already has an event with that id (stored, or applied
        ahead of the store), for (customer_id, event_id) pairs."""
        return self.prepared.snapshot.known_events(pairs)

    def on_profiles(self, customers: list[str], *, reload: bool = False) -> list[Change]:
        """Profiles just stored: read those customers again into the prepared state (or,
        with ``reload``, when the load merged customers, load it again), evaluate them."""
        with self._lock:
            now = self.now()
            found = self._due(now)
            if reload:
                self.prepared.refresh(force=True)
            else:
                self.prepared.reread(customers)
                self.rereads += 1
            for customer in dict.fromkeys(customers):
                found += self._evaluate(customer, None, now, "profile")
                self._schedule(customer, now)
        self._publish(found)
        return found

    def _evaluate(
        self,
        customer: str,
        as_of: datetime | None,
        at: datetime,
        trigger: str,
        names: list[str] | None = None,
        held: dict[str, bool] | None = None,
    ) -> list[Change]:
        """The customer's segments at ``as_of`` (None: now) set in the state held, and the
        changes; ``held``: the answers, when the evaluator processes gave them."""
        before = self.state.get(customer, frozenset())
        if held is None:
            started = time.perf_counter()
            held = self.prepared.of(
                customer,
                as_of=as_of.replace(tzinfo=UTC) if as_of else None,
                names=names,
                held_population=True,  # a timer's instant: the same population as events
            )
            if self.timed is not None:
                self.timed(time.perf_counter() - started)
        now_in = frozenset(n for n, inside in held.items() if inside and n in self.names)
        # the segments not evaluated keep their answer (those the caller left out, and
        # those a definition change removed, until :meth:`on_definitions` runs)
        now_in |= before - held.keys()
        self.state[customer] = now_in = self._kept(now_in)
        stamp = at.replace(tzinfo=UTC)
        changes = _moves(customer, before, now_in, stamp, trigger)
        self.changes += len(changes)
        return changes

    # -- expiry -------------------------------------------------------------------------------

    def next_change(self, customer: str, after: datetime) -> datetime | None:
        """The first instant after ``after`` at which one of the customer's events leaves
        a window the segments use (None when none will)."""
        stamps = self.prepared.snapshot.event_times(customer)
        best: datetime | None = None
        for length in (*self._lengths.fixed, *self._lengths.calendar):
            # the first event (the times are sorted) still inside the window after ``after``
            at = bisect.bisect_right(stamps, after - length - _TICK)
            if at < len(stamps):
                moment = stamps[at] + length + _TICK
                if best is None or moment < best:
                    best = moment
        if self._lengths.daily and stamps:
            day = timedelta(days=1)
            for stamp in stamps:
                moment = stamp + ((after - stamp) // day + 1) * day
                if best is None or moment < best:
                    best = moment
        if self._lengths.midnight:
            midnight = self._midnight_after(after)
            best = midnight if best is None else min(best, midnight)
        return best

    def _midnight_after(self, after: datetime) -> datetime:
        """The workspace's first midnight after ``after`` (naive UTC), worked out once per
        instant asked: a large batch's :meth:`rebase` asks it of thousands of customers
        at one instant."""
        kept = self._midnight
        if kept is None or kept[0] != after:
            clock = Clock(after, self._ws.config.timezone)
            midnight = clock.to_utc(
                datetime.combine(clock.local(after).date() + timedelta(days=1), datetime.min.time())
                .replace(tzinfo=clock.zone)
            )  # fmt: skip
            self._midnight = kept = (after, midnight)
        return kept[1]

    def _schedule(self, customer: str, now: datetime) -> None:
        self._schedule_at(customer, self.next_change(customer, now))

    def _schedule_at(self, customer: str, moment: datetime | None) -> None:
        """Set the customer's timer at ``moment`` (None: no timer)."""
        if moment is None:
            self._next.pop(customer, None)
            return
        self._next[customer] = moment
        heapq.heappush(self._timers, (moment, customer))

    def next_due(self) -> datetime | None:
        """When the next timer is due (naive UTC), or None."""
        with self._lock:
            while self._timers and self._next.get(self._timers[0][1]) != self._timers[0][0]:
                heapq.heappop(self._timers)  # replaced by a later schedule
            return self._timers[0][0] if self._timers else None

    def run_due(self, now: datetime | None = None) -> list[Change]:
        """Evaluate every customer whose timer is due by ``now`` (default: the clock's),
        each at its own instant, in time order."""
        with self._lock:
            found = self._due(now or self.now())
        self._publish(found)
        return found

    def _due(self, now: datetime) -> list[Change]:
        """The due timers' changes (the caller holds the lock and publishes). Every path
        that evaluates at now runs them first: an answer at now must not be overwritten by
        a timer's answer at an earlier instant."""
        found: list[Change] = []
        while self._timers and self._timers[0][0] <= now:
            moment, customer = heapq.heappop(self._timers)
            if self._next.get(customer) != moment:
                continue
            self.expiries += 1
            found += self._evaluate(customer, moment, moment, "expiry")
            self._schedule(customer, moment)
        return found

    # -- batch against real time --------------------------------------------------------------

    def reconcile(
        self, session: Workspace | None = None, *, heal: bool = True
    ) -> tuple[Reconciliation, list[Change]]:
        """Every segment in batch at now against the state held (the target: none differ),
        and the changes to log: those of the timers due, and with ``heal`` those that set
        each disagreeing customer to the batch answer (trigger ``reconcile``). The
        population values (score cut points, the value fit) are taken again at now, as
        batch takes them. ``session`` is the caller's session (its thread's cursor)."""
        workspace = session or self._ws
        with self._lock:
            now = self.now()
            moved = self._due(now)
            differing, customers = self._batch_differences(workspace)
            batch = dict(differing)
            differ = [
                Disagreement(customer_id=c, segment=n, realtime=n in held, batch=n in wanted)
                for c, wanted in differing
                for held in [self.state.get(c, frozenset())]
                for n in sorted(held ^ wanted)
            ]
            for i, found in enumerate(differ[:EXPLAINED]):
                tree = workspace.segments.explain(
                    found.segment, found.customer_id, as_of=now.replace(tzinfo=UTC)
                )
                differ[i] = found.model_copy(update={"explain": tree.to_dict()})
                line = {"event": "disagreement", **differ[i].to_dict()}
                _LOG.warning("%s", json.dumps(line, default=str))
            self.prepared.refit()
            stamp = now.replace(tzinfo=UTC)
            healed: list[Change] = []
            for found in differ if heal else ():
                healed.append(
                    Change(
                        at=stamp,
                        customer_id=found.customer_id,
                        segment=found.segment,
                        change="entered" if found.batch else "left",
                        trigger="reconcile",
                    )
                )
            for customer in {c.customer_id for c in healed}:
                self.state[customer] = self._kept(frozenset(batch.get(customer, ())))
            self.changes += len(healed)
        self._publish(moved + healed)
        report = Reconciliation(
            at=stamp,
            customers=customers,
            segments=list(self.names),
            disagreements=differ,
            healed=len(healed),
        )
        return report, moved + healed

    def _publish(self, changes: list[Change]) -> None:
        if changes:
            for listener in list(self.listeners):
                listener(changes)


#: bits of a membership word (:func:`differences`); the top bit of the first word marks a
#: membership held with segments the batch did not evaluate
_BITS = 63
_UNEVALUATED = 1 << 63


def differences(
    table: pa.Table, names: list[str], state: dict[str, frozenset[str]]
) -> list[tuple[str, frozenset[str]]]:
    """The customers whose segments in ``table`` (a batch evaluation: ``customer_id`` and
    a boolean column per name of ``names``) differ from ``state``, each with the table's
    answer, in id order; a customer held but not in the table has none.

    Compared as bit sets, not a Python set per customer: after each large batch the
    service compares every customer (100,000 in the benchmark), and building and
    comparing their sets one by one held the interpreter for about 0.4 s, while the next
    batch waited to be acknowledged. The memberships held are few distinct sets (they are
    shared: :meth:`RealTime._kept`), each made bits once."""
    ids = [str(c) for c in table.column("customer_id").to_pylist()]
    words = max(1, -(-len(names) // _BITS))
    place = {name: divmod(bit, _BITS) for bit, name in enumerate(names)}
    wanted = np.zeros((len(ids), words), dtype=np.uint64)
    for name, (word, bit) in place.items():
        column = pc.fill_null(table.column(name), False).to_numpy(zero_copy_only=False)
        wanted[:, word] |= column.astype(np.uint64) << np.uint64(bit)
    codes: dict[frozenset[str], tuple[int, ...]] = {}

    def code(held: frozenset[str]) -> tuple[int, ...]:
        found = codes.get(held)
        if found is None:
            row = [0] * words
            for name in held:
                if name in place:
                    word, bit = place[name]
                    row[word] |= 1 << bit
                else:
                    row[0] |= _UNEVALUATED
            found = codes[held] = tuple(row)
        return found

    none: frozenset[str] = frozenset()
    held = np.array([code(state.get(c, none)) for c in ids], dtype=np.uint64)
    held = held.reshape(len(ids), words)
    sets: dict[tuple[int, ...], frozenset[str]] = {}
    found: list[tuple[str, frozenset[str]]] = []
    for at in np.flatnonzero((wanted != held).any(axis=1)).tolist():
        key = tuple(int(w) for w in wanted[at])
        if key not in sets:
            sets[key] = frozenset(
                name for name, (word, bit) in place.items() if key[word] >> bit & 1
            )
        found.append((ids[at], sets[key]))
    evaluated = set(ids)
    found += [(c, none) for c, members in state.items() if members and c not in evaluated]
    found.sort(key=lambda pair: pair[0])
    return found


def _moves(
    customer: str, before: frozenset[str], after: frozenset[str], at: datetime, trigger: str
) -> list[Change]:
    """The customer's entries (in ``after`` only) then exits (in ``before`` only). Built
    without validation: every field is the real-time path's own (``at`` aware), and this
    runs at every event."""
    if before == after:
        return []
    made = Change.model_construct
    return [
        made(at=at, customer_id=customer, segment=n, change="entered", trigger=trigger)
        for n in sorted(after - before)
    ] + [
        made(at=at, customer_id=customer, segment=n, change="left", trigger=trigger)
        for n in sorted(before - after)
    ]


def record(store: Any, changes: list[Change]) -> None:
    """Write entries and exits to the store's membership log."""
    if not changes:
        return
    # one pass over the changes, the instants made naive UTC by Arrow: 3 ms for 4,800
    # changes, where a pass per column took 6.5
    at, customers, segments, kinds, triggers = zip(
        *[(c.at, c.customer_id, c.segment, c.change, c.trigger) for c in changes], strict=True
    )
    text = pa.string()
    rows = pa.table(
        {
            "changed_at": pa.array(at, pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us")),
            "customer_id": pa.array(customers, text),
            "segment": pa.array(segments, text),
            "change": pa.array(kinds, text),
            "trigger": pa.array(triggers, text),
        }
    )
    store.append_membership_log(rows)
