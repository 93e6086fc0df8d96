"""What ``ws.activate.push``, ``.deliver``, ``.status`` and ``.resend`` return."""

from __future__ import annotations

from microseg.core.results import Instant, Result

__all__ = [
    "ActivationStatus",
    "DeadBatch",
    "DeliveryReport",
    "DestinationDelivery",
    "DestinationStatus",
    "PushResult",
    "ResendResult",
]


class PushResult(Result):
    """A push queued in the outbox: the whole audience the first time a segment goes to a
    destination (``kind="audience"``), then who entered and who left since the last push
    (``kind="changes"``)."""

    push_id: str
    destination: str
    segment: str
    channel: str | None
    as_of: Instant
    kind: str
    members: int
    entered: int
    left: int
    batches: int
    batch_ids: list[str]


class DestinationDelivery(Result):
    """What one ``deliver`` did for one destination."""

    destination: str
    delivered: int
    dead: int
    #: pending batches left for a later ``deliver`` (a Retry-After longer than max_wait)
    waiting: int
    #: failed attempts that were retried
    retries: int


class DeliveryReport(Result):
    """What one ``deliver`` did, per destination that had batches due."""

    destinations: list[DestinationDelivery]

    @property
    def delivered(self) -> int:
        return sum(d.delivered for d in self.destinations)

    @property
    def dead(self) -> int:
        return sum(d.dead for d in self.destinations)


class DeadBatch(Result):
    """A batch parked after its last attempt, or at once when it cannot succeed (a 4xx)."""

    batch_id: str
    segment: str
    kind: str
    part: int
    parts: int
    records: int
    attempts: int
    last_status: int | None
    died_at: Instant | None
    reason: str | None


class DestinationStatus(Result):
    """The outbox of one destination: batches delivered, pending and dead."""

    destination: str
    url: str | None
    configured: bool
    delivered: int
    pending: int
    dead: int
    delivered_records: int
    last_delivered_at: Instant | None
    dead_batches: list[DeadBatch]


class ActivationStatus(Result):
    """``microseg activate status``: every configured destination and every one with
    batches in the outbox."""

    destinations: list[DestinationStatus]


class ResendResult(Result):
    """Dead batches put back in the outbox (pending, attempts reset)."""

    requeued: list[str]
    destinations: list[str]
