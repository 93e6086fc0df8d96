"""``ws.activate``: what reaches customers (exports, webhooks, campaigns) and what it did.

Every audience honours consent and reachability per channel; every export, post and
campaign is recorded in the workspace (docs/activation.md). No SQL text here: tables are
read and written through the store and Ibis (docs/architecture.md).
"""

from __future__ import annotations

from microseg.context import Context
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
