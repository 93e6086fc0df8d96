"""SQL expressions that read a source column as a canonical type, row by row.

Each conversion gives the converted value and a condition that is true when the
raw value was present but could not be read; that condition becomes a reject
with a reason in plain words. Values chosen by the user (list separators,
reasons) travel as named parameters, never as SQL text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from microseg.store import ident

__all__ = ["Conversion", "Params", "convert", "is_text_type"]

Target = Literal["text", "number", "integer", "boolean", "date", "timestamp", "list", "json"]

_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "DECIMAL")
_INTEGER = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT")


#: A parameter reference, skipping quoted identifiers and string literals (a column named
#: ``$p1`` is not a reference to parameter p1).
_PARAMETER = re.compile(r'"(?:[^"]|"")*"|\'(?:[^\']|\'\')*\'|\$(p\d+)\b')


@dataclass
class Params:
    """Named query parameters collected while a statement is built."""

    values: dict[str, Any] = field(default_factory=dict)

    def add(self, value: Any) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"${name}"

    def used_in(self, sql: str) -> dict[str, Any]:
        """The parameters a statement refers to (DuckDB refuses unused ones)."""
        used = {m.group(1) for m in _PARAMETER.finditer(sql) if m.group(1)}
        return {k: v for k, v in self.values.items() if k in used}


@dataclass(frozen=True)
class Conversion:
    value: str  # SQL expression of the converted value (NULL when absent or unreadable)
    failed: str  # SQL condition: raw value present but unreadable
    raw_text: str  # SQL expression of the raw value as text, for reject messages


def is_text_type(sql_type: str) -> bool:
    upper = sql_type.upper()
    return upper in ("VARCHAR", "JSON", "TEXT") or upper.startswith("VARCHAR(")


def _is_numeric(sql_type: str) -> bool:
    upper = sql_type.upper()
    return upper.startswith(_NUMERIC) or (upper.startswith("U") and upper[1:].startswith(_NUMERIC))


def convert(
    column: str, source_type: str, target: Target, params: Params, *, separator: str = "|"
) -> Conversion:
    """Read ``column`` (of DuckDB type ``source_type``) as ``target``."""
    col = ident(column)
    upper = source_type.upper()
    text = f"nullif(trim({col}::VARCHAR), '')" if not upper.endswith("[]") else f"{col}::VARCHAR"
    never = "false"
    if target == "json":
        value = f"to_json({col})" if not is_text_type(source_type) else f"to_json({text})"
        return Conversion(value, never, text)
    if target == "text":
        value = f"array_to_string({col}, {params.add(separator)})" if upper.endswith("[]") else text
        return Conversion(value, never, text)
    if target in ("number", "integer"):
        if _is_numeric(upper):
            number = f"{col}::DOUBLE"
            bad = never
        elif upper == "BOOLEAN":
            number = f"{col}::INTEGER::DOUBLE"
            bad = never
        else:
            number = f"TRY_CAST({text} AS DOUBLE)"
            bad = f"({text} IS NOT NULL AND TRY_CAST({text} AS DOUBLE) IS NULL)"
        if target == "integer":
            if not upper.startswith(_INTEGER):
                bad = f"({bad} OR ({number} IS NOT NULL AND {number} <> round({number})))"
            return Conversion(f"CAST({number} AS BIGINT)", bad, text)
        return Conversion(number, bad, text)
    if target == "boolean":
        if upper == "BOOLEAN":
            return Conversion(col, never, text)
        truthy = "('true', 't', 'yes', 'y', '1')"
        falsy = "('false', 'f', 'no', 'n', '0')"
        value = (
            f"CASE WHEN lower({text}) IN {truthy} THEN true "
            f"WHEN lower({text}) IN {falsy} THEN false END"
        )
        bad = (
            f"({text} IS NOT NULL AND lower({text}) NOT IN {truthy} "
            f"AND lower({text}) NOT IN {falsy})"
        )
        return Conversion(value, bad, text)
    if target == "date":
        if upper == "DATE":
            return Conversion(col, never, text)
        if upper.startswith("TIMESTAMP"):
            return Conversion(f"{col}::DATE", never, text)
        return Conversion(
            f"TRY_CAST({text} AS DATE)",
            f"({text} IS NOT NULL AND TRY_CAST({text} AS DATE) IS NULL)",
            text,
        )
    if target == "timestamp":
        # Stored as naive UTC. Naive source values are local time in the workspace zone
        # (the session TimeZone); values with an offset are taken as given.
        if upper in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
            return Conversion(f"timezone('UTC', {col})", never, text)
        if upper.startswith("TIMESTAMP") or upper == "DATE":
            return Conversion(f"timezone('UTC', {col}::TIMESTAMPTZ)", never, text)
        if _is_numeric(upper):
            return Conversion(f"timezone('UTC', to_timestamp({col}::DOUBLE))", never, text)
        parsed = f"TRY_CAST({text} AS TIMESTAMPTZ)"
        return Conversion(
            f"timezone('UTC', {parsed})", f"({text} IS NOT NULL AND {parsed} IS NULL)", text
        )
    # list of text
    if upper.endswith("[]"):
        return Conversion(f"{col}::VARCHAR[]", never, text)
    sep = params.add(separator)
    as_json = f"TRY_CAST({text} AS JSON)"
    value = (
        f"CASE WHEN starts_with({text}, '[') THEN TRY_CAST({as_json} AS VARCHAR[]) "
        f"WHEN {text} IS NOT NULL THEN list_filter(list_transform(string_split({text}, {sep}), "
        "lambda x: trim(x)), lambda x: x <> '') END"
    )
    bad = (
        f"({text} IS NOT NULL AND starts_with({text}, '[') "
        f"AND TRY_CAST({as_json} AS VARCHAR[]) IS NULL)"
    )
    return Conversion(value, bad, text)
