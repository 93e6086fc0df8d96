"""The segments of a workspace: definitions on disk, validated together."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path

from microseg._text import did_you_mean
from microseg.lang import (
    AllRule,
    Problem,
    Rule,
    RuleError,
    Schema,
    SegmentDefinition,
    SegmentRule,
    check_rule,
    find_cycles,
    load_definition,
    segment_references,
)
from microseg.lang._limits import MAX_DEPTH, MAX_NODES, depth_message, nodes_message, shape

__all__ = ["SegmentCatalog", "definition_version"]


def definition_version(definition: SegmentDefinition) -> str:
    """A short hash of what decides membership (the rule and the parent), for snapshots."""
    key = definition.model_dump_json(include={"rule", "parent"}, by_alias=True, exclude_none=True)
    return hashlib.sha256(key.encode()).hexdigest()[:12]


@dataclass
class SegmentCatalog:
    """Definitions by name, with their files; the full rule of a segment includes its parents."""

    definitions: dict[str, SegmentDefinition]
    files: dict[str, str]

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
        shapes = _Shapes(self)
        for name in names or sorted(self.definitions):
            if name in self.definitions:
                depth, nodes = shapes.of(name)
                if depth > MAX_DEPTH:
                    message = depth_message(depth, through_references=True)
                    problems.append(Problem("rule", message, self.files.get(name)))
                elif nodes > MAX_NODES:
                    message = nodes_message(nodes, through_references=True)
                    problems.append(Problem("rule", message, self.files.get(name)))
        if problems:
            raise RuleError(problems)


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
