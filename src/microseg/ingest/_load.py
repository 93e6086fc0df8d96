"""Machinery shared by the customer, event and product loaders."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from microseg.core.results import Result
from microseg.ingest._columns import IdentityProposal, identifier_like_name, identity_by_name
from microseg.ingest._convert import (
    DEFAULT_LOCALE,
    EARLIEST,
    FALSE_WORDS,
    TRUE_WORDS,
    Conversion,
    Locale,
    Params,
    convert,
    is_text_type,
)
from microseg.ingest._sources import LINE, ROW, OpenedSource, row_too_long
from microseg.store import IDENTITY_TYPES, Store, ident

__all__ = [
    "ColumnReport",
    "Fate",
    "Inferred",
    "InvalidIdentifiers",
    "LoadContext",
    "LoadReport",
    "Problem",
    "Progress",
    "infer_types",
    "problems_list",
    "sniff_types",
]

#: progress(message, done, total)
Progress = Callable[[str, int, int], None]

Role = Literal["attribute", "identity", "property", "canonical", "ignored"]
TypeFrom = Literal["declared", "stored", "inferred", "file"]


class ColumnReport(Result):
    """Where one column of one source went."""

    source: str
    column: str  # its name in the source
    #: ``attribute`` (customers), ``identity`` (customer_id, email, phone, anonymous_id),
    #: ``property`` (events and products: in ``properties``), ``canonical`` (a column of
    #: the table, such as ``timestamp`` or ``amount``, or the version time ``valid_from``),
    #: ``ignored``
    role: Role
    #: the attribute or property name, the identity type or the canonical column
    name: str
    #: attributes and properties: text, number, boolean, date, timestamp or list
    type: str | None = None
    #: where the type came from: declared in microseg.yaml, the stored attribute's,
    #: inferred from the values, or the file's own (Parquet, data frames)
    type_from: TypeFrom | None = None
    note: str | None = None
    #: a column that could be an identity but was stored as an attribute or a property
    warning: str | None = None


class InvalidIdentifiers(Result):
    """Identifier values of one type that are not valid: they link no one."""

    id_type: str
    values: int  # distinct values (summed over the sources)
    examples: list[str]  # the first few, in order


class LoadReport(Result):
    """What one ``ingest`` did: nothing handed in goes uncounted."""

    kind: str
    load_id: int
    sources: tuple[str, ...]
    rows_read: int
    accepted: int
    duplicates: int
    rejected: int
    new_customers: int = 0
    merged_customers: int = 0
    seconds: float = 0.0
    reasons: dict[str, int] = Field(default_factory=dict)
    #: rows loaded without one of their identifiers, by why: ``invalid_email``,
    #: ``placeholder_<type>``, ``shared_<type>`` (the identifier linked no one)
    identifiers_set_aside: dict[str, int] = Field(default_factory=dict)
    #: identifiers this load found shared by more customers than the limit:
    #: ``{"id_type", "id_value", "customers"}`` each (``microseg identity shared``)
    shared_identifiers: list[dict[str, Any]] = Field(default_factory=list)
    #: where each column of each source went, in file order
    columns: list[ColumnReport] = Field(default_factory=list)
    #: invalid e-mails and phones of this load, by type (the rows are counted in
    #: ``identifiers_set_aside`` and, when the row had nothing else, in ``reasons``)
    invalid_identifiers: list[InvalidIdentifiers] = Field(default_factory=list)
    #: things the load did that a person should know about (also in ``columns``)
    warnings: list[str] = Field(default_factory=list)


@dataclass(frozen=True)
class Problem:
    """One check: when ``condition`` holds, the row is rejected for ``reason`` (SQL text)."""

    column: str
    condition: str
    value: str
    reason: str  # SQL expression building the message
    code: str = "invalid"  # short stable name of the check, for counts and filters
    code_sql: str | None = None  # a SQL expression of the code, when it depends on the row
    column_sql: str | None = None  # a SQL expression of the column, when it depends on the row


def problems_list(problems: list[Problem], params: Params) -> str:
    """SQL list of the problems a row has (empty when it is fine).

    Column names and codes come from the user's headers: they travel as bound
    parameters, never as SQL text.
    """
    if not problems:
        return "[]::STRUCT(col VARCHAR, val VARCHAR, reason VARCHAR, code VARCHAR)[]"
    items = ", ".join(
        f"CASE WHEN {_first_of_its_cell(p, problems[:i])} THEN struct_pack("
        f"col := {p.column_sql or params.add(p.column) + '::VARCHAR'}, val := {p.value}, "
        f"reason := {p.reason}, code := {p.code_sql or params.add(p.code) + '::VARCHAR'}) END"
        for i, p in enumerate(problems)
    )
    return f"list_filter([{items}], lambda x: x IS NOT NULL)"


def _first_of_its_cell(problem: Problem, earlier: list[Problem]) -> str:
    """``problem``'s condition, unless an earlier check of the same cell already holds:
    one bad cell gives one reason (a column read twice, e.g. as the valid-from time and
    as an attribute, would otherwise give two)."""
    same = [
        p.condition
        for p in earlier
        if p.column == problem.column and p.column and p.column_sql is None
    ]
    if not same or problem.column_sql is not None:
        return problem.condition
    return f"({problem.condition}) AND NOT ({' OR '.join(f'coalesce({c}, false)' for c in same)})"


def text(message: str) -> str:
    """A SQL string literal of one of microseg's own messages (never of user data)."""
    return "'" + message.replace("'", "''") + "'"


