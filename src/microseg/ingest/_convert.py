"""SQL expressions that read a source column as a canonical type, row by row.

Each conversion gives the converted value and a condition that is true when the
raw value was present but could not be read; that condition becomes a reject
with a reason in plain words. Values chosen by the user (list separators,
reasons) travel as named parameters, never as SQL text.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import duckdb

from microseg.store import ident

__all__ = ["Conversion", "Params", "convert", "is_text_type"]

Target = Literal["text", "number", "integer", "boolean", "date", "timestamp", "list", "json"]

_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "DECIMAL")
_INTEGER = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT")


#: A parameter reference, skipping quoted identifiers and string literals (a column named
#: ``$p1`` is not a reference to parameter p1).
_PARAMETER = re.compile(r'"(?:[^"]|"")*"|\'(?:[^\']|\'\')*\'|\$(p\d+)\b')


#: Magnitude from which a number is refused: beyond it a double no longer holds cents.
MAX_MAGNITUDE = 1e15
#: Times after this are refused wherever no tighter limit applies (events: the future limit).
LATEST = datetime(2200, 1, 1)
#: Default earliest plausible time (``ingest.earliest`` in microseg.yaml).
EARLIEST = datetime(1900, 1, 1)

#: A text timestamp: ISO date, optional time, then an optional zone: Z/UTC/GMT, an offset
#: (+02, +0200, +02:00) or a zone name (Europe/Paris). Each row is read on its own.
_TIMESTAMP = (
    r"^(\d{4}-\d{1,2}-\d{1,2}(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?)\s*"
    r"(Z|z|UTC|GMT|[+-]\d{2}(?::?\d{2})?|[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+)+)?$"
)


@dataclass
class Params:
    """Named query parameters collected while a statement is built, and the load's bounds."""

    values: dict[str, Any] = field(default_factory=dict)
    earliest: datetime = EARLIEST
    #: (name, SQL expression, level) of columns computed once per row before the
    #: conversions; a column may use those of lower levels (see :meth:`source`)
    derived: list[tuple[str, str, int]] = field(default_factory=list)

    def derive(self, expr: str) -> str:
        """Compute ``expr`` once per row, as a column the conversions refer to."""
        name = f"__ms_d{len(self.derived)}"
        level = 1 + max(
            (lvl for other, _, lvl in self.derived if re.search(rf"\b{other}\b", expr)),
            default=0,
        )
        self.derived.append((name, expr, level))
        return name

    def add(self, value: Any) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"${name}"

    def source(self, view: str) -> str:
        """SQL of ``view`` with the derived columns added: one projection per level, so
        that DuckDB computes each once per row."""
        sql = ident(view)
        for level in sorted({lvl for _, _, lvl in self.derived}):
            columns = ", ".join(f"{e} AS {n}" for n, e, lvl in self.derived if lvl == level)
            sql = f"(SELECT *, {columns} FROM {sql})"  # noqa: S608 - identifiers via ident(), values bound as parameters
        return sql

    def used_in(self, sql: str) -> dict[str, Any]:
        """The parameters a statement refers to (DuckDB refuses unused ones)."""
        used = {m.group(1) for m in _PARAMETER.finditer(sql) if m.group(1)}
        return {k: v for k, v in self.values.items() if k in used}


@dataclass(frozen=True)
class Conversion:
    value: str  # SQL expression of the converted value (NULL when absent or unreadable)
    failed: str  # SQL condition: raw value present but unreadable or out of range
    raw_text: str  # SQL expression of the raw value as text, for reject messages
    #: SQL text expression saying why a read value is refused (NULL: it was unreadable)
    why: str = "NULL"
    #: SQL expression that is NULL exactly when the value is absent (cheaper than
    #: ``raw_text`` for typed sources: no formatting as text)
    given: str | None = None


def _number_checked(number: str, params: Params) -> tuple[str, str]:
    """(bad condition, reason) for a read number that is not finite or too large."""
    limit = params.add(MAX_MAGNITUDE)
    bad = f"({number} IS NOT NULL AND (NOT isfinite({number}) OR abs({number}) >= {limit}))"
    why = (
        f"CASE WHEN NOT isfinite({number}) THEN 'is not a finite number' "
        f"WHEN abs({number}) >= {limit} THEN 'is too large (magnitude 10^15 or more)' END"
    )
    return bad, why


def _time_checked(moment: str, params: Params) -> tuple[str, str]:
    """(bad condition, reason) for a read time outside the plausible range."""
    earliest = params.add(params.earliest)
    latest = params.add(LATEST)
    bad = f"({moment} IS NOT NULL AND ({moment} < {earliest} OR {moment} >= {latest}))"
    why = (
        f"CASE WHEN {moment} < {earliest} THEN 'is before ' || strftime({earliest}::TIMESTAMP, "
        "'%Y-%m-%d') || ', the earliest plausible time (ingest.earliest in microseg.yaml)' "
        f"WHEN {moment} >= {latest} THEN 'is after ' || strftime({latest}::TIMESTAMP, "
        "'%Y-%m-%d') END"
    )
    return bad, why


def _epoch(number: str) -> str:
    """Seconds, milliseconds, microseconds or nanoseconds since 1970, told by magnitude:
    between 1900 and 2200 the four ranges do not overlap, except that milliseconds in the
    first quarter of 1970 read as seconds."""
    scaled = (
        f"CASE WHEN abs({number}) < 1e11 THEN {number} WHEN abs({number}) < 1e14 "
        f"THEN {number} / 1e3 WHEN abs({number}) < 1e17 THEN {number} / 1e6 "
        f"WHEN abs({number}) < 1e20 THEN {number} / 1e9 END"
    )
    return (
        f"CASE WHEN isfinite({number}) AND abs({number}) < 1e20 "
        f"THEN timezone('UTC', to_timestamp({scaled})) END"
    )


