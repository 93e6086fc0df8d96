"""Erasing one person from every table, then rewriting the database file without them.

The tables are not listed here: every table of the store is read from the catalogue, so
tables other features add are covered too. A row is the person's when

* a column that names a customer (``customer_id``, ``*_customer_id``, ``loser``,
  ``survivor``, ``winner``, ``merged_into``) holds one of their ids;
* any text, JSON or list column holds one of their identifiers (e-mail, phone, device
  id, or the SHA-256 of a normalised e-mail or phone, as ad-platform lists carry them),
  as a whole token;
* a JSON or list column, or any text column of a table that names no customer (rejects,
  merge moves, webhook batches), holds one of their ids as a whole token;
* its ``merge_id`` is one of the person's merges' (what those merges moved).

The erasure never changes the live file: it copies the schema to a new file, copies
every row but the person's, adds the tombstone, scans the copy for any trace, and only
then replaces the old file with the new one by a rename. A kill at any moment leaves the
old file as it was; and since the new file never held the person's rows, no deleted
block of it holds them either (DuckDB keeps deleted rows in a file until it is rewritten).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import duckdb

from microseg.store._rewrite import rewrite
from microseg.store._sql import ident

if TYPE_CHECKING:
    from microseg.store._store import Store

__all__ = [
    "SALT_KEY",
    "ErasedRows",
    "Person",
    "erase_person",
    "find_person",
    "forgotten_count",
    "needle_pattern",
    "tombstone_hash",
    "trace_hits",
]

#: the ``meta`` key of the workspace's tombstone salt
SALT_KEY = "erasure_salt"
_OWNER_NAMES = frozenset({"customer_id", "loser", "survivor", "winner", "merged_into"})
_CHILD_KEYS = ("merge_id",)
#: the store's own settings (schema version, salt): never a customer's row
_BOOKKEEPING = frozenset({"meta"})
#: characters that continue a token: a needle preceded or followed by one is another value
_INSIDE = "A-Za-z0-9_@+-"


def tombstone_hash(salt: str, value: str) -> str:
    """The salted SHA-256 (hex) the tombstone keeps of an id or identifier; the same as
    DuckDB's ``sha256($salt || value)``, which ingestion compares against."""
    return hashlib.sha256((salt + value).encode("utf-8")).hexdigest()


def _escape(value: str) -> str:
    """``value`` as an RE2 pattern matching exactly it: every character but ASCII letters
    and digits is written as a code point, so no character of the value is syntax."""
    return "".join(c if c.isascii() and c.isalnum() else f"\\x{{{ord(c):x}}}" for c in value)


def needle_pattern(
    values: list[str], *, any_case: list[str] | None = None, capture: bool = False
) -> str | None:
    """One RE2 pattern matching any of ``values`` (exactly) or of ``any_case`` (in any
    case) as a whole token, not inside a longer id or address; None without values.
    ``capture``: the characters around it are groups 1 and 2 (to keep them in a
    replacement)."""

    def alternatives(texts: list[str]) -> str:
        return "|".join(_escape(v) for v in sorted(set(texts), key=lambda v: (-len(v), v)))

    groups = []
    if values:
        groups.append(alternatives(values))
    if any_case:
        groups.append(f"(?i:{alternatives(any_case)})")
    if not groups:
        return None
    edge = "(" if capture else "(?:"
    return f"{edge}^|[^{_INSIDE}])(?:{'|'.join(groups)}){edge}$|[^{_INSIDE}])"


@dataclass(frozen=True)
class Person:
    """One person: every customer id that is them (the survivor and every id merged
    into it) and their identifiers (type, normalised value)."""

    customer_id: str
    ids: tuple[str, ...]
    identifiers: tuple[tuple[str, str], ...]

    def identifier_values(self) -> list[str]:
        """Identifiers other than customer ids, with the SHA-256 forms ad platforms use."""
        values = [v for t, v in self.identifiers if t != "customer_id"]
        hashed = []
        for id_type, value in self.identifiers:
            if id_type == "email":
                hashed.append(value.strip().lower())
            elif id_type == "phone":
                hashed += [value, value.lstrip("+")]
        values += [hashlib.sha256(v.encode("utf-8")).hexdigest() for v in hashed]
        return sorted(set(values))

    def all_ids(self) -> list[str]:
        return sorted({*self.ids, *(v for t, v in self.identifiers if t == "customer_id")})


