"""The rule language: one typed tree, a batch compiler (Ibis) and a per-profile interpreter."""

from microseg.lang._check import check_rule, children, find_cycle, find_cycles, segment_references
from microseg.lang._clusters import ClusterLookup, ClusterSource
from microseg.lang._definitions import SegmentDefinition, load_definition, parse_definition
from microseg.lang._errors import Problem, RuleError
from microseg.lang._nodes import (
    KINDS,
    OPERATORS,
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
    SegmentRule,
    SequenceRule,
    TraitRule,
    Window,
)
from microseg.lang._schema import BUILTIN_EVENT_TYPES, EVENT_PROPERTY_TYPES, Schema
from microseg.lang._values import bucket_of
from microseg.lang._when import Clock

__all__ = [
    "BUILTIN_EVENT_TYPES",
    "EVENT_PROPERTY_TYPES",
    "KINDS",
    "OPERATORS",
    "AllRule",
    "AnyRule",
    "AttributeRule",
    "BucketRule",
    "Clock",
    "ClusterLookup",
    "ClusterRule",
    "ClusterSource",
    "ClusterSpec",
    "EventRule",
    "NotRule",
    "Predicate",
    "Problem",
    "PropertyPredicate",
    "Rule",
    "RuleError",
    "Schema",
    "SegmentDefinition",
    "SegmentRule",
    "SequenceRule",
    "TraitRule",
    "Window",
    "bucket_of",
    "check_rule",
    "children",
    "find_cycle",
    "find_cycles",
    "load_definition",
    "parse_definition",
    "segment_references",
]
