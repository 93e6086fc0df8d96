"""What the service does with the records it is sent: write ahead, answer, apply, store.

Every batch of records is appended to the write-ahead file (fsync, shared by concurrent
writers) before anything else. Then one of two lanes:

- **The fast lane.** Events the loader is certain to accept, whose stored rows are
  certain (``microseg.ingest``'s :class:`~microseg.ingest._fast.EventScreen`: canonical
  columns, an ``event_id``, a live ``customer_id``, ISO 8601 times with a zone, plain
  numbers), are answered ``202`` at once. One thread, the applier, takes them in order:
  adds their rows to the real-time state, evaluates the customers concerned (the stream
  hears of entries and exits now), and every ``flush_seconds`` (1 s; or ``flush_records``)
  stores everything taken since in one load (``microseg.ingest.store_screened``: the
  screened rows in one statement, as the loader would store them; the loader itself when
  an event id may be a duplicate), writes the membership log, and marks the write-ahead
  batches done.
- **The slow lane.** Anything else (other columns, identifiers to stitch, new customers,
  ``POST /api/customers``, or ``?wait=true``): the applier stores what is pending first
  (order is kept), then loads these records together with the slow-lane requests that
  queued meanwhile (group commit), and the request is answered with the load's report and
  its own rejected rows.

Reads that go to the store call :meth:`Pipeline.drain` first, so a read after a write sees
it. If a fast-lane batch is ever stored differently from what the screen built (an event
id stored under another customer, which the loader counts as a duplicate; otherwise proven
not to happen, ``tests/ingest/test_fast.py``), the real-time state is loaded again from
the store, the customers concerned evaluated again, and the divergence logged and counted
in ``/metrics``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from microseg.core.errors import IngestError, MicrosegError, ParameterError
from microseg.ingest import (
    EventScreen,
    LoadReport,
    missing_column,
    mixed_kinds,
    oversized_integer,
    records_table,
    store_screened,
)
from microseg.service._ids import StoredIds
from microseg.service._realtime import Change, RealTime, Reconciliation, record
from microseg.service._wal import WriteAheadLog
from microseg.workspace import Workspace

__all__ = ["BULK_ROWS", "SCREEN_ON_LOOP", "Job", "Pipeline"]

_LOG = logging.getLogger("microseg.service")
#: requests with more records are screened in a worker thread, not on the event loop
SCREEN_ON_LOOP = 200
#: from this many fast-lane events waiting at once, everyone is evaluated in batch
BULK_ROWS = 3_000
#: a bulk waits this long (seconds) after the last large request (more than
#: ``SCREEN_ON_LOOP`` records) for more to arrive before it is applied: an import sent as
#: many requests in a row is stored and evaluated in batch together, not once for each
#: request that arrived while the last was evaluated, and its acknowledgements do not
#: share the cores with those evaluations meanwhile
BULK_QUIET = 0.3
#: ... and no longer than this (seconds) after its first request arrived
BULK_GATHER = 2.0
#: how far (seconds) the applier may fall behind before acknowledgements wait for it
MAX_LAG = 0.25
#: at most this many rows of requests waiting are applied together (:meth:`Pipeline._group`):
#: one question to each evaluator process for all, about 10 ms of evaluation at most. Groups
#: are only this large when requests queued: after a stall (a load into the store) the
#: applier catches up in fewer rounds. At 2,000 events/s the stream's p99 was lower with 128
#: than with 32 in each of five runs side by side (474 -> 255 ms, 180 -> 109 ms, ...).
GROUP_ROWS = 128


#: every job's end is told through this one condition (:meth:`Job.wait`, :func:`_finished`):
#: few wait for theirs, and an event (a condition, a lock and a queue) per job of the fast
#: lane were thousands of objects more for the collector to walk at each of its passes
_ENDED = threading.Condition()


@dataclass
class Job:
    """One request's records on their way to the store, and what became of them."""

    kind: str
    records: list[dict[str, Any]]
    seq: int
    #: the stored rows of the fast lane (duplicates left out); None for the slow lane
    rows: list[dict[str, Any]] | None
    duplicates: int = 0
    #: stored (or failed: :attr:`error`), told through :data:`_ENDED`
    ended: bool = False
    #: the slow lane's load: its report, its rejected rows, this job's first row in it
    report: LoadReport | None = None
    rejected: Sequence[dict[str, Any]] = ()
    offset: int = 0
    batched: int = 1
    error: BaseException | None = None
    #: for the slow part of a split request: each record's position in the request, and
    #: the fast part's job
    index: list[int] | None = None
    fast: Job | None = None
    #: the fast lane's entries and exits, logged when the job is stored
    changes: Sequence[Change] = ()
    #: when it was acknowledged (``time.perf_counter``)
    since: float = field(default_factory=time.perf_counter)

    def wait(self) -> Job:
        with _ENDED:
            _ENDED.wait_for(lambda: self.ended)
        if self.error is not None:
            raise self.error
        return self


