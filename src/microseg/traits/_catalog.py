"""The traits of a workspace: the built-in library plus ``traits/*.yaml``."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from microseg._text import did_you_mean
from microseg._yaml import YamlError, load_yaml, read_yaml
from microseg.config import LifecycleSettings
from microseg.lang import Problem, RuleError, Schema, check_rule, find_cycle
from microseg.lang._check import _check_event_type, _check_where, _check_window
from microseg.lang._expr import (
    AggregateExpr,
    AttributeExpr,
    CaseExpr,
    DaysSinceExpr,
    Expr,
    TraitDefinition,
    TraitExpr,
)
from microseg.lang._limits import (
    MAX_DEPTH,
    MAX_NODES,
    data_too_deep,
    depth_message,
    nodes_message,
    shape,
)

__all__ = ["BUILTIN_FILE", "VALUE_FILE", "TraitCatalog", "category_share_traits", "walk_expr"]

BUILTIN_FILE = Path(__file__).parent / "builtin.yaml"
#: Value-model traits, present once a value model has been fitted.
VALUE_FILE = Path(__file__).parent / "value.yaml"


def _parse(data: Any, file: str) -> TraitDefinition:
    if isinstance(data, dict) and data_too_deep(data.get("value"), 2 * MAX_DEPTH + 8):
        raise RuleError([Problem("value", depth_message(MAX_DEPTH + 1), file)])
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
    depth, nodes = shape(definition.value)
    if depth > MAX_DEPTH:
        raise RuleError([Problem("value", depth_message(depth), file)])
    if nodes > MAX_NODES:
        raise RuleError([Problem("value", nodes_message(nodes), file)])
    return definition


def _children(expr: Any) -> list[Any]:
    out: list[Any] = []
    for value in expr.__dict__.values():
        items = value if isinstance(value, list) else [value]
        out.extend(i for i in items if isinstance(i, BaseModel))
    return out


def category_share_traits(categories: Sequence[str]) -> list[dict[str, Any]]:
    """``spend_share_<category>``: the share of purchase spend in each category."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for category in categories:
        slug = re.sub(r"[^a-z0-9]+", "_", category.lower()).strip("_") or "blank"
        name = f"spend_share_{slug}"
        if name in seen:
            continue
        seen.add(name)
        spend = {
            "aggregate": "sum",
            "event": "purchase",
            "property": "amount",
            "where": [{"property": "category", "eq": category}],
        }
        out.append(
            {
                "name": name,
                "formula": f"share of purchase spend in the category {category!r} "
                "(its purchase amounts / gross_spend)",
                "value": {"div": [spend, {"trait": "gross_spend"}]},
            }
        )
    return out


def walk_expr(expr: Any) -> list[Any]:
    """An expression node and every node below it."""
    found = [expr]
    for child in _children(expr):
        found.extend(walk_expr(child))
    return found


@dataclass
class TraitCatalog:
    definitions: dict[str, TraitDefinition]
    files: dict[str, str]

    @classmethod
    def load(
        cls,
        folder: Path | None = None,
        *,
        settings: Mapping[str, int] | None = None,
        value_traits: bool = False,
        categories: Sequence[str] = (),
    ) -> TraitCatalog:
        """The built-ins (with ``settings`` such as the lifecycle thresholds) and ``folder``.

        ``value_traits`` adds the value-model traits (``p_alive``, ``clv_12m``, ...): the
        workspace does so once a value model has been fitted. ``categories`` adds one
        ``spend_share_<category>`` trait per purchase category.
        """
        definitions: dict[str, TraitDefinition] = {}
        files: dict[str, str] = {}
        problems: list[Problem] = []
        values = {**LifecycleSettings().model_dump(), **(settings or {})}
        text = string.Template(BUILTIN_FILE.read_text(encoding="utf-8")).substitute(
            {k: str(int(v)) for k, v in values.items()}
        )
        items = load_yaml(text, file=str(BUILTIN_FILE))
        items += category_share_traits(categories)
        if value_traits:
            items += load_yaml(VALUE_FILE.read_text(encoding="utf-8"), file=str(VALUE_FILE))
        for item in items:
            definition = _parse(item, str(BUILTIN_FILE))
            definitions[definition.name] = definition
            files[definition.name] = "built-in"
        for path in sorted(folder.glob("*.y*ml")) if folder and folder.exists() else []:
            try:
                definition = _parse(read_yaml(path)[0], str(path))
            except RuleError as exc:
                problems.extend(exc.problems)
                continue
            except YamlError as exc:
                problems.append(Problem("(file)", exc.problem, exc.file, exc.line))
                continue
            if definition.name in definitions:
                problems.append(
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
        if problems:
            raise RuleError(problems)
        return cls(definitions, files)

    def types(self) -> dict[str, str]:
        return {name: d.type for name, d in self.definitions.items()}

    def check(self, schema: Schema) -> None:
        """Names, types and cycles of every trait; raise with every problem."""
        problems: list[Problem] = []
        graph: dict[str, set[str]] = {}
        for name, definition in self.definitions.items():
            file = self.files[name]
            graph[name] = set()
            for node in walk_expr(definition.value):
                if isinstance(node, TraitExpr):
                    graph[name].add(node.trait)
                    if node.trait not in self.definitions:
                        hint = did_you_mean(node.trait, self.definitions)
                        problems.append(
                            Problem("value", f"unknown trait {node.trait!r}{hint}", file)
                        )
                elif isinstance(node, AttributeExpr) and node.attribute not in schema.attributes:
                    problems.append(Problem("value", f"unknown attribute {node.attribute!r}", file))
                elif isinstance(node, AggregateExpr):
                    for path, message in [
                        *_check_event_type(node.event, schema, "value.event"),
                        *_check_where(node.where, "value"),
                        *_check_window(node.window, "value"),
                    ]:
                        problems.append(Problem(path, message, file))
                elif isinstance(node, CaseExpr):
                    for row in node.case:
                        for path, message in check_rule(row.when, schema, "value.case.when"):
                            problems.append(Problem(path, message, file))
                elif isinstance(node, DaysSinceExpr) and not _is_time(node.days_since):
                    problems.append(
                        Problem(
                            "value.days_since",
                            "needs a timestamp, e.g. the max of property timestamp",
                            file,
                        )
                    )
        cycle = find_cycle(graph)
        if cycle:
            problems.append(
                Problem(
                    "value",
                    "traits refer to each other in a cycle: " + " -> ".join(cycle),
                    self.files[cycle[0]],
                )
            )
        if problems:
            raise RuleError(problems)


def _is_time(expr: Expr) -> bool:
    return (
        isinstance(expr, AggregateExpr)
        and expr.aggregate in ("min", "max")
        and (expr.property == "timestamp")
    )
