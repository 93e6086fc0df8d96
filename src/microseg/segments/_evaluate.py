"""Evaluating segments: in batch over everyone (a snapshot at as_of), or for one profile."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import ibis.expr.types as ir
from pydantic import Field

from microseg.core.errors import WorkspaceError
from microseg.core.results import AnyValue, Instant, ProblemResult, Result
from microseg.lang import Clock, ClusterLookup, Problem, ScoreLookup
from microseg.lang.batch import BatchCompiler
from microseg.lang.profile import ModelScorer, Profile, ProfileEvaluator
from microseg.profile import BatchInputs
from microseg.segments._catalog import SegmentCatalog, definition_version
from microseg.store import ResultTable, Store
from microseg.traits import TraitCatalog, create_result
from microseg.value import FitWarningResult

__all__ = [
    "ProfileResult",
    "SegmentRun",
    "SegmentRunResult",
    "SegmentSize",
    "evaluate_profile",
    "evaluate_segments",
]

RESULT_PREFIX = "_segment_eval_"


@dataclass(frozen=True)
class SegmentRun:
    """One batch evaluation: sizes per segment at ``as_of``, and the definition versions."""

    as_of: datetime
    customers: int
    sizes: dict[str, int]
    versions: dict[str, str]
    seconds: float
    saved: bool = True
    titles: dict[str, str | None] = field(default_factory=dict)
    #: Segments left out, each with its file and reason (docs/segments.md).
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: One boolean column per segment beside ``customer_id``, owned by this run: a
    #: temporary table no other evaluation writes.
    result: ResultTable | None = field(default=None, compare=False, repr=False)

    def members(self, name: str) -> ir.Table:
        """The members of segment ``name`` in this run, sorted by id."""
        if self.result is None or name not in self.sizes:
            evaluated = ", ".join(self.sizes) or "none"
            raise WorkspaceError(
                f"{name!r} was not evaluated in this run (its segments: {evaluated})",
                hint="evaluate it: ws.segments.evaluate([name]) or ws.segments.members(name)",
            )
        table = self.result.table()
        return table.filter(table[name]).select("customer_id").order_by("customer_id")

    def to_result(self) -> SegmentRunResult:
        """What a front end shows of the run (``--json``, the API)."""
        return SegmentRunResult(
            as_of=self.as_of,
            customers=self.customers,
            segments=[
                SegmentSize(
                    name=name,
                    title=self.titles.get(name),
                    members=size,
                    share=round(size / self.customers, 4) if self.customers else 0.0,
                    version=self.versions[name],
                )
                for name, size in self.sizes.items()
            ],
            seconds=self.seconds,
            saved=self.saved,
            warnings=list(self.warnings),
            problems=[ProblemResult.model_validate(p) for p in self.problems],
        )

    def to_dict(self) -> dict[str, Any]:
        return self.to_result().to_dict()


class SegmentSize(Result):
    """One segment of an evaluation: its members, their share of customers, its version."""

    name: str
    title: str | None
    members: int
    share: float
    version: str


class ProfileResult(Result):
    """One customer as shown: attributes at an instant, event counts, traits and the
    segments they are in, with the problems of the segments that could not be evaluated."""

    customer_id: str
    attributes: dict[str, AnyValue]
    events: dict[str, int]
    traits: dict[str, AnyValue]
    segments: list[str]
    warnings: list[str]
    problems: list[ProblemResult]
    #: the warnings of the value fit the model traits (p_alive, clv_12m...) come from
    fit_warnings: list[FitWarningResult] = Field(default_factory=list)


class SegmentRunResult(Result):
    """A batch evaluation as shown: the instant, the customers and each segment's size."""

    as_of: Instant
    customers: int
    segments: list[SegmentSize]
    seconds: float
    saved: bool
    warnings: list[str]
    problems: list[ProblemResult]


def evaluate_segments(
    store: Store,
    catalog: SegmentCatalog,
    names: list[str],
    inputs: BatchInputs,
    *,
    save: bool = True,
    evaluated_at: datetime | None = None,
    traits: TraitCatalog | None = None,
    cuts: dict[str, list[float]] | None = None,
) -> SegmentRun:
    """Evaluate ``names`` together (one aggregation pass over the events).

    The boolean membership columns land in a temporary table the run owns (``result``); with
    ``save`` the members are also written to ``memberships`` for ``as_of`` (replacing an
    earlier evaluation of the same definition version at the same instant).
    """
    started = time.perf_counter()
    compiler = segment_compiler(catalog, inputs, traits=traits, cuts=cuts)
    lowered = {name: compiler.segment(name) for name in names}
    return finish_run(
        store, catalog, compiler, lowered, save=save, evaluated_at=evaluated_at, started=started
    )


def segment_compiler(
    catalog: SegmentCatalog,
    inputs: BatchInputs,
    *,
    traits: TraitCatalog | None,
    cuts: dict[str, list[float]] | None,
) -> BatchCompiler:
    """The batch compiler of segments at the inputs' clock."""
    return BatchCompiler(
        inputs.customers,
        inputs.events,
        inputs.clock,
        attribute_types=inputs.attribute_types,
        segment_rule=catalog.full_rule,
        trait_definition=traits.definitions.__getitem__ if traits else None,
        cuts=cuts,
        clusters=inputs.clusters,
        identities=inputs.identities,
        scores=inputs.scores,
    )


def finish_run(
    store: Store,
    catalog: SegmentCatalog,
    compiler: BatchCompiler,
    lowered: dict[str, Callable[[ir.Table], ir.BooleanValue]],
    *,
    save: bool,
    evaluated_at: datetime | None,
    started: float,
) -> SegmentRun:
    """Materialise the ``lowered`` segments of ``compiler`` into the run's table, and with
    ``save`` store the members for the compiler's as_of."""
    clock = compiler.clock
    names = list(lowered)

    def result(joined: ir.Table) -> ir.Table:
        return joined.select("customer_id", **{n: f(joined) for n, f in lowered.items()})

    handle = ResultTable(store, store.temp_name(RESULT_PREFIX))
    create_result(store, handle.name, compiler, result)
    sizes = store.membership_sizes(handle.name, names)
    total = handle.count()
    versions = {name: definition_version(catalog.definitions[name]) for name in names}
    if save:
        with store.transaction():
            for name in names:
                store.replace_memberships(
                    handle.name,
                    segment=name,
                    as_of=clock.as_of,
                    version=versions[name],
                    customers=total,
                    evaluated_at=evaluated_at or clock.as_of,
                )
    return SegmentRun(
        as_of=clock.as_of,
        customers=total,
        sizes=sizes,
        versions=versions,
        seconds=round(time.perf_counter() - started, 3),
        saved=save,
        titles={n: catalog.definitions[n].title for n in names},
        result=handle,
    )


def evaluate_profile(  # noqa: PLR0913 - the profile, then collaborators (keyword-only)
    catalog: SegmentCatalog,
    names: list[str],
    profile: Profile,
    clock: Clock,
    *,
    traits: TraitCatalog | None = None,
    cuts: dict[str, list[float]] | None = None,
    models: ModelScorer | None = None,
    clusters: ClusterLookup | None = None,
    scores: ScoreLookup | None = None,
) -> dict[str, bool]:
    """Membership of one profile in ``names``, in Python, without the database."""
    evaluator = ProfileEvaluator(
        profile,
        clock,
        segment_rule=catalog.full_rule,
        trait_definition=traits.definitions.__getitem__ if traits else None,
        cuts=cuts,
        models=models,
        clusters=clusters,
        scores=scores,
    )
    return {name: evaluator.segment(name) for name in names}
