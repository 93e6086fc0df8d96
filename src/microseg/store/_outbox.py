"""The webhook outbox in the store: ``webhook_batches``, ``webhook_dead_letters`` and
``webhook_pushed``.

Reads are Ibis expressions; writes are statements with bound parameters. What a batch
means (its body, when to retry) is :mod:`microseg.activate`'s business: this module only
moves rows, and every state change is one transaction, so a batch is never both delivered
and pending.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import ibis
import pyarrow as pa

if TYPE_CHECKING:
    from microseg.store._store import Store

__all__ = ["OutboxRepository"]

#: The columns of a new batch, in the order :meth:`OutboxRepository.enqueue` takes them.
BATCH_COLUMNS = (
    "batch_id",
    "push_id",
    "destination",
    "segment",
    "channel",
    "kind",
    "part",
    "parts",
    "as_of",
    "created_at",
    "records",
    "body",
)


class OutboxRepository:
    """The webhook batches of one :class:`Store` (or session)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def _rows(self, expr: ibis.Table) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = expr.to_pyarrow().to_pylist()
        return rows

    # -- reads --------------------------------------------------------------------------------

    def batch(self, batch_id: str) -> dict[str, Any] | None:
        """One batch (every column), or None."""
        batches = self._store.table("webhook_batches")
        rows = self._rows(batches.filter(batches.batch_id == batch_id).limit(1))
        return rows[0] if rows else None

    def due(self, now: datetime, destinations: Sequence[str]) -> list[dict[str, Any]]:
        """Pending batches of ``destinations`` whose next attempt is due, oldest first."""
        if not destinations:
            return []
        batches = self._store.table("webhook_batches")
        due = batches.filter(
            batches.state == "pending",
            batches.destination.isin(list(destinations)),
            batches.next_attempt_at.isnull() | (batches.next_attempt_at <= now),
        )
        return self._rows(due.order_by(["created_at", "push_id", "part"]))

    def counts(self) -> list[dict[str, Any]]:
        """Batches and records per destination and state, with the latest delivery."""
        batches = self._store.table("webhook_batches")
        grouped = batches.group_by(["destination", "state"]).aggregate(
            batches=batches.count(),
            records=batches.records.sum(),
            last_delivered_at=batches.delivered_at.max(),
        )
        return self._rows(grouped.order_by(["destination", "state"]))

    def dead(self, destination: str | None = None) -> list[dict[str, Any]]:
        """Dead batches (oldest first), with the reason they were parked."""
        batches = self._store.table("webhook_batches")
        letters = self._store.table("webhook_dead_letters")
        letters = letters.filter(letters.requeued_at.isnull()).select(
            letter_id="batch_id", died_at="died_at", reason="reason"
        )
        dead = batches.filter(batches.state == "dead")
        if destination is not None:
            dead = dead.filter(dead.destination == destination)
        joined = dead.left_join(letters, dead.batch_id == letters.letter_id)
        chosen = joined.select(
            "batch_id",
            "destination",
            "segment",
            "kind",
            "part",
            "parts",
            "records",
            "attempts",
            "last_status",
            "died_at",
            reason=joined.reason.fill_null(joined.last_error),
        )
        return self._rows(chosen.order_by(["died_at", "batch_id"]))

    def dead_ids(self, destination: str | None = None) -> list[str]:
        return [str(r["batch_id"]) for r in self.dead(destination)]

    def pushed(self, destination: str, segment: str) -> list[str] | None:
        """Customer ids last pushed to ``destination`` for ``segment`` (None: never pushed)."""
        pushed = self._store.table("webhook_pushed")
        mine = pushed.filter(pushed.destination == destination, pushed.segment == segment)
        rows = self._rows(mine.select("customer_id", "push_id"))
        if not rows:
            return None
        return sorted(str(r["customer_id"]) for r in rows if r["customer_id"] is not None)

    # -- writes -------------------------------------------------------------------------------

    def enqueue(
        self,
        batches: pa.Table,
        *,
        destination: str,
        segment: str,
        members: Sequence[str],
        push_id: str,
        at: datetime,
    ) -> None:
        """Store new pending batches (columns :data:`BATCH_COLUMNS`) and make ``members`` the
        list last pushed to ``destination`` for ``segment``: one transaction."""
        store = self._store
        # an empty push keeps a marker row (customer_id NULL): "pushed, nobody in it"
        marker: list[str | None] = list(members) or [None]
        ids = pa.table({"customer_id": pa.array(marker, pa.string())})
        columns = ", ".join(BATCH_COLUMNS)
        with store.transaction():
            with store.registered("_webhook_new", batches):
                store.execute(
                    f"INSERT INTO webhook_batches ({columns}, state, attempts) "  # noqa: S608 - fixed column names, values from a registered table
                    f"SELECT {columns}, 'pending', 0 FROM _webhook_new"
                )
            store.execute(
                "DELETE FROM webhook_pushed WHERE destination = $1 AND segment = $2",
                [destination, segment],
            )
            with store.registered("_webhook_pushed", ids):
                store.execute(
                    "INSERT INTO webhook_pushed SELECT $1, $2, customer_id, $3, $4 "
                    "FROM _webhook_pushed",
                    [destination, segment, push_id, at],
                )

    def record_failure(
        self,
        batch_id: str,
        *,
        at: datetime,
        status: int | None,
        error: str,
        next_attempt_at: datetime | None,
    ) -> None:
        """One more failed attempt of a batch that stays pending."""
        with self._store.transaction():
            self._store.execute(
                "UPDATE webhook_batches SET attempts = attempts + 1, last_status = $2, "
                "last_error = $3, last_attempt_at = $4, next_attempt_at = $5 "
                "WHERE batch_id = $1 AND state = 'pending'",
                [batch_id, status, error, at, next_attempt_at],
            )

    def pause(self, destination: str, *, until: datetime) -> None:
        """No pending batch of ``destination`` is due before ``until`` (its receiver asked
        for a pause with a Retry-After)."""
        with self._store.transaction():
            self._store.execute(
                "UPDATE webhook_batches SET next_attempt_at = $2 WHERE destination = $1 "
                "AND state = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at < $2)",
                [destination, until],
            )

    def mark_delivered(self, batch_id: str, *, at: datetime, status: int) -> None:
        """The receiver accepted the batch: it is never sent again."""
        with self._store.transaction():
            self._store.execute(
                "UPDATE webhook_batches SET state = 'delivered', attempts = attempts + 1, "
                "last_status = $2, last_error = NULL, last_attempt_at = $3, "
                "next_attempt_at = NULL, delivered_at = $3 "
                "WHERE batch_id = $1 AND state = 'pending'",
                [batch_id, status, at],
            )

    def park(self, batch_id: str, *, at: datetime, status: int | None, reason: str) -> None:
        """The batch's last attempt failed (or it cannot succeed): dead, and a dead letter."""
        store = self._store
        with store.transaction():
            store.execute(
                "UPDATE webhook_batches SET state = 'dead', attempts = attempts + 1, "
                "last_status = $2, last_error = $3, last_attempt_at = $4, "
                "next_attempt_at = NULL WHERE batch_id = $1 AND state = 'pending'",
                [batch_id, status, reason, at],
            )
            store.execute(
                "INSERT INTO webhook_dead_letters SELECT batch_id, destination, $2, attempts, "
                "last_status, last_error, NULL FROM webhook_batches "
                "WHERE batch_id = $1 AND state = 'dead'",
                [batch_id, at],
            )

    def requeue(self, batch_ids: Sequence[str], *, at: datetime) -> int:
        """Dead batches back to pending with their attempts reset; how many were requeued.
        Their dead letters are kept, stamped with the time they were requeued."""
        if not batch_ids:
            return 0
        store = self._store
        ids = pa.table({"batch_id": pa.array(list(batch_ids), pa.string())})
        with store.transaction(), store.registered("_webhook_requeue", ids):
            count = int(
                store.scalar(
                    "SELECT count(*) FROM webhook_batches WHERE state = 'dead' "
                    "AND batch_id IN (SELECT batch_id FROM _webhook_requeue)"
                )
            )
            store.execute(
                "UPDATE webhook_dead_letters SET requeued_at = $1 WHERE requeued_at IS NULL "
                "AND batch_id IN (SELECT batch_id FROM _webhook_requeue)",
                [at],
            )
            store.execute(
                "UPDATE webhook_batches SET state = 'pending', attempts = 0, "
                "next_attempt_at = NULL WHERE state = 'dead' "
                "AND batch_id IN (SELECT batch_id FROM _webhook_requeue)"
            )
        return count