@dataclass
class ErasedRows:
    """What an erasure removed and what the proof found afterwards."""

    removed: dict[str, int] = field(default_factory=dict)
    #: rows of others that mentioned the person, kept with the mention masked
    redacted: dict[str, int] = field(default_factory=dict)
    #: ``table.column`` -> rows still holding a clear value (the proof: none)
    hits: dict[str, int] = field(default_factory=dict)
    #: ``table.column`` -> rows holding a value equal to an id where ids are not
    #: customers (an order number ``1001`` when a customer is ``1001``): not the person
    lookalikes: dict[str, int] = field(default_factory=dict)
    tables_scanned: int = 0
    columns_scanned: int = 0
    tombstones: int = 0
    events: dict[str, int] = field(default_factory=dict)
    first_event: datetime | None = None
    last_event: datetime | None = None


def find_person(store: Store, customer_id: str) -> Person | None:
    """The person ``customer_id`` is (or was merged into); None when no customer has it."""
    root = store.scalar(
        """WITH RECURSIVE up(id, depth) AS (
            SELECT customer_id, 0 FROM customer_registry WHERE customer_id = $id
            UNION ALL
            SELECT r.merged_into, up.depth + 1 FROM up
            JOIN customer_registry r ON r.customer_id = up.id
            WHERE r.merged_into IS NOT NULL AND up.depth < 1000)
        SELECT id FROM up ORDER BY depth DESC LIMIT 1""",
        {"id": customer_id},
    )
    if root is None:
        return None
    rows = store.fetchall(
        """WITH RECURSIVE down(id) AS (
            SELECT $root
            UNION
            SELECT l.child FROM (
                SELECT customer_id AS child, merged_into AS parent FROM customer_registry
                UNION SELECT loser, survivor FROM merges WHERE unmerged_at IS NULL) l
            JOIN down ON l.parent = down.id)
        SELECT id FROM down ORDER BY id""",
        {"root": root},
    )
    ids = tuple(str(r[0]) for r in rows)
    found = store.fetchall(
        "SELECT DISTINCT id_type, id_value FROM identities "
        "WHERE list_contains($ids, customer_id) ORDER BY 1, 2",
        {"ids": list(ids)},
    )
    return Person(str(root), ids, tuple((str(t), str(v)) for t, v in found))


def forgotten_count(store: Store, salt: str | None, values: list[str]) -> int:
    """How many of ``values`` the tombstone holds (0 without a salt)."""
    if salt is None or not values:
        return 0
    hashes = [tombstone_hash(salt, v) for v in values]
    return int(
        store.scalar("SELECT count(*) FROM forgotten WHERE list_contains($h, hash)", {"h": hashes})
    )


def _tables(con: duckdb.DuckDBPyConnection, catalog: str) -> dict[str, dict[str, str]]:
    rows = con.execute(
        "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c "
        "JOIN information_schema.tables t ON t.table_catalog = c.table_catalog "
        "AND t.table_schema = c.table_schema AND t.table_name = c.table_name "
        "WHERE c.table_catalog = $cat AND c.table_schema = 'main' "
        "AND t.table_type = 'BASE TABLE' ORDER BY c.table_name, c.ordinal_position",
        {"cat": catalog},
    ).fetchall()
    tables: dict[str, dict[str, str]] = {}
    for table, column, kind in rows:
        tables.setdefault(str(table), {})[str(column)] = str(kind)
    return tables


def _is_owner(column: str) -> bool:
    return column in _OWNER_NAMES or column.endswith("_customer_id")


def _texty(kind: str) -> bool:
    return kind in ("VARCHAR", "JSON") or kind.endswith("[]") or kind.startswith(("STRUCT", "MAP"))


@dataclass(frozen=True)
class _Needles:
    ids: list[str]
    id_pattern: str | None
    identifier_pattern: str | None
    all_pattern: str | None


def _predicate(
    columns: dict[str, str], keys: dict[str, list[Any]], *, bookkeeping: bool = False
) -> str:
    """SQL (over bound ``$ids``, ``$every``, ``$k_<key>``) true for the person's rows of a
    table with ``columns``: those naming one of their ids in a customer column or, in a
    table without customer columns, holding an id or identifier in any text."""
    owners = [c for c in columns if _is_owner(c)]
    parts = [f"list_contains($ids, {ident(c)}::VARCHAR)" for c in owners]
    if not owners and not bookkeeping:
        parts += [
            f"regexp_matches(CAST({ident(c)} AS VARCHAR), $every)"
            for c, kind in columns.items()
            if _texty(kind)
        ]
        parts += [f"list_contains($k_{k}, {ident(k)})" for k in keys if k in columns and keys[k]]
    return " OR ".join(f"coalesce({p}, false)" for p in parts) or "false"


