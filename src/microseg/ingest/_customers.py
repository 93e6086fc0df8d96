"""Loading customers: attribute history kept as versions (SCD type 2).

A file may carry any subset of attributes. Each row becomes a new version of its
customer when it changes something: provided values replace the current ones,
attributes the row does not carry (absent column or empty cell) keep their value.
The version is valid from the row's ``valid_from`` (or ``updated_at``) column, or
the load time. Updates dated before the customer's current version are rejected
with a reason, so history is never rewritten silently.
"""

from __future__ import annotations

from microseg.config import WorkspaceConfig
from microseg.core.errors import IngestError
from microseg.ingest._convert import convert
from microseg.ingest._identity import (
    KEY,
    identifier_problems,
    normalised_identifiers,
    resolve_identities,
)
from microseg.ingest._load import LoadContext, sniff_types, unreadable
from microseg.ingest._screen import IdentityPolicy, screen_identifiers
from microseg.ingest._sources import OpenedSource
from microseg.store import IDENTITY_TYPES, ident

__all__ = ["VALID_FROM_ALIASES", "load_customers"]

VALID_FROM_ALIASES = ("valid_from", "updated_at")
_RESERVED = ("valid_to", "load_id")
#: the history table's own columns: no attribute may take their names
_SYSTEM = ("customer_id", "valid_from", "valid_to", "load_id")
_WHAT = {
    "number": "a number",
    "boolean": "true or false",
    "date": "a date",
    "timestamp": "a timestamp",
    "list": "a list",
    "text": "text",
}


def _valid_from_column(opened: OpenedSource, valid_from: str | None) -> str | None:
    if valid_from is not None:
        if valid_from not in opened.columns:
            raise IngestError(
                f"the valid-from column {valid_from!r} is not in the file",
                where=opened.source.name,
                hint="columns are: " + ", ".join(opened.columns),
            )
        return valid_from
    return next((c for c in VALID_FROM_ALIASES if c in opened.columns), None)


def _attribute_types(
    ctx: LoadContext, opened: OpenedSource, attrs: list[str], config: WorkspaceConfig
) -> dict[str, str]:
    stored = ctx.store.attribute_columns()
    types = {a: stored[a] for a in attrs if a in stored}
    types.update(
        {a: config.attributes[a].type for a in attrs if a not in types and a in config.attributes}
    )
    rest = {a: opened.columns[a] for a in attrs if a not in types}
    if rest:
        types.update(sniff_types(ctx.store, opened.view, rest, locale=ctx.locale))
    return types


