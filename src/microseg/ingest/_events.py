"""Loading events: validate, stitch identities, de-duplicate, append."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from microseg.core.errors import IngestError
from microseg.ingest._convert import Params, convert
from microseg.ingest._forgotten import forgotten_problem
from microseg.ingest._identity import (
    KEY,
    identifier_problems,
    normalised_identifiers,
    resolve_identities,
    screen,
)
from microseg.ingest._load import (
    Fate,
    LoadContext,
    Problem,
    missing,
    missing_column,
    properties_json,
    text,
    unreadable,
)
from microseg.ingest._screen import IdentityPolicy
from microseg.ingest._sources import OpenedSource
from microseg.store import EVENT_COLUMNS, IDENTITY_TYPES, ident

__all__ = ["CANONICAL", "load_events"]

_TEXT = ("event_id", "type", "product_id", "category", "channel", "order_id", "campaign", "query")
_NUMBERS = {"amount": "number", "quantity": "integer", "discount": "number"}
CANONICAL = (*[c for c in EVENT_COLUMNS if c != "properties"], *IDENTITY_TYPES)


def _check_columns(opened: OpenedSource) -> None:
    missing = missing_column("events", opened.columns)
    if missing == "customer_id":
        raise IngestError(
            "missing required column 'customer_id' (or email, phone, anonymous_id)",
            where=opened.source.name,
            hint="map the customer column with --map SOURCE=customer_id",
        )
    if missing is not None:
        raise IngestError(
            f"missing required column {missing!r}",
            where=opened.source.name,
            hint="rename the column or map it with --map SOURCE=" + missing,
        )


def _stage_columns(
    ctx: LoadContext,
    opened: OpenedSource,
    params: Params,
    future_limit: datetime,
    screened: set[str],
) -> tuple[dict[str, str], list[Problem]]:
    cols = opened.columns
    ids = normalised_identifiers(cols)
    fates = {
        c: Fate("identity" if c in IDENTITY_TYPES else "canonical", c)
        for c in cols
        if c in CANONICAL
    }
    select: dict[str, str] = {f"id_{t}": expr for t, expr in ids.items()}
    problems: list[Problem] = identifier_problems(cols, screened)
    problems += forgotten_problem(ctx, ids, params)
    for name in _TEXT:
        select[name] = (
            convert(name, cols[name], "text", params).value if name in cols else "NULL::VARCHAR"
        )
    ts = convert("timestamp", cols["timestamp"], "timestamp", params)
    select["timestamp"] = ts.value
    problems.append(missing("timestamp", ts.given or ts.raw_text, "when the event happened"))
    problems.append(
        unreadable(
            "timestamp", ts, "a timestamp", "write ISO 8601 such as 2025-03-01T10:15:00Z", params
        )
    )
    problems.append(
        Problem(
            "timestamp",
            f"{ts.value} > {params.add(future_limit)}",
            ts.raw_text,
            f"{text('timestamp ')} || strftime({ts.value}, '%Y-%m-%d %H:%M:%S') || "
            f"{text(' UTC is in the future (more than the tolerance after the load time ')} "
            f"|| strftime({params.add(ctx.now)}::TIMESTAMP, '%Y-%m-%d %H:%M:%S') || "
            f"{text(' UTC); check the clock or time zone of the export')}",
            "future_timestamp",
        )
    )
    problems.append(missing("type", select["type"], "what happened, e.g. purchase or view"))
    for name, target in _NUMBERS.items():
        if name not in cols:
            select[name] = f"NULL::{EVENT_COLUMNS[name]}"
            continue
        conv = convert(name, cols[name], target, params, booleans=False)  # type: ignore[arg-type]
        select[name] = conv.value
        what = "a whole number" if target == "integer" else "a number"
        problems.append(unreadable(name, conv, what, "use digits with a dot for decimals", params))
    if "quantity" in cols:
        problems.append(
            Problem(
                "quantity",
                f"lower({select['type']}) = 'purchase' AND {select['quantity']} < 0",
                select["quantity"] + "::VARCHAR",
                f"{text('negative quantity ')} || {select['quantity']} || "
                f"{text(' on a purchase; record returned items as return events')}",
                "negative_quantity",
            )
        )
    select["properties"] = _properties(ctx, opened, params, fates)
    select["_key"] = KEY  # refers to the id_ columns above (DuckDB reuses aliases)
    ctx.place_columns(opened, fates)
    return select, problems


def _properties(
    ctx: LoadContext, opened: OpenedSource, params: Params, fates: dict[str, Fate]
) -> str:
    """Non-canonical columns, typed, as a JSON object."""
    extras = {c: t for c, t in opened.columns.items() if c not in CANONICAL}
    if not extras:
        return "NULL::JSON"
    return properties_json(ctx, opened, extras, params, fates)


def _raw_properties(opened: OpenedSource) -> str:
    """The non-canonical columns as JSON of their raw text: what a derived event id hashes,
    so that an id never depends on the type a file's other rows made a column look like."""
    extras = [c for c in opened.columns if c not in CANONICAL]
    if not extras:
        return "NULL::VARCHAR"
    values = [f"nullif(trim({ident(c)}::VARCHAR), '')" for c in extras]
    packed = ", ".join(f"{ident(c)} := {v}" for c, v in zip(extras, values, strict=True))
    all_null = " AND ".join(f"{v} IS NULL" for v in values)
    return f"CASE WHEN {all_null} THEN NULL ELSE to_json(struct_pack({packed}))::VARCHAR END"