def _mention_pattern(kind: str, needles: _Needles) -> str | None:
    """The bound pattern a column of others' rows is searched with for mentions."""
    pattern = {"JSON": "every", "VARCHAR": "idp"}.get(kind)
    if pattern == "idp" and needles.identifier_pattern is None:
        return None
    return pattern


def _mentions(columns: dict[str, str], needles: _Needles) -> str:
    """SQL true for a row of others that mentions the person (see :func:`_kept_columns`)."""
    if not any(_is_owner(c) for c in columns):
        return "false"
    parts = [
        f"coalesce(regexp_matches(CAST({ident(c)} AS VARCHAR), ${pattern}), false)"
        for c, kind in columns.items()
        if (pattern := _mention_pattern(kind, needles)) is not None
    ]
    return " OR ".join(parts) or "false"


def _kept_columns(columns: dict[str, str], needles: _Needles) -> str:
    """The select list copying the rows others own: a mention of the person in one of
    their text or JSON values (an event's note naming the person's e-mail) is replaced
    by ``[forgotten]``; in plain text only identifiers are looked for, since an id such as
    ``1001`` may also be an order number."""
    if not any(_is_owner(c) for c in columns):
        return ", ".join(ident(c) for c in columns)
    items = []
    for column, kind in columns.items():
        name = ident(column)
        pattern = _mention_pattern(kind, needles)
        if pattern is None:
            items.append(name)
            continue
        text = f"CAST({name} AS VARCHAR)"
        once = f"regexp_replace({text}, ${pattern}_r, $mask, 'g')"
        twice = f"regexp_replace({once}, ${pattern}_r, $mask, 'g')"  # adjacent mentions
        items.append(
            f"CASE WHEN regexp_matches({text}, ${pattern}) THEN TRY_CAST({twice} AS {kind}) "
            f"ELSE {name} END"
        )
    return ", ".join(items)


def _bound(sql: str, values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if f"${k}" in sql}


def _where_ids_mean_people(table: str, columns: dict[str, str], column: str) -> bool:
    """Whether a value equal to a person's id in ``table.column`` is the person: in a
    customer column, a JSON or list value, or any text of a table without customer
    columns (the store's ``meta`` aside). Elsewhere (an order number, a count) it is a
    look-alike."""
    if table in _BOOKKEEPING:
        return False
    kind = columns[column]
    if _is_owner(column) or (_texty(kind) and kind != "VARCHAR"):
        return True
    return _texty(kind) and not any(_is_owner(c) for c in columns)


def _scan(
    con: duckdb.DuckDBPyConnection, catalog: str, needles: _Needles, result: ErasedRows
) -> None:
    """Count, in every column of every table of ``catalog`` (every value read as text),
    the rows holding an identifier, or an id where ids mean people (``hits``), and the
    rows holding an id elsewhere (``lookalikes``)."""
    tables = _tables(con, catalog)
    result.tables_scanned = len(tables)
    result.columns_scanned = sum(len(c) for c in tables.values())
    patterns = {"i": needles.identifier_pattern, "d": needles.id_pattern}
    if not any(patterns.values()):
        return
    for table, columns in tables.items():
        tests = [
            (column, name)
            for column in columns
            for name, pattern in patterns.items()
            if pattern is not None
        ]
        counts = ", ".join(
            f"count(*) FILTER (WHERE regexp_matches(CAST({ident(c)} AS VARCHAR), ${name}))"
            for c, name in tests
        )
        sql = f"SELECT {counts} FROM {ident(catalog)}.{ident(table)}"  # noqa: S608 - identifiers via ident(), values bound as parameters
        row = con.execute(sql, _bound(sql, patterns)).fetchone()
        assert row is not None
        for (column, name), count in zip(tests, row, strict=True):
            if not count:
                continue
            where = f"{table}.{column}"
            person = name == "i" or _where_ids_mean_people(table, columns, column)
            found = result.hits if person else result.lookalikes
            found[where] = found.get(where, 0) + int(count)


def trace_hits(store: Store, ids: list[str], identifiers: list[str]) -> dict[str, int]:
    """``table.column`` -> rows holding one of ``identifiers`` (in any case) anywhere, or
    one of ``ids`` where ids name customers, as whole tokens, over every column of every
    table read as text: what the proof of an erasure looks for."""
    result = ErasedRows()
    catalog = str(store.scalar("SELECT current_database()"))
    needles = _Needles(
        ids,
        needle_pattern(ids),
        needle_pattern([], any_case=identifiers),
        needle_pattern(ids, any_case=identifiers),
    )
    _scan(store.con, catalog, needles, result)
    return result.hits