def load_customers(
    ctx: LoadContext,
    opened: OpenedSource,
    *,
    config: WorkspaceConfig,
    policy: IdentityPolicy,
    valid_from: str | None,
    index: int,
    total: int,
) -> None:
    """Load one opened source of customers (inside the caller's transaction)."""
    cols = opened.columns
    name = opened.source.name
    if not any(t in cols for t in IDENTITY_TYPES):
        raise IngestError(
            "missing required column 'customer_id' (or email, phone, anonymous_id)",
            where=name,
            hint="map the customer column with --map SOURCE=customer_id",
        )
    clash = [c for c in cols if c in _RESERVED]
    if clash:
        raise IngestError(
            f"column {clash[0]!r} is reserved by microseg", where=name, hint="rename it with --map"
        )
    vf_column = _valid_from_column(opened, valid_from)
    attrs = [
        c
        for c in cols
        if c not in IDENTITY_TYPES and not (c == vf_column and c in VALID_FROM_ALIASES)
    ]
    store = ctx.store
    _check_attribute_names(attrs, store.attribute_columns(), name)
    ctx.step(f"validating {name}", index * 3, total * 3)
    types = _attribute_types(ctx, opened, attrs, config)
    params = ctx.params()
    ids = normalised_identifiers(cols)
    screened = screen_identifiers(store, opened.view, ids, policy)
    select = {f"id_{t}": e for t, e in ids.items()}
    problems = identifier_problems(cols, screened)
    if vf_column:
        conv = convert(vf_column, cols[vf_column], "timestamp", params)
        select["valid_from"] = f"coalesce({conv.value}, {params.add(ctx.now)}::TIMESTAMP)"
        problems.append(
            unreadable(vf_column, conv, "a timestamp", "write ISO 8601 such as 2025-03-01", params)
        )
    else:
        select["valid_from"] = f"{params.add(ctx.now)}::TIMESTAMP"
    for position, attr in enumerate(attrs):
        kind = types[attr]
        spec = config.attributes.get(attr)
        conv = convert(
            attr,
            cols[attr],
            kind,  # type: ignore[arg-type]
            params,
            separator=spec.separator if spec else "|",
        )
        # staged under a positional name: user names never meet microseg's own columns
        select[_alias(position)] = conv.value
        problems.append(
            unreadable(attr, conv, _WHAT[kind], f"attribute {attr} holds {_WHAT[kind]}", params)
        )
    select["_key"] = KEY
    ctx.stage(opened, select, problems, params)

    ctx.step(f"stitching identities in {name}", index * 3 + 1, total * 3)
    outcome = resolve_identities(ctx, opened, policy)
    ctx.new_customers += outcome.new_customers
    ctx.merged_customers += outcome.merged_customers

    ctx.step(f"writing {name}", index * 3 + 2, total * 3)
    stored = store.attribute_columns()
    for attr in attrs:
        if attr not in stored:
            store.add_attribute(attr, types[attr])
    _apply_versions(ctx, opened, attrs)
    store.refresh_customer_view()


def _alias(position: int) -> str:
    return f"__ms_a{position}"


def _check_attribute_names(attrs: list[str], stored: dict[str, str], where: str) -> None:
    """Attribute names the history table cannot hold next to the stored ones."""
    known = {name.lower(): name for name in stored}
    for attr in attrs:
        if attr.lower() in _SYSTEM:
            raise IngestError(
                f"column {attr!r} is reserved by microseg",
                where=where,
                hint=f"rename it with --map {attr!r}=another_name",
            )
        other = known.get(attr.lower())
        if other is not None and other != attr:
            raise IngestError(
                f"column {attr!r} differs only in case from the stored attribute {other!r}, "
                "and the store cannot keep them apart",
                where=where,
                hint=f"map it onto the stored attribute with --map {attr!r}={other!r}",
            )


