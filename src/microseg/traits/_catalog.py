"""The traits of a workspace: the built-in library plus ``traits/*.yaml``."""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from microseg.config import LifecycleSettings, TraitSettings
from microseg.core.yaml import YamlError, load_yaml, read_yaml
from microseg.lang import (
    Problem,
    RuleError,
    Schema,
    TraitDefinition,
    TraitExpr,
    TraitRule,
    check_expr,
    find_cycle,
    raw_too_deep,
    shape_problem,
    walk_expr,
)
from microseg.traits._generated import category_share_traits
from microseg.traits._vocabulary import channel_traits, with_event_types

__all__ = ["BUILTIN_FILE", "VALUE_FILE", "TraitCatalog", "walk_expr"]

BUILTIN_FILE = Path(__file__).parent / "builtin.yaml"
#: Value-model traits, present once a value model has been fitted.
VALUE_FILE = Path(__file__).parent / "value.yaml"


def _parse(data: Any, file: str) -> TraitDefinition:
    too_deep = raw_too_deep(data.get("value")) if isinstance(data, dict) else None
    if too_deep:
        raise RuleError([Problem("value", too_deep, file)])
    try:
        definition = TraitDefinition.model_validate(data)
    except ValidationError as exc:
        problems = [
            Problem(
                ".".join(str(p) for p in e["loc"]) or "(top level)",
                str(e["msg"]).removeprefix("Value error, "),
                file,
            )
            for e in exc.errors()
        ]
        raise RuleError(problems) from None
    too_big = shape_problem(definition.value)
    if too_big:
        raise RuleError([Problem("value", too_big, file)])
    return definition


