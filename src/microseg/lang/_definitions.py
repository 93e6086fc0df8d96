"""Segment definitions: YAML files in ``segments/`` (segments as code), or built in Python."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from microseg.core.text import did_you_mean, line_index
from microseg.core.yaml import YamlError, load_yaml, read_text
from microseg.lang._errors import Problem, RuleError
from microseg.lang._limits import raw_too_deep, shape_problem
from microseg.lang._nodes import KINDS, OPERATORS, Rule

__all__ = ["SegmentDefinition", "load_definition", "parse_definition"]

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
#: the longest segment name (it is a file name, ``NAME.yaml``)
MAX_NAME = 120


class SegmentDefinition(BaseModel):
    """One segment: a name, words for people, and a rule."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    title: str | None = None
    description: str | None = None
    parent: str | None = None
    tags: list[str] = Field(default_factory=list)
    rule: Rule

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _SLUG.match(value):
            raise ValueError(
                f"{value[:80]!r} is not a slug: use lower-case letters, digits and dashes"
            )
        if len(value) > MAX_NAME:  # it names a file: file systems allow 255 bytes
            raise ValueError(f"a name of {len(value)} characters: at most {MAX_NAME}")
        return value

    def to_yaml(self) -> str:
        data = self.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True)
        data["rule"] = self.model_dump(mode="json", by_alias=True, exclude_none=True)["rule"]
        return yaml.safe_dump(_clean(data), sort_keys=False, allow_unicode=True)


def _clean(value: Any) -> Any:
    """Drop empty defaults (``where: []``, ``absent: false``) from a dumped rule."""
    if isinstance(value, dict):
        kept = {
            k: _clean(v)
            for k, v in value.items()
            if not (k == "where" and v == []) and not (k == "absent" and v is False)
        }
        # the kind (and a property) first, as people write them
        first = [k for k in (*KINDS, "property") if k in kept]
        return {k: kept[k] for k in [*first, *(k for k in kept if k not in first)]}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _clean_loc(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """Drop the union tags pydantic inserts where a rule is parsed.

    A rule is parsed at ``rule``, at each item of ``all``/``any`` and at ``not``; the next
    element of the location there is the tag (the rule's kind), not a field.
    """
    out: list[str | int] = []
    expect_tag = False
    for part in loc:
        if expect_tag and part in KINDS:
            expect_tag = False
            out.append(part)
            out.append("\0tag")
            continue
        expect_tag = False
        if out and out[-1] == "\0tag":
            out.pop()
            out.pop()
            if part == "not":
                out.append(part)
                expect_tag = True
                continue
            out.append(part)
            continue
        out.append(part)
        at_list_item = isinstance(part, int) and len(out) >= 2 and out[-2] in ("all", "any")
        if (part == "rule" and len(out) == 1) or at_list_item:
            expect_tag = True
    if out and out[-1] == "\0tag":
        out.pop()
        out.pop()
    return tuple(out)


def _path(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _data_at(data: Any, loc: tuple[str | int, ...]) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


#: Every key a rule may hold (for "did you mean" and for fuzzing the language).
RULE_FIELDS = sorted(
    {
        *KINDS,
        *OPERATORS,
        "where",
        "window",
        "property",
        "count",
        "sum",
        "avg",
        "min",
        "max",
        "distinct",
        "steps",
        "within",
        "absent",
        "last",
        "from",
        "to",
        "since",
        "salt",
    }
)


#: the fields of a ``window:``, written beside it by mistake
_WINDOW_FIELDS = frozenset({"last", "from", "to", "since"})


def _message(error: Any, data: Any) -> str:
    kind = error["type"]
    loc = tuple(error["loc"])
    if kind == "extra_forbidden":
        key = str(loc[-1])
        if key in _WINDOW_FIELDS:  # {event: x, last: 30 days}: the window's own field
            return (
                f"{key!r} is not a field at this place in a rule; a time window goes under "
                f"window: (window: {{{key}: ...}})"
            )
        if key in RULE_FIELDS:  # a known field in the wrong place
            return f"{key!r} is not a field at this place in a rule"
        return f"unknown field {key!r}" + did_you_mean(key, RULE_FIELDS)
    if kind == "rule_kind":
        node = _data_at(data, _clean_loc(loc))
        if isinstance(node, dict):
            keys = [k for k in node if k in KINDS]
            if len(keys) > 1:
                return f"a rule has one kind, this one has {', '.join(keys)}; nest them under all:"
            for key in node:
                hint = did_you_mean(str(key), KINDS)
                if hint:
                    return f"unknown rule kind {key!r}{hint}"
        return str(error["msg"])
    if kind == "missing":
        return f"missing required field {str(loc[-1])!r}"
    return str(error["msg"]).removeprefix("Value error, ")


def parse_definition(
    data: Any, *, file: str | None = None, text: str | None = None
) -> SegmentDefinition:
    """Validate a definition (a mapping); raise :class:`RuleError` with every problem."""
    if not isinstance(data, dict):
        raise RuleError([Problem("(top level)", "expected a mapping with name and rule", file, 1)])
    lines = line_index(text) if text else {}
    too_deep = raw_too_deep(data.get("rule"))
    if too_deep:
        raise RuleError([Problem("rule", too_deep, file, lines.get(("rule",)))])
    try:
        definition = SegmentDefinition.model_validate(data)
    except ValidationError as exc:
        problems = []
        seen = set()
        for error in exc.errors():
            loc = _clean_loc(tuple(error["loc"]))
            line = next((lines[loc[:n]] for n in range(len(loc), -1, -1) if loc[:n] in lines), None)
            problem = Problem(_path(loc), _message(error, data), file, line)
            if str(problem) not in seen:
                seen.add(str(problem))
                problems.append(problem)
        raise RuleError(problems) from None
    too_big = shape_problem(definition.rule)
    if too_big:
        raise RuleError([Problem("rule", too_big, file, lines.get(("rule",)))])
    return definition


def load_definition(path: str | Path) -> SegmentDefinition:
    """Read one segment file."""
    path = Path(path)
    try:
        text = read_text(path)
        data = load_yaml(text, file=str(path))
    except YamlError as exc:
        raise RuleError([Problem("(file)", exc.problem, exc.file, exc.line)]) from None
    definition = parse_definition(data, file=str(path), text=text)
    if definition.name != path.stem:
        raise RuleError(
            [
                Problem(
                    "name",
                    f"the name {definition.name!r} differs from the file name {path.stem!r}; "
                    "make them the same",
                    str(path),
                    line_index(text).get(("name",)),
                )
            ]
        )
    return definition
