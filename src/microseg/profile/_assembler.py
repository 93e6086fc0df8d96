"""The one profile assembler: attributes as of, value-model outputs, traits' inputs, clusters.

Every analysis reads customers through it: the batch profile (one row per customer at an
instant, as an Ibis table) and the one-customer profile (attributes and events for the
per-profile interpreter). Value models and discovery register their columns as providers
(:mod:`microseg.profile._providers`); nothing else assembles profiles.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import ibis

from microseg.context import Context
from microseg.core.errors import NotFoundError, WorkspaceError
from microseg.core.time import AsOf
from microseg.lang import (
    BUILTIN_EVENT_TYPES,
    Clock,
    ClusterLookup,
    ClusterSource,
    ModelExpr,
    Schema,
    ScoreLookup,
    ScoreSource,
)
from microseg.lang.profile import ModelScorer, Profile
from microseg.profile._pending import pending_attributes
from microseg.profile._providers import (
    ClusterProvider,
    ModelProvider,
    ScoreProvider,
    TraitProvider,
)

__all__ = ["BatchInputs", "ProfileAssembler"]


@dataclass(frozen=True)
class BatchInputs:
    """What a batch evaluation reads: customers (with model and cluster columns), events."""

    customers: ibis.Table
    events: ibis.Table
    clock: Clock
    attribute_types: dict[str, str]
    clusters: ClusterLookup | None = None
    #: the identities table (customer_id, id_type...), for ``has:`` rules
    identities: ibis.Table | None = None
    #: the stored scoring models, for ``score:`` rules (their columns are in customers)
    scores: ScoreLookup | None = None


def _no_scores(model: str) -> ScoreSource:
    raise WorkspaceError(
        f"no look-alike model {model!r}",
        hint="store one with `microseg insights lookalike SEGMENT --save NAME`",
    )


def _no_clusters(run: str | int) -> ClusterSource:
    raise WorkspaceError(f"no discovery run {run!r}", hint="run `microseg discover run` first")


class ProfileAssembler:
    """Assembles profiles from the store and the registered providers.

    ``ws.profile`` is one; its public methods are :meth:`table` and :meth:`of`.
    """

    def __init__(self, context: Context) -> None:
        self.context = context
        self._models: ModelProvider | None = None
        self._clusters: ClusterProvider | None = None
        self._traits: TraitProvider | None = None
        self._scores: ScoreProvider | None = None

    def register_models(self, provider: ModelProvider) -> None:
        self._models = provider

    def register_clusters(self, provider: ClusterProvider) -> None:
        self._clusters = provider

    def register_traits(self, provider: TraitProvider) -> None:
        self._traits = provider

    def register_scores(self, provider: ScoreProvider) -> None:
        self._scores = provider

    # -- attributes and events ----------------------------------------------------------------

    def attributes(self, as_of: AsOf | None = None) -> ibis.Table:
        """Every live customer with attributes as they were at ``as_of`` (default: current).

        ``as_of`` is exclusive: the values in force just before that instant; a bare date
        means the end of that day. ``age`` (whole years at ``as_of``) is derived from
        ``birth_date`` when the workspace has one and no ``age`` of its own.
        """
        store = self.context.store
        moment = self.context.instant(as_of)
        history = store.table("customer_history")
        registry = store.table("customer_registry")
        if as_of is None:
            in_force = history.valid_to.isnull()
        else:
            in_force = (history.valid_from < moment) & (
                history.valid_to.isnull() | (history.valid_to >= moment)
            )
        current = history.filter(in_force).drop("valid_from", "valid_to", "load_id")
        live = registry.filter(registry.merged_into.isnull()).select("customer_id")
        # the join's suffix uses microseg's reserved prefix: no attribute can be named so
        table = live.left_join(current, "customer_id", rname="{name}__ms_right").drop(
            "customer_id__ms_right"
        )
        if "birth_date" in table.columns and "age" not in table.columns:
            # the last calendar day that as_of includes, in the workspace zone: as_of is
            # exclusive, so a bare date (the next midnight) gives that date itself
            last = (moment - timedelta(microseconds=1)).replace(tzinfo=UTC)
            day = last.astimezone(ZoneInfo(self.context.config.timezone)).date()
            born = table.birth_date
            later_birthday = (born.month() > day.month) | (
                (born.month() == day.month) & (born.day() > day.day)
            )
            age = day.year - born.year() - later_birthday.ifelse(1, 0)
            table = table.mutate(age=age.cast("int32"))
        return table

    def events(self, as_of: AsOf | None = None) -> ibis.Table:
        """Events strictly before ``as_of`` (all events when None)."""
        table = self.context.store.table("events")
        if as_of is not None:
            table = table.filter(table.timestamp < self.context.instant(as_of))
        return table

    def identities(self) -> ibis.Table:
        """The identities of the customers (``has:`` rules read which types each holds)."""
        return self.context.store.table("identities")

    def attribute_types(self) -> dict[str, str]:
        """Attribute name -> type, with ``age`` derived from ``birth_date``."""
        attributes = dict(self.context.store.attribute_columns())
        if "birth_date" in attributes and "age" not in attributes:
            attributes["age"] = "number"
        return attributes

    def schema(self, traits: dict[str, str]) -> Schema:
        """What rules may refer to: attributes, ``traits``, event types, discovery runs."""
        return Schema(
            attributes=self.attribute_types(),
            traits=traits,
            event_types=frozenset(BUILTIN_EVENT_TYPES) | self.context.store.event_types(),
            clusters=self.cluster_names(),
            property_keys=self.context.store.property_keys(),
            score_models=frozenset(self._scores.names() if self._scores else ()),
        )

    # -- providers ----------------------------------------------------------------------------

    def clusters(self) -> ClusterLookup:
        """Stored discovery runs by name or id, each loaded once (for ``cluster:`` nodes)."""
        return self._clusters.lookup() if self._clusters else _no_clusters

    def cluster_names(self) -> dict[str, dict[int, str]]:
        """Each stored discovery run's name and id (as text) -> its clusters (id -> name)."""
        if self._clusters is None:
            return {}
        lookup = self._clusters.lookup()
        found: dict[str, dict[int, str]] = {}
        for run_id in self._clusters.run_ids():
            source = lookup(run_id)
            found[str(source.run_id)] = found[source.name] = dict(source.clusters)
        return found

    def scores(self) -> ScoreLookup:
        """Stored look-alike models by name, each loaded once (for ``score:`` nodes)."""
        return self._scores.lookup() if self._scores else _no_scores

    def models_available(self, moment: datetime | None) -> bool:
        return self._models is not None and self._models.available(moment)

    def scorer(self, clock: Clock) -> ModelScorer | None:
        """Value-model outputs for one profile (None when no fit applies at the clock)."""
        return self._models.scorer(clock) if self._models else None

    # -- the batch profile --------------------------------------------------------------------

    def customers_at(self, clock: Clock, as_of: AsOf | None) -> ibis.Table:
        """Customers with the attributes in force at the clock's instant (the current ones
        when no ``as_of`` was asked for)."""
        return self.attributes(as_of=_instant(clock) if as_of is not None else None)

    def batch(
        self,
        clock: Clock,
        as_of: AsOf | None,
        *,
        models: Sequence[ModelExpr] = (),
        runs: Iterable[str | int] = (),
        scores: Iterable[str] = (),
    ) -> BatchInputs:
        """The customers at the clock's instant with the ``models`` outputs (scored with
        the fit that applies, when there is one), the cluster of each discovery run in
        ``runs`` and the score of each look-alike model in ``scores``, with the events and
        what the compilers need beside them."""
        customers = self.customers_at(clock, as_of)
        if models and self._models is not None and self._models.available(clock.as_of):
            wanted = list({m.key: m for m in models}.values())
            outputs = ibis.memtable(self._models.scores(clock, wanted))
            outputs = outputs.rename(_model_customer="customer_id")
            joined = customers.left_join(outputs, customers.customer_id == outputs._model_customer)
            customers = joined.drop("_model_customer")
        lookup = self.clusters()
        for source in {s.run_id: s for s in map(lookup, runs)}.values():
            assert self._clusters is not None  # without a provider, the lookup raised
            labels = self._clusters.labels(clock, as_of, source)
            assigned = ibis.memtable(labels).rename(_cluster_customer="customer_id")
            joined = customers.left_join(
                assigned, customers.customer_id == assigned._cluster_customer
            )
            customers = joined.drop("_cluster_customer")
        customers = self._with_scores(customers, clock, as_of, scores)
        return BatchInputs(
            customers=customers,
            events=self.events(),
            clock=clock,
            attribute_types=self.attribute_types(),
            clusters=lookup,
            identities=self.identities(),
            scores=self.scores(),
        )

    def _with_scores(
        self, customers: ibis.Table, clock: Clock, as_of: AsOf | None, models: Iterable[str]
    ) -> ibis.Table:
        """``customers`` with the score column of each look-alike model in ``models``."""
        lookup = self.scores()
        for source in {s.model_id: s for s in map(lookup, models)}.values():
            assert self._scores is not None  # without a provider, the lookup raised
            scored = ibis.memtable(self._scores.scores(clock, as_of, source))
            scored = scored.rename(_score_customer="customer_id")
            joined = customers.left_join(scored, customers.customer_id == scored._score_customer)
            customers = joined.drop("_score_customer")
        return customers

    def table(
        self,
        as_of: AsOf | None = None,
        *,
        traits: Sequence[str] | bool = (),
        runs: Iterable[str | int] = (),
    ) -> ibis.Table:
        """The batch profile at ``as_of``: one row per live customer with the attributes
        in force, the ``traits`` named (``True``: every trait; value-model outputs such as
        ``p_alive`` and ``clv_12m`` are traits) and, for each discovery run in ``runs``,
        the cluster the run's assigner gives the customer (column ``_cluster_<run id>``,
        :func:`microseg.lang.cluster_column`).

        Examples
        --------
        >>> ws.profile.table("2026-10-31", traits=["lifecycle_stage"])  # doctest: +SKIP
        """
        clock = self.context.clock(as_of)
        table = self.batch(clock, as_of, runs=runs).customers
        wanted = None if traits is True else list(traits or [])
        if wanted == []:
            return table
        if self._traits is None:  # pragma: no cover - the Workspace always registers one
            raise WorkspaceError("no traits in this profile", hint="open it with Workspace")
        values = self._traits.values(as_of, wanted).rename(_trait_customer="customer_id")
        joined = table.left_join(values, table.customer_id == values._trait_customer)
        return joined.drop("_trait_customer")

    # -- one customer -------------------------------------------------------------------------

    def of(self, customer_id: str, *, as_of: AsOf | None = None) -> Profile:
        """One customer's attributes at ``as_of`` and events before it, for the interpreter."""
        clock = self.context.clock(as_of)
        customers = self.customers_at(clock, as_of)
        rows = customers.filter(customers.customer_id == customer_id).to_pyarrow().to_pylist()
        if not rows:
            raise NotFoundError(f"no customer {customer_id!r}", hint="check the id")
        events = self.context.store.table("events")
        chosen = events.filter(
            (events.customer_id == customer_id) & (events.timestamp < clock.as_of)
        ).drop("load_id")
        attributes = {k: v for k, v in rows[0].items() if k != "customer_id"}
        pending: dict[str, datetime] = {}
        if as_of is not None and None in attributes.values():
            history = self.context.store.table("customer_history")
            versions = history.filter(history.customer_id == customer_id).to_pyarrow()
            pending = pending_attributes(versions.to_pylist(), attributes, clock.as_of)
        return Profile(
            customer_id=customer_id,
            attributes=attributes,
            events=chosen.to_pyarrow().to_pylist(),
            attribute_types=self.attribute_types(),
            pending=pending,
            identities=self._identity_types(customer_id),
        )

    def _identity_types(self, customer_id: str) -> frozenset[str]:
        table = self.identities()
        held = table.filter(table.customer_id == customer_id).select("id_type").distinct()
        return frozenset(str(t) for t in held.to_pyarrow().column("id_type").to_pylist())


def _instant(clock: Clock) -> datetime:
    """The clock's ``as_of`` as an aware instant (a naive one would be read as local time)."""
    return clock.as_of.replace(tzinfo=UTC)
