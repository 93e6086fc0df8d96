"""Webhooks: audiences and membership changes posted to HTTP destinations, through an outbox.

``push`` computes what to send (the whole audience the first time a segment goes to a
destination, then who entered and who left since the last push), cuts it into batches of
``batch_size`` records and stores each batch, with the exact body it will be posted with,
as *pending* in the store's outbox. ``deliver`` posts the pending batches, signed
(:mod:`microseg.activate._signing`), and records every attempt:

* a 2xx makes the batch *delivered*: it is never sent again;
* a 5xx, a 408, a timeout or a connection error is retried after an exponential backoff
  with full jitter (a uniform wait in [0, min(max_backoff, backoff * 2**(attempt - 1))]);
* a 429 is retried after its ``Retry-After`` (seconds or an HTTP date), or the backoff;
  a wait longer than ``max_wait`` leaves the batch, and the destination's next ones,
  pending for a later ``deliver``;
* any other 4xx (or a redirect) will not succeed by repeating it: the batch is *dead* at once,
  with the reason; so is a batch whose last attempt (``max_attempts``) failed.

Dead batches are listed by ``status`` and put back by ``resend``. The clock and the sleep
are injected, so tests never wait for a real backoff.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pyarrow as pa

from microseg.activate._signing import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
)
from microseg.activate._webhook_results import (
    ActivationStatus,
    DeadBatch,
    DeliveryReport,
    DestinationDelivery,
    DestinationStatus,
    PushResult,
    ResendResult,
)
from microseg.config import DestinationSpec
from microseg.context import Context
from microseg.core.errors import ConfigError, ParameterError
from microseg.core.results import instant_text
from microseg.core.text import did_you_mean
from microseg.core.time import AsOf
from microseg.segments.api import Segments
from microseg.store import OutboxRepository

__all__ = ["Sleep", "Webhooks"]

Sleep = Callable[[float], None]

#: a Retry-After beyond a day is taken as a day (the batch waits for a later deliver)
_LONGEST_RETRY_AFTER = 86_400.0

#: identifier types posted beside customer_id, when the workspace holds them
_IDENTIFIERS = ("email", "phone")


#: the consent-aware audience of a segment: ``ws.activate.audience``
AudienceOf = Callable[..., Any]


def _audience_rows(
    audience_of: AudienceOf, segment: str, *, channel: str | None, as_of: datetime
) -> pa.Table:
    """The audience of ``segment`` for ``channel`` at ``as_of`` (naive UTC): an Arrow table
    of ``customer_id``, ``email`` and ``phone``, one row per customer, by customer id.

    With a channel, only the customers who consented to it and are reachable on it
    (``ws.activate.audience``), with the channel's identifiers; without one, every member
    with no identifier at all: contact details leave the workspace only for a channel its
    customers agreed to.
    """
    found = audience_of(segment, channel=channel, as_of=as_of.replace(tzinfo=UTC))
    table: pa.Table = found.members
    for kind in _IDENTIFIERS:  # the same keys in every post, held or not
        if channel is None and kind in table.column_names:
            table = table.drop_columns([kind])
        if kind not in table.column_names:
            table = table.append_column(kind, pa.nulls(table.num_rows, pa.string()))
    return table.select(["customer_id", *_IDENTIFIERS])


@dataclass(frozen=True)
class _Attempt:
    """The outcome of one post."""

    ok: bool
    status: int | None
    error: str
    retryable: bool
    retry_after: float | None = None


class Webhooks:
    """The webhook outbox of a workspace: push, deliver, status, resend."""

    def __init__(self, context: Context, segments: Segments, audience_of: AudienceOf) -> None:
        self._context = context
        self._segments = segments
        self._audience_of = audience_of
        self._outbox = OutboxRepository(context.store)

    # -- destinations -------------------------------------------------------------------------

    def _spec(self, destination: str) -> DestinationSpec:
        known = self._context.config.destinations
        if destination in known:
            return known[destination]
        if not known:
            raise ParameterError(
                f"no destination {destination!r}: microseg.yaml declares no destinations",
                hint="add one under destinations: (url, secret_env); see docs/activation.md",
            )
        raise ParameterError(
            f"no destination {destination!r}" + did_you_mean(destination, known),
            hint="destinations in microseg.yaml: " + ", ".join(sorted(known)),
        )

    def _secret(self, destination: str) -> str:
        name = self._spec(destination).secret_env
        value = os.environ.get(name, "")
        if not value.strip():
            raise ConfigError(
                f"the environment variable {name} is not set: destination {destination!r} "
                "signs its posts with the secret it holds",
                where=f"{self._context.path / 'microseg.yaml'}: destinations.{destination}"
                ".secret_env",
                hint=f"export {name}=<the secret shared with the receiver>",
            )
        return value

    # -- push ---------------------------------------------------------------------------------

    def push(
        self,
        segment: str,
        destination: str,
        *,
        channel: str | None = None,
        as_of: AsOf | None = None,
    ) -> PushResult:
        """Queue ``segment``'s audience (first push) or its changes (later pushes) for
        ``destination``, in batches of its ``batch_size``; nothing is posted yet."""
        spec = self._spec(destination)
        self._secret(destination)  # refuse now rather than at delivery
        instant = self._context.instant(as_of)
        rows = _audience_rows(
            self._audience_of, segment, channel=channel, as_of=instant
        ).to_pylist()
        members = [str(r["customer_id"]) for r in rows]
        before = self._outbox.pushed(destination, segment)
        push_id = uuid.uuid4().hex[:16]  # 64 random bits: a batch id is push_id-part
        head = {
            "push_id": push_id,
            "destination": destination,
            "segment": segment,
            "channel": channel,
            "as_of": instant_text(instant),
        }
        kind, entered, left, chunks = _parts(rows, before, spec.batch_size)
        now = self._context.now()
        batch_ids = [f"{push_id}-{n}" for n in range(1, len(chunks) + 1)]
        records: list[dict[str, Any]] = []
        for n, (batch_id, chunk) in enumerate(zip(batch_ids, chunks, strict=True), start=1):
            payload: dict[str, Any] = {"batch_id": batch_id, **head, "kind": kind, "part": n}
            payload |= {"parts": len(chunks), **chunk}
            count = sum(len(v) for v in chunk.values())
            body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)
            records.append(
                {
                    "batch_id": batch_id,
                    "push_id": push_id,
                    "destination": destination,
                    "segment": segment,
                    "channel": channel,
                    "kind": kind,
                    "part": n,
                    "parts": len(chunks),
                    "as_of": instant,
                    "created_at": now,
                    "records": count,
                    "body": body,
                }
            )
        self._outbox.enqueue(
            _batch_table(records),
            destination=destination,
            segment=segment,
            members=members,
            push_id=push_id,
            at=now,
        )
        return PushResult(
            push_id=push_id,
            destination=destination,
            segment=segment,
            channel=channel,
            as_of=instant,
            kind=kind,
            members=len(members),
            entered=entered,
            left=left,
            batches=len(batch_ids),
            batch_ids=batch_ids,
        )

    # -- deliver ------------------------------------------------------------------------------

    def deliver(
        self,
        destination: str | None = None,
        *,
        sleep: Sleep | None = None,
        rng: random.Random | None = None,
    ) -> DeliveryReport:
        """Post every pending batch that is due (of ``destination``, or of all), oldest
        first, retrying as the module says; a delivered batch is never posted again."""
        names = [destination] if destination else sorted(self._context.config.destinations)
        for name in names:
            self._spec(name)
        due = self._outbox.due(self._context.now(), names)
        wanted = sorted({str(b["destination"]) for b in due})
        secrets = {name: self._secret(name) for name in wanted}  # all missing ones first
        poster = _Poster(self._context, self._outbox, sleep or _real_sleep, rng or random.Random())
        reports = []
        for name in wanted:
            spec = self._spec(name)
            counts = {"delivered": 0, "dead": 0, "waiting": 0, "retries": 0}
            mine = [b for b in due if b["destination"] == name]
            with httpx.Client(timeout=spec.timeout, follow_redirects=False) as client:
                for n, batch in enumerate(mine):
                    outcome, retries = poster.post(client, spec, secrets[name], batch)
                    counts[outcome] += 1
                    counts["retries"] += retries
                    if outcome == "waiting":  # the receiver asked for a pause: keep to it
                        counts["waiting"] += len(mine) - n - 1
                        break
            reports.append(DestinationDelivery(destination=name, **counts))
        return DeliveryReport(destinations=reports)

    # -- status and resend --------------------------------------------------------------------

    def status(self) -> ActivationStatus:
        """Every configured destination (and any other with batches): delivered, pending and
        dead batches, with the dead ones' reasons."""
        configured = self._context.config.destinations
        counts: dict[str, dict[str, Any]] = {}
        for row in self._outbox.counts():
            mine = counts.setdefault(str(row["destination"]), {})
            mine[str(row["state"])] = row
        result = []
        for name in sorted({*configured, *counts}):
            mine = counts.get(name, {})
            delivered = mine.get("delivered", {})
            dead = [
                DeadBatch.model_validate({k: v for k, v in r.items() if k != "destination"})
                for r in self._outbox.dead(name)
            ]
            result.append(
                DestinationStatus(
                    destination=name,
                    url=configured[name].url if name in configured else None,
                    configured=name in configured,
                    delivered=int(delivered.get("batches") or 0),
                    pending=int(mine.get("pending", {}).get("batches") or 0),
                    dead=int(mine.get("dead", {}).get("batches") or 0),
                    delivered_records=int(delivered.get("records") or 0),
                    last_delivered_at=delivered.get("last_delivered_at"),
                    dead_batches=dead,
                )
            )
        return ActivationStatus(destinations=result)

    def resend(
        self, batch_id: str | None = None, *, dead: bool = False, destination: str | None = None
    ) -> ResendResult:
        """Put dead batches back in the outbox: one (``batch_id``), or every dead one
        (``dead=True``, of ``destination`` or of all). ``deliver`` then posts them."""
        if (batch_id is None) == (not dead):
            raise ParameterError(
                "give a batch id or --dead (every dead batch), not both and not neither",
                hint="microseg activate status lists the dead batches",
            )
        if destination is not None:
            self._spec(destination)
        if batch_id is not None:
            ids = [self._dead_batch(batch_id)]
        else:
            ids = self._outbox.dead_ids(destination)
        rows = [self._outbox.batch(i) for i in ids]
        self._outbox.requeue(ids, at=self._context.now())
        return ResendResult(
            requeued=ids,
            destinations=sorted({str(r["destination"]) for r in rows if r is not None}),
        )

    def _dead_batch(self, batch_id: str) -> str:
        batch = self._outbox.batch(batch_id)
        if batch is None:
            raise ParameterError(
                f"no webhook batch {batch_id!r}",
                hint="microseg activate status --json lists the dead batches' ids",
            )
        if batch["state"] == "delivered":
            raise ParameterError(
                f"batch {batch_id} was delivered at {batch['delivered_at']:%Y-%m-%d %H:%M:%S}"
                " UTC: a delivered batch is never sent again",
                hint="push the segment again to send its changes since",
            )
        if batch["state"] != "dead":
            raise ParameterError(
                f"batch {batch_id} is still pending, not dead",
                hint="microseg activate deliver posts it",
            )
        return batch_id