def _apply_versions(ctx: LoadContext, opened: OpenedSource, attrs: list[str]) -> None:
    """Write each row as a new version of its customer when it changes something.

    Inside the temporary tables every attribute has a positional name (``__ms_a<i>``),
    so that no attribute name can meet the columns the versioning adds.
    """
    store = ctx.store
    # Rows of one customer with the same valid-from time make one version (a version that
    # lasts no time could never be seen): each attribute takes the row's last value given.
    # So a file holding two rows for a customer, loaded again, adds nothing.
    provided = "".join(
        f", arg_max({_alias(i)}, _row) FILTER (WHERE {_alias(i)} IS NOT NULL) AS {_alias(i)}"
        for i in range(len(attrs))
    )
    columns = "".join(f", s.{_alias(i)}" for i in range(len(attrs)))
    store.execute("DROP TABLE IF EXISTS _versions")
    store.execute(
        f"""CREATE TEMP TABLE _versions AS
        SELECT customer_id, valid_from, min(_row) AS _row, list(_row ORDER BY _row) AS _rows,
               list(_line ORDER BY _row) AS _lines {provided},
               row_number() OVER (PARTITION BY customer_id ORDER BY valid_from) AS _round
        FROM (SELECT r.resolved_id AS customer_id, s.valid_from, s._row, s._line {columns}
              FROM _stage s JOIN _resolved r ON r._key = s._key WHERE s._ok)
        GROUP BY customer_id, valid_from"""  # noqa: S608 - identifiers via ident(), values bound as parameters
    )
    rounds = int(store.scalar("SELECT coalesce(max(_round), 0) FROM _versions"))
    all_attrs = list(store.attribute_columns())
    position = {a: i for i, a in enumerate(attrs)}
    changed = (
        " OR ".join(
            f"(v.{_alias(i)} IS NOT NULL AND v.{_alias(i)} IS DISTINCT FROM h.{ident(a)})"
            for i, a in enumerate(attrs)
        )
        or "false"
    )
    values = ", ".join(
        f"coalesce(v.{_alias(position[a])}, h.{ident(a)}) AS {_alias(j)}"
        if a in position
        else f"h.{ident(a)} AS {_alias(j)}"
        for j, a in enumerate(all_attrs)
    )
    for round_ in range(1, rounds + 1):
        store.execute("DROP TABLE IF EXISTS _cand")
        store.execute(
            f"""CREATE TEMP TABLE _cand AS
            SELECT *, changed AND NOT is_new AND valid_from < cur_from AS backdated,
                   changed AND NOT (NOT is_new AND valid_from < cur_from) AS apply
            FROM (SELECT v.customer_id, v.valid_from, v._rows, v._lines,
                         {values + "," if all_attrs else ""}
                         h.customer_id IS NULL AS is_new, h.valid_from AS cur_from,
                         ({changed}) AS changed,
                         h.customer_id IS NULL AND coalesce(g.load_id = $load, false) AS fresh
                  FROM _versions v
                  LEFT JOIN customer_history h
                    ON h.customer_id = v.customer_id AND h.valid_to IS NULL
                  LEFT JOIN customer_registry g ON g.customer_id = v.customer_id
                  WHERE v._round = $round)""",  # noqa: S608 - identifiers via ident(), values bound as parameters
            {"round": round_, "load": ctx.load_id},
        )
        store.execute(
            """INSERT INTO rejects
            SELECT $load, 'customers', $src, c.row_, c.line_, NULL, NULL, 'backdated_update',
                   'update dated ' || strftime(c.valid_from, '%Y-%m-%d %H:%M:%S') ||
                   ' UTC is older than the current version of customer ' || c.customer_id ||
                   ' (valid from ' || strftime(c.cur_from, '%Y-%m-%d %H:%M:%S') ||
                   ' UTC); load attribute history in time order', to_json(r), $now
            FROM """  # noqa: S608 - identifiers via ident(), values bound as parameters
            + opened.raw_rows(
                "(SELECT *, unnest(_rows) AS row_, unnest(_lines) AS line_ FROM _cand "
                "WHERE backdated) c",
                key="c.row_",
            ),
            {"load": ctx.load_id, "src": opened.source.name, "now": ctx.now},
        )
        store.execute(
            "UPDATE customer_history SET valid_to = c.valid_from FROM _cand c "
            "WHERE c.apply AND customer_history.customer_id = c.customer_id "
            "AND customer_history.valid_to IS NULL"
        )
        names = ", ".join(ident(a) for a in all_attrs)
        aliases = ", ".join(_alias(j) for j in range(len(all_attrs)))
        store.execute(
            f"INSERT INTO customer_history (customer_id, valid_from, valid_to, load_id"  # noqa: S608 - identifiers via ident(), values bound as parameters
            f"{', ' + names if names else ''}) SELECT customer_id, valid_from, NULL, $load"
            f"{', ' + aliases if aliases else ''} FROM _cand WHERE apply",
            {"load": ctx.load_id},
        )
        row = store.fetchone(
            # a row that changes nothing is a duplicate, unless it made its customer known
            "SELECT coalesce(sum(len(_rows)) FILTER (apply OR (fresh AND NOT changed)), 0), "
            "coalesce(sum(len(_rows)) FILTER (NOT changed AND NOT fresh), 0), "
            "coalesce(sum(len(_rows)) FILTER (backdated), 0) FROM _cand"
        )
        assert row is not None
        ctx.accepted += int(row[0])
        ctx.duplicates += int(row[1])
        ctx.rejected += int(row[2])
        if row[2]:
            key = "backdated_update"
            ctx.reasons[key] = ctx.reasons.get(key, 0) + int(row[2])