def _copy_without(
    con: duckdb.DuckDBPyConnection, person: Person, salt: str, at: datetime, result: ErasedRows
) -> None:
    """Fill ``dst`` with every row of ``src`` but the person's, then the tombstone."""
    ids = person.all_ids()
    identifiers = person.identifier_values()
    needles = _Needles(
        ids,
        needle_pattern(ids),
        needle_pattern([], any_case=identifiers),
        needle_pattern(ids, any_case=identifiers),
    )
    values: dict[str, Any] = {
        "ids": ids,
        "idp": needles.identifier_pattern,
        "idp_r": needle_pattern([], any_case=identifiers, capture=True),
        "every": needles.all_pattern,
        "every_r": needle_pattern(ids, any_case=identifiers, capture=True),
        "mask": "\\1[forgotten]\\2",
    }
    tables = _tables(con, "src")
    keys: dict[str, list[Any]] = {key: [] for key in _CHILD_KEYS}
    ordered = sorted(tables, key=lambda t: not any(_is_owner(c) for c in tables[t]))
    events = tables.get("events", {})
    if "type" in events and "timestamp" in events:
        sql = (
            "SELECT type, count(*), min(timestamp), max(timestamp) FROM src.events "  # noqa: S608 - identifiers via ident(), values bound as parameters
            f"WHERE {_predicate(events, keys)} GROUP BY 1 ORDER BY 2 DESC, 1"
        )
        for kind, n, first, last in con.execute(sql, _bound(sql, values)).fetchall():
            result.events[str(kind)] = int(n)
            result.first_event = (
                first if result.first_event is None else min(result.first_event, first)
            )
            result.last_event = last if result.last_event is None else max(result.last_event, last)
    for table in ordered:
        columns = tables[table]
        mine = _predicate(columns, keys, bookkeeping=table in _BOOKKEEPING)
        bound = {**values, **{f"k_{k}": v for k, v in keys.items()}}
        source = f"src.{ident(table)}"
        sql = f"SELECT count(*) FROM {source} WHERE {mine}"  # noqa: S608 - identifiers via ident(), values bound as parameters
        removed = int(con.execute(sql, _bound(sql, bound)).fetchone()[0])  # type: ignore[index]
        for key in keys:
            if removed and key in columns and any(_is_owner(c) for c in columns):
                sql = f"SELECT DISTINCT {ident(key)} FROM {source} WHERE {mine}"  # noqa: S608 - identifiers via ident(), values bound as parameters
                keys[key] += [r[0] for r in con.execute(sql, _bound(sql, bound)).fetchall()]
        if removed:
            result.removed[table] = removed
        sql = (
            f"SELECT count(*) FROM {source} WHERE NOT ({mine}) AND ({_mentions(columns, needles)})"  # noqa: S608 - identifiers via ident(), values bound as parameters
        )
        redacted = int(con.execute(sql, _bound(sql, bound)).fetchone()[0])  # type: ignore[index]
        if redacted:
            result.redacted[table] = redacted
        names = ", ".join(ident(c) for c in columns)
        sql = (
            f"INSERT INTO dst.{ident(table)} ({names}) "  # noqa: S608 - identifiers via ident(), values bound as parameters
            f"SELECT {_kept_columns(columns, needles)} FROM {source} WHERE NOT ({mine})"
        )
        con.execute(sql, _bound(sql, bound))
    con.execute("INSERT OR REPLACE INTO dst.meta VALUES ($1, $2)", [SALT_KEY, salt])
    stones = {(tombstone_hash(salt, i), "customer_id") for i in ids}
    stones |= {(tombstone_hash(salt, v), t) for t, v in person.identifiers if t != "customer_id"}
    known = {r[0] for r in con.execute("SELECT hash FROM dst.forgotten").fetchall()}
    fresh = sorted(s for s in stones if s[0] not in known)
    for digest, kind in fresh:
        con.execute("INSERT INTO dst.forgotten VALUES ($1, $2, $3)", [digest, kind, at])
    result.tombstones = len(stones)
    _scan(con, "dst", needles, result)


def erase_person(store: Store, person: Person, *, salt: str, at: datetime) -> ErasedRows:
    """Erase ``person`` from every table and rewrite the file (see the module)."""
    result = ErasedRows()

    def work(con: duckdb.DuckDBPyConnection) -> ErasedRows:
        _copy_without(con, person, salt, at, result)
        return result

    return rewrite(store, work)


def new_salt() -> str:
    """A fresh per-workspace tombstone salt (kept in ``meta`` under :data:`SALT_KEY`)."""
    return secrets.token_hex(16)
