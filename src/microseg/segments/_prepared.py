"""The prepared per-profile evaluator: everything but the customer's rows loaded once.

The real-time path asks which segments one customer is in, many times a second. Loading
the catalogs, the schema, the score cut points, the value fit and the cluster assigners
for every question is what made ``ws.segments.of`` slow; :class:`PreparedSegments` loads
them once and reads only the customer's attributes and events per question. A generation
stamp (latest load, fit, discovery run, trait cuts, attribute columns, and the segment and
trait files' sizes and times) tells it when to load again.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from microseg.context import Context
from microseg.core.time import AsOf
from microseg.lang import Clock, RuleError
from microseg.lang.profile import ModelScorer
from microseg.profile import ProfileAssembler
from microseg.profile._reader import ProfileReader
from microseg.segments._evaluate import evaluate_profile
from microseg.traits.api import Traits

if TYPE_CHECKING:
    from microseg.segments.api import Segments

__all__ = ["PreparedSegments"]

_CLOCKS_KEPT = 8


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
        self._load()

    def _stamp(self) -> tuple[Any, ...]:
        return (
            self._context.store.generation(),
            _files_stamp(self._context.segments_dir, self._context.traits_dir),
        )

    def _load(self) -> None:
        self.generation = self._stamp()
        catalog, triage, unparsed, traits = self._segments.triage(self._names)
        if self._names and any(n not in catalog.definitions for n in self._names):
            raise RuleError([*unparsed, *triage.problems])
        self.catalog = catalog
        self.traits = traits
        self.names = triage.good
        self.problems = [*unparsed, *triage.problems]
        self._reader = ProfileReader(
            self._context.store, self._profile.attribute_types(), self._context.config.timezone
        )
        self._clusters = self._profile.clusters()
        self._now = self._context.now()
        self._by_clock: OrderedDict[datetime, tuple[dict[str, list[float]], ModelScorer | None]]
        self._by_clock = OrderedDict()
        self.loads += 1

    def refresh(self) -> bool:
        """Load again if the workspace changed since; whether it did."""
        if self._stamp() == self.generation:
            return False
        self._load()
        return True

    def _at(self, clock: Clock) -> tuple[dict[str, list[float]], ModelScorer | None]:
        kept = self._by_clock.get(clock.as_of)
        if kept is None:
            kept = (self._traits.cuts(clock, self.traits), self._profile.scorer(clock))
            self._by_clock[clock.as_of] = kept
            while len(self._by_clock) > _CLOCKS_KEPT:
                self._by_clock.popitem(last=False)
        return kept

    def of(self, customer_id: str, *, as_of: AsOf | None = None) -> dict[str, bool]:
        """The customer's membership in every prepared segment at ``as_of`` (default: now).

        The same answer as ``ws.segments.of(customer_id, as_of=...)``.
        """
        self.refresh()
        clock = self._context.clock(as_of)
        profile = self._reader.of(customer_id, clock, current=as_of is None)
        cuts, scorer = self._at(Clock(self._now, clock.timezone) if as_of is None else clock)
        return evaluate_profile(
            self.catalog,
            self.names,
            profile,
            clock,
            traits=self.traits,
            cuts=cuts,
            models=scorer,
            clusters=self._clusters,
        )
