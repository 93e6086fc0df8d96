"""What a set of rules reaches: the discovery runs and the value-model outputs they read.

Followed: referenced segments (with parents) and traits (``case`` rows of their
definitions, and the traits those read).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from microseg.lang import ClusterRule, Rule, SegmentRule, TraitRule, children
from microseg.lang._expr import CaseExpr, ModelExpr, TraitExpr
from microseg.traits._catalog import TraitCatalog, walk_expr

__all__ = ["SegmentRules", "cluster_runs", "model_outputs", "uses_traits"]


class SegmentRules(Protocol):
    """What following needs of a segment catalog: its definitions and their full rules."""

    @property
    def definitions(self) -> Mapping[str, Any]: ...

    def full_rule(self, name: str) -> Rule: ...


def cluster_runs(
    rules: Iterable[Rule],
    catalog: SegmentRules | None,
    traits: TraitCatalog,
    trait_names: Iterable[str] = (),
) -> set[str | int]:
    """The discovery runs that ``cluster:`` nodes read, in ``rules`` and what they use, as
    well as in the traits named in ``trait_names``."""
    found: set[str | int] = set()
    seen_segments: set[str] = set()
    seen_traits: set[str] = set()
    stack: list[Rule] = list(rules)

    def add_trait(name: str) -> None:
        if name in seen_traits or name not in traits.definitions:
            return
        seen_traits.add(name)
        for node in walk_expr(traits.definitions[name].value):
            if isinstance(node, CaseExpr):
                stack.extend(row.when for row in node.case)
            elif isinstance(node, TraitExpr):
                add_trait(node.trait)

    for name in trait_names:
        add_trait(name)
    while stack:
        rule = stack.pop()
        if isinstance(rule, ClusterRule):
            found.add(rule.cluster.run)
        elif (
            isinstance(rule, SegmentRule)
            and catalog is not None
            and rule.segment in catalog.definitions
            and rule.segment not in seen_segments
        ):
            seen_segments.add(rule.segment)
            stack.append(catalog.full_rule(rule.segment))
        elif isinstance(rule, TraitRule):
            add_trait(rule.trait)
        stack.extend(children(rule))
    return found


def uses_traits(catalog: SegmentRules, names: Iterable[str]) -> bool:
    """Whether any of the segments (with parents and references) tests a trait."""
    seen: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in seen or name not in catalog.definitions:
            continue
        seen.add(name)
        stack = [catalog.full_rule(name)]
        while stack:
            rule = stack.pop()
            if isinstance(rule, TraitRule):
                return True
            if isinstance(rule, SegmentRule):
                pending.append(rule.segment)
            stack.extend(children(rule))
    return False


def model_outputs(traits: TraitCatalog) -> list[ModelExpr]:
    """Every value-model output the catalog's traits read, once each."""
    wanted = {
        node.key: node
        for definition in traits.definitions.values()
        for node in walk_expr(definition.value)
        if isinstance(node, ModelExpr)
    }
    return list(wanted.values())
