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
    find_cycle,
    load_definition,
    segment_references,
)

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
        cycle = find_cycle(graph)
        if cycle:
            problems.append(
                Problem(
                    "rule",
                    "segments refer to each other in a cycle: " + " -> ".join(cycle),
                    self.files.get(cycle[0]),
                )
            )
        if problems:
            raise RuleError(problems)
