"""Discovery runs in the workspace store: ``discovery_runs`` and ``discovery_assignments``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from microseg.discover._errors import DiscoveryError
from microseg.lang import parse_definition

if TYPE_CHECKING:
    from microseg.discover._run import DiscoveryRun
    from microseg.workspace import Workspace

__all__ = ["assignments", "list_runs", "load_run", "save_cluster", "store_run"]


def store_run(ws: Workspace, run: DiscoveryRun) -> int:
    """Store a run and its assignments atomically; return its id."""
    store = ws.store
    table = pa.table(
        {
            "customer_id": pa.array(run.customer_ids.tolist(), pa.string()),
            "macro": pa.array(run.macro_labels.tolist(), pa.string()),
            "cluster": pa.array(run.labels.tolist(), pa.int32()),
        }
    )
    store.con.register("_discovery_assign", table)
    try:
        with store.transaction():
            run_id = int(store.scalar("SELECT coalesce(max(run_id), 0) + 1 FROM discovery_runs"))
            run.run_id = run_id
            store.execute(
                "INSERT INTO discovery_runs VALUES ($1, $2, $3, $4, $5, $6, $7)",
                [
                    run_id,
                    run.as_of,
                    run.created_at,
                    run.params["method"],
                    run.metrics["customers"],
                    run.metrics["clusters"],
                    json.dumps(run.to_dict(), default=str),
                ],
            )
            store.execute(
                "INSERT INTO discovery_assignments "
                "SELECT $1, customer_id, macro, cluster FROM _discovery_assign",
                [run_id],
            )
    finally:
        store.con.unregister("_discovery_assign")
    return run_id


def list_runs(ws: Workspace) -> list[dict[str, Any]]:
    """Stored runs, newest first: id, as_of, when, method, customers, clusters, stability."""
    rows = ws.store.fetchall(
        "SELECT run_id, as_of, created_at, method, customers, clusters, "
        "json_extract(run, '$.metrics.stability_ari')::DOUBLE, "
        "json_extract(run, '$.metrics.coverage')::DOUBLE "
        "FROM discovery_runs ORDER BY run_id DESC"
    )
    keys = (
        "run_id",
        "as_of",
        "created_at",
        "method",
        "customers",
        "clusters",
        "stability_ari",
        "coverage",
    )
    return [dict(zip(keys, row, strict=True)) for row in rows]


def load_run(ws: Workspace, run_id: int) -> dict[str, Any]:
    """One stored run as :meth:`DiscoveryRun.to_dict` gave it."""
    row = ws.store.fetchone("SELECT run FROM discovery_runs WHERE run_id = $1", [run_id])
    if row is None:
        known = [r["run_id"] for r in list_runs(ws)]
        raise DiscoveryError(
            f"no discovery run {run_id}",
            where="run",
            hint=f"stored runs: {known}" if known else "run `microseg discover run` first",
        )
    data: dict[str, Any] = json.loads(row[0])
    return data


def assignments(ws: Workspace, run_id: int) -> pa.Table:
    """``customer_id``, ``macro``, ``cluster`` of every customer of a stored run."""
    load_run(ws, run_id)
    table = ws.store.table("discovery_assignments")
    chosen = table.filter(table.run_id == run_id).select("customer_id", "macro", "cluster")
    result: pa.Table = chosen.order_by("customer_id").to_pyarrow()
    return result


def save_cluster(
    ws: Workspace, run_id: int, cluster: int, *, name: str, overwrite: bool = False
) -> Path:
    """Write a cluster's rule to ``segments/NAME.yaml`` (checked against the workspace)."""
    run = load_run(ws, run_id)
    found = next((c for c in run["clusters"] if c["id"] == cluster), None)
    if found is None:
        raise DiscoveryError(
            f"run {run_id} has no cluster {cluster}",
            where="cluster",
            hint=f"clusters are 1 to {len(run['clusters'])}",
        )
    definition = parse_definition(
        {
            "name": name,
            "title": found["name"],
            "description": (
                f"Discovered by run {run_id} (cluster {cluster}, {found['size']} customers at "
                f"{run['as_of']}); rule precision {found['precision']:.2f}, "
                f"recall {found['recall']:.2f}."
            ),
            "tags": ["discovered", f"run-{run_id}"],
            "rule": found["rule"],
        }
    )
    return ws.save_segment(definition, overwrite=overwrite)
