"""Retention in the store: rows of a table older than a cut-off, archived and deleted.

What the period is and which tables it applies to is :mod:`microseg.govern`'s business;
this module counts, archives (Parquet, streamed, written to a temporary name and renamed
so a half-written archive never exists) and deletes, inside the caller's transaction,
and records each run in ``retention_runs``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow.parquet as pq

from microseg.store._sql import ident

if TYPE_CHECKING:
    from microseg.store._store import Store

__all__ = ["Expiry", "archive_expired", "delete_expired", "expired", "record_retention"]

_BATCH = 100_000


@dataclass
class Expiry:
    """The rows of ``table`` whose ``column`` (a time) is before ``cutoff``."""

    table: str
    column: str
    cutoff: datetime
    #: rows per value of ``group`` (events: their type)
    group: str | None = None
    removed: int = 0
    first: datetime | None = None
    last: datetime | None = None
    by_group: dict[str, int] = field(default_factory=dict)


def expired(store: Store, expiry: Expiry) -> Expiry:
    """Fill in how many rows ``expiry`` covers, their time range and counts per group."""
    column, table = ident(expiry.column), ident(expiry.table)
    group = ident(expiry.group) if expiry.group else "NULL"
    rows = store.fetchall(
        f"SELECT {group}::VARCHAR, count(*), min({column}), max({column}) FROM {table} "  # noqa: S608 - identifiers via ident(), values bound as parameters
        f"WHERE {column} < $cutoff GROUP BY 1 ORDER BY 2 DESC, 1",
        {"cutoff": expiry.cutoff},
    )
    expiry.by_group = {str(g): int(n) for g, n, _, _ in rows if g is not None}
    expiry.removed = sum(int(r[1]) for r in rows)
    expiry.first = min((r[2] for r in rows), default=None)
    expiry.last = max((r[3] for r in rows), default=None)
    return expiry


def archive_expired(store: Store, expiry: Expiry, path: Path) -> int:
    """Write the expired rows to the Parquet file ``path`` (oldest first); rows written.

    The file appears whole or not at all: it is written under a temporary name, flushed
    to disk, then renamed."""
    column, table = ident(expiry.column), ident(expiry.table)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    reader = store.con.execute(
        f"SELECT * FROM {table} WHERE {column} < $cutoff ORDER BY {column}",  # noqa: S608 - identifiers via ident(), values bound as parameters
        {"cutoff": expiry.cutoff},
    ).to_arrow_reader(_BATCH)
    written = 0
    try:
        with pq.ParquetWriter(partial, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
                written += batch.num_rows
        with partial.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return written


def delete_expired(store: Store, expiry: Expiry) -> int:
    """Delete the expired rows (inside the caller's transaction); rows deleted."""
    column, table = ident(expiry.column), ident(expiry.table)
    row = store.fetchone(
        f"DELETE FROM {table} WHERE {column} < $cutoff",  # noqa: S608 - identifiers via ident(), values bound as parameters
        {"cutoff": expiry.cutoff},
    )
    return int(row[0]) if row else 0


def record_retention(
    store: Store,
    expiries: list[Expiry],
    *,
    applied_at: datetime,
    action: str,
    periods: dict[str, str],
    archives: dict[str, str],
) -> int:
    """Record one run (a row per table) in ``retention_runs``; its id."""
    run_id = int(store.scalar("SELECT coalesce(max(run_id), 0) + 1 FROM retention_runs"))
    for expiry in expiries:
        store.execute(
            "INSERT INTO retention_runs VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            [
                run_id,
                applied_at,
                expiry.table,
                action,
                periods[expiry.table],
                expiry.cutoff,
                expiry.removed,
                expiry.first,
                expiry.last,
                json.dumps(expiry.by_group),
                archives.get(expiry.table),
            ],
        )
    return run_id


def retention_history(store: Store) -> list[dict[str, Any]]:
    """Every recorded run's rows, newest first."""
    table = store.table("retention_runs")
    rows: list[dict[str, Any]] = (
        table.order_by([table.run_id.desc(), "table_name"]).to_pyarrow().to_pylist()
    )
    for row in rows:
        row["by_type"] = json.loads(row["by_type"]) if row["by_type"] else {}
    return rows
