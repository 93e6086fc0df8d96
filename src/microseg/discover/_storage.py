"""Discovery runs in the workspace store: ``discovery_runs`` and ``discovery_assignments``.

A run is found by its name or its id (a number, or text made of digits); names are slugs,
unique in the workspace, and ``run-<id>`` is the name of a run stored without one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from microseg.discover._assign import ClusterAssigner
from microseg.discover._errors import DiscoveryError, UnknownRunError
from microseg.lang import SegmentDefinition, parse_definition
from microseg.store import RunRow

if TYPE_CHECKING:
    from microseg.discover._run import DiscoveryRun
    from microseg.store import Store


__all__ = [
    "RunRef",
    "assignments",
    "check_name",
    "cluster_definition",
    "list_runs",
    "load_assigner",
    "load_run",
    "resolve_run",
    "save_cluster",
    "store_run",
]

#: A stored run: its name, or its id (an int, or a string of digits).
RunRef = str | int

_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_DEFAULT_NAME = re.compile(r"run-[0-9]+")
_NAME_LENGTH = 64
_SHOWN = 10  # known runs named in an error


def check_name(store: Store, name: str, *, stored: bool = True) -> None:
    """Refuse a run name that is not a slug, looks like an id or a default name, or (when
    ``stored``) is already taken."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or len(name) > _NAME_LENGTH:
        raise DiscoveryError(
            f"run name {name!r} is not a slug",
            where="name",
            hint=f"use lowercase letters, digits and dashes (at most {_NAME_LENGTH}), "
            "e.g. q4-lifecycle",
        )
    if name.isdigit():
        raise DiscoveryError(
            f"run name {name!r} is a number, which reads as a run id",
            where="name",
            hint="add a letter, e.g. q4-lifecycle",
        )
    if _DEFAULT_NAME.fullmatch(name):
        raise DiscoveryError(
            f"run name {name!r} is reserved: runs without a name are called run-<id>",
            where="name",
            hint="choose a name of your own, or leave the name out",
        )
    if stored:
        taken = store.runs.id_named(name)
        if taken is not None:
            raise DiscoveryError(
                f"a discovery run named {name!r} already exists (run {taken})",
                where="name",
                hint="choose another name; `microseg discover list` shows the names taken",
            )


def resolve_run(store: Store, run: RunRef) -> int:
    """The id of the run named or numbered ``run``; a :class:`DiscoveryError` naming the
    known runs when there is none."""
    if isinstance(run, bool) or not isinstance(run, str | int):
        raise DiscoveryError(f"a run is a name or an id, not {run!r}", where="run")
    runs = store.runs
    by_id = isinstance(run, int) or run.strip().isdigit()
    if by_id:
        number = int(str(run).strip())
        found: int | None = number if runs.has_id(number) else None
    else:
        found = runs.id_named(str(run))
    if found is not None:
        return found
    known = runs.latest_names(_SHOWN + 1)
    listed = ", ".join(f"{n} ({i})" for i, n in known[:_SHOWN])
    if len(known) > _SHOWN:
        listed += ", ..."
    what = f"no discovery run {int(run)}" if by_id else f"no discovery run named {run!r}"
    raise UnknownRunError(
        f"{what}; known runs: {listed}" if known else f"{what}; no run is stored yet",
        where="run",
        hint="`microseg discover list` shows them"
        if known
        else "run `microseg discover run` first",
    )