class Pipeline:
    """The write-ahead file, the two lanes and the applier thread (module docstring)."""

    def __init__(
        self,
        workspace: Workspace,
        wal: WriteAheadLog,
        realtime: RealTime | None,
        metrics: Any,
        write_lock: threading.Lock,
        *,
        flush_seconds: float = 1.0,
        flush_records: int = 50_000,
        max_queued: int = 400_000,
    ) -> None:
        self._ws = workspace
        self._wal = wal
        self._realtime = realtime
        self._metrics = metrics
        self._write_lock = write_lock
        self._flush_seconds = flush_seconds
        self._flush_records = flush_records
        self._max_queued = max_queued
        self._screen = EventScreen.of(workspace.config)
        self._cond = threading.Condition()
        self._queue: deque[Job] = deque()
        #: records written ahead and not yet stored (queued or applied)
        self.unstored = 0
        #: event ids of the fast lane not yet stored (duplicates are told at once)
        self._ids: set[str] = set()
        self._ids_lock = threading.Lock()
        self._stopping = False
        #: what the applier hands the storer, in order: (what, job, jobs)
        self._store_cond = threading.Condition()
        self._store_queue: deque[tuple[str, Job | None, list[Job] | None]] = deque()
        #: the storer holds fast-lane jobs and will wake to store them (its flush timer):
        #: more of them need not wake it
        self._store_timed = False
        #: times the storer woke to take what it was handed
        self.storer_rounds = 0
        self.flushes = 0
        #: the last fast-lane loads: (start, end, records), ``time.monotonic`` seconds
        self.loads: deque[tuple[float, float, int]] = deque(maxlen=1_000)
        #: the event ids the store may hold (the storer's: filled when it starts)
        self._stored_ids = StoredIds()
        #: fast-lane loads stored without the store's pass over every stored id
        self.unchecked = 0
        self.divergences = 0
        self.bulk_rows = BULK_ROWS
        self.bulk_quiet = BULK_QUIET
        self.bulk_gather = BULK_GATHER
        self.bulks = 0
        #: seconds the applier may fall behind acknowledgements before they wait for it
        self.max_lag = MAX_LAG
        #: the jobs the applier took last, and how many of them it has done
        self._progress: tuple[list[Job], int] = ([], 0)
        #: requests enqueued, and those the applier is done with (applied or handed on)
        self._enqueued = 0
        self._taken = 0
        self._thread = threading.Thread(target=self._run, name="microseg-applier", daemon=True)
        self._storer = threading.Thread(target=self._store, name="microseg-storer", daemon=True)
        self._storer.start()
        self._thread.start()

    # -- the request side ---------------------------------------------------------------------

    async def submit(self, kind: str, records: list[dict[str, Any]], *, wait: bool = False) -> Job:
        """Write the records ahead and hand them to the applier; return at once on the
        fast lane (which never leaves the event loop: the write-ahead file's thread tells
        it when its records are on disk), once they are stored on the slow lane (or with
        ``wait``). A request with records of both lanes is split: the fast ones are
        applied at once, and the answer waits for the slow ones (the job returned; its
        ``fast`` is the other)."""
        if len(records) > SCREEN_ON_LOOP:
            fast, slow = await asyncio.to_thread(self._split, kind, records)
        else:
            fast, slow = self._split(kind, records)
        await self._paced(len(records))
        first: Job | None = None
        if fast:
            chosen = [records[i] for i, _ in fast]
            first = await self.submit_fast(kind, chosen, [row for _, row in fast], held=True)
        if not slow:
            assert first is not None
            if wait:
                await asyncio.to_thread(first.wait)
            return first
        chosen = [records[i] for i in slow]
        seq = await self._wal.append_async(kind, chosen)
        job = self._enqueue(kind, chosen, seq, None)
        job.index, job.fast = (slow, first) if first is not None else (None, None)
        await asyncio.to_thread(job.wait)
        if first is not None and wait:
            await asyncio.to_thread(first.wait)
        return job

    async def fast_rows(
        self, kind: str, records: list[dict[str, Any]]
    ) -> list[dict[str, Any]] | None:
        """Every record's stored row when all of them take the fast lane, else None
        (screened in a worker thread when there are many)."""
        if kind != "events":
            return None
        if len(records) > SCREEN_ON_LOOP:
            rows = await asyncio.to_thread(self._fast_rows, records)
        else:
            rows = self._fast_rows(records)
        return None if any(row is None for row in rows) else rows  # type: ignore[return-value]

    async def submit_fast(
        self,
        kind: str,
        records: list[dict[str, Any]],
        rows: list[dict[str, Any]],
        *,
        held: bool = False,
        body: bytes | None = None,
    ) -> Job:
        """Write ahead and hand to the applier records all screened for the fast lane
        (``rows``, their stored rows: :meth:`fast_rows`); ``held``: the caller already
        waited for the backlog; ``body``: the request's JSON, when the records are all of
        it (written ahead as it came)."""
        if not held:
            await self._paced(len(records))
        seq = await self._wal.append_async(kind, records, body=body)
        return self._enqueue(kind, records, seq, rows)

    async def _paced(self, records: int) -> None:
        """Wait while the store is far behind (``max_queued`` records), or, for a request
        of a few records, while the applier is (its oldest job waiting over ``max_lag``
        seconds): under overload single events are acknowledged more slowly, rather than
        the real-time state falling minutes behind them. Large batches are evaluated in
        batch once stored (``BULK_ROWS``): they are not paced by it."""
        if self.unstored > self._max_queued:
            await asyncio.to_thread(self._backlog)
        while records <= SCREEN_ON_LOOP and not self._stopping and self.lag > self.max_lag:
            await asyncio.sleep(0.01)  # fine enough against max_lag, few wake-ups

    @property
    def lag(self) -> float:
        """How long (seconds) the oldest request the applier has not applied yet (taken
        or still queued) has waited."""
        jobs, done = self._progress  # one read: the pair is consistent
        if done < len(jobs):
            return time.perf_counter() - jobs[done].since
        try:
            return time.perf_counter() - self._queue[0].since
        except IndexError:  # nothing waiting
            return 0.0

    @property
    def realtime(self) -> RealTime | None:
        """The real-time state the fast lane applies to (None: no fast lane)."""
        return self._realtime

    def _backlog(self) -> None:
        with self._cond:
            while self.unstored > self._max_queued and not self._stopping:
                self._cond.wait(1.0)  # back-pressure: the store is behind

    def _split(
        self, kind: str, records: list[dict[str, Any]]
    ) -> tuple[list[tuple[int, dict[str, Any]]], list[int]]:
        """(position, row) of the records for the fast lane, and the positions of those
        for the slow lane (whose records must make one table). All go slow when an event
        id is on both sides (the loader keeps the first of an id: only one load can tell),
        or when the slow ones lack a column the loader requires that the fast ones have
        (one of them without a ``type``: the whole request is one load, where that record
        is rejected with its path, rather than the fast ones stored and the request
        refused)."""
        rows = self._fast_rows(records) if kind == "events" else [None] * len(records)
        fast = [(i, row) for i, row in enumerate(rows) if row is not None]
        slow = [i for i, row in enumerate(rows) if row is None]
        if fast and slow:
            ids = {records[i].get("event_id") for i in slow}
            keys = {key for i in slow for key in records[i]}
            if missing_column(kind, keys) is not None or any(
                row["event_id"] in ids for _, row in fast
            ):
                fast, slow = [], list(range(len(records)))
        if slow:
            chosen = [records[i] for i in slow]
            _require_columns(kind, chosen)
            mixed = mixed_kinds(chosen)
            if mixed is not None:
                at, column, kind, before, was = mixed
                raise ParameterError(
                    f"record [{slow[at]}] has {kind} in {column!r}, where record "
                    f"[{slow[before]}] has {was}: a column holds one kind of value",
                    where=f"[{slow[at]}].{column}",
                    hint="send each column's values as the same JSON type in every record",
                )
            oversized = oversized_integer(chosen)
            if oversized is not None:
                at, column = oversized
                raise ParameterError(
                    f"record [{slow[at]}] has a whole number in {column!r} too large to "
                    "store (beyond 64 bits)",
                    where=f"[{slow[at]}].{column}",
                    hint="send it as text, or as a number between -2**63 and 2**63-1",
                )
            try:
                records_table(chosen)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise ParameterError(f"records of mixed shapes: {exc}") from None
        return fast, slow

    def _enqueue(
        self, kind: str, records: list[dict[str, Any]], seq: int, rows: list[dict[str, Any]] | None
    ) -> Job:
        job = Job(kind, records, seq, None)
        if rows is not None:
            job.rows, job.duplicates = self._fresh(rows)
        with self._cond:
            self.unstored += len(records)
            self._queue.append(job)
            self._enqueued += 1
            self._cond.notify_all()
        self._metrics.queued.set(self.unstored)
        return job

    def wait_applied(self, timeout: float = 30.0) -> None:
        """Return once every request acknowledged before is in the real-time state (not
        necessarily stored): a read from memory after a write sees it."""
        with self._cond:
            target = self._enqueued
            self._cond.wait_for(lambda: self._taken >= target or self._stopping, timeout)

    def _fast_rows(self, records: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
        """Each record's stored row, if the fast lane may take it (else None)."""
        engine = self._realtime
        if engine is None:
            return [None] * len(records)
        now = engine.now()
        return self._screen.rows(records, now, engine.resolve)

    def _fresh(self, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
        """The rows whose event ids are neither stored nor on their way (the loader keeps
        the first of an id), and how many were not."""
        engine = self._realtime
        assert engine is not None
        fresh = []
        with self._ids_lock:  # the storer forgets ids once they are in the real-time state
            known = engine.known_events([(r["customer_id"], r["event_id"]) for r in rows])
            for row, stored in zip(rows, known, strict=True):
                event_id = row["event_id"]
                if stored or event_id in self._ids:
                    continue
                self._ids.add(event_id)
                fresh.append(row)
        return fresh, len(rows) - len(fresh)

    @property
    def waiting(self) -> int:
        """Requests acknowledged and not yet taken by the applier."""
        return len(self._queue)

    def drain(self) -> None:
        """Return once everything submitted before is stored."""
        with self._cond:
            if not self.unstored:
                return
        marker = Job("drain", [], 0, None)
        with self._cond:
            self._queue.append(marker)
            self._cond.notify_all()
        marker.wait()

    def follow_definitions(self, session: Workspace, *, force: bool = False) -> list[Change]:
        """The real-time state follows changed segment and trait definitions
        (:meth:`RealTime.on_definitions`), once what was acknowledged is stored; the
        changes, logged and counted (none when nothing changed, or without real time).
        ``force`` looks at the files now (a route that just wrote one)."""
        engine = self._realtime
        if engine is None:
            return []
        self.drain()
        with self._write_lock:
            if not engine.definitions_changed(force=force):  # followed meanwhile
                return []
            changes = engine.on_definitions(session)
            record(session.store, changes)
        self._metrics.changes.inc(len(changes))
        line = {"event": "definitions", "segments": len(engine.names), "changes": len(changes)}
        _LOG.info("%s", json.dumps(line))
        return changes

    def reconcile(self, session: Workspace, *, heal: bool = True) -> Reconciliation:
        """The real-time state against batch at now (:meth:`RealTime.reconcile`), once
        what was acknowledged is stored: the healing changes logged, the disagreements
        counted in ``/metrics``, one JSON line for the run."""
        engine = self._realtime
        assert engine is not None, "reconciliation needs the real-time path"
        self.drain()
        with self._write_lock:
            found, changes = engine.reconcile(session, heal=heal)
            record(session.store, changes)
        self._metrics.disagreements.inc(len(found.disagreements))
        line = {
            "event": "reconciled",
            "customers": found.customers,
            "disagreements": len(found.disagreements),
            "healed": found.healed,
        }
        _LOG.info("%s", json.dumps(line))
        return found

    def stop(self) -> None:
        """Store everything still pending, then stop the applier."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout=120)
        self._storer.join(timeout=120)

    # -- the applier: the real-time path, in order ---------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                self._gather()
                jobs = list(self._queue)
                self._queue.clear()
                stopping = self._stopping
            self._take(jobs)
            if stopping and not self._queue:
                self._hand("stop", None)
                return

    def _gather(self) -> None:
        """While the queue starts with a bulk (:meth:`_take`) and large requests are still
        arriving, wait for them: ``bulk_quiet`` seconds after the last, ``bulk_gather``
        after the first at most (called holding ``_cond``; an enqueue wakes it)."""
        while not self._stopping:
            rows, last = 0, None
            for job in self._queue:
                if job.rows is None:
                    break
                rows += len(job.rows)
                if len(job.records) > SCREEN_ON_LOOP:
                    last = job.since
            if rows < self.bulk_rows or last is None:
                return
            now = time.perf_counter()
            wait = min(last + self.bulk_quiet, self._queue[0].since + self.bulk_gather) - now
            if wait <= 0:
                return
            self._cond.wait(wait)

    def _take(self, jobs: list[Job]) -> None:
        """Apply the fast lane's jobs and hand every job to the storer, in order."""
        bulk = 0
        while bulk < len(jobs) and jobs[bulk].rows is not None:
            bulk += 1
        many = sum(len(j.rows or ()) for j in jobs[:bulk]) >= self.bulk_rows
        self._progress = (jobs, 0)
        if many and self._bulk(jobs[:bulk]):
            self._done_with(bulk)
            jobs = jobs[bulk:]
            self._progress = (jobs, 0)
        at = 0
        while at < len(jobs):
            group = self._group(jobs, at)
            if len(group) > 1 and self._apply(group):
                for job in group:
                    self._hand("fast", job)
                at += len(group)
                self._progress = (jobs, at)
                self._done_with(len(group))
                continue
            job = jobs[at]
            if job.kind == "drain":
                self._hand("drain", job)
            elif job.rows is not None and self._apply([job]):
                self._hand("fast", job)
            else:
                self._hand("slow", job)
            at += 1
            self._progress = (jobs, at)
            if job.kind != "drain":  # a drain marker is not a request (_enqueue)
                self._done_with(1)

    def _group(self, jobs: list[Job], at: int) -> list[Job]:
        """The fast-lane jobs from ``at`` on that are applied together: consecutive, of
        at most :data:`GROUP_ROWS` rows in all."""
        end, rows = at, 0
        while end < len(jobs) and jobs[end].rows is not None and jobs[end].kind != "drain":
            rows += len(jobs[end].rows or ())
            if rows > GROUP_ROWS and end > at:
                break
            end += 1
        return jobs[at:end]

    def _apply(self, jobs: list[Job]) -> bool:
        """The real-time path for fast-lane jobs, one, or several that queued while the
        applier was busy: each customer is evaluated once, after all their events of these
        jobs, and each evaluator process is asked once. The changes are the last job's
        (logged when it is stored, in order). False, with nothing done, when a customer is
        no longer live: several jobs then go their own way; one takes the slow lane
        (merged or gone since it was screened)."""
        assert self._realtime is not None
        rows = [r for job in jobs for r in job.rows or ()]
        changes = self._realtime.apply(rows) if rows else []
        if changes is None:
            if len(jobs) == 1:
                with self._ids_lock:
                    self._ids.difference_update(r["event_id"] for r in rows)
                jobs[0].rows = None
            return False
        jobs[-1].changes = changes
        now = time.perf_counter()
        for job in jobs:
            self._metrics.applied.observe(now - job.since)
        self._metrics.events.labels("accepted").inc(len(rows))
        self._metrics.changes.inc(len(changes))
        return True

    def _done_with(self, jobs: int) -> None:
        with self._cond:
            self._taken += jobs
            self._cond.notify_all()

    def _bulk(self, jobs: list[Job]) -> bool:
        """Many events at once: add them to the real-time state without evaluating each
        customer, have them stored, then everyone evaluated in batch at now (the database
        does it faster than one customer at a time beyond :data:`BULK_ROWS` events), the
        differences being the changes; the applier waits for it (a batch evaluation must
        not miss events applied meanwhile). False when a customer is no longer live (the
        jobs take the usual way)."""
        assert self._realtime is not None
        rows = [r for j in jobs for r in j.rows or ()]
        if not self._realtime.absorb(rows):
            return False
        self._metrics.events.labels("accepted").inc(len(rows))
        self.bulks += 1
        done = Job("bulk", [], 0, rows)
        self._hand("bulk", done, jobs)
        done.wait()
        return True

    def _hand(self, what: str, job: Job | None, jobs: list[Job] | None = None) -> None:
        with self._store_cond:
            self._store_queue.append((what, job, jobs))
            if what != "fast" or not self._store_timed:
                self._store_cond.notify_all()

    # -- the storer: every write to the store, in order ------------------------------------

    def _store(self) -> None:
        pending: list[Job] = []
        first = 0.0
        held = 0  # records in pending
        with self._ws.session() as session:
            self._read_stored_ids(session)
            while True:
                with self._store_cond:
                    while not self._store_queue and not self._due(pending, held, first):
                        wait = first + self._flush_seconds - time.monotonic() if pending else None
                        self._store_timed = bool(pending)
                        self._store_cond.wait(None if wait is None else max(0.001, wait))
                    self._store_timed = False
                    self.storer_rounds += 1
                    items = list(self._store_queue)
                    self._store_queue.clear()
                slow: list[Job] = []
                for what, job, jobs in items:
                    if what == "slow":
                        assert job is not None
                        if not slow or slow[0].kind == job.kind:
                            slow.append(job)  # loaded together (group commit)
                            continue
                    if slow:  # what came before is stored first
                        pending, held = self._flush_pending(session, pending, slow), 0
                        slow = []
                    if what == "slow":
                        slow = [job]  # type: ignore[list-item]
                    elif what == "fast":
                        assert job is not None
                        if not pending:
                            first = time.monotonic()
                        pending.append(job)
                        held += len(job.records)
                    else:
                        pending, held = self._flush_pending(session, pending, []), 0
                        if what == "stop":
                            return
                        assert job is not None
                        if what == "bulk":
                            assert jobs is not None
                            self._guarded(
                                session, lambda s, j=jobs, r=job.rows: self._flush(s, j, r)
                            )
                        _finished([job])  # a bulk's or a drain's
                if slow:
                    pending, held = self._flush_pending(session, pending, slow), 0
                if self._due(pending, held, first):
                    pending, held = self._flush_pending(session, pending, []), 0

    def _read_stored_ids(self, session: Workspace) -> None:
        """The hashes of the stored event ids, for the fast lane's loads (none without
        it); when they cannot be read, the store checks every load, as without them."""
        if self._realtime is None:
            return
        try:
            self._stored_ids.fill(session.store.event_id_hashes())
        except Exception:
            _LOG.exception("reading the stored event ids failed")

    def _due(self, pending: list[Job], held: int, first: float) -> bool:
        """Whether the pending jobs (``held`` records, the first taken at ``first``) are
        to be stored now. While its timer runs the storer is not woken for each fast-lane
        job (:meth:`_hand`): ``flush_records`` is checked when it wakes."""
        if not pending:
            return False
        return held >= self._flush_records or time.monotonic() - first >= self._flush_seconds

    def _flush_pending(self, session: Workspace, pending: list[Job], slow: list[Job]) -> list[Job]:
        """Store the fast lane's pending jobs, then load the slow lane's; nothing pending
        after."""
        if pending:
            self._guarded(session, lambda s: self._flush(s, pending))
        if slow:
            self._guarded(session, lambda s: self._load_slow(s, slow))
        return []

    def _guarded(self, session: Workspace, step: Any) -> None:
        """Run a step; a failure is given to the jobs it concerned, never kills the
        storer."""
        try:
            step(session)
        except MicrosegError:
            pass  # the caller's mistake (an unreadable batch): its request is answered 4xx
        except Exception:
            _LOG.exception("storing failed")

    def _flush(
        self, session: Workspace, jobs: list[Job], rebase: list[dict[str, Any]] | None = None
    ) -> None:
        """Store fast-lane jobs in one load and log their changes; with ``rebase`` (rows
        absorbed but not evaluated), evaluate everyone in batch after."""
        changes = [c for j in jobs for c in j.changes]
        rows = [r for j in jobs for r in j.rows or ()]
        records = [r for j in jobs for r in j.records]
        assert self._realtime is not None
        begun = time.monotonic()
        try:
            with self._write_lock, self._realtime.storing():
                now = session.context.now()
                # the records the screen left out are stored already or among these rows
                hashes = session.store.event_id_hashes([r["event_id"] for r in rows])
                fresh = self._stored_ids.none_of(hashes)
                report = store_screened(
                    session.store, session.config, records, rows, now=now, new_ids=fresh
                )
                self._stored_ids.add(hashes)
                self.unchecked += fresh
                self._realtime.settle(rows)
                if (report.accepted, report.rejected) != (len(rows), 0) or (
                    report.new_customers or report.merged_customers
                ):
                    changes += self._diverged(report, rows)
                if rebase is not None:
                    moved = self._realtime.rebase(session, rebase)
                    self._metrics.changes.inc(len(moved))
                    changes += moved
                record(session.store, changes)
            for job in jobs:
                job.report, job.batched = report, len(jobs)
            self.flushes += 1
            ended = time.monotonic()
            self.loads.append((begun, ended, len(records)))
            self._metrics.loads.observe(ended - begun)
        except BaseException as exc:
            for job in jobs:
                job.error = exc
            raise
        finally:
            self._finish(jobs, sum(len(j.records) for j in jobs))

    def _diverged(self, report: LoadReport, rows: list[dict[str, Any]]) -> list[Change]:
        """The loader stored the fast lane's rows otherwise than screened: take the
        store's word (load the real-time state again, evaluate those customers again)."""
        assert self._realtime is not None
        self.divergences += 1
        self._metrics.divergences.inc()
        line = {
            "event": "fast lane divergence",
            "screened": len(rows),
            "accepted": report.accepted,
            "rejected": report.rejected,
            "duplicates": report.duplicates,
            "load_id": report.load_id,
        }
        _LOG.warning("%s", json.dumps(line))
        return self._realtime.on_load(rows, reload=True)

    def _load_slow(self, session: Workspace, jobs: list[Job]) -> None:
        """Load the slow lane's jobs together (one load per job when their shapes do not
        mix) and follow them in real time."""
        if not jobs:
            return
        try:
            groups = [(jobs, records_table([r for j in jobs for r in j.records]))]
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            groups = [([j], records_table(j.records)) for j in jobs]
        try:
            for group, table in groups:
                offset = 0
                for job in group:
                    job.offset, job.batched = offset, len(group)
                    offset += len(job.records)
                with self._write_lock, self._storing():
                    report = session.ingest(job.kind, [table], max_rejected="100%")  # type: ignore[arg-type]
                    self._follow(session, job.kind, report)
                rejected = (
                    session.rejects(load_id=report.load_id, limit=None).to_pyarrow().to_pylist()
                    if report.rejected
                    else []
                )
                for job in group:
                    job.report, job.rejected = report, rejected
                self._metrics.events.labels("rejected").inc(report.rejected)
        except BaseException as exc:
            for job in jobs:
                if job.report is None:
                    job.error = exc
            raise
        finally:
            self._finish(jobs, sum(len(j.records) for j in jobs))

    def _storing(self) -> contextlib.AbstractContextManager[None]:
        """Around a load the real-time state then follows (:meth:`RealTime.storing`)."""
        engine = self._realtime
        return contextlib.nullcontext() if engine is None else engine.storing()

    def _follow(self, session: Workspace, kind: str, report: LoadReport) -> None:
        """The real-time path after a slow-lane load: evaluate the customers it concerns."""
        engine = self._realtime
        if engine is None or not report.accepted:
            return
        if kind == "events":
            events = session.store.table("events")
            stored = events.filter(events.load_id == report.load_id).drop("load_id")
            rows = stored.to_pyarrow().to_pylist()
            self._stored_ids.add(session.store.event_id_hashes([str(r["event_id"]) for r in rows]))
            merged = bool(report.merged_customers)
            if len(rows) >= self.bulk_rows:
                changes = engine.on_bulk_load(session, rows, reload=merged)
            else:
                changes = engine.on_load(rows, reload=merged)
            self._metrics.events.labels("accepted").inc(report.accepted)
        else:
            history = session.store.table("customer_history")
            ids = history.filter(history.load_id == report.load_id).select("customer_id")
            customers = ids.distinct().to_pyarrow().column("customer_id").to_pylist()
            changes = engine.on_profiles(
                [str(c) for c in customers], reload=bool(report.merged_customers)
            )
        record(session.store, changes)
        self._metrics.changes.inc(len(changes))

    def _finish(self, jobs: list[Job], records: int) -> None:
        self._wal.done(*(job.seq for job in jobs))
        with self._ids_lock:
            for job in jobs:
                self._ids.difference_update(r["event_id"] for r in job.rows or ())
        with self._cond:
            self.unstored -= records
            self._cond.notify_all()
        self._metrics.queued.set(self.unstored)
        _finished(jobs)


def _require_columns(kind: str, records: list[dict[str, Any]]) -> None:
    """Refuse records that lack a column every load of their kind needs, in the API's
    words (the loader's message speaks of a file's columns and ``--map``)."""
    missing = missing_column(kind, {key for record in records for key in record})
    if missing is None:
        return
    needed = "customer_id (or email, phone, anonymous_id)" if missing == "customer_id" else missing
    raise IngestError(
        f"no record has {needed!r}: every {kind.removesuffix('s')} needs it",
        where=f"[0].{missing}",
        hint=f"give each record its {needed}",
    )


def _finished(jobs: Sequence[Job]) -> None:
    """Tell whoever waits for these jobs that they ended."""
    with _ENDED:
        for job in jobs:
            job.ended = True
        _ENDED.notify_all()
