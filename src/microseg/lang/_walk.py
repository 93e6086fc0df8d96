"""Walking a rule or expression tree: the one walker every other module uses.

:func:`walk` yields every node of a tree, rules and expressions alike: the rules inside
``case`` rows of an expression and, below them, their own children. :func:`children` keeps
the rule-only view (the items of ``all``/``any``/``not``). Both dispatch with a ``match``
over the registries (:data:`~microseg.lang._nodes.RuleNode`,
:data:`~microseg.lang._expr.ExprNode`) that ends in ``assert_never``, so a new kind
without a case fails type checking.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeAlias, assert_never

from microseg.lang._expr import (
    AddExpr,
    AggregateExpr,
    AttributeExpr,
    CaseExpr,
    CoalesceExpr,
    DaysSinceExpr,
    DivExpr,
    ExprNode,
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
    PropertyPredicate,
    Rule,
    RuleNode,
    ScoreRule,
    SegmentRule,
    SequenceRule,
    TraitRule,
    where_key,
)
from microseg.lang._schema import DERIVED_TIME_PROPERTIES, EVENT_PROPERTY_TYPES, ORDER_PROPERTY

__all__ = [
    "EventFilter",
    "Node",
    "ProfileReads",
    "children",
    "event_filters",
    "event_kinds",
    "nodes_below",
    "profile_reads",
    "segment_references",
    "walk",
    "walk_expr",
]

#: A node of the language: a rule or an expression.
Node: TypeAlias = RuleNode | ExprNode


def nodes_below(node: Node) -> list[Node]:  # noqa: C901 - a visitor: one case per node kind, exhaustive
    """The nodes directly below ``node``, in the order they are written."""
    match node:
        case AllRule():
            return list(node.all)
        case AnyRule():
            return list(node.any)
        case NotRule():
            return [node.not_]
        case (
            AttributeRule()
            | TraitRule()
            | EventRule()
            | SequenceRule()
            | SegmentRule()
            | BucketRule()
            | ClusterRule()
            | HasRule()
            | ScoreRule()
        ):
            return []
        case ValueExpr() | AttributeExpr() | TraitExpr() | AggregateExpr() | ModelExpr():
            return []
        case AddExpr():
            return list(node.add)
        case SubExpr():
            return list(node.sub)
        case MulExpr():
            return list(node.mul)
        case DivExpr():
            return list(node.div)
        case CoalesceExpr():
            return list(node.coalesce)
        case MaxOfExpr():
            return list(node.max_of)
        case MinOfExpr():
            return list(node.min_of)
        case DaysSinceExpr():
            return [node.days_since]
        case ScoreExpr():
            return [node.score]
        case CaseExpr():
            below: list[Node] = []
            for row in node.case:
                below.extend((row.when, row.then))
            if node.else_ is not None:
                below.append(node.else_)
            return below
        case _:
            assert_never(node)


def walk(node: Node) -> Iterator[Node]:
    """``node`` and every node below it, depth first in written order (no recursion)."""
    stack: list[Node] = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(nodes_below(current)))


def walk_expr(expr: Node) -> list[Node]:
    """An expression node and every node below it (:func:`walk`, as a list)."""
    return list(walk(expr))


def children(rule: Rule) -> list[Rule]:
    """The rules directly below ``rule`` (the items of ``all``, ``any`` and ``not``)."""
    return [node for node in nodes_below(rule) if isinstance(node, RuleNode)]


def segment_references(rule: Rule) -> set[str]:
    """The segments ``rule`` names in ``segment:`` nodes (not those they refer to)."""
    return {node.segment for node in walk(rule) if isinstance(node, SegmentRule)}


#: an event type ("any" for every type) and the ``where`` list an event must pass
EventFilter: TypeAlias = tuple[str, tuple[PropertyPredicate, ...]]


def _reached(
    rule: Node,
    segment_rule: Callable[[str], Node],
    trait_definition: Callable[[str], TraitDefinition] | None,
) -> list[Node] | None:
    """Every node ``rule``'s answer about a customer can depend on, following the segments
    and traits it names (each once); None when that is not known (a trait not found, or
    no trait catalog given)."""
    reached: list[Node] = []
    followed: set[tuple[str, str]] = set()
    stack: list[Node] = [rule]
    while stack:
        for node in walk(stack.pop()):
            reached.append(node)
            if isinstance(node, SegmentRule) and ("segment", node.segment) not in followed:
                followed.add(("segment", node.segment))
                stack.append(segment_rule(node.segment))
            elif isinstance(node, TraitRule | TraitExpr) and ("trait", node.trait) not in followed:
                if trait_definition is None:
                    return None
                followed.add(("trait", node.trait))
                try:
                    stack.append(trait_definition(node.trait).value)
                except KeyError:
                    return None
    return reached


def event_filters(
    rule: Node,
    *,
    segment_rule: Callable[[str], Node],
    trait_definition: Callable[[str], TraitDefinition] | None = None,
) -> list[EventFilter] | None:
    """The filters (type and ``where``) of every event ``rule``'s answer about a customer at
    a given instant can depend on, following the segments and traits it names: an event
    passing none of them changes nothing. None when any event can (a model output, a
    cluster or look-alike score, a trait not found). The real-time path evaluates again
    only the segments an arriving event passes a filter of."""
    reached = _reached(rule, segment_rule, trait_definition)
    if reached is None:
        return None
    found: dict[tuple[Any, ...], EventFilter] = {}

    def add(kind: str, where: list[PropertyPredicate]) -> None:
        found.setdefault((kind, where_key(where)), (kind, tuple(where)))

    for node in reached:
        if isinstance(node, EventRule | AggregateExpr):
            add(node.event, node.where)
        elif isinstance(node, SequenceRule):
            for step in node.sequence.steps:
                add(step.event, step.where)
        elif isinstance(node, ModelExpr | ScoreRule | ClusterRule):
            return None
    return list(found.values())


@dataclass(frozen=True)
class ProfileReads:
    """What rules read of a customer's profile (:func:`profile_reads`): the columns of
    their events and their attributes; None where that is not known (anything may be
    read)."""

    events: frozenset[str] | None
    attributes: frozenset[str] | None


#: the event columns every evaluation reads (whose, when, what)
_EVENT_BASICS = frozenset({"customer_id", "timestamp", "type"})


def _event_column(prop: str) -> frozenset[str]:
    """The event columns a property is read from."""
    if prop in DERIVED_TIME_PROPERTIES:
        return frozenset({"timestamp"})
    if prop == ORDER_PROPERTY:
        return frozenset({"order_id", "timestamp"})
    return frozenset({prop if prop in EVENT_PROPERTY_TYPES else "properties"})


def profile_reads(
    rules: Iterable[Node],
    *,
    segment_rule: Callable[[str], Node],
    trait_definition: Callable[[str], TraitDefinition] | None = None,
) -> ProfileReads:
    """The event columns and attributes the per-profile evaluator reads to answer
    ``rules``, following the segments and traits they name: an evaluation given only
    those gives the same answers. Unknown (None) where a node reads what the rules do not
    name: a model output reads the events as its fit does, a cluster or look-alike score
    the traits and attributes of its run; and everything when a trait is not found."""
    events: set[str] | None = set(_EVENT_BASICS)
    attributes: set[str] | None = set()
    for rule in rules:
        reached = _reached(rule, segment_rule, trait_definition)
        if reached is None:
            return ProfileReads(None, None)
        for node in reached:
            if isinstance(node, ModelExpr):
                events = None
            elif isinstance(node, ScoreRule | ClusterRule):
                attributes = None
            elif isinstance(node, AttributeRule | AttributeExpr) and attributes is not None:
                attributes.add(node.attribute)
            if events is None:
                continue
            wheres: list[list[PropertyPredicate]] = []
            if isinstance(node, EventRule):
                wheres.append(node.where)
                prop = getattr(node.aggregate[1], "property", None)
                if prop is not None:
                    events |= _event_column(prop)
            elif isinstance(node, AggregateExpr):
                wheres.append(node.where)
                if node.property is not None:
                    events |= _event_column(node.property)
            elif isinstance(node, SequenceRule):
                wheres.extend(step.where for step in node.sequence.steps)
            for where in wheres:
                for pred in where:
                    events |= _event_column(pred.property)
    return ProfileReads(
        None if events is None else frozenset(events),
        None if attributes is None else frozenset(attributes),
    )


def event_kinds(
    rule: Node,
    *,
    segment_rule: Callable[[str], Node],
    trait_definition: Callable[[str], TraitDefinition] | None = None,
) -> frozenset[str] | None:
    """The event types whose events can change what ``rule`` says of a customer at a given
    instant (those of :func:`event_filters`); None when any event can (an ``any`` event, a
    model output, a cluster or look-alike score, a trait not found)."""
    filters = event_filters(rule, segment_rule=segment_rule, trait_definition=trait_definition)
    if filters is None:
        return None
    kinds = {kind for kind, _ in filters}
    return None if "any" in kinds else frozenset(kinds)
