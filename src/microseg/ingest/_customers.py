"""Loading customers: attribute history kept as versions (SCD type 2).

A file may carry any subset of attributes. Each row becomes a new version of its
customer when it changes something: provided values replace the current ones,
attributes the row does not carry (absent column or empty cell) keep their value.
The version is valid from the row's ``valid_from`` (or ``updated_at``) column, or
the load time; a customer's first version with no time of its own holds from the
beginning (``history.first_version: backfill``, the default) unless the workspace
asks for ``from_load``. Updates dated before the customer's current version are
rejected with a reason, so history is never rewritten silently.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from microseg.config import WorkspaceConfig
from microseg.core.errors import IngestError
from microseg.ingest._convert import convert, is_text_type
from microseg.ingest._forgotten import forgotten_problem
from microseg.ingest._identity import KEY, identifier_problems, resolve_identities, screen
from microseg.ingest._load import Fate, LoadContext, infer_types, missing_column, unreadable
from microseg.ingest._screen import IdentityPolicy
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
) -> dict[str, Fate]:
    """Each attribute's type, and where it comes from: the store, microseg.yaml, the file."""
    stored = ctx.store.attribute_columns()
    fates = {a: Fate("attribute", a, stored[a], "stored") for a in attrs if a in stored}
    fates.update(
        {
            a: Fate("attribute", a, config.attributes[a].type, "declared")
            for a in attrs
            if a not in fates and a in config.attributes
        }
    )
    rest = {a: opened.columns[a] for a in attrs if a not in fates}
    if rest:
        typed_file = opened.source.format not in ("csv", "jsonl")
        for a, guess in infer_types(ctx.store, opened.view, rest, locale=ctx.locale).items():
            from_file = typed_file and not is_text_type(rest[a])
            fates[a] = Fate(
                "attribute",
                a,
                guess.type,
                "file" if from_file else "inferred",
                guess.note,
                guess.emails,
            )
    return fates


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
    if missing_column("customers", cols) is not None:
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
    _check_derived_age(attrs, store.attribute_columns(), config, name)
    ctx.step(f"validating {name}", index * 3, total * 3)
    fates = _attribute_types(ctx, opened, attrs, config)
    types = {a: str(f.type) for a, f in fates.items()}
    for column in cols:
        if column in IDENTITY_TYPES:
            fates[column] = Fate("identity", column)
        elif column not in fates:
            fates[column] = Fate("canonical", "valid_from")
    if vf_column and vf_column in attrs:
        fates[vf_column] = replace(fates[vf_column], note="also the time of each version")
    params = ctx.params()
    ids, screened = screen(ctx, opened, policy)
    select = {f"id_{t}": e for t, e in ids.items()}
    problems = identifier_problems(cols, screened)
    problems += forgotten_problem(ctx, ids, params)
    if vf_column:
        conv = convert(vf_column, cols[vf_column], "timestamp", params)
        # NULL when the row does not say: the version then starts at the beginning (a
        # customer's first attributes, history.first_version: backfill) or the load time
        select["valid_from"] = f"({conv.value})::TIMESTAMP"
        problems.append(
            unreadable(vf_column, conv, "a timestamp", "write ISO 8601 such as 2025-03-01", params)
        )
    else:
        select["valid_from"] = "NULL::TIMESTAMP"
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
    backfill = config.history.first_version == "backfill"
    _apply_versions(ctx, opened, attrs, beginning=ctx.earliest if backfill else None)
    store.refresh_customer_view()
    ctx.place_columns(opened, fates)


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


def _check_derived_age(
    attrs: list[str], stored: dict[str, str], config: WorkspaceConfig, where: str
) -> None:
    """A first ``age`` column next to ``birth_date`` would silently replace the age
    microseg derives from it, for every customer (empty for those the load lacks)."""
    if (
        "age" in attrs
        and "age" not in stored
        and "age" not in config.attributes
        and ("birth_date" in stored or "birth_date" in attrs)
    ):
        raise IngestError(
            "column 'age' would replace the age microseg derives from birth_date (whole "
            "years at each evaluation date) for every customer, and leave it empty for those "
            "this load does not hold",
            where=where,
            hint="leave the column out, map it to another name with --map age=stated_age, or "
            "declare age under attributes: in microseg.yaml to keep a stored age",
        )


