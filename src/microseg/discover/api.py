"""``ws.discover``: discovery runs, stored runs, saving a cluster as a segment, and the
cluster one customer falls in (docs/discovery.md).

Also the profile's cluster provider: the cluster each customer falls in for a stored run,
as ``cluster:`` rules read it.
"""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from microseg.context import Context
from microseg.core.errors import WorkspaceError
from microseg.core.time import AsOf
from microseg.discover._run import DiscoveryRun, discover
from microseg.discover._storage import (
    RunRef,
    assignments,
    list_runs,
    load_assigner,
    load_run,
    resolve_run,
    save_cluster,
)
from microseg.lang import Clock, ClusterLookup, ClusterSource, cluster_column
from microseg.lang.profile import ProfileEvaluator
from microseg.profile import ProfileAssembler
from microseg.segments.api import Segments
from microseg.traits import cluster_runs
from microseg.traits.api import Traits
from microseg.value.api import Value

__all__ = ["ClusterColumns", "Discover"]


class Discover:
    """Micro-segment discovery: ``ws.discover``."""

    def __init__(
        self,
        context: Context,
        profile: ProfileAssembler,
        traits: Traits,
        value: Value,
        segments: Segments,
    ) -> None:
        self._context = context
        self._profile = profile
        self._traits = traits
        self._value = value
        self._segments = segments

    def run(self, **options: Any) -> DiscoveryRun:
        """Discover micro-segments and store the run.

        Options: ``as_of``, ``method`` (kmeans, gmm, bisecting, hdbscan), ``macro``,
        ``traits``, ``attributes``, ``allow_sensitive``, ``n_clusters``, ``min_clusters``,
        ``max_clusters``, ``min_size``, ``seed``, ``refits``, ``name``, ``save``
        (docs/discovery.md).
        """
        return discover(self._context, self._profile, self._traits, self._value, **options)

    def list(self) -> builtins.list[dict[str, Any]]:
        """Stored runs, newest first: id, name, as_of, when, method, customers, clusters,
        unclustered, stability, coverage."""
        return list_runs(self._context.store)

    def show(self, run: RunRef) -> dict[str, Any]:
        """One stored run (by name or id) as its ``to_dict()`` gave it."""
        return load_run(self._context.store, run)

    def resolve(self, run: RunRef) -> int:
        """The id of a stored run given by name or id."""
        return resolve_run(self._context.store, run)

    def assignments(self, run: RunRef) -> pa.Table:
        """``customer_id``, ``macro``, ``cluster`` of every customer of a stored run."""
        return assignments(self._context.store, run)

    def save(self, run: RunRef, cluster: int, *, name: str, overwrite: bool = False) -> Path:
        """Write a cluster's rule to ``segments/NAME.yaml`` (checked against the workspace)."""
        return save_cluster(
            self._context.store,
            run,
            cluster,
            name=name,
            overwrite=overwrite,
            save=lambda definition, replace: self._segments.save(definition, overwrite=replace),
        )

    def assign(
        self, customer_id: str, run: RunRef, *, as_of: AsOf | None = None
    ) -> tuple[int, str]:
        """One customer's micro-segment in a stored run, as (cluster id, name), at ``as_of``.

        The run's assigner places the customer from their traits and attributes, computed
        by the per-profile interpreter: new customers and customers who changed get a
        cluster too, as ``cluster:`` rules see it (docs/discovery.md).
        """
        clock = self._context.clock(as_of)
        traits = self._traits.list()
        evaluator = ProfileEvaluator(
            self._profile.of(customer_id, as_of=as_of),
            clock,
            trait_definition=traits.definitions.__getitem__,
            cuts=self._traits.cuts(clock, traits),
            models=self._profile.scorer(clock),
            clusters=self._profile.clusters(),
            scores=self._profile.scores(),
        )
        source, cluster = evaluator.cluster_of(run)
        return cluster, source.clusters.get(cluster, "unknown")

    def provider(self) -> ClusterColumns:
        """The profile's cluster provider backed by the stored runs."""
        return ClusterColumns(self._context, self._profile, self._traits)


class ClusterColumns:
    """The cluster each customer falls in, for the profile (``cluster:`` nodes)."""

    def __init__(self, context: Context, profile: ProfileAssembler, traits: Traits) -> None:
        self._context = context
        self._profile = profile
        self._traits = traits

    def lookup(self) -> ClusterLookup:
        loaded: dict[str, ClusterSource] = {}
        store = self._context.store

        def lookup(run: str | int) -> ClusterSource:
            key = str(run)
            if key not in loaded:
                loaded[key] = load_assigner(store, run)
            return loaded[key]

        return lookup

    def run_ids(self) -> builtins.list[int]:
        return [int(r) for r in self._context.store.assignable_runs()]

    def labels(self, clock: Clock, as_of: AsOf | None, source: ClusterSource) -> pa.Table:
        """The cluster of every customer in ``source``'s run, assigned at ``as_of``.

        The run's features (traits and attributes) are computed at the clock's ``as_of``,
        then assigned in numpy by the run's assigner: the per-profile evaluator asks the
        same assigner for one profile.
        """
        catalog = self._traits.list()
        missing = [t for t in source.traits if t not in catalog.definitions]
        if missing:
            raise WorkspaceError(
                f"discovery run {source.name!r} uses the trait {missing[0]!r}, "
                "which this workspace does not define now",
                hint="fit the value models again (or restore the trait), or discover again",
            )
        inner = cluster_runs([], None, catalog, source.traits)
        lookup = self.lookup()
        if any(lookup(run).run_id == source.run_id for run in inner):
            raise WorkspaceError(
                f"discovery run {source.name!r} clusters on a trait that tests its own clusters",
                hint="take the `cluster` node out of that trait, or discover again without it",
            )
        profile = self._profile
        if source.traits:
            run = self._traits.compute_with(catalog, list(source.traits), clock, as_of, save=False)
            assert run.result is not None
            traits = run.result.to_pyarrow()
            run.result.drop()
        else:
            traits = profile.customers_at(clock, as_of).select("customer_id").to_pyarrow()
        people = profile.customers_at(clock, as_of)
        attributes = people.select("customer_id", *source.attributes).to_pyarrow()
        labels = source.assign_table(traits, attributes)
        return pa.table(
            {
                "customer_id": traits.column("customer_id"),
                cluster_column(source.run_id): pa.array(np.asarray(labels, dtype=np.int64)),
            }
        )
