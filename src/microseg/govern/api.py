"""``ws.govern``: is the segmentation fair, is the data good and fresh enough, and is old
or erased data really gone (docs/governance.md).

No SQL text here: tables are read and written through the store and Ibis
(docs/architecture.md).
"""

from __future__ import annotations

from microseg.context import Context
from microseg.discover.api import Discover
from microseg.profile import ProfileAssembler
from microseg.segments.api import Segments
from microseg.traits.api import Traits
from microseg.value.api import Value

__all__ = ["Govern"]


class Govern:
    """The governance namespace of a workspace, over its data and analyses."""

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