def load_events(
    ctx: LoadContext,
    opened: OpenedSource,
    *,
    policy: IdentityPolicy,
    future_limit: datetime,
    index: int,
    total: int,
) -> None:
    """Load one opened source of events into the store (inside the caller's transaction)."""
    _check_columns(opened)
    store = ctx.store
    name = opened.source.name
    ctx.step(f"validating {name}", index * 4, total * 4)
    params = ctx.params()
    _, screened = screen(ctx, opened, policy)
    select, problems = _stage_columns(ctx, opened, params, future_limit, screened)
    # With event ids in the source, keep only what de-duplication and identity stitching
    # need, and convert the rest on the way into the events table: one read more of the
    # source is cheaper than a wide temporary copy (10M events: 24 s instead of 32 s).
    # Rows without ids need the copy, for the window that numbers identical rows.
    # (CSV and JSON Lines are already a temporary copy: reading it twice gains nothing.)
    typed = opened.source.format in ("parquet", "frame")
    lean = (
        typed
        and "event_id" in opened.columns
        and not store.scalar(
            f"SELECT count(*) FROM {ident(opened.view)} WHERE {select['event_id']} IS NULL"  # noqa: S608 - identifiers via ident(), values bound as parameters
        )
    )
    keep = ["event_id", *(f"id_{t}" for t in IDENTITY_TYPES), "_key"] if lean else None
    if not lean:
        # only rows without an id need it
        raw = _raw_properties(opened)
        select["_raw_props"] = f"CASE WHEN {select['event_id']} IS NULL THEN {raw} END"
    query = ctx.stage(opened, select, problems, params, keep=keep)

    ctx.step(f"de-duplicating {name}", index * 4 + 1, total * 4)
    if not lean:
        _fill_missing_event_ids(store)

    ctx.step(f"stitching identities in {name}", index * 4 + 2, total * 4)
    # before the repeats: rows left with no identifier that may link are rejected here
    outcome = resolve_identities(ctx, opened, policy)
    ctx.new_customers += outcome.new_customers
    ctx.merged_customers += outcome.merged_customers
    # repeats inside the file: the first occurrence of an event_id wins
    store.execute(
        "CREATE OR REPLACE TEMP TABLE _repeats AS SELECT event_id, min(_row) AS first_row "
        "FROM _stage WHERE _ok GROUP BY event_id HAVING count(*) > 1"
    )
    repeats = int(store.scalar("SELECT count(*) FROM _repeats"))
    has_events = store.scalar("SELECT count(*) FROM (SELECT 1 FROM events LIMIT 1)")
    conditions = ["s._ok"]
    if repeats:
        conditions.append(
            "NOT EXISTS (SELECT 1 FROM _repeats d WHERE d.event_id = s.event_id "
            "AND d.first_row <> s._row)"
        )
    if has_events:
        conditions.append("NOT EXISTS (SELECT 1 FROM events e WHERE e.event_id = s.event_id)")
    ok = ctx.last_ok

    ctx.step(f"writing {name}", index * 4 + 3, total * 4)
    columns = [c for c in EVENT_COLUMNS if c != "customer_id"]
    # one pass: only accepted rows that are not repeats of this file or of the store
    sql = (
        f"INSERT INTO events ({', '.join(ident(c) for c in EVENT_COLUMNS)}, load_id) "  # noqa: S608 - identifiers via ident(), values bound as parameters
        f"SELECT s.event_id, r.resolved_id, {', '.join('s.' + ident(c) for c in columns[1:])}, "
        f"$load FROM {query if lean else '_stage'} s JOIN _resolved r ON r._key = s._key "
        f"WHERE {' AND '.join(conditions)}"
    )
    written = store.fetchone(sql, {**params.used_in(sql), "load": ctx.load_id})
    inserted = int(written[0]) if written else 0
    if inserted:
        store.note_property_keys(ctx.load_id)
    ctx.accepted += inserted
    ctx.duplicates += ok - inserted
    if ok > inserted:
        _warn_of_foreign_repeats(ctx, name, bool(repeats), bool(has_events))
    if repeats:
        source = query if lean else "_stage"
        _warn_of_differing_repeats(ctx, name, source, params.used_in(source))


#: an event id repeated under another customer: in this source, or in the store
_FOREIGN_REPEATS_SQL = """
WITH given AS (
    SELECT s.event_id, r.resolved_id AS customer_id
    FROM _stage s JOIN _resolved r ON r._key = s._key WHERE s._ok
), clashes AS ({clashes})
SELECT event_id, customer_id, other FROM clashes ORDER BY event_id LIMIT 4
"""
_INSIDE = (
    "SELECT event_id, min(customer_id) AS customer_id, max(customer_id) AS other FROM given "
    "WHERE event_id IN (SELECT event_id FROM _repeats) GROUP BY event_id "
    "HAVING count(DISTINCT customer_id) > 1"
)
_STORED = (
    "SELECT g.event_id, g.customer_id, e.customer_id AS other FROM given g "
    "JOIN events e ON e.event_id = g.event_id AND e.load_id <> $load "
    "WHERE e.customer_id <> g.customer_id"
)