class _Poster:
    """Posts one batch until it is delivered, dead, or waiting for a later ``deliver``."""

    def __init__(
        self, context: Context, outbox: OutboxRepository, sleep: Sleep, rng: random.Random
    ) -> None:
        self._context = context
        self._outbox = outbox
        self._sleep = sleep
        self._rng = rng

    def post(
        self, client: httpx.Client, spec: DestinationSpec, secret: str, batch: dict[str, Any]
    ) -> tuple[str, int]:
        """(``delivered``, ``dead`` or ``waiting``, failed attempts retried)."""
        batch_id = str(batch["batch_id"])
        attempts = int(batch["attempts"] or 0)
        retries = 0
        while True:
            attempt = self._attempt(client, spec, secret, batch)
            attempts += 1
            now = self._context.now()
            if attempt.ok:
                self._outbox.mark_delivered(batch_id, at=now, status=attempt.status or 200)
                return "delivered", retries
            if not attempt.retryable or attempts >= spec.max_attempts:
                reason = (
                    attempt.error
                    if not attempt.retryable
                    else (f"{attempt.error} (attempt {attempts} of {spec.max_attempts}, the last)")
                )
                self._outbox.park(batch_id, at=now, status=attempt.status, reason=reason)
                return "dead", retries
            retries += 1
            wait = attempt.retry_after
            if wait is None:
                ceiling = min(spec.max_backoff, spec.backoff * 2 ** (attempts - 1))
                wait = self._rng.uniform(0.0, ceiling)
            later = now + timedelta(seconds=wait) if wait > spec.max_wait else None
            self._outbox.record_failure(
                batch_id, at=now, status=attempt.status, error=attempt.error, next_attempt_at=later
            )
            if later is not None:
                self._outbox.pause(str(batch["destination"]), until=later)
                return "waiting", retries
            self._sleep(wait)

    def _attempt(
        self, client: httpx.Client, spec: DestinationSpec, secret: str, batch: dict[str, Any]
    ) -> _Attempt:
        body = str(batch["body"]).encode("utf-8")
        # the workspace's now (naive UTC): a clock's naive times are its zone's
        stamp = int(self._context.now().replace(tzinfo=UTC).timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "microseg-webhooks/1",
            TIMESTAMP_HEADER: str(stamp),
            SIGNATURE_HEADER: sign(secret, stamp, body),
            IDEMPOTENCY_HEADER: str(batch["batch_id"]),
        }
        try:
            response = client.post(spec.url, content=body, headers=headers)
        except httpx.TimeoutException:
            return _Attempt(False, None, f"timed out after {spec.timeout:g} s", retryable=True)
        except httpx.TransportError as exc:
            return _Attempt(False, None, f"cannot connect: {exc}", retryable=True)
        return self._judge(response)

    def _judge(self, response: httpx.Response) -> _Attempt:
        status = response.status_code
        if 200 <= status < 300:
            return _Attempt(True, status, "", retryable=False)
        said = " ".join(response.text.split())[:200]
        error = f"HTTP {status} {response.reason_phrase}" + (f": {said}" if said else "")
        if status == 429:
            wait = _retry_after(response.headers.get("Retry-After"), self._context.now())
            return _Attempt(False, status, error, retryable=True, retry_after=wait)
        if status >= 500 or status == 408:
            return _Attempt(False, status, error, retryable=True)
        if 300 <= status < 400:
            where = response.headers.get("Location", "elsewhere")
            error += f" (redirected to {where}: set the destination's url to the final address)"
        else:
            error += " (a client error: repeating the same post would not succeed)"
        return _Attempt(False, status, error, retryable=False)


