"""The per-profile evaluator: one customer's attributes and events, in Python, no database.

It interprets the same tree the batch compiler lowers to Ibis, and must agree with it for
every customer, segment and ``as_of`` (tests/lang/test_agreement.py proves it).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, assert_never

from microseg.lang._clusters import ClusterLookup, ClusterSource, cluster_ids
from microseg.lang._dialect import bucket_of, has_identity
from microseg.lang._errors import EvaluationError
from microseg.lang._expr import (
    AddExpr,
    AggregateExpr,
    AttributeExpr,
    CaseExpr,
    CoalesceExpr,
    DaysSinceExpr,
    DivExpr,
    Expr,
    MaxOfExpr,
    MinOfExpr,
    ModelExpr,
    MulExpr,
    ScoreExpr,
    SubExpr,
    TraitDefinition,
    TraitExpr,
    ValueExpr,
    score_of,
)
from microseg.lang._nodes import (
    AllRule,
    AnyRule,
    AttributeRule,
    BucketRule,
    ClusterRule,
    EventRule,
    HasRule,
    NotRule,
    PropertyPredicate,
    Rule,
    ScoreRule,
    SegmentRule,
    SequenceRule,
    SequenceStep,
    TraitRule,
    Window,
)
from microseg.lang._profile_index import Event, ProfileIndex
from microseg.lang._scores import ScoreLookup, ScoreSource
from microseg.lang._semantics import (
    aggregate_kind,
    arithmetic_operands,
    empty_aggregate,
    is_number,
    live_steps,
    step_span,
    window_bounds,
)
from microseg.lang._values import compare, round_aggregate
from microseg.lang._when import Clock

__all__ = ["ModelScorer", "Profile", "ProfileEvaluator", "ProfileIndex"]

#: Scores a value-model output for one customer's events at the clock's as_of.
ModelScorer = Callable[[ModelExpr, Sequence[Event], Clock], Any]


@dataclass(frozen=True)
class Profile:
    """One customer: attributes as of the evaluation, events (timestamps naive UTC)."""

    customer_id: str
    attributes: Mapping[str, Any] = field(default_factory=dict)
    events: Sequence[Event] = ()
    traits: Mapping[str, Any] = field(default_factory=dict)
    attribute_types: Mapping[str, str] = field(default_factory=dict)
    #: attributes missing at the evaluation's instant that a later version of the
    #: customer's history provides, with the instant that version starts (naive UTC);
    #: a missing attribute not listed was never loaded for the customer (``explain``)
    pending: Mapping[str, datetime] = field(default_factory=dict)
    #: the types of identity the customer holds (``email``, ``phone``...), for ``has:``
    identities: frozenset[str] = frozenset()

    def event_counts(self) -> dict[str, int]:
        """How many events of each type, by type name."""
        counts: dict[str, int] = {}
        for event in self.events:
            counts[event["type"]] = counts.get(event["type"], 0) + 1
        return dict(sorted(counts.items()))


class ProfileEvaluator:
    """Evaluate rules for one profile at one ``as_of``.

    ``segment_rule`` maps a segment name to its full rule (parent included), for
    ``segment:`` references. ``index`` is the profile's :class:`ProfileIndex` when the
    caller keeps one between evaluations (the real-time path); otherwise one is built from
    ``profile.events``.
    """

    def __init__(  # noqa: PLR0913 - the profile and clock, then collaborators (keyword-only)
        self,
        profile: Profile,
        clock: Clock,
        *,
        segment_rule: Callable[[str], Rule] | None = None,
        trait_definition: Callable[[str], TraitDefinition] | None = None,
        cuts: Mapping[str, list[float]] | None = None,
        models: ModelScorer | None = None,
        index: ProfileIndex | None = None,
        clusters: ClusterLookup | None = None,
        scores: ScoreLookup | None = None,
    ) -> None:
        self.profile = profile
        self.scores = scores
        self._scores: dict[int, float | None] = {}
        self.clusters = clusters
        self._clusters: dict[int, int] = {}
        self.cuts = cuts or {}
        self.models = models
        self.clock = clock
        self.segment_rule = segment_rule
        self.trait_definition = trait_definition
        self._segments: dict[str, bool] = {}
        self._traits: dict[str, Any] = {}
        if index is None:
            index = ProfileIndex(
                (e for e in profile.events if e["timestamp"] < clock.as_of), clock.timezone
            )
        elif index.timezone != clock.timezone:
            raise EvaluationError(
                f"the profile index is in {index.timezone}, the evaluation in {clock.timezone}",
                hint="build the index in the clock's time zone",
            )
        self.index = index

    @property
    def events(self) -> list[Event]:
        """The profile's events before ``as_of``, in time order."""
        times = self.index.times("any")
        return self.index.events[: bisect.bisect_left(times, self.clock.as_of)]

    def segment(self, name: str) -> bool:
        if name not in self._segments:
            if self.segment_rule is None:
                raise EvaluationError(
                    f"segment {name!r} referenced but no segments are known",
                    hint="pass segment_rule= (the workspace's segment catalog)",
                )
            self._segments[name] = self.holds(self.segment_rule(name))
        return self._segments[name]

    def holds(self, rule: Rule) -> bool:
        match rule:
            case AllRule():
                return all(self.holds(r) for r in rule.all)
            case AnyRule():
                return any(self.holds(r) for r in rule.any)
            case NotRule():
                return not self.holds(rule.not_)
            case AttributeRule():
                kind = self._attribute_kind(rule.attribute)
                return compare(rule, self.profile.attributes.get(rule.attribute), kind, self.clock)
            case TraitRule():
                return self._trait_holds(rule)
            case EventRule():
                return self._event(rule)
            case SequenceRule():
                return self._sequence(rule)
            case SegmentRule():
                return self.segment(rule.segment)
            case BucketRule():
                spec = rule.bucket
                return spec.from_ <= bucket_of(self.profile.customer_id, spec.salt) < spec.to
            case ClusterRule():
                source, cluster = self.cluster_of(rule.cluster.run)
                return cluster in cluster_ids(rule.cluster, source.clusters)
            case HasRule():
                return has_identity(self.profile.identities, rule.has)
            case ScoreRule():
                _, score = self.score_of(rule.score.model)
                return compare(rule.score, score, "number", self.clock)
            case _:
                assert_never(rule)

    def _trait_holds(self, rule: TraitRule) -> bool:
        value = self.trait(rule.trait)
        kind = (
            "boolean"
            if isinstance(value, bool)
            else ("number" if isinstance(value, int | float) else "text")
        )
        if self.trait_definition is not None:
            kind = self.trait_definition(rule.trait).type
        return compare(rule, value, kind, self.clock)

    def cluster_of(self, run: str | int) -> tuple[ClusterSource, int]:
        """The run and the profile's cluster in it, assigned from its traits and attributes."""
        if self.clusters is None:
            raise EvaluationError(
                "cluster rules need the stored discovery runs",
                hint="pass clusters= (the workspace's discovery runs)",
            )
        source = self.clusters(run)
        if source.run_id not in self._clusters:
            traits = {name: self.trait(name) for name in source.traits}
            attributes = {name: self.profile.attributes.get(name) for name in source.attributes}
            self._clusters[source.run_id] = source.assign_one(traits, attributes)
        return source, self._clusters[source.run_id]

    def score_of(self, model: str) -> tuple[ScoreSource, float | None]:
        """The model and the profile's score by it, from its traits and attributes."""
        if self.scores is None:
            raise EvaluationError(
                "score rules need the stored look-alike models",
                hint="pass scores= (the workspace's scoring models)",
            )
        source = self.scores(model)
        if source.model_id not in self._scores:
            traits = {name: self.trait(name) for name in source.traits}
            attributes = {name: self.profile.attributes.get(name) for name in source.attributes}
            self._scores[source.model_id] = source.score_one(traits, attributes)
        return source, self._scores[source.model_id]

    def _attribute_kind(self, name: str) -> str:
        if name in self.profile.attribute_types:
            return str(self.profile.attribute_types[name])
        value = self.profile.attributes.get(name)
        if isinstance(value, bool):
            return "boolean"
        if isinstance(value, int | float):
            return "number"
        if isinstance(value, datetime):
            return "timestamp"
        if isinstance(value, list | tuple):
            return "list"
        if hasattr(value, "isoformat"):
            return "date"
        return "text"

    def _select(
        self,
        kind: str,
        where: Sequence[PropertyPredicate],
        lower: datetime | None,
        upper: datetime,
    ) -> list[Event]:
        """Events of ``kind`` in [lower, upper) that satisfy ``where``, in time order."""
        events, _ = self.index.filtered(kind, where, self.clock)
        start, end = self._span(kind, where, lower, upper)
        return events[start:end]

    def _span(
        self,
        kind: str,
        where: Sequence[PropertyPredicate],
        lower: datetime | None,
        upper: datetime,
    ) -> tuple[int, int]:
        """Positions [start, end) of the window in the filtered events (bisection)."""
        _, times = self.index.filtered(kind, where, self.clock)
        start = bisect.bisect_left(times, lower) if lower is not None else 0
        end = bisect.bisect_left(times, min(upper, self.clock.as_of))
        return start, max(start, end)

    def _event(self, rule: EventRule) -> bool:
        value, kind = self.event_value(rule)
        return compare(rule.aggregate[1], value, kind, self.clock)

    def event_value(self, rule: EventRule) -> tuple[Any, str]:
        """The aggregate an event rule tests, and its type (number or timestamp)."""
        name, test = rule.aggregate
        prop = getattr(test, "property", None)
        return self.aggregate(name, rule.event, prop, rule.where, rule.window)

    def aggregate(
        self,
        name: str,
        kind: str,
        prop: str | None,
        where: Sequence[PropertyPredicate],
        window: Window | None,
    ) -> tuple[Any, str]:
        """count/sum/avg/min/max/distinct over the matching events, and its type."""
        lower, upper = window_bounds(window, self.clock)
        start, end = self._span(kind, where, lower, upper)
        value_kind = aggregate_kind(name, prop)
        if name == "count" or prop is None:
            return float(end - start), value_kind
        as_text = name in ("mode", "distinct")
        chosen = self.index.values(kind, where, self.clock, prop, as_text=as_text)[start:end]
        if name == "mode":
            counts: dict[Any, int] = {}
            for v in chosen:
                if v is not None:
                    counts[v] = counts.get(v, 0) + 1
            if not counts:
                return empty_aggregate(name, prop), value_kind
            best = min(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]
            return best, value_kind
        if name == "distinct":
            return float(len(set(chosen) - {None})), value_kind
        present = [v for v in chosen if v is not None]
        value: Any
        if not present:
            value = empty_aggregate(name, prop)
        elif name == "sum":
            value = round_aggregate(float(sum(present)))
        elif name == "avg":
            value = round_aggregate(float(sum(present)) / len(present))
        elif name == "min":
            value = min(present)
        else:
            value = max(present)
        return value, value_kind

    # -- expressions (traits) ------------------------------------------------------------

    def trait(self, name: str) -> Any:
        if name in self.profile.traits:
            return self.profile.traits[name]
        if name not in self._traits:
            if self.trait_definition is None:
                raise EvaluationError(
                    f"trait {name!r} referenced but no traits are known",
                    hint="pass trait_definition= (the workspace's trait catalog)",
                )
            self._traits[name] = self.value(self.trait_definition(name).value)
        return self._traits[name]

    def value(self, expr: Expr) -> Any:  # noqa: C901 - a visitor: one case per expression kind, exhaustive
        """The value of an expression for this profile (None when missing)."""
        match expr:
            case ValueExpr():
                literal: Any = expr.value
                return float(literal) if is_number(literal) else literal
            case AttributeExpr():
                value: Any = self.profile.attributes.get(expr.attribute)
                return float(value) if is_number(value) else value
            case TraitExpr():
                return self.trait(expr.trait)
            case AggregateExpr():
                return self.aggregate(
                    expr.aggregate, expr.event, expr.property, expr.where, expr.window
                )[0]
            case AddExpr() | SubExpr() | MulExpr() | DivExpr():
                return _arithmetic(expr, [self.value(e) for e in arithmetic_operands(expr)])
            case CoalesceExpr():
                values = (self.value(e) for e in expr.coalesce)
                return next((v for v in values if v is not None), None)
            case MaxOfExpr():
                return _extreme(max, [self.value(e) for e in expr.max_of])
            case MinOfExpr():
                return _extreme(min, [self.value(e) for e in expr.min_of])
            case DaysSinceExpr():
                moment = self.value(expr.days_since)
                if moment is None:
                    return None
                return float(math.floor((self.clock.as_of - moment).total_seconds() / 86400))
            case ScoreExpr():
                if expr.key not in self.cuts:
                    raise EvaluationError(
                        "the cut points of a score: expression are missing",
                        hint="run `microseg traits compute` first: it stores them",
                    )
                inner = self.value(expr.score)
                return score_of(inner, self.cuts[expr.key], higher_is_better=expr.higher_is_better)
            case ModelExpr():
                if self.models is None:
                    raise EvaluationError(
                        "no fitted value model for a model: expression",
                        hint="run `microseg clv fit` first",
                    )
                return self.models(expr, self.events, self.clock)
            case CaseExpr():
                for row in expr.case:
                    if self.holds(row.when):
                        return self.value(row.then)
                return self.value(expr.else_) if expr.else_ is not None else None
            case _:
                assert_never(expr)

    def _step_events(self, step: SequenceStep) -> list[datetime]:
        """The instants of the step's events before ``as_of``, in time order."""
        _, times = self.index.filtered(step.event, step.where, self.clock)
        return times[: bisect.bisect_left(times, self.clock.as_of)]

    def _sequence(self, rule: SequenceRule) -> bool:
        spec = rule.sequence
        lower, upper = window_bounds(spec.window, self.clock)
        steps = live_steps(spec)
        first = steps[0]
        firsts = self._step_events(first)  # in time order: the window by bisection
        start = bisect.bisect_left(firsts, lower) if lower is not None else 0
        previous = list(dict.fromkeys(firsts[start : bisect.bisect_left(firsts, upper)]))
        for step in steps[1:]:
            within = step_span(step)
            times = self._step_events(step)
            if step.absent:
                # some t whose whole period has passed with no event in (t, t + within]
                for t in previous:
                    if t + within > self.clock.as_of:
                        continue
                    nxt = bisect.bisect_right(times, t)
                    if nxt == len(times) or times[nxt] > t + within:
                        return True
                return False
            # events u with some previous t in [u - within, u)
            last = step is steps[-1]
            kept = []
            for u in times:
                i = bisect.bisect_left(previous, u - within)
                if i < len(previous) and previous[i] < u:
                    if last:
                        return True  # one is enough for the last step
                    kept.append(u)
            previous = list(dict.fromkeys(kept))  # in time order
            if not previous:
                return False
        return bool(previous)


def _extreme(pick: Callable[[list[Any]], Any], values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    return pick(present) if present else None


def _arithmetic(expr: AddExpr | SubExpr | MulExpr | DivExpr, values: list[Any]) -> Any:
    if any(v is None for v in values):
        return None
    numbers = [float(v) for v in values]
    if isinstance(expr, AddExpr):
        return float(sum(numbers))
    if isinstance(expr, SubExpr):
        return numbers[0] - numbers[1]
    if isinstance(expr, MulExpr):
        return float(math.prod(numbers))
    return None if numbers[1] == 0 else numbers[0] / numbers[1]
