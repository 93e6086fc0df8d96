"""``ws.activate``: what reaches customers (exports, webhooks, campaigns) and what it did.

Every audience honours consent and reachability per channel; every export, post and
campaign is recorded in the workspace (docs/activation.md). No SQL text here: tables are
read and written through the store and Ibis (docs/architecture.md).
"""

from __future__ import annotations

import random

from microseg.activate._webhook_results import (
    ActivationStatus,
    DeliveryReport,
    PushResult,
    ResendResult,
)
from microseg.activate._webhooks import Sleep, Webhooks
from microseg.context import Context
from microseg.core.time import AsOf
from microseg.profile import ProfileAssembler
from microseg.segments.api import Segments
from microseg.traits.api import Traits

__all__ = ["Activate"]


class Activate:
    """The activation namespace of a workspace, over its segments."""

    def __init__(
        self,
        context: Context,
        profile: ProfileAssembler,
        traits: Traits,
        segments: Segments,
    ) -> None:
        self._context = context
        self._profile = profile
        self._traits = traits
        self._segments = segments

    # -- webhooks (docs/activation.md, Webhooks) ----------------------------------------------

    @property
    def _webhooks(self) -> Webhooks:
        return Webhooks(self._context, self._segments)

    def push(
        self,
        segment: str,
        destination: str,
        *,
        channel: str | None = None,
        as_of: AsOf | None = None,
    ) -> PushResult:
        """Queue ``segment`` for the webhook ``destination`` (``destinations:`` in
        microseg.yaml): its whole audience the first time, then who entered and who left
        since the last push there. Nothing is posted until :meth:`deliver`.

        Examples
        --------
        >>> ws.activate.push("vip", "crm").batches                      # doctest: +SKIP
        >>> ws.activate.deliver().delivered                             # doctest: +SKIP
        """
        return self._webhooks.push(segment, destination, channel=channel, as_of=as_of)

    def deliver(
        self,
        destination: str | None = None,
        *,
        sleep: Sleep | None = None,
        rng: random.Random | None = None,
    ) -> DeliveryReport:
        """Post the pending webhook batches that are due, signed, retried with backoff;
        delivered batches are never posted again, failed ones end dead (see
        :meth:`status`). ``sleep`` and ``rng`` replace the real wait and jitter (tests)."""
        return self._webhooks.deliver(destination, sleep=sleep, rng=rng)

    def status(self) -> ActivationStatus:
        """Per destination: delivered, pending and dead webhook batches, and why each dead
        one died."""
        return self._webhooks.status()

    def resend(
        self, batch_id: str | None = None, *, dead: bool = False, destination: str | None = None
    ) -> ResendResult:
        """Put a dead batch (or every dead one, ``dead=True``) back in the outbox for the
        next :meth:`deliver`."""
        return self._webhooks.resend(batch_id, dead=dead, destination=destination)
