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

__all__ = ["Conversion", "Locale", "Params", "convert", "is_text_type"]

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


#: the hours of a numeric offset after a time (``10:00:00+02:00`` gives ``02``)
_OFFSET = r":\d{2}(?:\.\d+)?[+-](\d{2}):?(?:\d{2})?$"

#: the words read as true and false when a source declares none of its own
TRUE_WORDS = ("true", "t", "yes", "y", "1")
FALSE_WORDS = ("false", "f", "no", "n", "0")
_SPACES = (" ", "\u202f", "\u00a0")


@dataclass(frozen=True)
class Locale:
    """How a source writes numbers, dates, times and truth values (its declared read
    options; None: microseg's default). Nothing here is guessed from the data."""

    decimal: str | None = None
    thousands: str | None = None
    date_format: str | None = None
    timestamp_format: str | None = None
    #: the zone of naive timestamps, when not the workspace's
    timezone: str | None = None
    true_values: tuple[str, ...] = ()
    false_values: tuple[str, ...] = ()
    list_separators: tuple[tuple[str, str], ...] = ()

    @property
    def numbers_declared(self) -> bool:
        return self.decimal not in (None, ".") or self.thousands is not None

    def number_pattern(self) -> str:
        """RE2 pattern of a number as the source writes it (a bound parameter; the
        separators come from a fixed list)."""
        decimal = re.escape(self.decimal or ".")
        whole = r"\d+"
        if self.thousands is not None:
            group = (
                "[" + "".join(_SPACES) + "]"
                if self.thousands in _SPACES
                else re.escape(self.thousands)
            )
            whole = rf"(?:\d{{1,3}}(?:{group}\d{{3}})+|\d+)"
        return rf"^[+-]?{whole}(?:{decimal}\d+)?(?:[eE][+-]?\d+)?$"

    def number_words(self) -> str:
        """How numbers must be written, for reject reasons."""
        names = {" ": "a space", "\u202f": "a space", "\u00a0": "a space"}
        parts = [f"{self.decimal or '.'!r} for decimals"]
        if self.thousands is not None:
            parts.append(f"{names.get(self.thousands, repr(self.thousands))} between thousands")
        return "with " + " and ".join(parts) + " (the source's decimal and thousands)"

    def separator(self, column: str, default: str) -> str:
        return dict(self.list_separators).get(column, default)


#: microseg's defaults: what every source gets unless it declares otherwise
DEFAULT_LOCALE = Locale()


@dataclass
class Params:
    """Named query parameters collected while a statement is built, and the load's bounds."""

    values: dict[str, Any] = field(default_factory=dict)
    earliest: datetime = EARLIEST
    locale: Locale = DEFAULT_LOCALE
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
    #: how the source declared the value is written (``in the format '%d/%m/%Y' ...``),
    #: for reject reasons; None when microseg's defaults apply
    expects: str | None = None


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
    # an offset of 24 hours or more is no offset (DuckDB's cast would take +25:00)
    offset_hours = f"TRY_CAST(regexp_extract({text}, {params.add(_OFFSET)}, 1) AS INTEGER)"
    return params.derive(
        f"CASE WHEN {text} IS NULL THEN NULL "
        f"WHEN NOT {wordy} THEN CASE WHEN {number} IS NOT NULL THEN {_epoch(number)} "
        f"WHEN {offset_hours} >= 24 THEN NULL "
        f"ELSE timezone('UTC', TRY_CAST({text} AS TIMESTAMPTZ)) END "
        f"WHEN {zone} IN ('Z', 'z', 'UTC', 'GMT') THEN {local} "
        f"WHEN {zone}[1] IN ('+', '-') AND CAST(left({digits}, 2) AS INTEGER) >= 24 THEN NULL "
        f"WHEN {zone}[1] IN ('+', '-') THEN {local} - to_minutes({sign} * {minutes}) "
        f"WHEN list_contains({params.add(_zone_names())}::VARCHAR[], {zone}) "
        f"THEN timezone('UTC', timezone({zone}, {local})) END"
    )