@functools.cache
def _zone_names() -> list[str]:
    """The zone names DuckDB's ICU knows (a list bound to the query: only the rows that
    name a zone look it up)."""
    with duckdb.connect() as con:
        return [str(r[0]) for r in con.execute("SELECT name FROM pg_timezone_names()").fetchall()]


def _text_timestamp(text: str, params: Params) -> str:
    """Naive UTC of a text timestamp, read row by row (no state carried between rows).

    Naive values are wall-clock time in the workspace zone (the session TimeZone): a time
    in a spring-forward gap moves forward by the gap, and a fall-back hour that happens
    twice is read as its second occurrence (standard time), as ICU does.

    DuckDB's own cast is fast and right for ISO text with ``Z`` or an offset, but after a
    value with a zone *name* it reads later naive values in that zone: values with a word
    in them (two letters in a row, or a ``/``) are read here instead, piece by piece. The
    intermediate values are derived columns, computed once per row.
    """
    text = params.derive(text)
    wordy = params.derive(f"regexp_matches({text}, '[A-Za-z]{{2}}|/')")
    parts = params.derive(
        f"CASE WHEN {wordy} THEN regexp_extract({text}, {params.add(_TIMESTAMP)}, ['d', 'z']) END"
    )
    local = f"TRY_CAST({parts}.d AS TIMESTAMP)"
    zone = f"{parts}.z"
    digits = f"replace(substr({zone}, 2), ':', '')"
    minutes = (
        f"(CAST(left({digits}, 2) AS INTEGER) * 60 + "
        f"CASE WHEN length({digits}) = 4 THEN CAST(right({digits}, 2) AS INTEGER) ELSE 0 END)"
    )
    sign = f"CASE WHEN starts_with({zone}, '-') THEN -1 ELSE 1 END"
    number = f"TRY_CAST({text} AS DOUBLE)"
    return params.derive(
        f"CASE WHEN {text} IS NULL THEN NULL "
        f"WHEN NOT {wordy} THEN CASE WHEN {number} IS NOT NULL THEN {_epoch(number)} "
        f"ELSE timezone('UTC', TRY_CAST({text} AS TIMESTAMPTZ)) END "
        f"WHEN {zone} IN ('Z', 'z', 'UTC', 'GMT') THEN {local} "
        f"WHEN {zone}[1] IN ('+', '-') THEN {local} - to_minutes({sign} * {minutes}) "
        f"WHEN list_contains({params.add(_zone_names())}::VARCHAR[], {zone}) "
        f"THEN timezone('UTC', timezone({zone}, {local})) END"
    )


def is_text_type(sql_type: str) -> bool:
    upper = sql_type.upper()
    return upper in ("VARCHAR", "JSON", "TEXT") or upper.startswith("VARCHAR(")


def _is_numeric(sql_type: str) -> bool:
    upper = sql_type.upper()
    return upper.startswith(_NUMERIC) or (upper.startswith("U") and upper[1:].startswith(_NUMERIC))


def convert(  # noqa: C901 - one case per source type and target type, a dispatch table in all but name
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
            number = params.derive(f"TRY_CAST({text} AS DOUBLE)")
            bad = f"({text} IS NOT NULL AND {number} IS NULL)"
        absurd, why = _number_checked(number, params)
        bad = f"({bad} OR {absurd})"
        if target == "integer":
            if not upper.startswith(_INTEGER):
                bad = f"({bad} OR ({number} IS NOT NULL AND {number} <> round({number})))"
            return Conversion(
                f"CASE WHEN NOT {absurd} THEN TRY_CAST({number} AS BIGINT) END", bad, text, why
            )
        return Conversion(f"CASE WHEN NOT {absurd} THEN {number} END", bad, text, why)
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
            day, unreadable = col, never
        elif upper.startswith("TIMESTAMP"):
            day, unreadable = f"{col}::DATE", never
        else:
            day = f"TRY_CAST({text} AS DATE)"
            unreadable = f"({text} IS NOT NULL AND {day} IS NULL)"
        absurd, why = _time_checked(day, params)
        return Conversion(
            f"CASE WHEN NOT {absurd} THEN {day} END", f"({unreadable} OR {absurd})", text, why
        )
    if target == "timestamp":
        # Stored as naive UTC. Naive source values are local time in the workspace zone
        # (the session TimeZone); values with an offset or a zone name are taken as given.
        # Each moment is a derived column: a time-zone conversion is costly, and the checks
        # refer to the moment several times.
        if upper in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
            moment, unreadable = params.derive(f"timezone('UTC', {col})"), never
        elif upper.startswith("TIMESTAMP") or upper == "DATE":
            moment, unreadable = params.derive(f"timezone('UTC', {col}::TIMESTAMPTZ)"), never
        elif _is_numeric(upper):
            moment = params.derive(_epoch(f"{col}::DOUBLE"))
            unreadable = f"({col} IS NOT NULL AND {moment} IS NULL)"
        else:
            moment = _text_timestamp(text, params)
            unreadable = f"({text} IS NOT NULL AND {moment} IS NULL)"
        absurd, why = _time_checked(moment, params)
        return Conversion(
            f"CASE WHEN NOT {absurd} THEN {moment} END",
            f"({unreadable} OR {absurd})",
            text,
            why,
            given=text if is_text_type(source_type) else col,
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