def _warn_of_foreign_repeats(ctx: LoadContext, name: str, inside: bool, stored: bool) -> None:
    """Say so when a repeated event id belongs to another customer: the first was kept
    (or the stored one), the repeat counted as a duplicate, which is rarely what a
    source meant when the customers differ."""
    clashes = [query for query, wanted in ((_INSIDE, inside), (_STORED, stored)) if wanted]
    if not clashes:
        return
    sql = _FOREIGN_REPEATS_SQL.format(clashes=" UNION ALL ".join(clashes))
    params = {"load": ctx.load_id} if stored else None
    found = ctx.store.fetchall(sql, params)
    if not found:
        return
    shown = "; ".join(f"{_short(e)} for {_short(c)} and {_short(o)}" for e, c, o in found[:3])
    more = " and more" if len(found) > 3 else ""
    ctx.warnings.append(
        f"{name}: event ids repeated under different customers ({shown}{more}): the first "
        "(or the stored one) was kept and the others counted as duplicates; check how the "
        "source numbers its events"
    )


#: the columns that tell two rows of one event id apart (one customer's: another
#: customer's repeat is told by :func:`_warn_of_foreign_repeats`)
_CONTENT = [c for c in EVENT_COLUMNS if c not in ("event_id", "customer_id", "properties")]
_DIFFERING_REPEATS_SQL = """
SELECT event_id, rows, count(*) OVER () AS ids, sum(rows - 1) OVER () AS dropped
FROM (
    SELECT s.event_id, count(*) AS rows
    FROM {source} s JOIN _resolved r ON r._key = s._key
    WHERE s._ok AND s.event_id IN (SELECT event_id FROM _repeats)
    GROUP BY s.event_id
    HAVING count(DISTINCT r.resolved_id) = 1 AND count(DISTINCT {content}) > 1
)
ORDER BY event_id LIMIT 3
"""


def _warn_of_differing_repeats(
    ctx: LoadContext, name: str, source: str, params: dict[str, Any]
) -> None:
    """Say so when rows of one customer share an event id but not their contents: most
    often a line-item log whose order id was taken for the event id, where the first
    line of each order is kept and the others would be dropped as duplicates, unsaid."""
    content = "md5(to_json([" + ", ".join(f"s.{ident(c)}::VARCHAR" for c in _CONTENT) + "]))"
    sql = _DIFFERING_REPEATS_SQL.format(source=source, content=content)
    found = ctx.store.fetchall(sql, params or None)
    if not found:
        return
    ids, dropped = int(found[0][2]), int(found[0][3])
    shown = "; ".join(f"{_short(e)}, {n:,} rows" for e, n, _, _ in found)
    more = "; and more" if ids > len(found) else ""
    ctx.warnings.append(
        f"{name}: {ids:,} event id{' is' if ids == 1 else 's are'} on several rows with "
        f"different contents ({shown}{more}): only the first row of each was kept and "
        f"{dropped:,} counted as duplicates. If they are the lines of one order, map a line "
        "id to event_id, or leave event_id unmapped (each row then gets an id from its "
        "contents), and map the order id to order_id"
    )


def _short(value: object, limit: int = 60) -> str:
    """A value from the data for a message: quoted, and cut when long."""
    text = str(value)
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _fill_missing_event_ids(store) -> None:  # type: ignore[no-untyped-def]
    """Rows without an event_id get a stable one: a hash of their fields plus
    their occurrence number among identical rows of this source, so that genuinely
    repeated rows all stay while re-loading the same rows adds nothing."""
    missing_ids = store.scalar("SELECT count(*) FROM _stage WHERE _ok AND event_id IS NULL")
    if not missing_ids:
        return
    # the canonical fields as converted, the other columns as raw text (``_raw_props``
    # stands where the typed properties were: ids of all-text rows are unchanged)
    fields = [f"id_{t}" for t in IDENTITY_TYPES] + [
        "_raw_props" if c == "properties" else c
        for c in EVENT_COLUMNS
        if c not in ("event_id", "customer_id")
    ]
    content = "md5(to_json([" + ", ".join(f"{ident(f)}::VARCHAR" for f in fields) + "]))"
    store.execute(
        f"""CREATE OR REPLACE TEMP TABLE _stage AS
        SELECT * EXCLUDE (_h) REPLACE (
            coalesce(event_id, 'h-' || substr(md5(_h || ':' ||
                row_number() OVER (PARTITION BY _h ORDER BY _row)), 1, 24)) AS event_id)
        FROM (SELECT *, CASE WHEN event_id IS NULL THEN {content} END AS _h FROM _stage)"""  # noqa: S608 - identifiers via ident(), values bound as parameters
    )
