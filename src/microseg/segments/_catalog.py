"""The segments of a workspace: definitions on disk, validated together."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from microseg.core.text import did_you_mean
from microseg.lang import (
    MAX_DEPTH,
    MAX_NODES,
    AllRule,
    Problem,
    Rule,
    RuleError,
    Schema,
    SegmentDefinition,
    SegmentRule,
    TraitRule,
    check_rule,
    children,
    depth_message,
    find_cycles,
    load_definition,
    nodes_message,
    rule_warnings,
    segment_references,
    shape,
)

__all__ = ["SegmentCatalog", "Triage", "definition_version"]

#: Why a trait a rule names is missing (a broken trait file, a category trait no longer
#: generated), or None when it is simply unknown.
MissingTrait = Callable[[str], str | None]


@dataclass(frozen=True)
class Triage:
    """Segments that can be evaluated, and the problems of each that cannot."""

    good: list[str]
    broken: dict[str, list[Problem]] = field(default_factory=dict)
    #: what may be right but looks doubtful in the good ones (e.g. a property no event has)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def problems(self) -> list[Problem]:
        return [p for found in self.broken.values() for p in found]


def definition_version(definition: SegmentDefinition) -> str:
    """A short hash of what decides membership (the rule and the parent), for snapshots."""
    key = definition.model_dump_json(include={"rule", "parent"}, by_alias=True, exclude_none=True)
    return hashlib.sha256(key.encode()).hexdigest()[:12]


@dataclass
class SegmentCatalog:
    """Definitions by name, with their files; the full rule of a segment includes its parents."""

    definitions: dict[str, SegmentDefinition]
    files: dict[str, str]
    #: warnings of the last check (see :attr:`Triage.warnings`)
    warnings: list[Problem] = field(default_factory=list)

    @classmethod
    def load(cls, folder: Path, *, problems: list[Problem] | None = None) -> SegmentCatalog:
        """Read every ``*.yaml`` in ``folder``; collect every file's problems, raise once.

        With a ``problems`` list, files that do not parse are reported into it instead, so
        that the others can still be checked and every problem shown together.
        """
        collect = problems
        definitions: dict[str, SegmentDefinition] = {}
        files: dict[str, str] = {}
        problems = [] if collect is None else collect
        for path in sorted(folder.glob("*.y*ml")) if folder.exists() else []:
            try:
                definition = load_definition(path)
            except RuleError as exc:
                problems.extend(exc.problems)
                continue
            definitions[definition.name] = definition
            files[definition.name] = str(path)
        if problems and collect is None:
            raise RuleError(problems)
        return cls(definitions, files)

    def with_definition(
        self, definition: SegmentDefinition, file: str | None = None
    ) -> SegmentCatalog:
        definitions = {**self.definitions, definition.name: definition}
        files = {**self.files}
        if file:
            files[definition.name] = file
        return SegmentCatalog(definitions, files)

    def full_rule(self, name: str) -> Rule:
        """The segment's rule AND its parent's full rule (a refinement narrows its parent)."""
        definition = self.definitions[name]
        if definition.parent is None:
            return definition.rule
        return AllRule(all=[SegmentRule(segment=definition.parent), definition.rule])

    def check(
        self,
        schema: Schema,
        names: list[str] | None = None,
        *,
        earlier: list[Problem] | None = None,
    ) -> None:
        """Type-check the named definitions (all by default) and the reference graph.

        ``earlier`` problems (e.g. files that did not parse) are raised with the rest.
        """
        problems: list[Problem] = list(earlier or [])
        known = frozenset(self.definitions)
        schema = dataclasses.replace(schema, segments=known)
        for name in names or sorted(self.definitions):
            if name not in self.definitions:
                hint = did_you_mean(name, sorted(known))
                problems.append(Problem("name", f"no segment named {name!r}{hint}"))
                continue
            definition = self.definitions[name]
            file = self.files.get(name)
            if definition.parent is not None and definition.parent not in known:
                problems.append(
                    Problem("parent", f"unknown parent segment {definition.parent!r}", file)
                )
            for path, message in check_rule(definition.rule, schema):
                problems.append(Problem(path, message, file))
        graph = {
            n: segment_references(d.rule) | ({d.parent} if d.parent else set())
            for n, d in self.definitions.items()
        }
        for cycle in find_cycles(graph):
            problems.append(
                Problem(
                    "rule",
                    "segments refer to each other in a cycle: " + " -> ".join(cycle),
                    self.files.get(cycle[0]),
                )
            )
        problems.extend(p for _, p in self._shape_problems(names or sorted(self.definitions)))
        if problems:
            raise RuleError(problems)

    def _shape_problems(self, names: list[str]) -> list[tuple[str, Problem]]:
        """Segments too deep or too large, counted with the segments they refer to."""
        shapes = _Shapes(self)
        found = []
        for name in names:
            if name not in self.definitions:
                continue
            depth, nodes = shapes.of(name)
            if depth > MAX_DEPTH:
                message = depth_message(depth, through_references=True)
            elif nodes > MAX_NODES:
                message = nodes_message(nodes, through_references=True)
            else:
                continue
            found.append((name, Problem("rule", message, self.files.get(name))))
        return found

    def triage(
        self,
        schema: Schema,
        names: list[str] | None = None,
        *,
        missing_trait: MissingTrait | None = None,
    ) -> Triage:
        """Which of ``names`` (all by default) can be evaluated, and each other's problems.

        The segments they use (references and parents) are checked too: a segment that uses
        a broken one is broken as well, with a problem that says which; so is every segment
        of a reference cycle. ``missing_trait`` explains missing traits (see MissingTrait).
        """
        known = frozenset(self.definitions)
        schema = dataclasses.replace(schema, segments=known)
        wanted = names or sorted(self.definitions)
        broken: dict[str, list[Problem]] = {}
        for name in wanted:
            if name not in self.definitions:
                hint = did_you_mean(name, sorted(known))
                broken[name] = [Problem("name", f"no segment named {name!r}{hint}")]
        graph = {n: self._uses(n) for n in self.definitions}
        closure = self._closure([n for n in wanted if n in self.definitions], graph)
        for name in closure:
            found = self._problems(name, schema, missing_trait)
            if found:
                broken[name] = found
        for cycle in find_cycles(graph):
            message = "segments refer to each other in a cycle: " + " -> ".join(cycle)
            for name in dict.fromkeys(cycle):
                broken.setdefault(name, []).append(Problem("rule", message, self.files.get(name)))
        for name, problem in self._shape_problems(closure):
            broken.setdefault(name, []).append(problem)
        changed = True
        while changed:
            changed = False
            for name in closure:
                used = sorted(graph[name] & set(broken)) if name not in broken else []
                if used:
                    broken[name] = [
                        Problem(
                            "parent" if used[0] == self.definitions[name].parent else "rule",
                            f"uses the segment {used[0]!r}, which cannot be evaluated "
                            "(see its problems)",
                            self.files.get(name),
                        )
                    ]
                    changed = True
        good = [n for n in wanted if n not in broken]
        warnings = [
            Problem(path, message, self.files.get(name))
            for name in good
            for path, message in rule_warnings(self.definitions[name].rule, schema)
        ]
        return Triage(
            good,
            {n: found for n, found in broken.items() if n in closure or n in wanted},
            warnings,
        )

    def _uses(self, name: str) -> set[str]:
        definition = self.definitions[name]
        parent = {definition.parent} if definition.parent else set()
        return segment_references(definition.rule) | parent

    @staticmethod
    def _closure(names: list[str], graph: dict[str, set[str]]) -> list[str]:
        seen: dict[str, None] = {}
        pending = list(names)
        while pending:
            name = pending.pop()
            if name in seen or name not in graph:
                continue
            seen[name] = None
            pending.extend(sorted(graph[name]))
        return sorted(seen)

    def _problems(
        self, name: str, schema: Schema, missing_trait: MissingTrait | None
    ) -> list[Problem]:
        """One definition's own problems; a missing trait that ``missing_trait`` explains
        gets that explanation at the path where it is named."""
        definition = self.definitions[name]
        file = self.files.get(name)
        problems: list[Problem] = []
        if definition.parent is not None and definition.parent not in schema.segments:
            problems.append(
                Problem("parent", f"unknown parent segment {definition.parent!r}", file)
            )
        reasons = {
            trait: reason
            for trait in _traits_named(definition.rule)
            if trait not in schema.traits and missing_trait is not None
            for reason in [missing_trait(trait)]
            if reason is not None
        }
        found = check_rule(definition.rule, schema)
        if reasons:
            stand_in = dataclasses.replace(
                schema, traits={**schema.traits, **dict.fromkeys(reasons, "json")}
            )
            rest = check_rule(definition.rule, stand_in)
            for path, message in found:
                if (path, message) not in rest:
                    trait = next((t for t in reasons if repr(t) in message), None)
                    problems.append(Problem(path, reasons[trait] if trait else message, file))
            found = rest
        problems.extend(Problem(path, message, file) for path, message in found)
        return problems


def _traits_named(rule: Rule) -> list[str]:
    """The traits a rule tests directly (not those of the segments it uses)."""
    found = [rule.trait] if isinstance(rule, TraitRule) else []
    for child in children(rule):
        found.extend(_traits_named(child))
    return found


class _Shapes:
    """(depth, nodes) of each segment's full rule with the segments it refers to expanded.

    A reference is one level deeper than the rule that holds it (both evaluators recurse
    through it). Segments are measured after those they refer to (no recursion from one
    segment into another); a reference back into a cycle counts as a leaf here, since
    cycles are reported on their own.
    """

    def __init__(self, catalog: SegmentCatalog) -> None:
        self.catalog = catalog
        self.memo: dict[str, tuple[int, int]] = {}
        graph = {
            n: sorted(segment_references(catalog.full_rule(n)) & set(catalog.definitions))
            for n in catalog.definitions
        }
        seen: set[str] = set()
        for root in sorted(graph):
            if root in seen:
                continue
            seen.add(root)
            work = [(root, iter(graph[root]))]
            while work:
                node, pending = work[-1]
                nxt = next(pending, None)
                if nxt is None:
                    work.pop()
                    self.memo[node] = shape(self.catalog.full_rule(node), expand=self._expand)
                elif nxt not in seen:
                    seen.add(nxt)
                    work.append((nxt, iter(graph[nxt])))

    def of(self, name: str) -> tuple[int, int]:
        return self.memo.get(name, (0, 1))

    def _expand(self, node: object) -> tuple[int, int] | None:
        if not isinstance(node, SegmentRule):
            return None
        depth, nodes = self.of(node.segment)
        return min(depth + 1, MAX_DEPTH + 1), nodes
