"""Campaigns in the store: ``campaigns`` and ``campaign_assignments``.

Reads are Ibis expressions; writes are statements with bound parameters. What a campaign
means (the holdout draw, the uplift) is :mod:`microseg.activate`'s business: this module
only moves rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ibis
import pyarrow as pa

if TYPE_CHECKING:
    from microseg.store._store import Store

__all__ = ["CAMPAIGN_COLUMNS", "CampaignRepository"]

#: The columns of a stored campaign, in order.
CAMPAIGN_COLUMNS = (
    "name",
    "segment",
    "version",
    "audience",
    "sent_at",
    "holdout",
    "salt",
    "channel",
    "members",
    "control",
    "created_at",
    "target",
)


class CampaignRepository:
    """The stored campaigns of one :class:`Store` (or session)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def get(self, name: str) -> dict[str, Any] | None:
        """The stored campaign called ``name`` (its :data:`CAMPAIGN_COLUMNS`), or None."""
        table = self._store.table("campaigns")
        rows = table.filter(table.name == name).select(*CAMPAIGN_COLUMNS).limit(1)
        found: list[dict[str, Any]] = rows.to_pyarrow().to_pylist()
        return found[0] if found else None

    def names(self) -> list[str]:
        table = self._store.table("campaigns")
        return [str(n) for n in table.select("name").to_pyarrow().column("name").to_pylist()]

    def all(self) -> list[dict[str, Any]]:
        """Every campaign, the latest sent first."""
        table = self._store.table("campaigns").select(*CAMPAIGN_COLUMNS)
        ordered = table.order_by([ibis.desc("sent_at"), "name"])
        rows: list[dict[str, Any]] = ordered.to_pyarrow().to_pylist()
        return rows

    def assignments(self, name: str) -> ibis.Table:
        """``customer_id`` and ``group`` (treatment or control) of a campaign's audience."""
        table = self._store.table("campaign_assignments")
        return table.filter(table.campaign == name).select("customer_id", "group")

    def insert(self, row: dict[str, Any], assignments: pa.Table) -> None:
        """Store a campaign (:data:`CAMPAIGN_COLUMNS`) and its assignments (``customer_id``,
        ``group``) atomically."""
        store = self._store
        values = [row[c] for c in CAMPAIGN_COLUMNS]
        placeholders = ", ".join(f"${i}" for i in range(1, len(values) + 1))
        with store.transaction():
            store.execute(f"INSERT INTO campaigns VALUES ({placeholders})", values)  # noqa: S608 - no value in the text
            with store.registered("_campaign_assign", assignments):
                store.execute(
                    'INSERT INTO campaign_assignments SELECT $1, customer_id, "group" '
                    "FROM _campaign_assign",
                    [row["name"]],
                )