def _text_number(text: str, params: Params) -> tuple[str, str | None]:
    """(derived number, how the source writes numbers) of a text value: as DuckDB reads a
    number by default, or exactly in the source's declared decimal and thousands
    separators (``2 464,70``): a value written otherwise is unreadable, never guessed."""
    locale = params.locale
    if not locale.numbers_declared:
        return params.derive(f"TRY_CAST({text} AS DOUBLE)"), None
    pattern = params.add(locale.number_pattern())
    plain = text
    if locale.thousands is not None:
        chars = _SPACES if locale.thousands in _SPACES else (locale.thousands,)
        group = params.add("[" + "".join(chars) + "]")  # '.', ',', "'" are plain in a class
        plain = f"regexp_replace({plain}, {group}, '', 'g')"
    if locale.decimal == ",":
        plain = f"replace({plain}, ',', '.')"
    number = params.derive(
        f"CASE WHEN regexp_full_match({text}, {pattern}) THEN TRY_CAST({plain} AS DOUBLE) END"
    )
    return number, locale.number_words()


def _text_boolean(text: str, params: Params) -> Conversion:
    """true/false from the default words, and the source's own (``oui``/``non``)."""
    locale = params.locale
    if not (locale.true_values or locale.false_values):
        truthy = "(" + ", ".join(f"'{w}'" for w in TRUE_WORDS) + ")"
        falsy = "(" + ", ".join(f"'{w}'" for w in FALSE_WORDS) + ")"
        is_true, is_false = f"lower({text}) IN {truthy}", f"lower({text}) IN {falsy}"
        expects = None
    else:
        words_true = [*TRUE_WORDS, *(w.strip().lower() for w in locale.true_values)]
        words_false = [*FALSE_WORDS, *(w.strip().lower() for w in locale.false_values)]
        is_true = f"list_contains({params.add(words_true)}::VARCHAR[], lower({text}))"
        is_false = f"list_contains({params.add(words_false)}::VARCHAR[], lower({text}))"
        expects = (
            f"(true: {', '.join(words_true)}; false: {', '.join(words_false)}; "
            "the source's true_values and false_values)"
        )
    return Conversion(
        f"CASE WHEN {is_true} THEN true WHEN {is_false} THEN false END",
        f"({text} IS NOT NULL AND NOT {is_true} AND NOT {is_false})",
        text,
        expects=expects,
    )


#: a naive ISO date or date and time (no offset, no zone): local time of its source
_NAIVE_ISO = r"^\d{4}-\d{1,2}-\d{1,2}(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?$"


def _utc(naive: str, params: Params) -> str:
    """Naive UTC of a naive local time of the source (its zone, or the workspace's)."""
    if params.locale.timezone is not None:
        return f"timezone('UTC', timezone({params.add(params.locale.timezone)}, {naive}))"
    return f"timezone('UTC', {naive}::TIMESTAMPTZ)"


def _formatted_timestamp(text: str, params: Params) -> tuple[str, str]:
    """(derived moment, expects) of text written in the declared timestamp format, or in
    the date format (midnight) when one is declared too."""
    locale = params.locale
    assert locale.timestamp_format is not None
    formats = [f for f in (locale.timestamp_format, locale.date_format) if f is not None]
    reads = []
    for fmt in formats:
        read = f"try_strptime({text}, {params.add(fmt)})"
        zoned = "%z" in fmt or "%Z" in fmt
        reads.append(f"timezone('UTC', {read})" if zoned else _utc(read, params))
    moment = params.derive(reads[0] if len(reads) == 1 else f"coalesce({', '.join(reads)})")
    names = " or ".join(repr(f) for f in formats)
    which = "timestamp_format" + (", date_format" if len(formats) > 1 else "")
    return moment, f"in the format {names} (the source's {which})"


