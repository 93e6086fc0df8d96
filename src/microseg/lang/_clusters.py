"""``cluster:`` nodes: a customer's micro-segment in a stored discovery run.

Both evaluators read a run through :class:`ClusterSource` (a
:class:`microseg.discover.ClusterAssigner` is one): the batch evaluator finds every
customer's cluster in a column the workspace adds to the customers
(:func:`cluster_column`), computed by the run's assigner from the traits and attributes at
``as_of``; the per-profile evaluator asks the same assigner for one profile. Both then test
membership with :func:`cluster_ids`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from microseg.lang._errors import Problem, RuleError
from microseg.lang._nodes import ClusterSpec

__all__ = [
    "ClusterLookup",
    "ClusterSource",
    "cluster_column",
    "cluster_ids",
    "listed_clusters",
    "unknown_clusters",
]


class ClusterSource(Protocol):
    """What a rule needs from a discovery run."""

    run_id: int
    name: str
    clusters: dict[int, str]
    traits: list[str]
    attributes: list[str]

    def assign_one(self, traits: Mapping[str, Any], attributes: Mapping[str, Any]) -> int: ...

    def assign_table(self, traits: Any, customers: Any) -> Any:
        """Cluster ids (a numpy array) for the rows of ``traits`` (Arrow tables)."""
        ...


#: A run's name or id -> the run (raises a clear error for an unknown run).
ClusterLookup = Callable[[str | int], ClusterSource]


def cluster_column(run_id: int) -> str:
    """The customers column holding each customer's cluster in run ``run_id`` (batch)."""
    return f"_cluster_{run_id}"


def cluster_ids(spec: ClusterSpec, clusters: Mapping[int, str]) -> frozenset[int]:
    """The cluster ids ``spec.in_`` names: ids as written, names looked up (ignoring case)."""
    unknown = unknown_clusters(spec, clusters)
    if unknown:
        raise RuleError(
            [
                Problem(
                    "cluster.in",
                    f"run {spec.run!r} has no cluster {unknown[0]!r}; its clusters are "
                    + listed_clusters(clusters),
                )
            ]
        )
    by_name = {name.casefold(): cid for cid, name in clusters.items()}
    ids: set[int] = set()
    for value in spec.in_:
        if isinstance(value, int):
            ids.add(value)
        else:
            found = by_name.get(value.casefold())
            ids.add(found if found is not None else int(value.strip()))
    return frozenset(ids)


def listed_clusters(clusters: Mapping[int, str]) -> str:
    """``1 (name), 2 (name)``: a run's clusters, for messages."""
    return ", ".join(f"{i} ({n})" for i, n in sorted(clusters.items()))


def unknown_clusters(spec: ClusterSpec, clusters: Mapping[int, str]) -> list[int | str]:
    """Values of ``spec.in_`` that are neither a cluster id nor a cluster name of the run."""
    names = {name.casefold() for name in clusters.values()}
    found: list[int | str] = []
    for value in spec.in_:
        if isinstance(value, int):
            if value not in clusters:
                found.append(value)
        elif value.casefold() not in names and _as_id(value) not in clusters:
            found.append(value)
    return found


def _as_id(value: str) -> int | None:
    text = value.strip()
    return int(text) if text.isdigit() else None
