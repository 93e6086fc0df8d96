"""Computing traits: in batch for everyone (stored, stamped with as_of) or for one profile."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import ibis.expr.types as ir

from microseg.core.results import Instant, ProblemResult, Result
from microseg.lang import Clock, ClusterLookup, Problem, ScoreExpr, ScoreLookup, TraitExpr, walk
from microseg.lang.batch import BatchCompiler
from microseg.lang.profile import ModelScorer, Profile, ProfileEvaluator
from microseg.profile import BatchInputs
from microseg.store import ResultTable, Store
from microseg.traits._catalog import TraitCatalog

__all__ = ["TraitRun", "TraitRunResult", "compute_cuts", "compute_traits", "profile_traits"]

RESULT_PREFIX = "_trait_eval_"


@dataclass(frozen=True)
class TraitRun:
    as_of: datetime
    customers: int
    summary: dict[str, dict[str, Any]]
    seconds: float
    saved: bool
    cuts: dict[str, list[float]] = field(default_factory=dict)
    #: Traits left out, each with its file and reason (docs/traits.md, broken definitions).
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: The traits of every customer (``customer_id`` and one column per trait), owned by
    #: this run: a temporary table no other evaluation writes.
    result: ResultTable | None = field(default=None, compare=False, repr=False)

    def to_result(self) -> TraitRunResult:
        """What a front end shows of the run (``--json``, the API)."""
        return TraitRunResult(
            as_of=self.as_of,
            customers=self.customers,
            traits=self.summary,
            seconds=self.seconds,
            saved=self.saved,
            warnings=list(self.warnings),
            problems=[ProblemResult.model_validate(p) for p in self.problems],
        )

    def to_dict(self) -> dict[str, Any]:
        return self.to_result().to_dict()


class TraitRunResult(Result):
    """A trait computation as shown: when, for how many, each trait's summary, problems."""

    as_of: Instant
    customers: int
    traits: dict[str, dict[str, Any]]
    seconds: float
    saved: bool
    warnings: list[str]
    problems: list[ProblemResult]


def compute_traits(
    store: Store,
    traits: TraitCatalog,
    names: list[str],
    inputs: BatchInputs,
    *,
    save: bool = True,
) -> TraitRun:
    """All ``names`` for every customer in one query; stored long when ``save``.

    Scores (RFM) first need their population cut points: one query for all of them (one
    more for scores of scores).
    """
    started = time.perf_counter()
    clock = inputs.clock
    cuts = compute_cuts(
        traits,
        names,
        customers=inputs.customers,
        events=inputs.events,
        clock=clock,
        attribute_types=inputs.attribute_types,
        identities=inputs.identities,
    )
    compiler = BatchCompiler(
        inputs.customers,
        inputs.events,
        clock,
        attribute_types=inputs.attribute_types,
        trait_definition=traits.definitions.__getitem__,
        cuts=cuts,
        clusters=inputs.clusters,
        identities=inputs.identities,
        scores=inputs.scores,
    )
    lowered = {name: compiler.trait(name) for name in names}

    def result(joined: ir.Table) -> ir.Table:
        return joined.select("customer_id", **{n: f(joined) for n, f in lowered.items()})

    handle = ResultTable(store, store.temp_name(RESULT_PREFIX))
    create_result(store, handle.name, compiler, result)
    types: dict[str, str] = {n: traits.definitions[n].type for n in names}
    summary = store.trait_summary(handle.name, types)
    total = handle.count()
    if save:
        with store.transaction():
            store.replace_trait_values(handle.name, types, as_of=clock.as_of)
            store.replace_trait_cuts(cuts, as_of=clock.as_of)
    return TraitRun(
        clock.as_of,
        total,
        summary,
        round(time.perf_counter() - started, 3),
        save,
        cuts,
        result=handle,
    )


def create_result(
    store: Store,
    name: str,
    compiler: BatchCompiler,
    select: Callable[[ir.Table], ir.Table],
) -> None:
    """Create the temporary table ``name`` from ``select`` of the compiler's joined table
    (the merged plan, which spills to disk, when the plain one runs out of memory)."""
    store.create_temp_table(
        name,
        lambda: select(compiler.table(merged=False)),
        lambda: select(compiler.table(merged=True)),
    )


def _scores(traits: TraitCatalog, names: list[str]) -> list[ScoreExpr]:
    """Score nodes used by ``names`` and the traits they depend on, dependencies first."""
    return _scores_below([TraitExpr(trait=name) for name in names], traits)


def _scores_below(roots: list[Any], traits: TraitCatalog) -> list[ScoreExpr]:
    """Score nodes in ``roots`` and the traits they refer to, dependencies first."""
    found: dict[str, ScoreExpr] = {}
    seen: set[str] = set()

    def visit(root: Any) -> None:
        nodes = list(walk(root))
        for node in nodes:  # the traits it reads first: their scores come before its own
            if isinstance(node, TraitExpr) and node.trait not in seen:
                seen.add(node.trait)
                visit(traits.definitions[node.trait].value)
        for node in reversed(nodes):  # below before above: inner scores first
            if isinstance(node, ScoreExpr) and node.key not in found:
                found[node.key] = node

    for root in roots:
        visit(root)
    return list(found.values())


def compute_cuts(
    traits: TraitCatalog,
    names: list[str],
    *,
    customers: ir.Table,
    events: ir.Table,
    clock: Clock,
    attribute_types: dict[str, str],
    identities: ir.Table | None = None,
) -> dict[str, list[float]]:
    """Population quantiles (1/bins .. (bins-1)/bins) of every score's expression.

    One query computes every score whose expression needs no other score's cut points;
    scores of scores wait for a later round.
    """
    cuts: dict[str, list[float]] = {}
    pending = _scores(traits, names)
    while pending:
        ready = [
            node
            for node in pending
            if all(inner.key in cuts for inner in _scores_below([node.score], traits))
        ]
        if not ready:  # the catalog refuses cycles first: reaching this is a bug
            raise RuntimeError("scores depend on each other in a cycle")
        compiler = BatchCompiler(
            customers,
            events,
            clock,
            attribute_types=attribute_types,
            trait_definition=traits.definitions.__getitem__,
            cuts=cuts,
            identities=identities,
        )
        values = [compiler.value(node.score) for node in ready]
        table = compiler.table()
        quantiles = {
            f"q{i}": value(table)
            .cast("float64")
            .quantile([k / node.bins for k in range(1, node.bins)])
            for i, (node, value) in enumerate(zip(ready, values, strict=True))
        }
        row = table.aggregate(**quantiles).to_pyarrow().to_pylist()[0]
        for i, node in enumerate(ready):
            cuts[node.key] = [float(q) for q in row[f"q{i}"] or [] if q is not None]
        pending = [node for node in pending if node.key not in cuts]
    return cuts


def profile_traits(
    traits: TraitCatalog,
    names: list[str],
    profile: Profile,
    clock: Clock,
    *,
    cuts: dict[str, list[float]] | None = None,
    models: ModelScorer | None = None,
    clusters: ClusterLookup | None = None,
    scores: ScoreLookup | None = None,
) -> dict[str, Any]:
    evaluator = ProfileEvaluator(
        profile,
        clock,
        trait_definition=traits.definitions.__getitem__,
        cuts=cuts,
        models=models,
        clusters=clusters,
        scores=scores,
    )
    return {name: evaluator.trait(name) for name in names}
