"""The rule language: one typed tree, a batch compiler (Ibis) and a per-profile interpreter.

The kinds of the tree are two registries, :data:`RuleNode` (rules) and :data:`ExprNode`
(expressions): the pydantic unions, :data:`KINDS`/:data:`EXPR_KINDS` and the model maps
are generated from them. Every pass over the tree is a visitor that matches on them and
ends in ``assert_never``: the checker (``_check``, ``_check_expr``), the batch compiler
(``batch``), the per-profile interpreter (``profile``), ``explain`` and :func:`walk`.
What both evaluators mean by a rule is decided once in ``_semantics``; the functions an
engine spells its own way are a :class:`~microseg.lang._dialect.Dialect` (DuckDB's in
:mod:`microseg.store`), with their Python twins beside it.

To add a node kind: write its model with ``KIND`` in ``_nodes.py`` (or ``_expr.py``) and
add it to the registry union; then run mypy, which names every visitor without a case for
it (checker, both evaluators, explain, walk); add a generator case in
tests/lang/_generated.py (the coverage test fails until there is one) so that the
generated agreement test compares the two lowerings.
"""

from microseg.lang._check import check_rule, find_cycle, find_cycles, rule_warnings
from microseg.lang._check_expr import check_expr
from microseg.lang._clusters import ClusterLookup, ClusterSource, cluster_column
from microseg.lang._definitions import SegmentDefinition, load_definition, parse_definition
from microseg.lang._errors import EvaluationError, Problem, RuleError
from microseg.lang._explain import Explanation, explain
from microseg.lang._expr import (
    EXPR_KINDS,
    EXPR_MODELS,
    CaseExpr,
    DaysSinceExpr,
    Expr,
    ExprNode,
    ModelExpr,
    ScoreExpr,
    TraitDefinition,
    TraitExpr,
)
from microseg.lang._limits import (
    MAX_DEPTH,
    MAX_NODES,
    depth_message,
    nodes_message,
    raw_too_deep,
    shape,
    shape_problem,
)
from microseg.lang._nodes import (
    IDENTITY_KINDS,
    KINDS,
    OPERATORS,
    RULE_MODELS,
    AllRule,
    AnyRule,
    AttributeRule,
    BucketRule,
    ClusterRule,
    ClusterSpec,
    EventRule,
    HasRule,
    NotRule,
    Predicate,
    PropertyPredicate,
    Rule,
    RuleNode,
    ScoreRule,
    ScoreSpec,
    SegmentRule,
    SequenceRule,
    SequenceStep,
    TraitRule,
    Window,
    where_key,
)
from microseg.lang._profile_index import order_of
from microseg.lang._schema import BUILTIN_EVENT_TYPES, EVENT_PROPERTY_TYPES, ORDER_PROPERTY, Schema
from microseg.lang._scores import ScoreLookup, ScoreSource, score_column
from microseg.lang._values import bucket_of
from microseg.lang._walk import (
    EventFilter,
    Node,
    ProfileReads,
    children,
    event_filters,
    event_kinds,
    profile_reads,
    segment_references,
    walk,
    walk_expr,
)
from microseg.lang._when import Clock

__all__ = [
    "BUILTIN_EVENT_TYPES",
    "EVENT_PROPERTY_TYPES",
    "EXPR_KINDS",
    "EXPR_MODELS",
    "IDENTITY_KINDS",
    "KINDS",
    "MAX_DEPTH",
    "MAX_NODES",
    "OPERATORS",
    "ORDER_PROPERTY",
    "RULE_MODELS",
    "AllRule",
    "AnyRule",
    "AttributeRule",
    "BucketRule",
    "CaseExpr",
    "Clock",
    "ClusterLookup",
    "ClusterRule",
    "ClusterSource",
    "ClusterSpec",
    "DaysSinceExpr",
    "EvaluationError",
    "EventFilter",
    "EventRule",
    "Explanation",
    "Expr",
    "ExprNode",
    "HasRule",
    "ModelExpr",
    "Node",
    "NotRule",
    "Predicate",
    "Problem",
    "ProfileReads",
    "PropertyPredicate",
    "Rule",
    "RuleError",
    "RuleNode",
    "Schema",
    "ScoreExpr",
    "ScoreLookup",
    "ScoreRule",
    "ScoreSource",
    "ScoreSpec",
    "SegmentDefinition",
    "SegmentRule",
    "SequenceRule",
    "SequenceStep",
    "TraitDefinition",
    "TraitExpr",
    "TraitRule",
    "Window",
    "bucket_of",
    "check_expr",
    "check_rule",
    "children",
    "cluster_column",
    "depth_message",
    "event_filters",
    "event_kinds",
    "explain",
    "find_cycle",
    "find_cycles",
    "load_definition",
    "nodes_message",
    "order_of",
    "parse_definition",
    "profile_reads",
    "raw_too_deep",
    "rule_warnings",
    "score_column",
    "segment_references",
    "shape",
    "shape_problem",
    "walk",
    "walk_expr",
    "where_key",
]