def _apply_versions(
    ctx: LoadContext, opened: OpenedSource, attrs: list[str], *, beginning: datetime | None
) -> None:
    """Write each row as a new version of its customer when it changes something.

    A row that does not say when it became true is valid from the load time, or from
    ``beginning`` (when given) if its customer has no attribute history yet: a customer's
    first known attributes then hold backwards in time.

    Inside the temporary tables every attribute has a positional name (``__ms_a<i>``),
    so that no attribute name can meet the columns the versioning adds.
    """
    store = ctx.store
    undated, history = "$now::TIMESTAMP", ""
    if beginning is not None:
        undated = "CASE WHEN k.customer_id IS NULL THEN $beginning::TIMESTAMP ELSE $now END"
        history = (
            "LEFT JOIN (SELECT DISTINCT customer_id FROM customer_history) k "
            "ON k.customer_id = r.resolved_id"
        )
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
        FROM (SELECT r.resolved_id AS customer_id,
                     coalesce(s.valid_from, {undated}) AS valid_from, s._row, s._line {columns}
              FROM _stage s JOIN _resolved r ON r._key = s._key {history}
              WHERE s._ok
              -- one customer per staged row, whatever the joins hold
              QUALIFY row_number() OVER (PARTITION BY s._row ORDER BY r.resolved_id) = 1)
        GROUP BY customer_id, valid_from""",  # noqa: S608 - identifiers via ident(), values bound as parameters
        {"now": ctx.now, **({"beginning": beginning} if beginning is not None else {})},
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
    # a stored version at the row's very instant that already holds what the row provides:
    # the row was loaded before (a file of updates loaded again adds nothing)
    stored = " AND ".join(
        f"(v.{_alias(i)} IS NULL OR v.{_alias(i)} IS NOT DISTINCT FROM x.{ident(a)})"
        for i, a in enumerate(attrs)
    )
    same = ["x.customer_id = v.customer_id", "x.valid_from = v.valid_from"]
    same += [stored] if stored else []
    known = f"EXISTS (SELECT 1 FROM customer_history x WHERE {' AND '.join(same)})"  # noqa: S608 - identifiers via ident(), values bound as parameters
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
            SELECT *, changed AND NOT is_new AND valid_from < cur_from AND NOT known AS backdated,
                   changed AND NOT (NOT is_new AND valid_from < cur_from) AS apply
            FROM (SELECT v.customer_id, v.valid_from, v._rows, v._lines,
                         {values + "," if all_attrs else ""}
                         h.customer_id IS NULL AS is_new, h.valid_from AS cur_from,
                         ({changed}) AS changed, {known} AS known,
                         h.customer_id IS NULL AND coalesce(g.load_id_is_this, false) AS fresh
                  FROM _versions v
                  -- at most one open version and one registry row per customer: a join
                  -- that fanned out would apply (and count) a row once per match
                  LEFT JOIN (SELECT * FROM customer_history
                             WHERE valid_to IS NULL AND customer_id IN
                                   (SELECT customer_id FROM _versions WHERE _round = $round)
                             QUALIFY row_number() OVER (PARTITION BY customer_id
                                                        ORDER BY valid_from DESC) = 1) h
                    ON h.customer_id = v.customer_id
                  LEFT JOIN (SELECT customer_id, bool_or(load_id = $load) AS load_id_is_this
                             FROM customer_registry GROUP BY customer_id) g
                    ON g.customer_id = v.customer_id
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
            "coalesce(sum(len(_rows)) FILTER ((NOT changed AND NOT fresh) "
            "OR (changed AND known AND NOT apply)), 0), "
            "coalesce(sum(len(_rows)) FILTER (backdated), 0) FROM _cand"
        )
        assert row is not None
        ctx.accepted += int(row[0])
        ctx.duplicates += int(row[1])
        ctx.rejected += int(row[2])
        if row[2]:
            key = "backdated_update"
            ctx.reasons[key] = ctx.reasons.get(key, 0) + int(row[2])
