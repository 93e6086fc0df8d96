"""The prepared per-profile evaluator: everything but the customer's rows loaded once.

The real-time path asks which segments one customer is in, many times a second. Loading
the catalogs, the schema, the score cut points, the value fit and the cluster assigners
for every question, and scanning the events for the customer's rows, is what made
``ws.segments.of`` slow; :class:`PreparedSegments` loads them once, with every customer's
rows in a :class:`~microseg.profile.ProfileSnapshot`, and answers from memory.

It loads again when the workspace changes: at once after a write through the same store
(a load, a fit, a discovery run, stored traits), and, checked at most once a second, after
a change of the generation stamp (latest load, fit, run, trait cut points, attribute
columns) or of a segment or trait file.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from microseg.context import Context
from microseg.core.time import AsOf
from microseg.lang import Clock, ProfileReads, RuleError, event_filters, profile_reads, where_key
from microseg.lang.profile import ModelScorer, Profile, ProfileIndex
from microseg.profile import ProfileAssembler, ProfileSnapshot
from microseg.segments._evaluate import evaluate_profile
from microseg.traits import profile_traits
from microseg.traits.api import Traits

if TYPE_CHECKING:
    from microseg.segments.api import Segments
    from microseg.store import Generation

__all__ = ["PreparedSegments"]

_CLOCKS_KEPT = 8
#: how often, at most, the generation stamp and the files are looked at (seconds)
RECHECK_SECONDS = 1.0


def _files_stamp(*folders: Path) -> tuple[tuple[str, int, int], ...]:
    found: list[tuple[str, int, int]] = []
    for folder in folders:
        if not folder.is_dir():
            continue
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_file():
                    info = entry.stat()
                    found.append((entry.path, info.st_size, info.st_mtime_ns))
    return tuple(sorted(found))


class PreparedSegments:
    """Which segments one customer is in, fast: ``ws.segments.prepare().of(customer_id)``.

    Broken segments are left out (``problems`` lists them) rather than failing every call.
    Score cut points and the value fit depend on the evaluation instant: they are loaded
    once per ``as_of`` asked (the last few are kept), and for ``as_of=None`` (now) once per
    generation, at the instant the evaluator was (re)loaded.
    """

    def __init__(
        self,
        segments: Segments,
        context: Context,
        profile: ProfileAssembler,
        traits: Traits,
        names: Sequence[str] | None,
    ) -> None:
        self._segments = segments
        self._context = context
        self._profile = profile
        self._traits = traits
        self._names = list(names) if names else None
        self.loads = 0
        #: rows absorbed ahead of the store (:meth:`absorb` with ``stored=False``), kept
        #: across reloads until :meth:`settle` says the store has them
        self._ahead: list[dict[str, Any]] = []
        #: writes under way that the holder follows itself (:meth:`writing`)
        self._writing = 0
        #: changes of the prepared state other than events absorbed (loads, definitions,
        #: rereads, refits): a copy of it (a forked process's) holds while this stands
        self.version = 0
        #: events absorbed since it was made (:meth:`absorb`)
        self.absorbed = 0
        self._load()

    def _stamp(self) -> tuple[Any, ...]:
        self._checked = time.monotonic()
        return (
            self._context.store.generation(),
            _files_stamp(self._context.segments_dir, self._context.traits_dir),
        )

    def _load(self) -> None:
        self._writes = self._context.store.writes
        self.generation = self._stamp()
        self._read_definitions()
        self.snapshot = ProfileSnapshot(
            self._context.store, self._profile.attribute_types(), self._context.config.timezone
        )
        self._clusters = self._profile.clusters()
        self._scores = self._profile.scores()
        self._now = self._context.now()
        ahead = [
            r
            for r in self._ahead
            if self.snapshot.knows(str(r["customer_id"]))
            and not self.snapshot.has_event(str(r["customer_id"]), str(r["event_id"]))
        ]
        if ahead:
            self.snapshot.add_events(ahead)
        self._by_clock: OrderedDict[datetime, tuple[dict[str, list[float]], ModelScorer | None]]
        self._by_clock = OrderedDict()
        self.loads += 1
        self.version += 1

    def _read_definitions(self) -> None:
        """The segment and trait catalogs, and what each segment depends on."""
        catalog, triage, unparsed, traits = self._segments.triage(self._names)
        if self._names and any(n not in catalog.definitions for n in self._names):
            raise RuleError([*unparsed, *triage.problems])
        self.catalog = catalog
        #: the filters of the events each segment's answer can depend on (None: any), see
        #: :func:`microseg.lang.event_filters`
        self.filters = {
            n: event_filters(
                catalog.full_rule(n),
                segment_rule=catalog.full_rule,
                trait_definition=traits.definitions.__getitem__,
            )
            for n in triage.good
        }
        # the other way round, for :meth:`concerned`: the segments any event concerns, and
        # by event type each distinct ``where`` list with the segments it concerns
        self._always = frozenset(n for n, f in self.filters.items() if f is None)
        self._by_kind: dict[str, list[tuple[tuple[Any, ...], set[str]]]] = {}
        wheres: dict[tuple[str, tuple[Any, ...]], set[str]] = {}
        for name, filters in self.filters.items():
            for kind, where in filters or ():
                key = (kind, where_key(where))
                if key not in wheres:
                    wheres[key] = set()
                    self._by_kind.setdefault(kind, []).append((where, wheres[key]))
                wheres[key].add(name)
        #: what the segments read of a profile (an evaluator process reads no more)
        self.reads: ProfileReads = profile_reads(
            [catalog.full_rule(n) for n in triage.good],
            segment_rule=catalog.full_rule,
            trait_definition=traits.definitions.__getitem__,
        )
        self.traits = traits
        self.names = triage.good
        self._known = frozenset(self.names)
        self.problems = [*unparsed, *triage.problems]

    def concerned(self, events: Sequence[dict[str, Any]]) -> list[str]:
        """The segments whose answer at now these new events (rows of ``events``) can
        change: those with an event filter one of them passes, by the evaluator's own test
        (:meth:`ProfileIndex.matches`), and those any event can change. The others keep
        their answer: nothing they depend on changed since they were last evaluated (a
        window running out is a timer's work)."""
        hit = set(self._always)
        clock: Clock | None = None
        index: ProfileIndex | None = None
        for event in events:
            for kind in (event["type"], "any"):
                for where, names in self._by_kind.get(kind, ()):
                    if names <= hit:
                        continue
                    if where:
                        if index is None or clock is None:
                            clock = self._context.clock(None)
                            index = ProfileIndex(timezone=clock.timezone)
                        if not index.matches(event, where, clock):
                            continue
                    hit |= names
        return [name for name in self.names if name in hit]

    def reload(self) -> None:
        """Load everything again now, whatever the stamps say: the caller knows the store
        holds other than what was absorbed (a load that merged customers, or stored
        fewer rows than :meth:`settle` was told)."""
        self._load()

    def refresh(self, *, force: bool = False) -> bool:
        """Load again if the workspace changed since; whether it did.

        A write through this workspace's store is seen at once; the generation stamp and the
        files are looked at when ``force`` or at most every :data:`RECHECK_SECONDS`.
        """
        if self._context.store.writes != self._writes:
            self._load()
            return True
        if not force and (self._writing or time.monotonic() - self._checked < RECHECK_SECONDS):
            return False
        stamp = self._stamp()
        if stamp == self.generation:
            return False
        if stamp[0] != self.generation[0]:  # the store changed: everything again
            self._load()
        else:  # only definition files: the customers' rows are as they were
            self.generation = stamp
            self._read_definitions()
            self._by_clock.clear()
            self.loads += 1
            self.version += 1
        return True

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Around a write (through another session) whose effect the holder then gives
        this evaluator itself (:meth:`settle`, :meth:`absorb`, :meth:`reread`): the
        generation stamp changing meanwhile is no reason to load everything again. The
        service's storer writes several times a second, and a load of everyone (about
        1.5 s at 100,000 customers) falling in that window took a quarter of the
        real-time path's time. A write that fails to be followed is still seen at the
        first check after."""
        self._writing += 1
        try:
            yield
        finally:
            self._writing -= 1

    def absorb(self, rows: list[dict[str, Any]], *, stored: bool = True) -> list[str] | None:
        """Take events into the prepared state without loading it again (the real-time
        path); the customers concerned. None, and a full load instead, when a row's
        customer is not live in the snapshot (new, merged).

        ``stored``: the rows were just stored through this workspace's store, and the
        caller makes sure nothing else was written since the last load. Otherwise they are
        rows the store will hold soon (the service's fast lane, ``microseg.ingest``'s
        ``EventScreen``): they are kept across reloads until :meth:`settle`."""
        if not all(self.snapshot.knows(str(r["customer_id"])) for r in rows):
            self._load()
            return None
        touched = self.snapshot.add_events(rows)
        self.absorbed += len(rows)
        if stored:
            self._writes = self._context.store.writes
            self.generation = self._stamp()
        else:
            self._ahead += rows
        return touched

    def reread(self, customers: list[str]) -> None:
        """Read these customers' attributes, identities and liveness again (a load just
        stored through this workspace's store added or changed them, and nothing else was
        written since the last load): no reload of everyone, unless the load changed the
        attribute columns."""
        if self.snapshot.reread(self._context.store, customers):
            self._writes = self._context.store.writes
            self.generation = self._stamp()
            self.version += 1
        else:
            self._load()

    def settle(self, rows: list[dict[str, Any]], stamp: Generation | None = None) -> None:
        """Rows absorbed ahead of the store are in it now (the caller stored them, and
        nothing else since the last load): forget them, and take the store's new
        generation as the one loaded (``stamp``: :meth:`Store.generation` read by the
        caller after its write, else read here). A change of segment or trait files
        meanwhile is still seen at the next check."""
        stored = {id(r) for r in rows}
        self._ahead = [r for r in self._ahead if id(r) not in stored]
        self._writes = self._context.store.writes
        if stamp is None:
            stamp = self._context.store.generation()
        self.generation = (stamp, self.generation[1])

    def store_generation(self) -> Generation:
        """The store's generation stamp now (one query), for :meth:`settle`."""
        return self._context.store.generation()

    def ahead_customers(self) -> list[str]:
        """The customers with events absorbed ahead of the store (a batch evaluation does
        not see those events yet)."""
        return list(dict.fromkeys(str(r["customer_id"]) for r in self._ahead))

    def _at(self, clock: Clock) -> tuple[dict[str, list[float]], ModelScorer | None]:
        kept = self._by_clock.get(clock.as_of)
        if kept is None:
            kept = (self._traits.cuts(clock, self.traits), self._profile.scorer(clock))
            self._by_clock[clock.as_of] = kept
            while len(self._by_clock) > _CLOCKS_KEPT:
                self._by_clock.popitem(last=False)
        return kept

    def refit(self) -> None:
        """Take the population values (score cut points, the value fit) again at now, as
        a batch evaluation now would (they are otherwise those of the last load)."""
        self._now = self._context.now()
        self._by_clock.clear()
        self.version += 1

    def evaluate_ready(self) -> None:
        """Take the population values :meth:`evaluate` uses with ``held``, so that it asks
        the store nothing after (a copy in another process has no store)."""
        self._at(Clock(self._now, self._context.config.timezone))

    def clock(self, as_of: AsOf | None = None) -> Clock:
        """The evaluation clock at ``as_of`` (default: now), as :meth:`of` takes it."""
        return self._context.clock(as_of)

    def current(self, customer_id: str) -> tuple[Profile, dict[str, Any]]:
        """The customer's profile now (current attributes, every event held, those not
        stored yet included) and their traits by the per-profile interpreter: the memory's
        answer to ``ws.profile.of`` and ``ws.traits.of``."""
        self.refresh()
        clock = self._context.clock(None)
        profile = self.snapshot.of(customer_id, clock, current=True)
        cuts, scorer = self._at(Clock(self._now, clock.timezone))
        traits = profile_traits(
            self.traits,
            list(self.traits.definitions),
            profile,
            clock,
            cuts=cuts,
            models=scorer,
            clusters=self._clusters,
            scores=self._scores,
        )
        return profile, traits

    def of(
        self,
        customer_id: str,
        *,
        as_of: AsOf | None = None,
        names: Sequence[str] | None = None,
        held_population: bool = False,
    ) -> dict[str, bool]:
        """The customer's membership in every prepared segment (or in ``names``, some of
        them) at ``as_of`` (default: now).

        The same answer as ``ws.segments.of(customer_id, as_of=...)``. Population values
        (score cut points, the value fit) are taken at ``as_of``, or with
        ``held_population`` are those held for now (of the last load or :meth:`refit`),
        as the real-time path takes them for every customer.
        """
        self.refresh()
        clock = self._context.clock(as_of)
        held = as_of is None or held_population
        return self.evaluate(customer_id, clock, current=as_of is None, held=held, names=names)

    def evaluate(
        self,
        customer_id: str,
        clock: Clock,
        *,
        current: bool,
        held: bool,
        names: Sequence[str] | None = None,
    ) -> dict[str, bool]:
        """:meth:`of` at ``clock``, with the current attributes when ``current`` and the
        population values held for now when ``held``, without looking for changes of the
        workspace first: what a copy of this evaluator in a process of its own answers
        (it has no store to look at; :mod:`microseg.service._evaluator`)."""
        profile = self.snapshot.of(customer_id, clock, current=current)
        cuts, scorer = self._at(Clock(self._now, clock.timezone) if held else clock)
        return evaluate_profile(
            self.catalog,
            self.names if names is None else [n for n in names if n in self._known],
            profile,
            clock,
            traits=self.traits,
            cuts=cuts,
            models=scorer,
            clusters=self._clusters,
            scores=self._scores,
        )
