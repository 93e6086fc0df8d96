"""The rule language: one typed tree, a batch compiler (Ibis) and a per-profile interpreter."""

from microseg.lang._check import check_rule, find_cycle, find_cycles
from microseg.lang._check_expr import check_expr
from microseg.lang._clusters import ClusterLookup, ClusterSource
from microseg.lang._definitions import SegmentDefinition, load_definition, parse_definition
from microseg.lang._errors import EvaluationError, Problem, RuleError
from microseg.lang._expr import EXPR_KINDS, EXPR_MODELS, Expr, ExprNode
from microseg.lang._nodes import (
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
    NotRule,
    Predicate,
    PropertyPredicate,
    Rule,
    RuleNode,
    SegmentRule,
    SequenceRule,
    TraitRule,
    Window,
)
from microseg.lang._schema import BUILTIN_EVENT_TYPES, EVENT_PROPERTY_TYPES, Schema
from microseg.lang._values import bucket_of
from microseg.lang._walk import Node, children, segment_references, walk, walk_expr
from microseg.lang._when import Clock

__all__ = [
    "BUILTIN_EVENT_TYPES",
    "EVENT_PROPERTY_TYPES",
    "EXPR_KINDS",
    "EXPR_MODELS",
    "KINDS",
    "OPERATORS",
    "RULE_MODELS",
    "AllRule",
    "AnyRule",
    "AttributeRule",
    "BucketRule",
    "Clock",
    "ClusterLookup",
    "ClusterRule",
    "ClusterSource",
    "ClusterSpec",
    "EvaluationError",
    "EventRule",
    "Expr",
    "ExprNode",
    "Node",
    "NotRule",
    "Predicate",
    "Problem",
    "PropertyPredicate",
    "Rule",
    "RuleError",
    "RuleNode",
    "Schema",
    "SegmentDefinition",
    "SegmentRule",
    "SequenceRule",
    "TraitRule",
    "Window",
    "bucket_of",
    "check_expr",
    "check_rule",
    "children",
    "find_cycle",
    "find_cycles",
    "load_definition",
    "parse_definition",
    "segment_references",
    "walk",
    "walk_expr",
]
