"""``ws.insights``: value ranking and market potential, migration between segments, the
life-event example, overlap, affinities, next-best products and look-alikes.

Every computation reads the profile through the assembler and the analyses' namespaces
(segments, value, discovery) and is written in Ibis through the backend seam: no SQL text
here (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from microseg.context import Context
from microseg.core.duration import parse_duration
from microseg.core.errors import ParameterError
from microseg.core.time import AsOf
from microseg.discover.api import Discover
from microseg.insights._affinity import AffinityResult, affinity
from microseg.insights._change import life_change
from microseg.insights._change_report import ChangeReport
from microseg.insights._migration import CustomerHistory, Migration
from microseg.insights._overlap import Overlap, segment_overlap
from microseg.insights._snapshots import MigrationBuilder
from microseg.insights._value import ValueTable
from microseg.insights._value_build import ValueInputs, ValueRequest, build_value_table
from microseg.profile import ProfileAssembler
from microseg.segments.api import Segments
from microseg.traits.api import Traits
from microseg.value.api import Value

if TYPE_CHECKING:
    from microseg.insights._lookalike import Lookalike
    from microseg.insights._lookalike_model import ScoreColumns
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

    def affinity(
        self,
        segment: str,
        *,
        as_of: AsOf | None = None,
        period: str = "12 months",
        min_support: int = 20,
        alpha: float = 0.05,
    ) -> AffinityResult:
        """What one segment over-indexes on against all customers, when it buys and when
        it opens e-mails (docs/insights.md).

        Members are the segment's at ``as_of`` (evaluated, not stored); events are those of
        the ``period`` before ``as_of``. Rows bought by fewer than ``min_support`` members
        are hidden; the others carry a Wilson interval and a Benjamini-Hochberg q-value,
        ``significant`` when it is at most ``alpha``.

        >>> ws.insights.affinity("anime-buyers").table("category").rows[0].value  # doctest: +SKIP
        'anime'
        """
        if min_support < 1:
            raise ParameterError(f"min_support must be at least 1, got {min_support}")
        if not 0.0 < alpha < 1.0:
            raise ParameterError(f"alpha must be between 0 and 1, got {alpha}")
        clock = self._context.clock(as_of)
        start = clock.back(parse_duration(period))
        run = self._segments.evaluate([segment], as_of=as_of, save=False)
        return affinity(
            self._context.store,
            segment=segment,
            members=run.members(segment),
            population=self._profile.attributes(as_of).select("customer_id"),
            clock=clock,
            start=start,
            config=self._context.config,
            min_support=min_support,
            alpha=alpha,
        )

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

    def migration(
        self,
        segments: Sequence[str] = (),
        *,
        start: AsOf,
        end: AsOf,
        every: str | None = None,
        trait: str | None = None,
        run: str | int | None = None,
        threshold: float = 0.2,
    ) -> Migration:
        """How customers moved between states from ``start`` to ``end`` (docs/insights.md).

        The states are ``segments`` made mutually exclusive by their order (a customer is
        in the first one they belong to, else ``none``; one segment gives in/out), a
        ``trait``'s values (``lifecycle_stage``, ``rfm_group``) or a discovery ``run``'s
        clusters. Each snapshot reads attributes as of its date and events before it only.
        With ``every`` (``month`` or ``week``) the snapshots run from ``start`` to ``end``;
        ``matrix`` is the transition from the first to the last, ``steps``, ``sizes``,
        ``nodes`` and ``links`` chart the series, and ``alerts`` list the states whose
        size, revenue or CLV moved more than ``threshold`` (0.2: 20 %) between
        consecutive snapshots. Segment snapshots are stored, and reused when the same
        definitions are asked for at the same date on the same data.

        Examples
        --------
        >>> ws.insights.migration(["vip", "regulars"], start="2025-01-31",
        ...                       end="2025-12-31", every="month")  # doctest: +SKIP
        """
        return self._migrations().migration(
            segments, start=start, end=end, every=every, trait=trait, run=run, threshold=threshold
        )

    def history(
        self,
        customer_id: str,
        *,
        start: AsOf | None = None,
        end: AsOf | None = None,
        every: str = "month",
        segments: Sequence[str] | None = None,
        max_snapshots: int | None = None,
    ) -> CustomerHistory:
        """One customer's segments at each snapshot from ``start`` to ``end`` (default: the
        12 months up to today) every ``month`` or ``week``, and the entries and exits
        between them. All segments by default (those with problems are left out); by the
        per-profile evaluator, so nothing is stored. ``max_snapshots``: a range with more
        snapshots is refused (:class:`ParameterError`) before any is evaluated."""
        return self._migrations().history(
            customer_id,
            start=start,
            end=end,
            every=every,
            names=segments,
            max_snapshots=max_snapshots,
        )

    def _migrations(self) -> MigrationBuilder:
        """A builder of migration results over this namespace's analyses (one per call: it
        owns the temporary tables of that call)."""
        return MigrationBuilder(
            self._context, self._profile, self._traits, self._segments, self._value, self._discover
        )

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

    # -- look-alikes (docs/insights.md, "Look-alikes") ------------------------------------------

    def lookalike(  # noqa: PLR0913 - the documented options, keyword-only
        self,
        segment: str,
        *,
        as_of: AsOf | None = None,
        size: int | None = None,
        cutoffs: Sequence[float] | None = None,
        keep_rule_features: bool = False,
        traits: Sequence[str] | None = None,
        attributes: Sequence[str] | None = None,
        allow_sensitive: Sequence[str] = (),
        folds: int = 5,
        save: str | None = None,
        min_score: float | None = None,
        include_members: bool = False,
        overwrite: bool = False,
    ) -> Lookalike:
        """The non-members of ``segment`` ranked by how much they resemble its members at
        ``as_of``: a logistic regression on discovery's features (sensitive attributes
        excluded as there; features the segment's rule names left out unless
        ``keep_rule_features``), its cross-validated AUC, its drivers and how many
        non-members score at or above each of ``cutoffs`` (0.9, 0.8, 0.7, 0.5). ``size``
        lists the best ``size`` non-members. ``save`` stores the model under that name and
        writes ``segments/NAME.yaml``: ``{score: {model: NAME, gte: min_score}}`` (0.7 by
        default), without the segment's own members unless ``include_members``.

        >>> ws.insights.lookalike("vip", size=100).auc                     # doctest: +SKIP
        0.91
        """
        from microseg.insights._lookalike import CUTOFFS, check_options, fit_lookalike
        from microseg.insights._lookalike_run import DEFAULT_MIN_SCORE, gather, save_lookalike

        check_options(size, CUTOFFS if cutoffs is None else cutoffs, folds)
        inputs = gather(
            self._context, self._profile, self._traits, self._segments, segment, as_of, folds=folds
        )
        result, model = fit_lookalike(
            inputs,
            size=size,
            cutoffs=CUTOFFS if cutoffs is None else cutoffs,
            keep_rule_features=keep_rule_features,
            traits=traits,
            attributes=attributes,
            allow_sensitive=allow_sensitive,
            folds=folds,
        )
        if save is None:
            return result
        saved, _ = save_lookalike(
            self._context,
            self._segments,
            result,
            model,
            name=save,
            min_score=DEFAULT_MIN_SCORE if min_score is None else min_score,
            include_members=include_members,
            overwrite=overwrite,
        )
        return saved

    def score_provider(self) -> ScoreColumns:
        """The profile's score provider: stored look-alike models (``score:`` rules)."""
        from microseg.insights._lookalike_model import ScoreColumns

        return ScoreColumns(self._context, self._profile, self._traits)
