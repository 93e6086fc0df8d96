"""The batch evaluator: rules lowered to Ibis expressions over every customer at once.

Lowering a rule registers what it reads from the events (conditional aggregates, modes,
sequences) with :class:`~microseg.lang._batch_events.EventQueries` and returns a function
of the joined table; :meth:`BatchCompiler.table` builds the queries once everything is
known, and joins their per-customer results to the customers. Rules then become boolean
columns, and traits values, over that table. Every choice here mirrors
:mod:`microseg.lang._values` (null means false, matching ignores case, ...) and takes its
shared decisions from :mod:`microseg.lang._semantics`. The few functions whose spelling
depends on the engine come from a :class:`~microseg.lang._dialect.Dialect` (DuckDB's by
default). Values from rules reach the backend only as Ibis literals, never as SQL text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, assert_never

import ibis
import ibis.expr.types as ir

from microseg.lang._batch_events import EventQueries, Materialise, order_column, share_series
from microseg.lang._clusters import ClusterLookup, cluster_column, cluster_ids
from microseg.lang._dialect import Dialect
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
    Predicate,
    Rule,
    ScoreRule,
    SegmentRule,
    SequenceRule,
    TraitRule,
)
from microseg.lang._scores import ScoreLookup, score_column
from microseg.lang._semantics import arithmetic_operands, is_number, operand
from microseg.lang._walk import children
from microseg.lang._when import Clock
from microseg.store import DuckDBDialect

__all__ = ["BatchCompiler", "order_column", "share_events"]

# DuckDB's local-time functions stay importable from here (the value summaries use them)
_utc_instant = DuckDBDialect.utc_instant
_instant_to_local = DuckDBDialect.instant_to_local


def _lit(value: Any) -> ir.Value:
    return ibis.literal(value)


class BatchCompiler:
    """Lower rules for one ``as_of`` over ``customers`` and ``events`` Ibis tables.

    Call :meth:`rule` (or :meth:`trait`, :meth:`value`) for each rule, collecting what it
    needs from the events, then :meth:`table` to get the customers joined with all of it,
    and evaluate the returned functions on that table. ``dialect`` spells the engine's own
    functions (:class:`microseg.store.DuckDBDialect` when not given).
    """

    def __init__(  # noqa: PLR0913 - the inputs, then optional collaborators (keyword-only)
        self,
        customers: ir.Table,
        events: ir.Table,
        clock: Clock,
        *,
        attribute_types: dict[str, str],
        segment_rule: Callable[[str], Rule] | None = None,
        trait_definition: Callable[[str], TraitDefinition] | None = None,
        cuts: dict[str, list[float]] | None = None,
        clusters: ClusterLookup | None = None,
        dialect: Dialect | None = None,
        identities: ir.Table | None = None,
        scores: ScoreLookup | None = None,
    ) -> None:
        self.customers = customers
        self.scores = scores
        self.identities = identities
        self._holders: dict[str, str] = {}  # identity type -> its column in table()
        self.dialect: Dialect = dialect if dialect is not None else DuckDBDialect()
        self.clusters = clusters
        self.clock = clock
        self.attribute_types = attribute_types
        self.segment_rule = segment_rule
        self.trait_definition = trait_definition
        self.cuts = cuts if cuts is not None else {}
        self._traits: dict[str, Callable[[ir.Table], ir.Value]] = {}
        self._segments: dict[str, Callable[[ir.Table], ir.BooleanValue]] = {}
        self._events = EventQueries(events, clock, self._compare, self.dialect)

    # -- the joined table ------------------------------------------------------------------

    def table(self, *, merged: bool = False) -> ir.Table:
        """The customers joined with everything the rules read from the events.

        ``merged`` merges the per-customer results by one aggregation before joining them
        to the customers: slower, but it spills where the plain joins run out of memory
        (see :meth:`~microseg.lang._batch_events.EventQueries.join`).
        """
        customers = self.customers
        for id_type, column in self._holders.items():
            assert self.identities is not None  # _has raised without them
            holders = self.dialect.identity_holders(self.identities, id_type)
            holders = holders.select(**{column: holders.customer_id})
            joined = customers.left_join(holders, customers.customer_id == holders[column])
            customers = joined.mutate(**{column: joined[column].notnull()})
        return self._events.join(customers, merged=merged)

    # -- rules ------------------------------------------------------------------------------

    def rule(self, rule: Rule) -> Callable[[ir.Table], ir.BooleanValue]:
        """A function of the joined table giving the rule's (never null) boolean column."""
        match rule:
            case AllRule() | AnyRule():
                return self._combine([self.rule(r) for r in children(rule)], rule)
            case NotRule():
                inner = self.rule(rule.not_)
                return lambda t: ~inner(t)
            case AttributeRule():
                kind = self.attribute_types.get(rule.attribute, "text")
                return lambda t: self._compare(rule, t[rule.attribute], kind)
            case TraitRule():
                trait = self.trait(rule.trait)
                definition = self.trait_definition
                kind = definition(rule.trait).type if definition else "number"
                return lambda t: self._compare(rule, trait(t), kind)
            case EventRule():
                return self._event(rule)
            case SequenceRule():
                return self._sequence(rule)
            case SegmentRule():
                return self.segment(rule.segment)
            case BucketRule():
                spec = rule.bucket

                def bucket(t: ir.Table) -> ir.BooleanValue:
                    value = self.dialect.bucket(t.customer_id, spec.salt)
                    return (value >= spec.from_) & (value < spec.to)

                return bucket
            case ClusterRule():
                return self._cluster(rule)
            case HasRule():
                return self._has(rule)
            case ScoreRule():
                return self._score_rule(rule)
            case _:
                assert_never(rule)

    @staticmethod
    def _combine(
        parts: list[Callable[[ir.Table], ir.BooleanValue]], rule: AllRule | AnyRule
    ) -> Callable[[ir.Table], ir.BooleanValue]:
        both = isinstance(rule, AllRule)

        def combine(t: ir.Table) -> ir.BooleanValue:
            result = parts[0](t)
            for part in parts[1:]:
                result = (result & part(t)) if both else (result | part(t))
            return result

        return combine

    def _cluster(self, rule: ClusterRule) -> Callable[[ir.Table], ir.BooleanValue]:
        """Membership from the customers' cluster column of the run (added beforehand)."""
        if self.clusters is None:
            raise EvaluationError(
                "cluster rules need the stored discovery runs",
                hint="pass clusters= (the workspace's discovery runs)",
            )
        source = self.clusters(rule.cluster.run)
        column = cluster_column(source.run_id)
        if column not in self.customers.columns:
            raise EvaluationError(
                f"the clusters of run {source.name!r} were not assigned",
                hint="add the run's cluster column to the customers before compiling",
            )
        ids = sorted(cluster_ids(rule.cluster, source.clusters))
        return lambda t: t[column].isin(ids).fill_null(False)

    def _score_rule(self, rule: ScoreRule) -> Callable[[ir.Table], ir.BooleanValue]:
        """The test on the customers' score column of the model (added beforehand)."""
        if self.scores is None:
            raise EvaluationError(
                "score rules need the stored look-alike models",
                hint="pass scores= (the workspace's scoring models)",
            )
        source = self.scores(rule.score.model)
        column = score_column(source.model_id)
        if column not in self.customers.columns:
            raise EvaluationError(
                f"the scores of model {source.name!r} were not computed",
                hint="add the model's score column to the customers before compiling",
            )
        return lambda t: self._compare(rule.score, t[column], "number").fill_null(False)

    def _has(self, rule: HasRule) -> Callable[[ir.Table], ir.BooleanValue]:
        """Whether the customer holds an identity of the type: a column joined in table()."""
        if self.identities is None:
            raise EvaluationError(
                "has: rules need the customers' identities",
                hint="pass identities= (the workspace's identities table)",
            )
        column = self._holders.setdefault(rule.has, f"__ms_has_{rule.has}")
        return lambda t: t[column].fill_null(False)

    def segment(self, name: str) -> Callable[[ir.Table], ir.BooleanValue]:
        if name not in self._segments:
            if self.segment_rule is None:
                raise EvaluationError(
                    f"segment {name!r} referenced but no segments are known",
                    hint="pass segment_rule= (the workspace's segment catalog)",
                )
            self._segments[name] = self.rule(self.segment_rule(name))
        return self._segments[name]

    # -- comparisons ------------------------------------------------------------------------

    def _compare(self, pred: Predicate, column: ir.Value, kind: str) -> ir.BooleanValue:
        """``pred`` on ``column``; a ``json`` column is already the view ``_json_view`` picks."""
        op = pred.op
        if op == "is_null":
            return column.isnull() if pred.operand else column.notnull()
        value = operand(kind, pred.operand, self.clock)
        if kind == "number" or (kind == "json" and is_number(pred.operand)):
            column = column.cast("float64")
        result = self._apply(op, column, value, kind)
        return result.fill_null(False)

    def _apply(self, op: str, col: Any, value: Any, kind: str) -> ir.BooleanValue:  # noqa: C901 - one case per operator (lang/_nodes.OPERATORS)
        if kind == "list":
            lowered = col.map(lambda x: x.lower())
            if op == "contains":
                return lowered.contains(str(value).lower())
            parts = [lowered.contains(str(v).lower()) for v in value]
            result = parts[0]
            for part in parts[1:]:
                result = (result | part) if op == "contains_any" else (result & part)
            return result
        if op == "eq":
            return col == _lit(value)
        if op == "ne":
            return col != _lit(value)
        if op == "in":
            return col.isin(value)
        if op == "not_in":
            return col.notin(value)
        if op == "gt":
            return col > _lit(value)
        if op == "gte":
            return col >= _lit(value)
        if op == "lt":
            return col < _lit(value)
        if op == "lte":
            return col <= _lit(value)
        if op == "between":
            return col.between(_lit(value[0]), _lit(value[1]))
        text = col.cast("string").lower()
        if op == "contains":
            return text.contains(str(value).lower())
        if op in ("contains_any", "contains_all"):
            parts = [text.contains(str(v).lower()) for v in value]
            result = parts[0]
            for part in parts[1:]:
                result = (result | part) if op == "contains_any" else (result & part)
            return result
        if op == "starts_with":
            return text.startswith(str(value).lower())
        if op == "ends_with":
            return text.endswith(str(value).lower())
        if op == "matches":
            # the engine's regular expressions (RE2's in DuckDB): the interpreter runs the twin
            return self.dialect.regex_search(col.cast("string"), str(value))
        raise AssertionError(f"no batch lowering for operator {op!r}")  # OPERATORS has one

    # -- events --------------------------------------------------------------------------

    def _event(self, rule: EventRule) -> Callable[[ir.Table], ir.BooleanValue]:
        agg, test = rule.aggregate
        name, kind = self._events.aggregate(
            agg, rule.event, getattr(test, "property", None), rule.where, rule.window
        )
        return lambda t: self._compare(test, t[name], kind)

    def _sequence(self, rule: SequenceRule) -> Callable[[ir.Table], ir.BooleanValue]:
        name = self._events.sequence(rule)
        return lambda t: t[name]

    # -- expressions (traits) ----------------------------------------------------------------

    def trait(self, name: str) -> Callable[[ir.Table], ir.Value]:
        if name not in self._traits:
            if self.trait_definition is None:
                raise EvaluationError(
                    f"trait {name!r} referenced but no traits are known",
                    hint="pass trait_definition= (the workspace's trait catalog)",
                )
            self._traits[name] = self.value(self.trait_definition(name).value)
        return self._traits[name]

    def value(self, expr: Expr) -> Callable[[ir.Table], ir.Value]:  # noqa: C901 - a visitor: one case per expression kind, exhaustive
        """A function of the joined table giving the expression's column."""
        match expr:
            case ValueExpr():
                literal: Any = expr.value
                if literal is None:
                    return lambda t: ibis.null()
                if is_number(literal):
                    return lambda t: ibis.literal(float(literal))
                return lambda t: ibis.literal(literal)
            case AttributeExpr():
                if self.attribute_types.get(expr.attribute, "text") == "number":
                    return lambda t: t[expr.attribute].cast("float64")
                return lambda t: t[expr.attribute]
            case TraitExpr():
                return self.trait(expr.trait)
            case AggregateExpr():
                name, _ = self._events.aggregate(
                    expr.aggregate, expr.event, expr.property, expr.where, expr.window
                )
                return lambda t: t[name]
            case AddExpr() | SubExpr() | MulExpr() | DivExpr():
                return self._arithmetic(expr)
            case CoalesceExpr():
                items = [self.value(e) for e in expr.coalesce]
                return lambda t: ibis.coalesce(*(i(t) for i in items))
            case MaxOfExpr():
                most = [self.value(e) for e in expr.max_of]
                return lambda t: ibis.greatest(*(i(t) for i in most))
            case MinOfExpr():
                least = [self.value(e) for e in expr.min_of]
                return lambda t: ibis.least(*(i(t) for i in least))
            case DaysSinceExpr():
                return self._days_since(expr)
            case ScoreExpr():
                return self._score(expr)
            case ModelExpr():
                if expr.column not in self.customers.columns:
                    raise EvaluationError(
                        "no fitted value model for a model: expression",
                        hint="run `microseg clv fit` first",
                    )
                column = expr.column
                return lambda t: t[column]
            case CaseExpr():
                return self._case(expr)
            case _:
                assert_never(expr)

    def _arithmetic(
        self, expr: AddExpr | SubExpr | MulExpr | DivExpr
    ) -> Callable[[ir.Table], ir.Value]:
        parts = [self.value(e) for e in arithmetic_operands(expr)]

        def arithmetic(t: ir.Table) -> ir.Value:
            values = [p(t).cast("float64") for p in parts]
            if isinstance(expr, DivExpr):
                return values[0] / values[1].nullif(0.0)
            result = values[0]
            for v in values[1:]:
                if isinstance(expr, AddExpr):
                    result = result + v
                elif isinstance(expr, SubExpr):
                    result = result - v
                else:
                    result = result * v
            return result

        return arithmetic

    def _days_since(self, expr: DaysSinceExpr) -> Callable[[ir.Table], ir.Value]:
        inner = self.value(expr.days_since)
        as_of = _lit(self.clock.as_of)

        def days(t: ir.Table) -> ir.Value:
            seconds = as_of.epoch_seconds() - inner(t).epoch_seconds()
            return (seconds / 86400).floor().cast("float64")

        return days

    def _case(self, expr: CaseExpr) -> Callable[[ir.Table], ir.Value]:
        rows = [(self.rule(r.when), self.value(r.then)) for r in expr.case]
        otherwise = self.value(expr.else_) if expr.else_ is not None else None

        def case(t: ir.Table) -> ir.Value:
            branches = [(w(t), v(t)) for w, v in rows]
            return ibis.cases(*branches, else_=otherwise(t) if otherwise else None)

        return case

    def _score(self, expr: ScoreExpr) -> Callable[[ir.Table], ir.Value]:
        """The 1..bins score of an expression against the population's cut points.

        The cut points are looked up when the column is built, so that they can be
        computed from the same joined table (see :func:`microseg.traits.compute_traits`).
        """
        inner_value = self.value(expr.score)

        def score(t: ir.Table) -> ir.Value:
            if expr.key not in self.cuts:
                raise EvaluationError(
                    "the cut points of a score: expression are missing",
                    hint="compute them in batch first (microseg.traits.compute_cuts)",
                )
            v = inner_value(t).cast("float64")
            result: ir.Value = ibis.literal(1.0)
            for c in self.cuts[expr.key]:
                beyond = (v > c) if expr.higher_is_better else (v < c)
                result = result + beyond.ifelse(1.0, 0.0)
            return v.isnull().ifelse(ibis.null().cast("float64"), result)

        return score


def share_events(compilers: list[BatchCompiler], materialise: Materialise) -> int:
    """Let ``compilers`` (one per date of a series, the same rules lowered by each) read
    their aggregates from shared passes over the events, materialised by ``materialise``
    before their :meth:`~BatchCompiler.table` is built; the number of shared tables.

    See :func:`microseg.lang._batch_events.share_series`: conditional aggregates and
    distinct counts are shared (one column per aggregate and date, each bounded by its
    date); modes and sequences are still computed per date, as are the attributes and
    identities the compilers were given.
    """
    return share_series([c._events for c in compilers], materialise)