@dataclass
class TraitCatalog:
    """Trait definitions by name, with their files.

    ``categories`` maps each generated ``spend_share_*`` trait to its category;
    ``warnings`` says what the user should know (categories cut by the cap, renamed
    generated traits); ``problems`` lists what is wrong and ``broken`` the problems of each
    trait left out (see :meth:`checked`).
    """

    definitions: dict[str, TraitDefinition]
    files: dict[str, str]
    categories: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    broken: dict[str, list[Problem]] = field(default_factory=dict)

    @classmethod
    def load(
        cls,
        folder: Path | None = None,
        *,
        settings: Mapping[str, int] | None = None,
        value_traits: bool = False,
        categories: Sequence[str] = (),
        problems: list[Problem] | None = None,
        vocabulary: TraitSettings | None = None,
    ) -> TraitCatalog:
        """The built-ins (with ``settings`` such as the lifecycle thresholds) and ``folder``.

        ``vocabulary`` (``traits:`` of microseg.yaml) gives the event types the built-ins
        read and the channels of the channel traits (the defaults without it).

        ``value_traits`` adds the value-model traits (``p_alive``, ``clv_12m``, ...): the
        workspace does so once a value model has been fitted. ``categories`` adds one
        ``spend_share_<category>`` trait per purchase category, named so that no user file
        ever clashes with one (microseg.traits._generated). Every file's problems are
        raised at once; with a ``problems`` list they are reported into it (and into the
        catalog's ``problems`` and ``broken``) instead, and the good files are kept.
        """
        definitions: dict[str, TraitDefinition] = {}
        files: dict[str, str] = {}
        found: list[Problem] = []
        broken: dict[str, list[Problem]] = {}
        values = {**LifecycleSettings().model_dump(), **(settings or {})}
        text = string.Template(BUILTIN_FILE.read_text(encoding="utf-8")).substitute(
            {k: str(int(v)) for k, v in values.items()}
        )
        words = vocabulary or TraitSettings()
        types = words.event_types.by_role()
        items = with_event_types(load_yaml(text, file=str(BUILTIN_FILE)), types)
        at = next((i for i, d in enumerate(items) if d.get("name") == "discount_share"), -1)
        items[at + 1 : at + 1] = channel_traits(words.channels, types["purchase"])
        if value_traits:
            items += load_yaml(VALUE_FILE.read_text(encoding="utf-8"), file=str(VALUE_FILE))
        for item in items:
            definition = _parse(item, str(BUILTIN_FILE))
            definitions[definition.name] = definition
            files[definition.name] = "built-in"
        for path in sorted(folder.glob("*.y*ml")) if folder and folder.exists() else []:
            data: Any = None
            try:
                data = read_yaml(path)[0]
                definition = _parse(data, str(path))
            except RuleError as exc:
                found.extend(exc.problems)
                broken.setdefault(_name_of(data, path), []).extend(exc.problems)
                continue
            except YamlError as exc:
                problem = Problem("(file)", exc.problem, exc.file, exc.line)
                found.append(problem)
                broken.setdefault(path.stem, []).append(problem)
                continue
            if definition.name in definitions:
                found.append(
                    Problem(
                        "name",
                        f"trait {definition.name!r} is already defined "
                        f"({files[definition.name]}); choose another name",
                        str(path),
                    )
                )
                continue
            definitions[definition.name] = definition
            files[definition.name] = str(path)
        generated = category_share_traits(
            categories, taken={*definitions, *broken}, purchase=types["purchase"]
        )
        for item in generated.definitions:
            definition = _parse(item, "generated from the purchase categories")
            definitions[definition.name] = definition
            files[definition.name] = "built-in (purchase categories)"
        if found and problems is None:
            raise RuleError(found)
        if problems is not None:
            problems.extend(found)
        return cls(
            definitions,
            files,
            categories=generated.categories,
            warnings=list(generated.warnings),
            problems=found,
            broken=broken,
        )

    def checked(self, schema: Schema) -> TraitCatalog:
        """This catalog without the traits that have problems or use one that has.

        Every problem is kept in ``problems``; ``broken`` gives each left-out trait's.
        """
        by_trait = self.problems_by_trait(schema)
        problems = list(self.problems)
        broken = {name: list(found) for name, found in self.broken.items()}
        for name, found in by_trait.items():
            if found:
                problems.extend(found)
                broken[name] = list(found)
        changed = True
        while changed:
            changed = False
            for name, definition in self.definitions.items():
                if name in broken:
                    continue
                used = sorted(_trait_references(definition) & set(broken))
                if used:
                    problem = Problem(
                        "value",
                        f"uses the trait {used[0]!r}, which is broken: "
                        + "; ".join(str(p) for p in broken[used[0]]),
                        self.files[name],
                    )
                    problems.append(problem)
                    broken[name] = [problem]
                    changed = True
        return TraitCatalog(
            {n: d for n, d in self.definitions.items() if n not in broken},
            dict(self.files),
            categories={n: c for n, c in self.categories.items() if n not in broken},
            warnings=list(self.warnings),
            problems=problems,
            broken=broken,
        )

    def types(self) -> dict[str, str]:
        return {name: d.type for name, d in self.definitions.items()}

    def check(self, schema: Schema) -> None:
        """Names, types and cycles of every trait; raise with every problem."""
        problems = [p for found in self.problems_by_trait(schema).values() for p in found]
        if problems:
            raise RuleError(problems)

    def problems_by_trait(self, schema: Schema) -> dict[str, list[Problem]]:
        """Each trait's problems (names, types; a cycle is its first trait's problem)."""
        by_trait: dict[str, list[Problem]] = {}
        graph: dict[str, set[str]] = {}
        reasons = {t: "; ".join(str(p) for p in found) for t, found in self.broken.items()}
        for name, definition in self.definitions.items():
            file = self.files[name]
            problems = by_trait.setdefault(name, [])
            graph[name] = {
                node.trait for node in walk_expr(definition.value) if isinstance(node, TraitExpr)
            }
            for path, message in check_expr(
                definition.value, schema, traits=self.definitions, broken=reasons
            ):
                problems.append(Problem(path, message, file))
        cycle = find_cycle(graph)
        if cycle:
            by_trait[cycle[0]].append(
                Problem(
                    "value",
                    "traits refer to each other in a cycle: " + " -> ".join(cycle),
                    self.files[cycle[0]],
                )
            )
        return by_trait


def _name_of(data: Any, path: Path) -> str:
    """The name a broken trait file means to define (its ``name``, else the file's stem)."""
    name = data.get("name") if isinstance(data, dict) else None
    return name if isinstance(name, str) and name else path.stem


def _trait_references(definition: TraitDefinition) -> set[str]:
    """The traits a definition reads, in expressions and in its case rows' rules."""
    return {
        node.trait
        for node in walk_expr(definition.value)
        if isinstance(node, TraitExpr | TraitRule)
    }
