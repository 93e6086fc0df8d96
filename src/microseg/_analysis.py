"""The analysis half of the Workspace facade: traits, segments, explain, diff, grid."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis
import numpy as np
import pyarrow as pa

from microseg.config import WorkspaceConfig
from microseg.core.errors import WorkspaceError
from microseg.core.text import did_you_mean
from microseg.core.time import AsOf
from microseg.lang import (
    BUILTIN_EVENT_TYPES,
    Clock,
    ClusterLookup,
    ClusterRule,
    ClusterSource,
    Problem,
    Rule,
    RuleError,
    Schema,
    SegmentDefinition,
    SegmentRule,
    TraitRule,
    children,
)
from microseg.lang._clusters import cluster_column
from microseg.lang._explain import Explanation, explain
from microseg.lang._expr import CaseExpr, ModelExpr, TraitExpr
from microseg.lang.profile import ModelScorer, Profile, ProfileEvaluator
from microseg.segments import (
    Grid,
    SegmentCatalog,
    SegmentDiff,
    SegmentRun,
    Triage,
    evaluate_profile,
    evaluate_segments,
    parse_dimension,
    segment_diff,
)
from microseg.segments._grid import build_grid
from microseg.store import Store
from microseg.traits import (
    SPEND_SHARE_PREFIX,
    TraitCatalog,
    TraitRun,
    compute_cuts,
    compute_traits,
    profile_traits,
    walk_expr,
)
from microseg.value._summary import Summary, profile_summary

if TYPE_CHECKING:
    from microseg.discover import DiscoveryRun
    from microseg.value._fit import ValueFit

__all__ = ["AnalysisMixin"]


class AnalysisMixin:
    """Methods of :class:`microseg.Workspace` over the rule language (see docs/segments.md)."""

    path: Path
    config: WorkspaceConfig
    store: Store

    if TYPE_CHECKING:

        def customers(self, as_of: AsOf | None = None) -> ibis.Table: ...

        def events(self, as_of: AsOf | None = None) -> ibis.Table: ...

        def as_of(self, value: AsOf | None) -> Any: ...

        def now(self) -> Any: ...

        def require_value_fit(self, clock: Clock) -> ValueFit: ...

        def model_scores(self, clock: Clock, wanted: list[ModelExpr]) -> Any: ...

    def _inputs(
        self,
        clock: Clock,
        as_of: AsOf | None,
        *,
        models: bool = False,
        runs: Iterable[str | int] = (),
    ) -> dict[str, Any]:
        """What every batch evaluation reads: customers as of, events, clock, types.

        With ``models``, the customers carry the value-model outputs that the traits use,
        scored at the clock's ``as_of`` with the stored fit (when there is one). For each
        discovery run in ``runs`` (those ``cluster:`` nodes read), they carry the cluster
        the run's assigner gives each customer at ``as_of``.
        """
        customers = self._customers_at(clock, as_of)
        if models:
            customers = self._with_model_columns(customers, clock)
        lookup = self._cluster_lookup()
        for source in {s.run_id: s for s in map(lookup, runs)}.values():
            customers = self._with_cluster_column(customers, clock, as_of, source)
        return {
            "customers": customers,
            "events": self.events(),
            "clock": clock,
            "attribute_types": self.attribute_types(),
            "clusters": lookup,
        }

    def _customers_at(self, clock: Clock, as_of: AsOf | None) -> ibis.Table:
        """Customers with the attributes in force at the clock's instant (the current ones
        when no ``as_of`` was asked for)."""
        return self.customers(as_of=_instant(clock) if as_of is not None else None)

    def _cluster_lookup(self) -> ClusterLookup:
        """Stored discovery runs by name or id, each loaded once (for ``cluster:`` nodes)."""
        loaded: dict[str, ClusterSource] = {}

        def lookup(run: str | int) -> ClusterSource:
            key = str(run)
            if key not in loaded:
                from microseg.discover import load_assigner

                loaded[key] = load_assigner(self.store, run)
            return loaded[key]

        return lookup

    def _with_cluster_column(
        self, customers: ibis.Table, clock: Clock, as_of: AsOf | None, source: ClusterSource
    ) -> ibis.Table:
        """``customers`` with the cluster of each in ``source``'s run, assigned at ``as_of``.

        The run's features (traits and attributes) are computed at the clock's ``as_of``,
        then assigned in numpy by the run's assigner: the per-profile evaluator asks the
        same assigner for one profile.
        """
        catalog = self.traits()
        missing = [t for t in source.traits if t not in catalog.definitions]
        if missing:
            raise WorkspaceError(
                f"discovery run {source.name!r} uses the trait {missing[0]!r}, "
                "which this workspace does not define now",
                hint="fit the value models again (or restore the trait), or discover again",
            )
        inner = _cluster_runs([], None, catalog, source.traits)
        lookup = self._cluster_lookup()
        if any(lookup(run).run_id == source.run_id for run in inner):
            raise WorkspaceError(
                f"discovery run {source.name!r} clusters on a trait that tests its own clusters",
                hint="take the `cluster` node out of that trait, or discover again without it",
            )
        if source.traits:
            compute_traits(
                self.store,
                catalog,
                list(source.traits),
                **self._inputs(clock, as_of, models=True, runs=inner),
                save=False,
            )
            traits = self.store.table("_trait_eval").to_pyarrow()
        else:
            traits = customers.select("customer_id").to_pyarrow()
        people = self._customers_at(clock, as_of)
        attributes = people.select("customer_id", *source.attributes).to_pyarrow()
        labels = source.assign_table(traits, attributes)
        column = cluster_column(source.run_id)
        assigned = ibis.memtable(
            pa.table(
                {
                    "_cluster_customer": traits.column("customer_id"),
                    column: pa.array(np.asarray(labels, dtype=np.int64)),
                }
            )
        )
        joined = customers.left_join(assigned, customers.customer_id == assigned._cluster_customer)
        return joined.drop("_cluster_customer")

    def _with_model_columns(self, customers: ibis.Table, clock: Clock) -> ibis.Table:
        wanted = {
            node.key: node
            for definition in self.traits().definitions.values()
            for node in walk_expr(definition.value)
            if isinstance(node, ModelExpr)
        }
        if not wanted or self.store.latest_value_fit(clock.as_of) is None:
            return customers
        scores = ibis.memtable(self.model_scores(clock, list(wanted.values())))
        scores = scores.rename(_model_customer="customer_id")
        joined = customers.left_join(scores, customers.customer_id == scores._model_customer)
        return joined.drop("_model_customer")

    def _model_scorer(self, clock: Clock) -> ModelScorer | None:
        """The per-profile twin of :meth:`_with_model_columns` (no database query per call)."""
        if self.store.latest_value_fit(clock.as_of) is None:
            return None
        fit = self.require_value_fit(clock)
        settings = self.config.value
        summaries: dict[int, Summary | None] = {}

        def score(expr: ModelExpr, events: Sequence[Any], at: Clock) -> Any:
            key = id(events)
            if key not in summaries:
                summaries[key] = profile_summary(events, at, settings, unit=fit.unit)
            return fit.profile_output(expr, summaries[key])

        return score

    def attribute_types(self) -> dict[str, str]:
        """Attribute name -> type, with ``age`` derived from ``birth_date``."""
        attributes = dict(self.store.attribute_columns())
        if "birth_date" in attributes and "age" not in attributes:
            attributes["age"] = "number"
        return attributes

    def schema(self) -> Schema:
        """What rules may refer to: attributes (with derived ``age``), event types, segments.

        The traits are those without problems (see :meth:`traits`).
        """
        return self._schema(self.traits().types())

    def _schema(self, traits: dict[str, str]) -> Schema:
        seen = {str(r[0]) for r in self.store.fetchall("SELECT DISTINCT type FROM events")}
        return Schema(
            attributes=self.attribute_types(),
            traits=traits,
            event_types=frozenset(BUILTIN_EVENT_TYPES) | seen,
            clusters=self._cluster_names(),
        )

    def name_collisions(self) -> list[str]:
        """A warning for each attribute that has the name of a trait (docs/traits.md).

        Rules say which they mean (``attribute:`` or ``trait:``); a bare name, as a grid
        dimension, means the trait.
        """
        return list(self._collisions().values())

    def _collisions(self) -> dict[str, str]:
        catalog = self.traits()
        traits = {**dict.fromkeys(catalog.broken, "broken"), **catalog.files}
        return {
            name: f"the attribute {name!r} has the name of the trait {name} ({traits[name]}): "
            f"a bare name (a grid dimension) means the trait; write attribute:{name} for "
            "the attribute, and rules say which they mean with `attribute:` or `trait:`"
            for name in sorted(set(self.attribute_types()) & set(traits))
        }

    def _cluster_names(self) -> dict[str, dict[int, str]]:
        """Each stored discovery run's name and id (as text) -> its clusters (id -> name)."""
        lookup = self._cluster_lookup()
        found: dict[str, dict[int, str]] = {}
        rows = self.store.fetchall("SELECT run_id FROM discovery_runs WHERE assigner IS NOT NULL")
        for (run_id,) in rows:
            source = lookup(int(run_id))
            found[str(source.run_id)] = found[source.name] = dict(source.clusters)
        return found

    def traits(self) -> TraitCatalog:
        """The traits without problems: built-ins, ``traits/*.yaml``, ``spend_share_<category>``
        for the purchase categories (those declared under ``traits:`` in microseg.yaml, or
        every purchased one up to ``traits.spend_share_limit``), and the value-model traits
        (``p_alive``, ``clv_12m``, ...) once a value model has been fitted.

        A broken trait file, or a trait that has (or uses one that has) a problem, is left
        out; the catalog's ``problems`` and ``broken`` say why, and ``warnings`` what the
        user should know (categories the cap cut, generated traits renamed).
        """
        categories, note = self._purchase_categories()
        catalog = TraitCatalog.load(
            self.path / "traits",
            settings=self.config.lifecycle.model_dump(),
            value_traits=self.store.latest_value_fit() is not None,
            categories=categories,
            problems=[],
        )
        if note:
            catalog.warnings.insert(0, note)
        return catalog.checked(self._schema(catalog.types()))

    def _purchase_categories(self) -> tuple[list[str], str | None]:
        """The categories that get a ``spend_share`` trait, and a note when the cap cut some."""
        settings = self.config.traits
        if settings.spend_share_categories is not None:
            return list(settings.spend_share_categories), None
        limit = settings.spend_share_limit
        found = self.store.purchase_categories(limit=limit + 1)
        if len(found) <= limit:
            return found, None
        total = self.store.purchase_category_count()
        return found[:limit], (
            f"{total} purchase categories, and spend_share traits are made for the {limit} "
            "most purchased (traits.spend_share_limit in microseg.yaml): list the ones you "
            "use under traits.spend_share_categories to keep their traits whatever the data"
        )

    def _missing_trait(self, catalog: TraitCatalog) -> Callable[[str], str | None]:
        """Why a trait a segment names is missing, for the segment's problem."""

        def reason(name: str) -> str | None:
            if name in catalog.broken:
                found = "; ".join(str(p) for p in catalog.broken[name])
                return f"uses the trait {name!r}, which is broken: {found}"
            if name.startswith(SPEND_SHARE_PREFIX):
                declared = self.config.traits.spend_share_categories
                where = (
                    "the categories declared under traits.spend_share_categories"
                    if declared is not None
                    else "the purchased categories"
                )
                return (
                    f"no trait {name!r}: spend_share traits are made from {where}, and "
                    "none of them gives this name now (`microseg traits list` shows those "
                    "there are); add its category to traits.spend_share_categories in "
                    "microseg.yaml, or change the rule"
                )
            return None

        return reason

    def validate_traits(self) -> TraitCatalog:
        """The traits, or :class:`RuleError` listing every problem of every trait."""
        catalog = self.traits()
        if catalog.problems:
            raise RuleError(catalog.problems)
        return catalog

    def compute_traits(
        self,
        names: Sequence[str] | None = None,
        *,
        as_of: AsOf | None = None,
        save: bool = True,
    ) -> TraitRun:
        """Every trait (or ``names``) for every customer at ``as_of``, in one pass; stored.

        Traits with problems are left out and listed in the run's ``problems`` (each with
        its file and reason); a request that names one trait only raises them instead.
        """
        catalog = self.traits()
        chosen = list(names) if names else list(catalog.definitions)
        unknown = [n for n in chosen if n not in catalog.definitions and n not in catalog.broken]
        if unknown:
            hint = did_you_mean(unknown[0], catalog.definitions)
            raise RuleError([Problem("traits", f"unknown trait {unknown[0]!r}{hint}")])
        if names:
            problems = [p for n in chosen for p in catalog.broken.get(n, [])]
        else:
            problems = list(catalog.problems)
        if problems and len(chosen) == 1:
            raise RuleError(problems)
        chosen = [n for n in chosen if n in catalog.definitions]
        clock = self.clock(as_of)
        runs = _cluster_runs([], None, catalog, chosen)
        run = compute_traits(
            self.store,
            catalog,
            chosen,
            **self._inputs(clock, as_of, models=True, runs=runs),
            save=save,
        )
        return dataclasses.replace(run, problems=problems, warnings=list(catalog.warnings))

    def traits_of(self, customer_id: str, *, as_of: AsOf | None = None) -> dict[str, Any]:
        """One customer's traits, by the per-profile interpreter."""
        catalog = self.traits()
        profile = self.profile(customer_id, as_of=as_of)
        clock = self.clock(as_of)
        return profile_traits(
            catalog,
            list(catalog.definitions),
            profile,
            clock,
            cuts=self.score_cuts(clock),
            models=self._model_scorer(clock),
            clusters=self._cluster_lookup(),
        )

    def score_cuts(self, clock: Clock) -> dict[str, list[float]]:
        """Population cut points of the scores (RFM) at the clock's as_of.

        Those stored by ``compute_traits`` at that very instant are reused; otherwise they
        are computed now (a few small queries).
        """
        stored = self.store.latest_trait_cuts(clock.as_of)
        exact = self.store.scalar(
            "SELECT count(*) FROM trait_cuts WHERE as_of = $a", {"a": clock.as_of}
        )
        if stored and exact:
            return stored
        catalog = self.traits()
        return compute_cuts(
            catalog,
            list(catalog.definitions),
            customers=self.customers(as_of=_instant(clock)),
            events=self.events(),
            clock=clock,
            attribute_types=self.schema().attributes,
        )

    def segments(self) -> SegmentCatalog:
        """The segment definitions in ``segments/`` (every file's problems raised at once)."""
        return SegmentCatalog.load(self.path / "segments")

    def validate_segments(
        self, names: Sequence[str] | None = None, *, extra: SegmentDefinition | None = None
    ) -> SegmentCatalog:
        """Check definitions against the workspace; raise :class:`RuleError` listing problems."""
        catalog, triage, unparsed = self._triage_segments(names, extra=extra)
        problems = [*unparsed, *triage.problems]
        if problems:
            raise RuleError(problems)
        return catalog

    def _triage_segments(
        self, names: Sequence[str] | None, *, extra: SegmentDefinition | None = None
    ) -> tuple[SegmentCatalog, Triage, list[Problem]]:
        """The catalog, which segments can be evaluated, and the files that did not parse."""
        unparsed: list[Problem] = []
        catalog = SegmentCatalog.load(self.path / "segments", problems=unparsed)
        if extra is not None:
            catalog = catalog.with_definition(extra)
        traits = self.traits()
        triage = catalog.triage(
            self._schema(traits.types()),
            list(names) if names else None,
            missing_trait=self._missing_trait(traits),
        )
        return catalog, triage, unparsed

    def clock(self, as_of: AsOf | None = None) -> Clock:
        return Clock(self.as_of(as_of), self.config.timezone)

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
        segment that does not exist, raises :class:`RuleError` instead.
        """
        catalog, triage, unparsed = self._triage_segments(names)
        requested = list(names) if names else []
        unknown = [p for n in requested if n not in catalog.definitions for p in triage.broken[n]]
        if unknown:
            raise RuleError([*unknown, *unparsed])
        problems = ([] if names else unparsed) + triage.problems
        if problems and len(requested) == 1:
            raise RuleError(problems)
        warnings = [*self.name_collisions(), *self.traits().warnings]
        chosen = triage.good
        clock = self.clock(as_of)
        if not chosen:
            count = self.customers().count().to_pyarrow().as_py()
            return SegmentRun(clock.as_of, int(count), {}, {}, 0.0, save, {}, problems, warnings)
        traits = self.traits()
        runs = _cluster_runs([SegmentRule(segment=n) for n in chosen], catalog, traits)
        run = evaluate_segments(
            self.store,
            catalog,
            chosen,
            **self._inputs(clock, as_of, models=_uses_traits(catalog, chosen), runs=runs),
            save=save,
            evaluated_at=self.now(),
            traits=traits,
            cuts=self.score_cuts(clock) if _uses_traits(catalog, chosen) else {},
        )
        return dataclasses.replace(run, problems=problems, warnings=warnings)

    def members(self, name: str, *, as_of: AsOf | None = None) -> ibis.Table:
        """The members of one segment at ``as_of`` (evaluated now, not stored)."""
        self.evaluate([name], as_of=as_of, save=False)
        table = self.store.table("_segment_eval")
        return table.filter(table[name]).select("customer_id").order_by("customer_id")

    def profile(self, customer_id: str, *, as_of: AsOf | None = None) -> Profile:
        """One customer's attributes at ``as_of`` and events before it, for the interpreter."""
        clock = self.clock(as_of)
        customers = self._customers_at(clock, as_of)
        rows = customers.filter(customers.customer_id == customer_id).to_pyarrow().to_pylist()
        if not rows:
            raise WorkspaceError(f"no customer {customer_id!r}", hint="check the id")
        events = self.store.table("events")
        chosen = events.filter(
            (events.customer_id == customer_id) & (events.timestamp < clock.as_of)
        ).drop("load_id")
        return Profile(
            customer_id=customer_id,
            attributes={k: v for k, v in rows[0].items() if k != "customer_id"},
            events=chosen.to_pyarrow().to_pylist(),
            attribute_types=self.schema().attributes,
        )

    def segments_of(
        self,
        customer_id: str,
        *,
        as_of: AsOf | None = None,
        names: Sequence[str] | None = None,
        problems: list[Problem] | None = None,
    ) -> dict[str, bool]:
        """Which segments one customer is in, by the per-profile interpreter.

        With a ``problems`` list, segments that cannot be evaluated are left out and their
        problems appended to it; without one, any broken segment raises :class:`RuleError`.
        """
        if problems is None:
            catalog = self.validate_segments(names)
            chosen = list(names) if names else sorted(catalog.definitions)
        else:
            catalog, triage, unparsed = self._triage_segments(names)
            problems.extend([*unparsed, *triage.problems])
            chosen = triage.good
        profile = self.profile(customer_id, as_of=as_of)
        clock = self.clock(as_of)
        return evaluate_profile(
            catalog,
            chosen,
            profile,
            clock,
            traits=self.traits(),
            cuts=self.score_cuts(clock),
            models=self._model_scorer(clock),
            clusters=self._cluster_lookup(),
        )

    def explain(self, name: str, customer_id: str, *, as_of: AsOf | None = None) -> Explanation:
        """Why one customer is in or out of a segment, node by node (parent included)."""
        catalog = self.validate_segments([name])
        clock = self.clock(as_of)
        evaluator = ProfileEvaluator(
            self.profile(customer_id, as_of=as_of),
            clock,
            segment_rule=catalog.full_rule,
            trait_definition=self.traits().definitions.__getitem__,
            cuts=self.score_cuts(clock),
            models=self._model_scorer(clock),
            clusters=self._cluster_lookup(),
        )
        definition = catalog.definitions[name]
        own = explain(evaluator, definition.rule, "rule")
        if definition.parent is None:
            return own
        parent = explain(evaluator, SegmentRule(segment=definition.parent), "parent")
        holds = parent.holds and own.holds
        text = "the parent segment and the rule must both hold"
        return Explanation(name, holds, text, [parent, own])

    def diff(
        self, definition: SegmentDefinition, *, as_of: AsOf | None = None, sample: int = 10
    ) -> SegmentDiff:
        """Who would enter and who would leave if ``definition`` replaced the current one.

        Nothing is saved: the edited rule and the current one are evaluated side by side.
        """
        catalog = self.segments()
        edited = definition.model_copy(update={"name": definition.name + "--edited"})
        current = definition.name in catalog.definitions
        catalog = catalog.with_definition(edited)
        names = [edited.name, *([definition.name] if current else [])]
        catalog.check(self.schema(), names)
        clock = self.clock(as_of)
        traits = self.traits()
        runs = _cluster_runs([SegmentRule(segment=n) for n in names], catalog, traits)
        run = evaluate_segments(
            self.store,
            catalog,
            names,
            **self._inputs(clock, as_of, models=True, runs=runs),
            save=False,
            traits=self.traits(),
            cuts=self.score_cuts(clock),
        )
        return segment_diff(
            self.store,
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
            raise ValueError(f"min_size must be at least 1, got {min_size}")
        catalog = self.segments()
        schema = self.schema()
        dims = [parse_dimension(d, schema, set(catalog.definitions)) for d in dimensions]
        if not dims:
            raise ValueError("give at least one dimension, e.g. gender or age:18,25,35")
        used = [d.name for d in dims if d.kind == "segment"]
        if used:
            catalog.check(schema, used)
        clock = self.clock(as_of)
        rules = [SegmentRule(segment=n) for n in used]
        traits = self.traits()
        runs = _cluster_runs(rules, catalog, traits, [d.name for d in dims])
        grid = build_grid(
            catalog,
            dims,
            **self._inputs(clock, as_of, models=True, runs=runs),
            min_size=min_size,
            trait_definition=traits.definitions.__getitem__,
            cuts=self.score_cuts(clock),
            value="clv_12m" in traits.definitions
            and self.store.latest_value_fit(clock.as_of) is not None,
        )
        collisions = self._collisions()
        warnings = [
            collisions[d.name]
            for d, text in zip(dims, dimensions, strict=True)
            if d.kind != "segment"
            and d.name in collisions
            and not text.strip().startswith(("attribute:", "trait:"))
        ]
        return dataclasses.replace(grid, warnings=warnings)

    def discover(self, **options: Any) -> DiscoveryRun:
        """Discover micro-segments and store the run: :func:`microseg.discover.discover`.

        Options: ``as_of``, ``method`` (kmeans, gmm, bisecting, hdbscan), ``macro``,
        ``traits``, ``attributes``, ``allow_sensitive``, ``n_clusters``, ``min_clusters``,
        ``max_clusters``, ``min_size``, ``seed``, ``refits``, ``name``, ``save``
        (docs/discovery.md).
        """
        from microseg.discover import discover

        return discover(self, **options)  # type: ignore[arg-type]

    def cluster_of(
        self, customer_id: str, run: str | int, *, as_of: AsOf | None = None
    ) -> tuple[int, str]:
        """One customer's micro-segment in a stored run, as (cluster id, name), at ``as_of``.

        The run's assigner places the customer from their traits and attributes, computed
        by the per-profile interpreter: new customers and customers who changed get a
        cluster too, as ``cluster:`` rules see it (docs/discovery.md).
        """
        clock = self.clock(as_of)
        evaluator = ProfileEvaluator(
            self.profile(customer_id, as_of=as_of),
            clock,
            trait_definition=self.traits().definitions.__getitem__,
            cuts=self.score_cuts(clock),
            models=self._model_scorer(clock),
            clusters=self._cluster_lookup(),
        )
        source, cluster = evaluator.cluster_of(run)
        return cluster, source.clusters.get(cluster, "unknown")

    def save_segment(self, definition: SegmentDefinition, *, overwrite: bool = False) -> Path:
        """Write a definition to ``segments/NAME.yaml`` after checking it."""
        path = self.path / "segments" / f"{definition.name}.yaml"
        if path.exists() and not overwrite:
            raise WorkspaceError(
                "a segment with this name exists", where=str(path), hint="choose another name"
            )
        self.validate_segments([definition.name], extra=definition)
        path.write_text(definition.to_yaml(), encoding="utf-8")
        return path


def _uses_traits(catalog: SegmentCatalog, names: Sequence[str]) -> bool:
    """Whether any of the segments (with parents and references) tests a trait."""
    seen: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in seen or name not in catalog.definitions:
            continue
        seen.add(name)
        stack = [catalog.full_rule(name)]
        while stack:
            rule = stack.pop()
            if isinstance(rule, TraitRule):
                return True
            if isinstance(rule, SegmentRule):
                pending.append(rule.segment)
            stack.extend(children(rule))
    return False


def _instant(clock: Clock) -> datetime:
    """The clock's ``as_of`` as an aware instant (a naive one would be read as local time)."""
    return clock.as_of.replace(tzinfo=UTC)


def _cluster_runs(
    rules: Iterable[Rule],
    catalog: SegmentCatalog | None,
    traits: TraitCatalog,
    trait_names: Iterable[str] = (),
) -> set[str | int]:
    """The discovery runs that ``cluster:`` nodes read, in ``rules`` and what they use.

    Followed: referenced segments (with parents) and traits (``case`` rows of their
    definitions, and the traits those read), as well as the traits named in ``trait_names``.
    """
    found: set[str | int] = set()
    seen_segments: set[str] = set()
    seen_traits: set[str] = set()
    stack: list[Rule] = list(rules)

    def add_trait(name: str) -> None:
        if name in seen_traits or name not in traits.definitions:
            return
        seen_traits.add(name)
        for node in walk_expr(traits.definitions[name].value):
            if isinstance(node, CaseExpr):
                stack.extend(row.when for row in node.case)
            elif isinstance(node, TraitExpr):
                add_trait(node.trait)

    for name in trait_names:
        add_trait(name)
    while stack:
        rule = stack.pop()
        if isinstance(rule, ClusterRule):
            found.add(rule.cluster.run)
        elif (
            isinstance(rule, SegmentRule)
            and catalog is not None
            and rule.segment in catalog.definitions
            and rule.segment not in seen_segments
        ):
            seen_segments.add(rule.segment)
            stack.append(catalog.full_rule(rule.segment))
        elif isinstance(rule, TraitRule):
            add_trait(rule.trait)
        stack.extend(children(rule))
    return found