def _retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), or None;
    ``now``: naive UTC, as the workspace gives it."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return min(float(text), _LONGEST_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return min(max(0.0, (when - now).total_seconds()), _LONGEST_RETRY_AFTER)


def _parts(
    rows: list[dict[str, Any]], before: list[str] | None, size: int
) -> tuple[str, int, int, list[dict[str, list[dict[str, Any]]]]]:
    """(kind, entered, left, the records of each batch): the whole audience when nothing
    was pushed ``before`` (one batch even if empty, so that the receiver knows), else who
    entered (with their identifiers) and who left (their id), none when nobody moved."""
    if before is None:
        members = [{"members": part} for part in _chunks(rows, size, empty=True)]
        return "audience", len(rows), 0, members
    old = set(before)
    new = {str(r["customer_id"]) for r in rows}
    came = [r for r in rows if str(r["customer_id"]) not in old]
    went = [{"customer_id": c} for c in sorted(old - new)]
    tagged = [("entered", r) for r in came] + [("left", r) for r in went]
    changes = [
        {
            "entered": [r for tag, r in part if tag == "entered"],
            "left": [r for tag, r in part if tag == "left"],
        }
        for part in _chunks(tagged, size, empty=False)
    ]
    return "changes", len(came), len(went), changes


def _chunks(rows: Sequence[Any], size: int, *, empty: bool) -> list[list[Any]]:
    """``rows`` in consecutive parts of ``size``; one empty part for no rows if ``empty``."""
    parts = [list(rows[i : i + size]) for i in range(0, len(rows), size)]
    return parts or ([[]] if empty else [])


def _batch_table(records: list[dict[str, Any]]) -> pa.Table:
    schema = pa.schema(
        [
            ("batch_id", pa.string()),
            ("push_id", pa.string()),
            ("destination", pa.string()),
            ("segment", pa.string()),
            ("channel", pa.string()),
            ("kind", pa.string()),
            ("part", pa.int32()),
            ("parts", pa.int32()),
            ("as_of", pa.timestamp("us")),
            ("created_at", pa.timestamp("us")),
            ("records", pa.int64()),
            ("body", pa.string()),
        ]
    )
    return pa.Table.from_pylist(records, schema=schema)


def _real_sleep(seconds: float) -> None:
    import time

    time.sleep(seconds)
