"""``ws.segments``: definitions, validation, batch evaluation, one customer, explain, diff,
grid, and the prepared per-profile evaluator for real time (docs/segments.md)."""

from __future__ import annotations

import builtins
import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ibis

from microseg.context import Context
from microseg.core.errors import NotFoundError, ParameterError, WorkspaceError
from microseg.core.results import Instant, Result
from microseg.core.time import AsOf
from microseg.lang import (
    Explanation,
    Problem,
    RuleError,
    SegmentDefinition,
    SegmentRule,
    explain,
    segment_references,
)
from microseg.lang.profile import ProfileEvaluator
from microseg.profile import ProfileAssembler
from microseg.segments._catalog import SegmentCatalog, Triage
from microseg.segments._diff import SegmentDiff, segment_diff
from microseg.segments._evaluate import SegmentRun, evaluate_profile, evaluate_segments
from microseg.segments._grid import Grid, build_grid, grid_cells, parse_dimension
from microseg.segments._members import with_columns
from microseg.segments._prepared import PreparedSegments
from microseg.segments._series import evaluate_series
from microseg.traits import TraitCatalog, cluster_runs, score_models, uses_traits
from microseg.traits.api import Traits

__all__ = ["LoggedChange", "PreparedSegments", "Segments"]


class LoggedChange(Result):
    """An entry or exit the service's real-time path logged."""

    #: when (UTC)
    changed_at: Instant
    customer_id: str
    segment: str
    #: ``entered`` or ``left``
    change: str
    #: what caused it: the event's id, or ``expiry``, ``profile``, ``definition``,
    #: ``reconcile``, ``batch``
    trigger: str


