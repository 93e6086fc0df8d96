"""One customer's rows, for the per-profile interpreter: point reads with bound parameters."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from microseg.store._store import Store

__all__ = ["customer_attributes", "customer_events"]

_HISTORY_SYSTEM = ("valid_from", "valid_to", "load_id")


def customer_attributes(
    store: Store, customer_id: str, moment: datetime | None
) -> dict[str, Any] | None:
    """The live customer's attributes in force just before ``moment`` (current when None);
    None when no live customer has that id. A customer without attributes gives ``{}``."""
    live = store.fetchone(
        "SELECT 1 FROM customer_registry WHERE customer_id = $c AND merged_into IS NULL",
        {"c": customer_id},
    )
    if live is None:
        return None
    if moment is None:
        sql = "SELECT * FROM customer_history WHERE customer_id = $c AND valid_to IS NULL"
        params: dict[str, Any] = {"c": customer_id}
    else:
        sql = (
            "SELECT * FROM customer_history WHERE customer_id = $c AND valid_from < $m "
            "AND (valid_to IS NULL OR valid_to >= $m)"
        )
        params = {"c": customer_id, "m": moment}
    cursor = store.con.execute(sql, params)
    names = [d[0] for d in cursor.description or ()]
    row = cursor.fetchone()
    if row is None:
        return dict.fromkeys(n for n in names if n not in (*_HISTORY_SYSTEM, "customer_id"))
    return {
        n: v for n, v in zip(names, row, strict=True) if n not in (*_HISTORY_SYSTEM, "customer_id")
    }


def customer_events(store: Store, customer_id: str, before: datetime) -> list[dict[str, Any]]:
    """The customer's events strictly before ``before``, as dictionaries (no ``load_id``)."""
    cursor = store.con.execute(
        "SELECT * EXCLUDE (load_id) FROM events WHERE customer_id = $c AND timestamp < $b",
        {"c": customer_id, "b": before},
    )
    names = [d[0] for d in cursor.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
