"""``ws.insights``: value ranking and market potential, migration between segments, the
life-event example, overlap, affinities, next-best products and look-alikes.

Every computation reads the profile through the assembler and the analyses' namespaces
(segments, value, discovery) and is written in Ibis through the backend seam: no SQL text
here (docs/architecture.md).
"""

from __future__ import annotations

from microseg.context import Context
from microseg.discover.api import Discover
from microseg.profile import ProfileAssembler
from microseg.segments.api import Segments
from microseg.traits.api import Traits
from microseg.value.api import Value

__all__ = ["Insights"]


class Insights:
    """The insight namespace of a workspace, over its analyses."""

    def __init__(
        self,
        context: Context,
        profile: ProfileAssembler,
        traits: Traits,
        segments: Segments,
        value: Value,
        discover: Discover,
    ) -> None:
        self._context = context
        self._profile = profile
        self._traits = traits
        self._segments = segments
        self._value = value
        self._discover = discover