def store_run(store: Store, run: DiscoveryRun) -> int:
    """Store a run, its assignments and its assigner atomically; return its id.

    The run gets its id here, and its name when it has none (``run-<id>``).
    """
    table = pa.table(
        {
            "customer_id": pa.array(run.customer_ids.tolist(), pa.string()),
            "macro": pa.array(run.macro_labels.tolist(), pa.string()),
            "cluster": pa.array(run.labels.tolist(), pa.int32()),
        }
    )
    with store.transaction():
        run_id = store.runs.next_id()
        name = run.name or f"run-{run_id}"
        if run.name is not None:
            check_name(store, run.name)
        run.run_id, run.name = run_id, name
        assigner = {**run.assigner.to_dict(), "run_id": run_id, "name": name}
        run.assigner = ClusterAssigner.from_dict(assigner)
        row = RunRow(
            run_id=run_id,
            as_of=run.as_of,
            created_at=run.created_at,
            method=run.params["method"],
            customers=run.metrics["customers"],
            clusters=run.metrics["clusters"],
            run=json.dumps(run.to_dict(), default=str),
            name=name,
            assigner=json.dumps(assigner),
        )
        store.runs.insert(row, table)
    return run_id


def list_runs(store: Store) -> list[dict[str, Any]]:
    """Stored runs, newest first: id, name, as_of, when, method, customers, clusters,
    unclustered, stability, coverage."""
    return store.runs.summaries()


def load_run(store: Store, run: RunRef) -> dict[str, Any]:
    """One stored run (by name or id) as :meth:`DiscoveryRun.to_dict` gave it."""
    run_id = resolve_run(store, run)
    document, name = store.runs.document(run_id)
    data: dict[str, Any] = json.loads(document)
    data["run_id"], data["name"] = run_id, name
    return data


def load_assigner(store: Store, run: RunRef) -> ClusterAssigner:
    """The :class:`ClusterAssigner` of a stored run, by name or id.

    Examples
    --------
    >>> assigner = load_assigner(ws.store, "q4-lifecycle")                   # doctest: +SKIP
    >>> assigner.assign_table(traits, customers)                             # doctest: +SKIP
    """
    run_id = resolve_run(store, run)
    assigner, name = store.runs.assigner(run_id)
    if assigner is None:
        raise DiscoveryError(
            f"discovery run {name!r} was stored before runs kept an assigner",
            where="run",
            hint="discover again to assign new customers",
        )
    return ClusterAssigner.from_dict({**json.loads(assigner), "run_id": run_id, "name": name})


def assignments(store: Store, run: RunRef) -> pa.Table:
    """``customer_id``, ``macro``, ``cluster`` of every customer of a stored run (cluster 0:
    unclustered)."""
    return store.runs.assignments(resolve_run(store, run))


def cluster_definition(store: Store, run: RunRef, cluster: int, *, name: str) -> SegmentDefinition:
    """A segment ``name`` whose rule is a stored cluster's, described by its run."""
    data = load_run(store, run)
    run_id, run_name = data["run_id"], data["name"]
    found = next((c for c in data["clusters"] if c["id"] == cluster), None)
    if found is None:
        ids = [c["id"] for c in data["clusters"]]
        raise DiscoveryError(
            f"run {run_name!r} has no cluster {cluster}",
            where="cluster",
            hint=f"its clusters are {min(ids)} to {max(ids)}",
        )
    if found["rule"] is None:
        raise DiscoveryError(
            f"cluster {cluster} of run {run_name!r} is the unclustered group, which has no rule",
            where="cluster",
            hint=f"select it with a `cluster: {{run: {run_name}, in: [{cluster}]}}` node",
        )
    return parse_definition(
        {
            "name": name,
            "title": found["name"],
            "description": (
                f"Discovered by run {run_name} (id {run_id}; cluster {cluster}, "
                f"{found['size']} customers at {data['as_of']}); rule precision "
                f"{found['precision']:.2f}, recall {found['recall']:.2f}."
            ),
            "tags": ["discovered", run_name],
            "rule": found["rule"],
        }
    )


def save_cluster(
    store: Store,
    run: RunRef,
    cluster: int,
    *,
    name: str,
    save: Callable[[SegmentDefinition, bool], Path],
    overwrite: bool = False,
) -> Path:
    """Write a cluster's rule as the segment ``name`` with ``save(definition, overwrite)``
    (``ws.segments.save``: checked against the workspace, then written)."""
    definition = cluster_definition(store, run, cluster, name=name)
    return save(definition, overwrite)
