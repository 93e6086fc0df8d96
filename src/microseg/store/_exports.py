"""Audience exports in the store: ``exports`` and ``export_members``.

Reads are Ibis expressions; writes are statements with bound parameters, run by the
caller inside one :meth:`Store.transaction`. What an export means is
:mod:`microseg.activate`'s business: this module only moves rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ibis
import pyarrow as pa

if TYPE_CHECKING:
    from microseg.store._store import Store

__all__ = ["EXPORT_COLUMNS", "ExportRepository"]

#: The columns of ``exports``, in order.
EXPORT_COLUMNS = (
    "export_id",
    "segment",
    "version",
    "as_of",
    "destination",
    "format",
    "channel",
    "rows",
    "candidates",
    "excluded_withdrawn",
    "excluded_no_consent",
    "excluded_unreachable",
    "members",
    "members_sha256",
    "consent_ignored",
    "included_without_consent",
    "delta",
    "entered",
    "exited",
    "columns",
    "created_at",
)


class ExportRepository:
    """The exports log of one :class:`Store` (or session)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def next_id(self) -> int:
        """The id the next export gets (call it inside the transaction that records it)."""
        last = self._store.table("exports").export_id.max().to_pyarrow().as_py()
        return int(last or 0) + 1

    def rows(self, segment: str | None = None) -> list[dict[str, Any]]:
        """Every export (of ``segment`` when given), newest first."""
        exports = self._store.table("exports")
        if segment is not None:
            exports = exports.filter(exports.segment == segment)
        ordered = exports.select(*EXPORT_COLUMNS).order_by(ibis.desc("export_id"))
        rows: list[dict[str, Any]] = ordered.to_pyarrow().to_pylist()
        return rows

    def last_to(self, segment: str, destination: str) -> int | None:
        """The id of the latest export of ``segment`` to ``destination``, or None."""
        exports = self._store.table("exports")
        same = exports.filter((exports.segment == segment) & (exports.destination == destination))
        last = same.export_id.max().to_pyarrow().as_py()
        return None if last is None else int(last)

    def members(self, export_id: int) -> list[str]:
        """The member ids an export recorded, sorted."""
        table = self._store.table("export_members")
        chosen = table.filter(table.export_id == export_id).select("customer_id")
        ids = chosen.order_by("customer_id").to_pyarrow().column("customer_id").to_pylist()
        return [str(i) for i in ids]

    def insert(self, row: dict[str, Any], members: pa.Table) -> None:
        """Record one export (``row`` has :data:`EXPORT_COLUMNS`) and its member ids
        (``members``: a ``customer_id`` column); run it inside a transaction."""
        store = self._store
        placeholders = ", ".join(f"${i}" for i in range(1, len(EXPORT_COLUMNS) + 1))
        store.execute(
            f"INSERT INTO exports VALUES ({placeholders})",  # noqa: S608 - placeholders only
            [row[c] for c in EXPORT_COLUMNS],
        )
        with store.registered("_export_members", members.select(["customer_id"])):
            store.execute(
                "INSERT INTO export_members SELECT $1, customer_id FROM _export_members",
                [row["export_id"]],
            )
