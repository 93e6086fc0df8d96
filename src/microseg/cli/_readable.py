"""Values, times, rules and explanations as a person reads them.

Lists joined (``sports, anime, fashion``), booleans ``yes``/``no``, numbers without
scientific notation, instants in the workspace's time zone, rules in YAML, and ``explain``
in sentences ("bought sports 3 times in the last 6 months (needs at least 1)"). The
library's results stay data; this module only words them.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from rich.table import Table

__all__ = ["fitted_table", "number", "rule_yaml", "sentence", "tree_lines", "value_text", "when"]

#: how an event type reads as a verb ("bought sports 3 times")
VERBS = {
    "purchase": "bought",
    "return": "returned",
    "view": "viewed",
    "search": "searched",
    "cart_add": "added to cart",
    "checkout_abandon": "abandoned a checkout",
    "email_sent": "was sent an e-mail",
    "email_open": "opened an e-mail",
    "email_click": "clicked an e-mail",
}

NEEDS = {
    "eq": "{}",
    "ne": "not {}",
    "gt": "more than {}",
    "gte": "at least {}",
    "lt": "less than {}",
    "lte": "at most {}",
    "in": "one of {}",
    "not_in": "none of {}",
    "contains": "to contain {}",
    "contains_any": "any of {}",
    "contains_all": "all of {}",
    "starts_with": "to start with {}",
    "ends_with": "to end with {}",
    "matches": "to match {}",
}


def number(value: float, digits: int = 2) -> str:
    """A number with thousands separators, never in scientific notation."""
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 1e15:
        return f"{value:,.0f}"
    shown = f"{value:,.{digits}f}"
    if float(shown.replace(",", "")) == 0 and value != 0:  # a small value keeps its digits
        shown = f"{value:.{digits + 4}f}".rstrip("0")
    return shown


def when(value: datetime | date | None, timezone: str = "UTC", *, zone: bool = True) -> str:
    """An instant in the workspace's zone; the end of a day reads as that day's end.
    ``zone=False`` leaves the zone's name out (a table that names it in its title)."""
    if value is None:
        return "-"
    if not isinstance(value, datetime):
        return value.isoformat()
    aware = value if value.tzinfo else value.replace(tzinfo=ZoneInfo("UTC"))
    local = aware.astimezone(ZoneInfo(timezone))
    if (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0):
        text = f"end of {(local - timedelta(days=1)):%Y-%m-%d}"
    else:
        text = f"{local:%Y-%m-%d %H:%M}"
    return f"{text} ({timezone})" if zone else text


def value_text(value: Any, timezone: str = "UTC") -> str:
    """One value: lists joined, yes/no, plain numbers, local times, "missing"."""
    if value is None:
        return "missing"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return number(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, datetime | date):
        return when(value, timezone)
    if isinstance(value, list | tuple | set):
        return ", ".join(value_text(v, timezone) for v in value) or "none"
    if isinstance(value, dict):
        return ", ".join(f"{k} {value_text(v, timezone)}" for k, v in value.items())
    return str(value)


def rule_yaml(rule: Any) -> str:
    """A rule (a tree node or its dict) as the YAML one writes in segments/*.yaml."""
    data = (
        rule.model_dump(by_alias=True, exclude_none=True) if hasattr(rule, "model_dump") else rule
    )
    return yaml.safe_dump(_plain(data), sort_keys=False, allow_unicode=True, width=76).rstrip()


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v not in (None, [], {})}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


#: how a property test reads after the property's name ("query contains any of x, y")
WHERE = {
    "eq": "is {}",
    "ne": "is not {}",
    "gt": "is more than {}",
    "gte": "is at least {}",
    "lt": "is less than {}",
    "lte": "is at most {}",
    "in": "is one of {}",
    "not_in": "is none of {}",
    "contains": "contains {}",
    "contains_any": "contains any of {}",
    "contains_all": "contains all of {}",
    "starts_with": "starts with {}",
    "ends_with": "ends with {}",
    "matches": "matches {}",
}


def _condition(predicate: Any) -> str:
    op, operand = predicate.op, predicate.operand
    if op == "between":
        test = f"is between {value_text(operand[0])} and {value_text(operand[1])}"
    elif op == "is_null":
        test = "is missing" if operand else "is present"
    else:
        test = WHERE.get(op, op + " {}").format(value_text(operand))
    return f"{predicate.property} {test}"


