"""``ws.insights``: value ranking and market potential, migration between segments, the
life-event example, overlap, affinities, next-best products and look-alikes.

Every computation reads the profile through the assembler and the analyses' namespaces
(segments, value, discovery) and is written in Ibis through the backend seam: no SQL text
here (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from microseg.context import Context
from microseg.core.time import AsOf
from microseg.discover.api import Discover
from microseg.profile import ProfileAssembler
from microseg.segments.api import Segments
from microseg.traits.api import Traits
from microseg.value.api import Value

if TYPE_CHECKING:
    from microseg.insights._recommend import PreparedRecommender, Recommendations
    from microseg.insights._recommend_eval import RecommendationEvaluation

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

    # -- next-best products (docs/insights.md, "Next-best products") ---------------------------

    def prepare_recommender(
        self,
        *,
        as_of: AsOf | None = None,
        segments: Sequence[str] | None = None,
        run: str | int | None = None,
    ) -> PreparedRecommender:
        """Next-best products' state in memory, from purchases before ``as_of``: then
        ``.recommend(customer_id, method=..., k=...)`` answers in about a millisecond.

        The ``segment`` method's micro-segments are ``segments`` (each customer in the
        first that holds them), else the clusters of discovery ``run``, else of the newest
        run made as of ``as_of`` (none: that method falls back to global popularity).
        """
        from microseg.insights._recommend_inputs import prepare

        moment = self._context.instant(as_of)
        return prepare(
            self._context,
            self._profile,
            self._segments,
            self._discover,
            moment=moment,
            names=segments,
            run=run,
        )

    def recommend(
        self,
        customer_id: str | None = None,
        *,
        method: str = "blend",
        k: int = 10,
        as_of: AsOf | None = None,
        segment: str | None = None,
        run: str | int | None = None,
    ) -> Recommendations:
        """Ranked products ``customer_id`` has not bought (``popular``, ``segment``,
        ``itemknn`` or ``blend``); with ``segment`` and no customer, the products to push
        to that segment; with both, ``segment`` is the customer's micro-segment."""
        from microseg.insights._recommend import check_method

        check_method(method, k)
        names = [segment] if segment else None
        state = self.prepare_recommender(as_of=as_of, segments=names, run=run)
        if customer_id is None:
            if segment is None:
                from microseg.core.errors import ParameterError

                raise ParameterError("recommend needs a customer id, a segment, or both")
            members = state.groups.of_customer if state.groups else {}
            return state.for_members(list(members), segment=segment, method=method, k=k)
        if customer_id not in state.row_of:  # no purchase yet, or no such customer (raises)
            self._profile.of(customer_id, as_of=as_of)
        return state.recommend(customer_id, method=method, k=k)

    def evaluate_recommendations(
        self,
        *,
        as_of: AsOf,
        weeks: int = 8,
        k: int = 10,
        segments: Sequence[str] | None = None,
        run: str | int | None = None,
    ) -> RecommendationEvaluation:
        """Train before ``as_of``, test on the purchases of the next ``weeks``: precision,
        recall, NDCG at ``k`` and coverage of every method, against global popularity."""
        from microseg.insights._recommend import purchase_pairs
        from microseg.insights._recommend_eval import evaluate

        moment = self._context.instant(as_of)
        until = moment + timedelta(weeks=weeks)
        state = self.prepare_recommender(as_of=as_of, segments=segments, run=run)
        events = self._profile.events(until)
        settings = self._context.config.value
        test, _ = purchase_pairs(
            events.filter(events.timestamp >= moment),
            purchase=settings.purchase_event,
            returned=settings.return_event,
        )
        return evaluate(state, test, until=until, k=k)
