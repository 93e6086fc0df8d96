"""``ws.insights``: value ranking and market potential, migration between segments, the
life-event example, overlap, affinities, next-best products and look-alikes.

Every computation reads the profile through the assembler and the analyses' namespaces
(segments, value, discovery) and is written in Ibis through the backend seam: no SQL text
here (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from microseg.context import Context
from microseg.core.time import AsOf
from microseg.discover.api import Discover
from microseg.insights._overlap import Overlap, segment_overlap
from microseg.insights._value import ValueTable
from microseg.insights._value_build import ValueInputs, ValueRequest, build_value_table
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

    def value(
        self,
        segments: Sequence[str] | None = None,
        *,
        run: str | None = None,
        grid: Sequence[str] = (),
        as_of: AsOf | None = None,
        period: str = "12 months",
        by: str | None = None,
        horizon: str | None = None,
        min_size: int = 50,
    ) -> ValueTable:
        """What each segment (all saved ones by default), each cluster of ``run``, or each
        cell of the grid over ``grid``'s dimensions (cells under ``min_size`` hidden) is
        worth at ``as_of``, ranked by ``by`` (default ``clv_total`` with a value fit, else
        ``revenue``). Figures over ``period`` before ``as_of``; growth against the previous
        stored evaluation, or the same computation one period earlier (docs/insights.md).

        >>> ws.insights.value(by="revenue").rows[0].group                  # doctest: +SKIP
        'champions'
        """
        inputs = ValueInputs(
            self._context, self._profile, self._segments, self._value, self._discover
        )
        request = ValueRequest(
            segments=list(segments or []),
            run=run,
            grid=list(grid),
            as_of=as_of,
            period=period,
            by=by,
            horizon=horizon,
            min_size=min_size,
        )
        return build_value_table(inputs, request)

    def overlap(self, segments: Sequence[str], *, as_of: AsOf | None = None) -> Overlap:
        """Pairwise overlap (customers in both, Jaccard, share of the smaller) and the exact
        intersections, largest first, of two or more segments at ``as_of``
        (docs/insights.md).

        >>> ws.insights.overlap(["vip", "paris"]).pairs[0].jaccard         # doctest: +SKIP
        0.4
        """
        return segment_overlap(self._segments, segments, as_of=as_of)
