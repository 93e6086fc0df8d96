"""``ws.insights``: value ranking and market potential, migration between segments, the
life-event example, overlap, affinities, next-best products and look-alikes.

Every computation reads the profile through the assembler and the analyses' namespaces
(segments, value, discovery) and is written in Ibis through the backend seam: no SQL text
here (docs/architecture.md).
"""

from __future__ import annotations

from typing import Any

from microseg.context import Context
from microseg.core.time import AsOf
from microseg.discover.api import Discover
from microseg.insights._change import life_change
from microseg.insights._change_report import ChangeReport
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

    def change(
        self,
        attribute: str,
        *,
        from_value: Any,
        to_value: Any,
        since: AsOf | None = None,
        until: AsOf | None = None,
        window: str = "6 months",
        as_of: AsOf | None = None,
        categories: int = 12,
    ) -> ChangeReport:
        """How customers whose ``attribute`` changed from ``from_value`` to ``to_value``
        (between ``since`` and ``until``) bought before and after, against customers who
        kept ``from_value``: a difference-in-differences table (docs/insights.md).

        >>> ws.insights.change("marital_status", from_value="single",
        ...                    to_value="married")                            # doctest: +SKIP
        """
        return life_change(
            self._context,
            self._profile,
            attribute=attribute,
            from_value=from_value,
            to_value=to_value,
            since=since,
            until=until,
            window=window,
            as_of=as_of,
            categories=categories,
        )
