"""``ws.activate``: what reaches customers (exports, webhooks, campaigns) and what it did.

Every audience honours consent and reachability per channel; every export, post and
campaign is recorded in the workspace (docs/activation.md). No SQL text here: tables are
read and written through the store and Ibis (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from microseg.activate._campaigns import CampaignInfo, CampaignList
from microseg.activate._measure import CampaignMeasurement
from microseg.activate._run import (
    CampaignRequest,
    create_campaign,
    list_campaigns,
    measure_campaign,
)
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

    # -- campaigns, holdouts and uplift (docs/activation.md) ----------------------------------

    def campaign_create(
        self,
        name: str,
        *,
        segment: str | None = None,
        audience: Sequence[str] | None = None,
        holdout: float | str = 0.1,
        channel: str = "email",
        as_of: AsOf | None = None,
        salt: str | None = None,
        to: str | Path | None = None,
    ) -> CampaignInfo:
        """Reserve a deterministic control group of ``holdout`` and store the campaign.

        The audience is ``segment``'s members at ``as_of`` (the send time; now by default,
        the snapshot is stored) or the given ``audience`` ids. A member is in control when
        sha256 of ``salt:customer_id`` (the salt defaults to ``campaign:NAME``), read as a
        number in [0, 1), is below ``holdout``: the same customer is on the same side at
        every run. ``to`` receives the treatment group, the customers to send to.

        >>> ws.activate.campaign_create("spring", segment="anime-buyers", holdout="10%")
        ... # doctest: +SKIP
        """
        return create_campaign(
            self._context,
            self._segments,
            CampaignRequest(name, segment, audience, holdout, channel, as_of, salt, to),
        )

    def campaign_measure(
        self,
        name: str,
        *,
        outcome: str = "email_open",
        window: str = "14 days",
        by: Sequence[str] = (),
        cuped: bool = False,
    ) -> CampaignMeasurement:
        """The campaign's uplift on ``outcome`` events within ``window`` after the send.

        Per group: members, converters (at least one outcome event), rate and revenue per
        member; the absolute and relative uplift with 95% intervals and the p-value of the
        two-proportion test; with ``cuped``, the same adjusted by the pre-period outcome.
        ``by`` adds a row per segment (a segment name) or per micro-segment (grid
        dimensions such as ``gender`` or ``age:25,45``), members taken at the send.
        """
        return measure_campaign(
            self._context, self._segments, name, outcome, window, list(by), with_cuped=cuped
        )

    def campaigns(self) -> CampaignList:
        """Every stored campaign, the latest sent first."""
        return list_campaigns(self._context.store)