def _timestamp(col: str, upper: str, text: str, params: Params, textual: bool) -> Conversion:
    """Stored as naive UTC. Naive source values are local time in the source's zone (by
    default the workspace's, the session TimeZone); values with an offset or a zone name
    are taken as given. Each moment is a derived column: a time-zone conversion is
    costly, and the checks refer to the moment several times."""
    never = "false"
    expects = None
    zone = params.locale.timezone
    if upper in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
        moment, unreadable = params.derive(f"timezone('UTC', {col})"), never
    elif upper.startswith("TIMESTAMP") or upper == "DATE":
        moment, unreadable = params.derive(_utc(f"{col}::TIMESTAMP", params)), never
    elif _is_numeric(upper):
        moment = params.derive(_epoch(f"{col}::DOUBLE"))
        unreadable = f"({col} IS NOT NULL AND {moment} IS NULL)"
    elif params.locale.timestamp_format is not None:
        moment, expects = _formatted_timestamp(text, params)
        unreadable = f"({text} IS NOT NULL AND {moment} IS NULL)"
    else:
        moment = _text_timestamp(text, params)
        if zone is not None:
            moment = params.derive(
                f"CASE WHEN regexp_full_match({text}, {params.add(_NAIVE_ISO)}) "
                f"THEN {_utc(f'TRY_CAST({text} AS TIMESTAMP)', params)} ELSE {moment} END"
            )
        unreadable = f"({text} IS NOT NULL AND {moment} IS NULL)"
    absurd, why = _time_checked(moment, params)
    return Conversion(
        f"CASE WHEN NOT {absurd} THEN {moment} END",
        f"({unreadable} OR {absurd})",
        text,
        why,
        given=text if textual else col,
        expects=expects,
    )


def is_text_type(sql_type: str) -> bool:
    upper = sql_type.upper()
    return upper in ("VARCHAR", "JSON", "TEXT") or upper.startswith("VARCHAR(")


def _is_numeric(sql_type: str) -> bool:
    upper = sql_type.upper()
    return upper.startswith(_NUMERIC) or (upper.startswith("U") and upper[1:].startswith(_NUMERIC))


def convert(  # noqa: C901 - one case per source type and target type, a dispatch table in all but name
    column: str,
    source_type: str,
    target: Target,
    params: Params,
    *,
    separator: str = "|",
    booleans: bool = True,
) -> Conversion:
    """Read ``column`` (of DuckDB type ``source_type``) as ``target``. ``booleans``: a
    true or false read as a number is 1 or 0 (a flag in a number attribute); without it
    they are unreadable (an event's amount is never ``true``)."""
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
        expects = None
        if _is_numeric(upper):
            number = f"{col}::DOUBLE"
            bad = never
        elif upper == "BOOLEAN" and booleans:
            number = f"{col}::INTEGER::DOUBLE"
            bad = never
        elif upper == "BOOLEAN":
            number = "NULL::DOUBLE"
            bad = f"({col} IS NOT NULL)"
        else:
            number, expects = _text_number(text, params)
            bad = f"({text} IS NOT NULL AND {number} IS NULL)"
        absurd, why = _number_checked(number, params)
        bad = f"({bad} OR {absurd})"
        if target == "integer":
            if not upper.startswith(_INTEGER):
                bad = f"({bad} OR ({number} IS NOT NULL AND {number} <> round({number})))"
            return Conversion(
                f"CASE WHEN NOT {absurd} THEN TRY_CAST({number} AS BIGINT) END",
                bad,
                text,
                why,
                expects=expects,
            )
        return Conversion(
            f"CASE WHEN NOT {absurd} THEN {number} END", bad, text, why, expects=expects
        )
    if target == "boolean":
        if upper == "BOOLEAN":
            return Conversion(col, never, text)
        return _text_boolean(text, params)
    if target == "date":
        expects = None
        if upper == "DATE":
            day, unreadable = col, never
        elif upper.startswith("TIMESTAMP"):
            day, unreadable = f"{col}::DATE", never
        elif params.locale.date_format is not None:
            day = params.derive(
                f"try_strptime({text}, {params.add(params.locale.date_format)})::DATE"
            )
            unreadable = f"({text} IS NOT NULL AND {day} IS NULL)"
            expects = f"in the format {params.locale.date_format!r} (the source's date_format)"
        else:
            day = f"TRY_CAST({text} AS DATE)"
            unreadable = f"({text} IS NOT NULL AND {day} IS NULL)"
        absurd, why = _time_checked(day, params)
        return Conversion(
            f"CASE WHEN NOT {absurd} THEN {day} END",
            f"({unreadable} OR {absurd})",
            text,
            why,
            expects=expects,
        )
    if target == "timestamp":
        return _timestamp(col, upper, text, params, is_text_type(source_type))
    # list of text
    if upper.endswith("[]"):
        return Conversion(f"{col}::VARCHAR[]", never, text)
    sep = params.add(params.locale.separator(column, separator))
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
