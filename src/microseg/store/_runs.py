"""Discovery runs in the store: ``discovery_runs`` and ``discovery_assignments``.

Reads are Ibis expressions; writes are statements with bound parameters, run by the
caller inside one :meth:`Store.transaction`. What a run means (names, ids, the assigner)
is :mod:`microseg.discover`'s business: this module only moves rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import ibis
import pyarrow as pa

if TYPE_CHECKING:
    from microseg.store._store import Store

__all__ = ["RunRepository", "RunRow"]

#: Stored columns :meth:`RunRepository.summaries` gives as they are, in order; the run's
#: metrics ``unclustered``, ``stability_ari`` and ``coverage`` follow them.
SUMMARY_COLUMNS = ("run_id", "name", "as_of", "created_at", "method", "customers", "clusters")


@dataclass(frozen=True)
class RunRow:
    """One row of ``discovery_runs``: the run and its assigner as JSON text."""

    run_id: int
    as_of: datetime
    created_at: datetime | None
    method: str
    customers: int
    clusters: int
    run: str
    name: str
    assigner: str


class RunRepository:
    """The stored discovery runs of one :class:`Store` (or session)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def _runs(self) -> ibis.Table:
        return self._store.table("discovery_runs")

    def _rows(self, expr: ibis.Table) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = expr.to_pyarrow().to_pylist()
        return rows

    def next_id(self) -> int:
        """The id the next run gets (call it inside the transaction that stores the run)."""
        runs = self._runs()
        last = runs.run_id.max().to_pyarrow().as_py()
        return int(last or 0) + 1

    def id_named(self, name: str) -> int | None:
        """The id of the run called ``name``, or None."""
        runs = self._runs()
        found = self._rows(runs.filter(runs.name == name).select("run_id").limit(1))
        return int(found[0]["run_id"]) if found else None

    def has_id(self, run_id: int) -> bool:
        runs = self._runs()
        return bool(self._rows(runs.filter(runs.run_id == run_id).select("run_id").limit(1)))

    def latest_names(self, limit: int) -> list[tuple[int, str]]:
        """(id, name) of the ``limit`` newest runs, newest first; ``run-<id>`` when unnamed."""
        runs = self._runs()
        named = runs.select(
            "run_id", name=runs.name.fill_null(ibis.literal("run-") + runs.run_id.cast("string"))
        )
        rows = self._rows(named.order_by(ibis.desc("run_id")).limit(limit))
        return [(int(r["run_id"]), str(r["name"])) for r in rows]

    def summaries(self) -> list[dict[str, Any]]:
        """Every run, newest first: :data:`SUMMARY_COLUMNS`, then unclustered, stability and
        coverage from the run's metrics."""
        runs = self._runs()
        metrics = runs.run["metrics"]
        chosen = runs.select(
            *SUMMARY_COLUMNS,
            unclustered=metrics["unclustered"].unwrap_as("int64").fill_null(0),
            stability_ari=metrics["stability_ari"].unwrap_as("float64"),
            coverage=metrics["coverage"].unwrap_as("float64"),
        )
        return self._rows(chosen.order_by(ibis.desc("run_id")))

    def document(self, run_id: int) -> tuple[str, str | None]:
        """(run JSON, name) of a stored run."""
        return self._columns(run_id, "run")

    def assigner(self, run_id: int) -> tuple[str | None, str | None]:
        """(assigner JSON or None for runs stored before assigners, name) of a stored run."""
        return self._columns(run_id, "assigner")

    def _columns(self, run_id: int, column: str) -> tuple[Any, str | None]:
        runs = self._runs()
        rows = self._rows(runs.filter(runs.run_id == run_id).select(column, "name").limit(1))
        if not rows:
            raise KeyError(run_id)
        return rows[0][column], rows[0]["name"]

    def assignable(self) -> list[int]:
        """Ids of the runs that kept an assigner (new customers can be placed in them)."""
        runs = self._runs()
        rows = self._rows(runs.filter(runs.assigner.notnull()).select("run_id"))
        return [int(r["run_id"]) for r in rows]

    def assignments(self, run_id: int) -> pa.Table:
        """``customer_id``, ``macro``, ``cluster`` of a run's customers, by customer id."""
        table = self._store.table("discovery_assignments")
        chosen = table.filter(table.run_id == run_id).select("customer_id", "macro", "cluster")
        result: pa.Table = chosen.order_by("customer_id").to_pyarrow()
        return result

    def insert(self, row: RunRow, assignments: pa.Table) -> None:
        """Store a run and its assignments (``customer_id``, ``macro``, ``cluster``); run it
        inside a transaction, with ``row.run_id`` from :meth:`next_id`."""
        store = self._store
        store.execute(
            "INSERT INTO discovery_runs (run_id, as_of, created_at, method, customers, "
            "clusters, run, name, assigner) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            [
                row.run_id,
                row.as_of,
                row.created_at,
                row.method,
                row.customers,
                row.clusters,
                row.run,
                row.name,
                row.assigner,
            ],
        )
        with store.registered("_discovery_assign", assignments):
            store.execute(
                "INSERT INTO discovery_assignments "
                "SELECT $1, customer_id, macro, cluster FROM _discovery_assign",
                [row.run_id],
            )