def _needs(predicate: Any) -> str:
    op, operand = predicate.op, predicate.operand
    if op == "between":
        return f"between {value_text(operand[0])} and {value_text(operand[1])}"
    if op == "is_null":
        return "to be missing" if operand else "a value"
    return str(NEEDS.get(op, op + " {}").format(value_text(operand)))


def _window(window: Any) -> str:
    if window is None:
        return ""
    if window.last:
        return f" in the last {window.last}"
    if window.since is not None:
        return f" since {value_text(window.since)}"
    return f" from {value_text(window.from_ or 'the start')} to {value_text(window.to or 'as_of')}"


def _times(count: Any) -> str:
    if not isinstance(count, int | float):
        return value_text(count)
    return "once" if count == 1 else f"{number(float(count))} times"


def _event_sentence(rule: Any, value: Any) -> str:
    name, test = rule.aggregate
    where = list(rule.where)
    what = ""
    single = [p for p in where if p.op == "eq" and p.property in ("category", "brand", "product")]
    if len(single) == 1 and len(where) == 1:
        what = f" {value_text(single[0].operand)}"
        where = []
    condition = " where " + " and ".join(_condition(p) for p in where) if where else ""
    window = _window(rule.window)
    verb = VERBS.get(rule.event, "did something" if rule.event == "any" else f"had {rule.event}")
    if name == "count":
        return f"{verb}{what} {_times(value)}{window}{condition} (needs {_needs(test)})"
    prop = getattr(test, "property", "value")
    of = f"{rule.event} events{what}{window}{condition}"
    label = {"sum": "total", "avg": "average", "distinct": "distinct"}.get(name, name)
    return f"{label} {prop} over {of} is {value_text(value)} (needs {_needs(test)})"


def _missing_reason(missing: dict[str, str] | None, timezone: str) -> str:
    """Why an attribute has no value, in words: never loaded, or valid only later."""
    if not missing:
        return ""
    if missing.get("reason") == "never_loaded":
        return " (never loaded for this customer)"
    since = datetime.fromisoformat(missing["valid_from"].replace("Z", "+00:00"))
    return f" (not yet valid then: valid from {when(since, timezone)})"


def sentence(node: Any, timezone: str = "UTC") -> str:
    """One explained node in words, from its rule, the deciding value and any reason."""
    rule, value = node.node, node.value
    kind = type(rule).__name__
    because = _missing_reason(getattr(node, "missing", None), timezone)
    if kind in ("AllRule", "AnyRule"):
        held = sum(c.holds for c in node.children)
        need = "all" if kind == "AllRule" else "at least one"
        return f"{held} of {len(node.children)} hold (needs {need})"
    if kind == "NotRule":
        return "the rule below must not hold" + ("" if node.holds else ", and it does")
    if kind in ("AttributeRule", "TraitRule"):
        name = rule.attribute if kind == "AttributeRule" else rule.trait
        if value is None and rule.op != "is_null":
            return f"{name} is missing{because} (needs {_needs(rule)})"
        verb = "are" if isinstance(value, list | tuple) and len(value) != 1 else "is"
        return f"{name} {verb} {value_text(value, timezone)} (needs {_needs(rule)})"
    if kind == "EventRule":
        return _event_sentence(rule, value)
    return str(node.text)


def tree_lines(node: Any, timezone: str = "UTC", depth: int = 0) -> list[str]:
    """The explanation as indented sentences, ✓ for what holds and ✗ for what does not."""
    mark = "✓" if node.holds else "✗"
    lines = [f"{'  ' * depth}{mark} {sentence(node, timezone)}"]
    for child in node.children:
        lines.extend(tree_lines(child, timezone, depth + 1))
    return lines


def fitted_table(
    title: str, columns: tuple[str, ...], rows: list[list[str]], text: int = 1
) -> Table:
    """A table that fits the terminal by wrapping, never cutting: the first ``text``
    columns fold; the others (numbers) are as wide as their longest value or header word."""
    table = Table(title=title)
    for i, column in enumerate(columns):
        if i < text:
            table.add_column(column, overflow="fold")
            continue
        words = max(len(word) for word in column.split())
        width = max([words, *(len(row[i]) for row in rows)])
        table.add_column(column, justify="right", width=width)
    for row in rows:
        table.add_row(*row)
    return table