class Segments:
    """The segments of a workspace: ``ws.segments``."""

    def __init__(self, context: Context, profile: ProfileAssembler, traits: Traits) -> None:
        self._context = context
        self._profile = profile
        self._traits = traits

    # -- definitions --------------------------------------------------------------------------

    def list(self) -> SegmentCatalog:
        """The segment definitions in ``segments/`` (every file's problems raised at once)."""
        return SegmentCatalog.load(self._context.segments_dir)

    def validate(
        self, names: Sequence[str] | None = None, *, extra: SegmentDefinition | None = None
    ) -> SegmentCatalog:
        """Check definitions against the workspace; raise :class:`RuleError` listing problems."""
        catalog, triage, unparsed, _ = self.triage(names, extra=extra)
        problems = [*unparsed, *triage.problems]
        if problems:
            raise RuleError(problems)
        return dataclasses.replace(catalog, warnings=triage.warnings)

    def triage(
        self, names: Sequence[str] | None, *, extra: SegmentDefinition | None = None
    ) -> tuple[SegmentCatalog, Triage, builtins.list[Problem], TraitCatalog]:
        """The catalog, which segments can be evaluated, the files that did not parse, and
        the trait catalog they were checked against."""
        unparsed: builtins.list[Problem] = []
        catalog = SegmentCatalog.load(self._context.segments_dir, problems=unparsed)
        if extra is not None:
            catalog = catalog.with_definition(extra)
        traits = self._traits.list()
        triage = catalog.triage(
            self._traits.schema(traits),
            list(names) if names else None,
            missing_trait=self._traits.missing(traits),
        )
        return catalog, triage, unparsed, traits

    def save(self, definition: SegmentDefinition, *, overwrite: bool = False) -> Path:
        """Write a definition to ``segments/NAME.yaml`` after checking it."""
        path = self._context.segments_dir / f"{definition.name}.yaml"
        if path.exists() and not overwrite:
            raise WorkspaceError(
                "a segment with this name exists", where=str(path), hint="choose another name"
            )
        self.validate([definition.name], extra=definition)
        path.write_text(definition.to_yaml(), encoding="utf-8")
        return path

    def delete(self, name: str) -> Path:
        """Delete ``segments/NAME.yaml``; refused while another segment refers to it (as its
        parent or in a ``segment:`` node). Stored snapshots stay: they are history."""
        catalog = self.list()
        if name not in catalog.definitions:
            raise NotFoundError(f"no segment named {name!r}", hint="`microseg segment list`")
        users = sorted(
            other
            for other, d in catalog.definitions.items()
            if other != name and (d.parent == name or name in segment_references(d.rule))
        )
        if users:
            raise WorkspaceError(
                f"segment {name!r} is used by {', '.join(users)}",
                hint="change or delete those first",
            )
        path = Path(catalog.files.get(name, self._context.segments_dir / f"{name}.yaml"))
        path.unlink()
        return path

    # -- batch --------------------------------------------------------------------------------

    def evaluate(
        self,
        names: Sequence[str] | None = None,
        *,
        as_of: AsOf | None = None,
        save: bool = True,
    ) -> SegmentRun:
        """Evaluate segments in batch at ``as_of``; members are stored as a snapshot.

        All named segments (all of them by default) are evaluated together, with one
        aggregation pass over the events. A segment with a problem (or that uses one with a
        problem) is left out and listed in the run's ``problems`` with its file and reason;
        the others are evaluated and stored. A request that names one segment only, or a
        segment that does not exist, raises :class:`RuleError` instead. The run's
        ``result`` holds every customer's memberships (``run.members(name)``).
        """
        catalog, triage, unparsed, traits = self.triage(names)
        requested = list(names) if names else []
        unknown = [p for n in requested if n not in catalog.definitions for p in triage.broken[n]]
        if unknown:
            raise RuleError([*unknown, *unparsed])
        problems = ([] if names else unparsed) + triage.problems
        if problems and len(requested) == 1:
            raise RuleError(problems)
        warnings = [
            *self._traits.collisions(traits).values(),
            *traits.warnings,
            *(str(w) for w in triage.warnings),
        ]
        chosen = triage.good
        clock = self._context.clock(as_of)
        if not chosen:
            count = self._profile.attributes().count().to_pyarrow().as_py()
            return SegmentRun(clock.as_of, int(count), {}, {}, 0.0, save, {}, problems, warnings)
        runs = cluster_runs([SegmentRule(segment=n) for n in chosen], catalog, traits)
        scores = score_models([SegmentRule(segment=n) for n in chosen], catalog, traits)
        with_traits = uses_traits(catalog, chosen)
        inputs = self._traits.inputs(
            clock, as_of, traits, models=with_traits, runs=runs, scores=scores
        )
        run = evaluate_segments(
            self._context.store,
            catalog,
            chosen,
            inputs,
            save=save,
            evaluated_at=self._context.now(),
            traits=traits,
            cuts=self._traits.cuts(clock, traits) if with_traits else {},
        )
        return dataclasses.replace(run, problems=problems, warnings=warnings)

    def members(
        self, name: str, *, as_of: AsOf | None = None, columns: Sequence[str] = ()
    ) -> ibis.Table:
        """The members of one segment at ``as_of`` (evaluated now, not stored).

        ``columns`` adds attributes (as of ``as_of``) and identities (``email``, ``phone``,
        ...) beside ``customer_id``, e.g. ``columns=["email", "city"]``.
        """
        table = self.evaluate([name], as_of=as_of, save=False).members(name)
        if not columns:
            return table
        identities = self._context.store.table("identities")
        kinds = self._context.store.ibis.to_pyarrow(identities.select("id_type").distinct())
        return with_columns(
            table,
            columns,
            attributes=self._profile.attributes(as_of),
            identities=identities,
            identity_types=sorted(str(t) for t in kinds.column("id_type").to_pylist() if t),
        )

    def changes(
        self,
        *,
        customer_id: str | None = None,
        segment: str | None = None,
        after: AsOf | None = None,
        limit: int = 100,
    ) -> builtins.list[LoggedChange]:
        """Entries and exits the service's real-time path logged (``membership_log``),
        newest first, of one customer or segment, after an instant."""
        log = self._context.store.table("membership_log")
        if customer_id is not None:
            log = log.filter(log.customer_id == customer_id)
        if segment is not None:
            log = log.filter(log.segment == segment)
        if after is not None:
            moment = self._context.clock(after).as_of
            log = log.filter(log.changed_at > moment)
        rows = log.order_by([ibis.desc("changed_at"), "segment"]).limit(limit).to_pyarrow()
        return [LoggedChange.model_validate(row) for row in rows.to_pylist()]

    def diff(
        self, definition: SegmentDefinition, *, as_of: AsOf | None = None, sample: int = 10
    ) -> SegmentDiff:
        """Who would enter and who would leave if ``definition`` replaced the current one.

        Nothing is saved: the edited rule and the current one are evaluated side by side.
        """
        catalog = self.list()
        edited = definition.model_copy(update={"name": definition.name + "--edited"})
        current = definition.name in catalog.definitions
        catalog = catalog.with_definition(edited)
        names = [edited.name, *([definition.name] if current else [])]
        traits = self._traits.list()
        catalog.check(self._traits.schema(traits), names)
        clock = self._context.clock(as_of)
        runs = cluster_runs([SegmentRule(segment=n) for n in names], catalog, traits)
        scores = score_models([SegmentRule(segment=n) for n in names], catalog, traits)
        run = evaluate_segments(
            self._context.store,
            catalog,
            names,
            self._traits.inputs(clock, as_of, traits, runs=runs, scores=scores),
            save=False,
            traits=traits,
            cuts=self._traits.cuts(clock, traits),
        )
        return segment_diff(
            self._context.store,
            definition.name,
            edited.name if current else None,
            run,
            sample=sample,
        )

    def grid(
        self,
        dimensions: Sequence[str],
        *,
        as_of: AsOf | None = None,
        min_size: int = 50,
    ) -> Grid:
        """Every combination of ``dimensions`` with size, share and net revenue.

        Dimensions: ``gender`` (its values), ``age:18,25,35`` (bands of a number),
        ``interests=travel`` (a list or text value), ``segment:NAME`` (membership). Cells
        smaller than ``min_size`` are hidden and counted. See docs/segments.md.
        """
        if min_size < 1:
            raise ParameterError(f"min_size must be at least 1, got {min_size}")
        catalog, traits, dims, clock, runs, scores = self._grid_plan(dimensions, as_of)
        grid = build_grid(
            catalog,
            dims,
            self._traits.inputs(clock, as_of, traits, runs=runs, scores=scores),
            min_size=min_size,
            trait_definition=traits.definitions.__getitem__,
            cuts=self._traits.cuts(clock, traits),
            value="clv_12m" in traits.definitions and self._profile.models_available(clock.as_of),
        )
        collisions = self._traits.collisions(traits)
        warnings = [
            collisions[d.name]
            for d, text in zip(dims, dimensions, strict=True)
            if d.kind != "segment"
            and d.name in collisions
            and not text.strip().startswith(("attribute:", "trait:"))
        ]
        return dataclasses.replace(grid, warnings=warnings)

    def grid_cells(self, dimensions: Sequence[str], *, as_of: AsOf | None = None) -> ibis.Table:
        """Every customer's cell of the grid over ``dimensions`` at ``as_of``:
        ``customer_id`` and ``cell`` (``gender F, age 18-25``), as :meth:`grid` counts them."""
        catalog, traits, dims, clock, runs, scores = self._grid_plan(dimensions, as_of)
        return grid_cells(
            catalog,
            dims,
            self._traits.inputs(clock, as_of, traits, runs=runs, scores=scores),
            trait_definition=traits.definitions.__getitem__,
            cuts=self._traits.cuts(clock, traits),
        )

    def _grid_plan(self, dimensions: Sequence[str], as_of: AsOf | None) -> tuple[Any, ...]:
        """What a grid over ``dimensions`` reads: the catalogs, the parsed dimensions (segment
        ones checked), the clock and the discovery runs its dimensions use."""
        catalog = self.list()
        traits = self._traits.list()
        schema = self._traits.schema(traits)
        dims = [parse_dimension(d, schema, set(catalog.definitions)) for d in dimensions]
        if not dims:
            raise ParameterError("give at least one dimension, e.g. gender or age:18,25,35")
        used = [d.name for d in dims if d.kind == "segment"]
        if used:
            catalog.check(schema, used)
        clock = self._context.clock(as_of)
        rules = [SegmentRule(segment=n) for n in used]
        runs = cluster_runs(rules, catalog, traits, [d.name for d in dims])
        scores = score_models(rules, catalog, traits, [d.name for d in dims])
        return catalog, traits, dims, clock, runs, scores

    # -- one customer -------------------------------------------------------------------------

    def of(
        self,
        customer_id: str,
        *,
        as_of: AsOf | None = None,
        names: Sequence[str] | None = None,
        problems: builtins.list[Problem] | None = None,
    ) -> dict[str, bool]:
        """Which segments one customer is in, by the per-profile interpreter.

        With a ``problems`` list, segments that cannot be evaluated are left out and their
        problems appended to it; without one, any broken segment raises :class:`RuleError`.
        For many customers, :meth:`prepare` once and ask the evaluator.
        """
        catalog, triage, unparsed, traits = self.triage(names)
        if problems is None:
            if unparsed or triage.problems:
                raise RuleError([*unparsed, *triage.problems])
            chosen = list(names) if names else sorted(catalog.definitions)
        else:
            problems.extend([*unparsed, *triage.problems])
            chosen = triage.good
        profile = self._profile.of(customer_id, as_of=as_of)
        clock = self._context.clock(as_of)
        return evaluate_profile(
            catalog,
            chosen,
            profile,
            clock,
            traits=traits,
            cuts=self._traits.cuts(clock, traits),
            models=self._profile.scorer(clock),
            clusters=self._profile.clusters(),
            scores=self._profile.scores(),
        )

    def explain(self, name: str, customer_id: str, *, as_of: AsOf | None = None) -> Explanation:
        """Why one customer is in or out of a segment, node by node (parent included)."""
        catalog = self.validate([name])
        clock = self._context.clock(as_of)
        traits = self._traits.list()
        evaluator = ProfileEvaluator(
            self._profile.of(customer_id, as_of=as_of),
            clock,
            segment_rule=catalog.full_rule,
            trait_definition=traits.definitions.__getitem__,
            cuts=self._traits.cuts(clock, traits),
            models=self._profile.scorer(clock),
            clusters=self._profile.clusters(),
            scores=self._profile.scores(),
        )
        definition = catalog.definitions[name]
        own = explain(evaluator, definition.rule, "rule")
        if definition.parent is None:
            return own
        parent = explain(evaluator, SegmentRule(segment=definition.parent), "parent")
        holds = parent.holds and own.holds
        text = "the parent segment and the rule must both hold"
        return Explanation(name, holds, text, [parent, own])

    def prepare(self, names: Sequence[str] | None = None) -> PreparedSegments:
        """An evaluator for one customer at a time, prepared once (docs/segments.md).

        Catalogs, schema, score cut points, the value fit and the cluster assigners are
        loaded once; ``evaluator.of(customer_id)`` then reads only that customer's rows.
        The evaluator reloads itself when the workspace changes (a load, a fit, a run, a
        segment or trait file).
        """
        return PreparedSegments(self, self._context, self._profile, self._traits, names)

    # -- series ---------------------------------------------------------------------------

    def evaluate_series(
        self, names: Sequence[str], dates: Sequence[AsOf], *, save: bool = True
    ) -> builtins.list[SegmentRun]:
        """Evaluate ``names`` at each of ``dates`` in one pass over the events; one run per
        date, in the order given, each identical to ``evaluate(names, as_of=date)``.

        The events' aggregates of every date are computed together (one conditional
        aggregate per date); attributes, model outputs, score cut points, modes and
        sequences are read per date (see :func:`microseg.segments._series.evaluate_series`).
        Every segment must be valid: a problem raises :class:`RuleError`. With ``save``
        each snapshot is stored in ``memberships`` for its date.
        """
        catalog = self.validate(names)
        chosen = list(names)
        traits = self._traits.list()
        runs = cluster_runs([SegmentRule(segment=n) for n in chosen], catalog, traits)
        scores = score_models([SegmentRule(segment=n) for n in chosen], catalog, traits)
        with_traits = uses_traits(catalog, chosen)
        clocks = [self._context.clock(d) for d in dates]
        return evaluate_series(
            self._context.store,
            catalog,
            chosen,
            [
                self._traits.inputs(c, d, traits, models=with_traits, runs=runs, scores=scores)
                for c, d in zip(clocks, dates, strict=True)
            ],
            cuts=[self._traits.cuts(c, traits) if with_traits else {} for c in clocks],
            save=save,
            evaluated_at=self._context.now(),
            traits=traits,
        )