def unreadable(column: str, conv: Conversion, what: str, hint: str, params: Params) -> Problem:
    """The row's value of ``column`` could not be read as ``what`` (``hint`` may hold user
    text such as an attribute name: it is a bound parameter). When the source declared
    how the value is written, the reason names that format instead of microseg's default."""
    if conv.expects is not None:
        what = f"{what} {conv.expects}"
        hint = "write it as declared, or change the source's read options"
    return Problem(
        column,
        conv.failed,
        conv.raw_text,
        f"coalesce({text(chr(39))} || {conv.raw_text} || {text(chr(39) + ' ')} || {conv.why} || "
        f"{params.add('; ' + hint)}::VARCHAR, "
        f"{text('could not read ' + chr(39))} || {conv.raw_text} || "
        f"{params.add(chr(39) + ' as ' + what + '; ' + hint)}::VARCHAR)",
        "unreadable_" + column,
    )


def missing(column: str, expr: str, what: str) -> Problem:
    return Problem(
        column,
        f"{expr} IS NULL",
        "NULL",
        text(f"missing required field '{column}' ({what})"),
        "missing_" + column,
    )


@dataclass
class LoadContext:
    """State of one load: its id, its clock, and the running counts."""

    store: Store
    kind: str
    load_id: int
    now: datetime
    progress: Progress | None = None
    started: float = field(default_factory=time.perf_counter)
    rows_read: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    new_customers: int = 0
    merged_customers: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    set_aside: dict[str, int] = field(default_factory=dict)
    shared: list[dict[str, Any]] = field(default_factory=list)
    last_ok: int = 0  # accepted rows of the source staged last
    earliest: datetime = EARLIEST  # times before this are implausible, rejected
    columns: list[ColumnReport] = field(default_factory=list)
    invalid: dict[str, tuple[int, list[str]]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    locale: Locale = DEFAULT_LOCALE  # how the sources write numbers, dates, times

    def params(self) -> Params:
        """A fresh parameter set for one statement, carrying the load's bounds."""
        return Params(earliest=self.earliest, locale=self.locale)

    def step(self, message: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(message, done, total)

    def stage(
        self,
        opened: OpenedSource,
        select: dict[str, str],
        problems: list[Problem],
        params: Params,
        *,
        keep: list[str] | None = None,
    ) -> str:
        """Create ``_stage`` (converted columns and ``_ok``) and reject its bad rows.

        ``keep`` limits the materialised columns (``_row``, ``_line`` and ``_ok`` always
        stay). The returned query (taking ``params``) computes every column again from
        the source, for a caller that would rather read the source once more than keep
        a wide copy. The problem list of a row is only built for rows that have one, so
        a clean file pays for one boolean per row.
        """
        store = self.store
        too_long = row_too_long(opened)
        if too_long is not None:
            problems = [Problem("", too_long[0], "NULL", too_long[1], "row_too_long"), *problems]
        body = ", ".join(f"{expr} AS {ident(name)}" for name, expr in select.items())
        any_problem = " OR ".join(f"coalesce({p.condition}, false)" for p in problems) or "false"
        query = (
            f"SELECT {ROW} AS _row, {LINE} AS _line, {body}, NOT ({any_problem}) AS _ok "  # noqa: S608 - identifiers via ident(), values bound as parameters
            f"FROM {params.source(opened.view)}"
        )
        columns = "*"
        if keep is not None:
            columns = ", ".join(ident(c) for c in ["_row", "_line", *keep, "_ok"])
        sql = f"CREATE OR REPLACE TEMP TABLE _stage AS SELECT {columns} FROM ({query})"  # noqa: S608 - identifiers via ident(), values bound as parameters
        store.execute(sql, params.used_in(sql))
        row = store.fetchone("SELECT count(*), count(*) FILTER (NOT _ok) FROM _stage")
        assert row is not None
        staged, bad = int(row[0]), int(row[1])
        self.last_ok = staged - bad
        self.rows_read += staged + len(opened.parse_rejects)
        if bad:
            sql = (
                f"CREATE OR REPLACE TEMP TABLE _bad AS SELECT {ROW} AS _row, {LINE} AS _line, "  # noqa: S608 - identifiers via ident(), values bound as parameters
                f"{problems_list(problems, params)} AS _problems FROM {params.source(opened.view)} "
                f"WHERE {ROW} IN (SELECT _row FROM _stage WHERE NOT _ok)"
            )
            store.execute(sql, params.used_in(sql))
            self._write_rejects(opened)
        self._write_parse_rejects(opened)
        self.rejected += bad + len(opened.parse_rejects)
        return f"({query})"

    def _write_rejects(self, opened: OpenedSource) -> None:
        store = self.store
        params = {
            "load": self.load_id,
            "kind": self.kind,
            "src": opened.source.name,
            "now": self.now,
        }
        store.execute(
            f"""INSERT INTO rejects
            SELECT $load, $kind, $src, p._row, p._line, nullif(p.x.col, ''),
                   CASE WHEN NOT p._gone THEN left(p.x.val::VARCHAR, 1000) END,
                   p.x.code, p.x.reason,
                   CASE WHEN p._gone THEN NULL
                        WHEN strlen(to_json(r)::VARCHAR) > 100000
                        THEN to_json(left(to_json(r)::VARCHAR, 1000) || '...')
                        ELSE to_json(r) END, $now
            FROM {
                opened.raw_rows(
                    "(SELECT _row, _line, unnest(_problems) AS x, list_contains("
                    "list_transform(_problems, lambda y: y.code), 'forgotten') AS _gone "
                    "FROM _bad) p",
                    key="p._row",
                )
            }""",  # noqa: S608 - identifiers via ident(), values bound as parameters
            params,
        )
        for code, count in store.fetchall(
            "SELECT x.code, count(DISTINCT _row) FROM "
            "(SELECT _row, unnest(_problems) AS x FROM _bad) GROUP BY 1"
        ):
            self.reasons[str(code)] = self.reasons.get(str(code), 0) + int(count)

    def _write_parse_rejects(self, opened: OpenedSource) -> None:
        params = {
            "load": self.load_id,
            "kind": self.kind,
            "src": opened.source.name,
            "now": self.now,
        }
        csv_like = opened.source.format == "csv"
        for reject in opened.parse_rejects:
            self.store.execute(
                "INSERT INTO rejects VALUES ($load, $kind, $src, $row, $line, NULL, NULL, "
                "'malformed_line', $reason, to_json($raw::VARCHAR), $now)",
                {
                    **params,
                    # CSV: numbered once the load knows its rejects (microseg.ingest._lines)
                    "row": -reject.line if csv_like else reject.line,
                    "line": None if csv_like else reject.line,
                    "reason": reject.reason,
                    "raw": reject.raw,
                },
            )
        if opened.parse_rejects:
            self.reasons["malformed_line"] = self.reasons.get("malformed_line", 0) + len(
                opened.parse_rejects
            )

    def note_invalid(self, rows: list[tuple[Any, ...]]) -> None:
        """Add (type, distinct values, examples) rows to the invalid identifiers found."""
        for id_type, count, examples in rows:
            before, seen = self.invalid.get(str(id_type), (0, []))
            more = [str(e) for e in examples if str(e) not in seen]
            self.invalid[str(id_type)] = (before + int(count), (seen + more)[:5])

    def place_columns(self, opened: OpenedSource, fates: dict[str, Fate]) -> None:
        """Record where each column of ``opened`` went (``fates`` by mapped name)."""
        proposals = {p.column: p for p in opened.proposals}
        for column in opened.columns:
            fate = fates[column]
            source_column = opened.source_column(column)
            warning = None
            if fate.role in ("attribute", "property") and self.kind != "products":
                warning = _identity_warning(
                    source_column, column, proposals.get(source_column), fate.emails
                )
            if warning is not None:
                self.warnings.append(f"{opened.source.name}: column {source_column!r} {warning}")
            note = fate.note
            proposal = proposals.get(source_column)
            if note is None and proposal is not None and proposal.taken:
                note = f"the {proposal.id_type} identity, by its name"
            elif note is None and proposal is not None and not proposal.plausible:
                note = proposal.why
            if column in opened.constants:
                note = f"not in the file: the declared constant {opened.constants[column]!r}"
            self.columns.append(
                ColumnReport(
                    source=opened.source.name,
                    column=source_column,
                    role=fate.role,
                    name=fate.name,
                    type=fate.type,
                    type_from=fate.type_from,
                    note=note,
                    warning=warning,
                )
            )

    def report(self, sources: tuple[str, ...]) -> LoadReport:
        return LoadReport(
            kind=self.kind,
            load_id=self.load_id,
            sources=sources,
            rows_read=self.rows_read,
            accepted=self.accepted,
            duplicates=self.duplicates,
            rejected=self.rejected,
            new_customers=self.new_customers,
            merged_customers=self.merged_customers,
            seconds=round(time.perf_counter() - self.started, 3),
            reasons=dict(sorted(self.reasons.items())),
            identifiers_set_aside=dict(sorted(self.set_aside.items())),
            shared_identifiers=list(self.shared),
            columns=list(self.columns),
            invalid_identifiers=[
                InvalidIdentifiers(id_type=t, values=n, examples=examples)
                for t, (n, examples) in sorted(self.invalid.items())
            ],
            warnings=list(self.warnings),
        )

    def count(self, into: dict[str, int], rows: list[tuple[Any, ...]]) -> None:
        """Add (code, count) rows to one of the running tallies."""
        for code, count in rows:
            into[str(code)] = into.get(str(code), 0) + int(count)

    def reject_orphans(self, opened: OpenedSource, orphans: str) -> None:
        """Reject the staged rows whose ``_key`` is in table ``orphans`` (``_key``, ``code``,
        ``col``, ``reason``): rows left with no identifier that may link."""
        n = int(self.store.scalar(f"SELECT count(*) FROM {ident(orphans)}"))  # noqa: S608 - identifiers via ident(), values bound as parameters
        if not n:
            return
        store = self.store
        joined = opened.raw_rows(
            f"_stage s JOIN {ident(orphans)} o ON o._key = s._key", key="s._row"
        )
        store.execute(
            f"""INSERT INTO rejects
            SELECT $load, $kind, $src, s._row, s._line, o.col, o.val, o.code, o.reason,
                   to_json(r), $now
            FROM {joined}
            WHERE s._ok""",  # noqa: S608 - identifiers via ident(), values bound as parameters
            {"load": self.load_id, "kind": self.kind, "src": opened.source.name, "now": self.now},
        )
        counts = store.fetchall(
            f"SELECT o.code, count(*) FROM _stage s JOIN {ident(orphans)} o ON o._key = s._key "  # noqa: S608 - identifiers via ident(), values bound as parameters
            "WHERE s._ok GROUP BY 1"
        )
        self.count(self.reasons, counts)
        rows = sum(int(c) for _, c in counts)
        self.rejected += rows
        self.last_ok -= rows
        store.execute(
            f"UPDATE _stage SET _ok = false WHERE _key IN (SELECT _key FROM {ident(orphans)})"  # noqa: S608 - identifiers via ident(), values bound as parameters
        )


@dataclass(frozen=True)
class Fate:
    """Where a column goes, as a loader decided it (see :class:`ColumnReport`)."""

    role: Role
    name: str
    type: str | None = None
    type_from: TypeFrom | None = None
    note: str | None = None
    emails: bool = False  # its values look like e-mail addresses


@dataclass(frozen=True)
class Inferred:
    """The type inferred for a column, and why when the values alone would say otherwise."""

    type: str
    note: str | None = None
    emails: bool = False  # most values look like e-mail addresses


_AN = {"email": "an e-mail", "phone": "a phone"}


def _identity_warning(
    column: str, target: str, proposal: IdentityProposal | None, emails: bool
) -> str | None:
    """Why a column that could be an identity was stored as an attribute or property."""
    id_type = identity_by_name(column) or identity_by_name(target)
    hint = ""
    if proposal is not None and not proposal.plausible:
        return None
    if proposal is not None:
        id_type = proposal.id_type
        why = proposal.why
        if proposal.other is not None:
            hint = f" --map {proposal.other!r}=another_name"
    elif id_type is not None:
        why = "its name is not the identity's"
    elif emails:
        id_type, why = "email", "its values look like e-mail addresses"
    else:
        return None
    return (
        f"could be {_AN[id_type]} identity but is stored as {target!r} ({why}); to link "
        f"customers by it, map it: --map {column!r}={id_type}{hint}"
    )


def properties_json(
    ctx: LoadContext,
    opened: OpenedSource,
    extras: dict[str, str],
    params: Params,
    fates: dict[str, Fate] | None = None,
) -> str:
    """Non-canonical columns as one JSON object, typed: numbers stay numbers.

    Typed sources (Parquet, frames) keep their types; text sources (CSV, JSON Lines)
    get each column's type from its values. ``fates`` receives where each column went.
    """
    if opened.source.format in ("csv", "jsonl"):
        inferred = infer_types(ctx.store, opened.view, extras, locale=ctx.locale)
    else:
        inferred = {c: Inferred(_native_type(t)) for c, t in extras.items()}
    kinds = {c: i.type for c, i in inferred.items()}
    if fates is not None:
        typed_file = opened.source.format not in ("csv", "jsonl")
        for column, guess in inferred.items():
            fates[column] = Fate(
                "property",
                column,
                guess.type,
                "file" if typed_file and not is_text_type(extras[column]) else "inferred",
                guess.note,
                guess.emails,
            )
    if opened.source.format not in ("csv", "jsonl"):
        kinds = dict.fromkeys(extras, "native")
    parts = []
    for column, kind in kinds.items():
        if kind in ("number", "boolean"):
            value = convert(column, extras[column], kind, params).value  # type: ignore[arg-type]
        elif is_text_type(extras[column]):
            value = f"nullif(trim({ident(column)}), '')"
        else:
            value = ident(column)
        parts.append((column, value))
    packed = ", ".join(f"{ident(c)} := {v}" for c, v in parts)
    all_null = " AND ".join(f"{v} IS NULL" for _, v in parts)
    return f"CASE WHEN {all_null} THEN NULL ELSE to_json(struct_pack({packed})) END"


def sniff_types(
    store: Store, view: str, columns: dict[str, str], *, locale: Locale = DEFAULT_LOCALE
) -> dict[str, str]:
    """Attribute type of each column (see :func:`infer_types`)."""
    return {c: i.type for c, i in infer_types(store, view, columns, locale=locale).items()}


#: A number's text that a number would damage: a leading ``+`` or zero (``06000``,
#: ``+33612345678``, ``-007``), or more digits than a double holds exactly.
_LABEL = (
    "(starts_with({v}, '+') OR regexp_matches({v}, '^-?0[0-9]') "
    "OR regexp_full_match({v}, '-?[0-9]{{16,}}'))"
)
_EMAIL_LIKE = "regexp_full_match({v}, '[^@\\s]+@[^@\\s]+\\.[^@\\s]+')"
_CHECKS = 8


def infer_types(
    store: Store, view: str, columns: dict[str, str], *, locale: Locale = DEFAULT_LOCALE
) -> dict[str, Inferred]:
    """Attribute type of each text column, from all its values: number, boolean, date,
    list or text; non-text columns keep their native type. One scan over the source.

    Inference never damages a value: a column whose numbers would lose something as a
    number (``06000``, ``+33...``, 16 digits or more), or whose name says it holds codes
    or identifiers (``postcode``, ``zip``, ``store_id``), stays text, and says why. A
    source's declared locale counts: its numbers (``12,50``), its true/false words, its
    date format, and its list columns (``list_separators``) are lists.
    """
    result: dict[str, Inferred] = {}
    lists = dict(locale.list_separators)
    text_columns = [c for c, t in columns.items() if is_text_type(t) and c not in lists]
    for column, sql_type in columns.items():
        if column in lists and is_text_type(sql_type):
            result[column] = Inferred(
                "list", f"a list: its separator {lists[column]!r} is declared"
            )
        elif column not in text_columns:
            result[column] = Inferred(_native_type(sql_type))
    if not text_columns:
        return result
    params = Params(locale=locale)
    words = ["true", "false", "yes", "no"]
    if locale.true_values or locale.false_values:
        words = [*TRUE_WORDS, *FALSE_WORDS, *(w.strip().lower() for w in locale.true_values)]
        words += [w.strip().lower() for w in locale.false_values]
    truth = params.add(words)
    pattern = params.add(locale.number_pattern()) if locale.numbers_declared else None
    checks = []
    for column in text_columns:
        v = f"nullif(trim({ident(column)}), '')"
        number = f"TRY_CAST({v} AS DOUBLE)"
        label = _LABEL.format(v=v)
        if pattern is not None:
            number = f"CASE WHEN regexp_full_match({v}, {pattern}) THEN 1 END"
        day = (
            f"CASE WHEN regexp_full_match({v}, '\\d{{4}}-\\d{{2}}-\\d{{2}}') "
            f"THEN TRY_CAST({v} AS DATE) END"
        )
        if locale.date_format is not None:
            day = f"try_strptime({v}, {params.add(locale.date_format)})"
        checks += [
            f"count({v})",
            f"count({number})",
            f"count(CASE WHEN list_contains({truth}::VARCHAR[], lower({v})) THEN 1 END)",
            f"count({day})",
            f"count(CASE WHEN starts_with({v}, '[') THEN TRY_CAST(TRY_CAST({v} AS JSON) "
            "AS VARCHAR[]) END)",
            f"count(*) FILTER ({number} IS NOT NULL AND {label})",
            f"min({v}) FILTER ({number} IS NOT NULL AND {label})",
            f"count(*) FILTER ({_EMAIL_LIKE.format(v=v)})",
        ]
    sql = f"SELECT {', '.join(checks)} FROM {ident(view)}"  # noqa: S608 - identifiers via ident(), values bound as parameters
    row = store.fetchone(sql, params.used_in(sql))
    assert row is not None
    for i, column in enumerate(text_columns):
        present, numbers, booleans, dates, lists, labels, label, emails = row[
            i * _CHECKS : (i + 1) * _CHECKS
        ]
        result[column] = _inferred(column, present, numbers, booleans, dates, lists, labels, label)
        if present and emails * 2 >= present:
            result[column] = Inferred(result[column].type, result[column].note, emails=True)
    return result


def _inferred(
    column: str,
    present: int,
    numbers: int,
    booleans: int,
    dates: int,
    lists: int,
    labels: int,
    label: str | None,
) -> Inferred:
    if present and numbers == present:
        if labels:
            lost = (
                "its '+'"
                if str(label).startswith("+")
                else "digits"
                if len(str(label).lstrip("-")) > 15
                else "its leading zero"
            )
            return Inferred("text", f"kept as text: {label!r} would lose {lost} as a number")
        if identifier_like_name(column):
            return Inferred("text", "kept as text: its name says it holds codes or ids")
        return Inferred("number")
    if present and booleans == present:
        return Inferred("boolean")
    if present and dates == present:
        return Inferred("date")
    if present and lists == present:
        return Inferred("list")
    return Inferred("text")


def _native_type(sql_type: str) -> str:
    upper = sql_type.upper()
    if upper.endswith("[]"):
        return "list"
    if upper == "BOOLEAN":
        return "boolean"
    if upper == "DATE":
        return "date"
    if upper.startswith("TIMESTAMP"):
        return "timestamp"
    if any(
        upper.startswith(t)
        for t in (
            "TINYINT",
            "SMALLINT",
            "INT",
            "BIGINT",
            "HUGEINT",
            "U",
            "FLOAT",
            "DOUBLE",
            "DECIMAL",
            "REAL",
        )
    ):
        return "number"
    return "text"


__all__ += ["Params", "missing", "properties_json", "text", "unreadable"]

#: the columns a source of each kind must have (``customer_id``: any identifier)
_REQUIRED = {
    "events": ("timestamp", "type", "customer_id"),
    "customers": ("customer_id",),
    "products": ("product_id",),
}


def missing_column(kind: str, columns: Iterable[str]) -> str | None:
    """The first column a source of ``kind`` must have that ``columns`` lack, or None;
    ``customer_id`` stands for any identifier (customer_id, email, phone, anonymous_id)."""
    present = set(columns)
    for required in _REQUIRED.get(kind, ()):
        found = (
            present.intersection(IDENTITY_TYPES)
            if required == "customer_id"
            else (required in present)
        )
        if not found:
            return required
    return None


__all__ += ["missing_column"]
