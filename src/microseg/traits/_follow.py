"""What a set of rules reaches: the discovery runs and the value-model outputs they read.

Followed: referenced segments (with parents) and traits (``case`` rows of their
definitions, and the traits those read).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

from microseg.lang import (
    ClusterRule,
    ModelExpr,
    Node,
    Rule,
    ScoreRule,
    SegmentRule,
    TraitExpr,
    TraitRule,
    walk,
)
from microseg.traits._catalog import TraitCatalog

__all__ = ["SegmentRules", "cluster_runs", "model_outputs", "score_models", "uses_traits"]


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
    for node in _reached(rules, catalog, traits, trait_names):
        if isinstance(node, ClusterRule):
            found.add(node.cluster.run)
    return found


def score_models(
    rules: Iterable[Rule],
    catalog: SegmentRules | None,
    traits: TraitCatalog,
    trait_names: Iterable[str] = (),
) -> set[str]:
    """The stored look-alike models that ``score:`` nodes read, in ``rules`` and what they
    use, as well as in the traits named in ``trait_names``."""
    return {
        node.score.model
        for node in _reached(rules, catalog, traits, trait_names)
        if isinstance(node, ScoreRule)
    }


def uses_traits(catalog: SegmentRules, names: Iterable[str]) -> bool:
    """Whether any of the segments (with parents and references) tests a trait."""
    rules = [catalog.full_rule(n) for n in names if n in catalog.definitions]
    return any(isinstance(node, TraitRule) for node in _reached(rules, catalog, None, follow=False))


def model_outputs(traits: TraitCatalog) -> list[ModelExpr]:
    """Every value-model output the catalog's traits read, once each."""
    wanted = {
        node.key: node
        for definition in traits.definitions.values()
        for node in walk(definition.value)
        if isinstance(node, ModelExpr)
    }
    return list(wanted.values())


def _reached(
    rules: Iterable[Rule],
    catalog: SegmentRules | None,
    traits: TraitCatalog | None,
    trait_names: Iterable[str] = (),
    *,
    follow: bool = True,
) -> Iterator[Node]:
    """Every node of ``rules``, of the segments they reference (with parents) and, when
    ``follow``, of the traits they or ``trait_names`` read; each definition once."""
    seen: set[tuple[str, str]] = set()
    pending: list[Node] = list(rules)
    if traits is not None:
        pending += [TraitExpr(trait=name) for name in trait_names]
    while pending:
        for node in walk(pending.pop()):
            yield node
            if isinstance(node, SegmentRule):
                key, reference = ("segment", node.segment), catalog
                if reference is None or node.segment not in reference.definitions:
                    continue
                if key not in seen:
                    seen.add(key)
                    pending.append(reference.full_rule(node.segment))
            elif follow and isinstance(node, TraitRule | TraitExpr) and traits is not None:
                name = node.trait
                if name in traits.definitions and ("trait", name) not in seen:
                    seen.add(("trait", name))
                    pending.append(traits.definitions[name].value)
