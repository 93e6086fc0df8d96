"""Identity stitching: one customer across customer ids, e-mails, phones and devices.

Rules (docs/data-model.md, "Identity stitching"):

* identifiers are normalised: whitespace (spaces, tabs, line breaks) trimmed; e-mail
  lower-cased (must contain ``@``, and be valid); phone in E.164 with
  ``identity.default_country`` (:mod:`microseg.ingest._phones`: invalid numbers link no
  one, national forms without a default country are kept as digits), fewer than 6 digits
  is no phone;
* malformed e-mails, placeholders and shared identifiers link no one
  (:mod:`microseg.ingest._screen`); a row left with no identifier is rejected;
* identifiers seen on the same row belong to the same customer; the union of all
  such links over all loads (union-find) is one customer;
* an e-mail, phone or anonymous id that would join more separate customers than
  ``identity.max_customers_per_identifier`` is *shared*: it links no one, now or later;
* when a link joins customers that already exist, they merge: the survivor is a
  source-given id before a minted one, then the one seen first, then the smallest
  id; the others' events, identifiers and attributes follow it, and the merge is
  written to the ``merges`` table with the identifier that linked the absorbed
  customer, and what moved to ``merge_moves`` (so that it can be undone);
* a customer known only by e-mail, phone or anonymous id gets a minted id
  ``u-`` + 16 hex digits derived from its smallest identifier (stable across loads).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from microseg.ingest._load import LoadContext, Problem, text
from microseg.ingest._phones import PHONE_FORMS, SPACE, prepare_phone_forms
from microseg.ingest._screen import VERDICTS, IdentityPolicy, screen_identifiers
from microseg.ingest._sources import RESERVED_PREFIX, OpenedSource
from microseg.ingest._stitch import Stitch
from microseg.store import IDENTITY_TYPES, ident

__all__ = [
    "KEY",
    "IdentityOutcome",
    "identifier_problems",
    "normalised_identifiers",
    "resolve_identities",
    "screen",
]


_PLAIN = "id_email IS NULL AND id_phone IS NULL AND id_anonymous_id IS NULL"
#: One text key per combination of identifiers on a row (the customer id alone when that
#: is all the row has), computed over the columns id_customer_id .. id_anonymous_id.
KEY = (
    f"CASE WHEN {_PLAIN} THEN id_customer_id ELSE concat_ws(chr(31), "
    "coalesce(id_customer_id, ''), coalesce(id_email, ''), coalesce(id_phone, ''), "
    "coalesce(id_anonymous_id, '')) END"
)
_SPACE = SPACE
#: The identity form of a source's phone (a column screen() adds to the source's view).
PHONE_COLUMN = RESERVED_PREFIX + "phone"


def normalised_identifiers(columns: dict[str, str]) -> dict[str, str]:
    """SQL expressions of the normalised identifiers of a source (others NULL), before
    the verdicts of :mod:`microseg.ingest._screen` set any aside."""

    def trimmed(name: str) -> str:
        if name not in columns:
            return "NULL::VARCHAR"
        return f"nullif(trim({ident(name)}::VARCHAR, {_SPACE}), '')"

    email = trimmed("email")
    phone = trimmed("phone")
    if "phone" in columns:
        # the form of each cell, judged in Python and joined to the source by screen()
        phone = PHONE_COLUMN
    return {
        "customer_id": trimmed("customer_id"),
        "email": f"CASE WHEN contains({email}, '@') THEN lower({email}) END",
        "phone": phone,
        "anonymous_id": trimmed("anonymous_id"),
    }


def screen(
    ctx: LoadContext, opened: OpenedSource, policy: IdentityPolicy
) -> tuple[dict[str, str], set[str]]:
    """The normalised identifier expressions of a source and the types that have verdicts
    (``_id_verdicts``); what was found invalid, and phones left in national form, go to
    the load report."""
    cols = opened.columns
    found = prepare_phone_forms(
        ctx.store,
        opened.view,
        "phone" if "phone" in cols else None,
        country=policy.default_country,
        placeholder=policy.placeholders.get("phone"),
    )
    if "phone" in cols:
        view = opened.view + "_phones"
        ctx.store.execute(
            f"CREATE OR REPLACE TEMP VIEW {ident(view)} AS SELECT s.*, f.v AS {PHONE_COLUMN} "  # noqa: S608 - identifiers via ident(), values bound as parameters
            f"FROM {ident(opened.view)} s LEFT JOIN {PHONE_FORMS} f "
            f"ON f.raw = nullif(trim(s.{ident('phone')}::VARCHAR, {_SPACE}), '')"
        )
        opened.view = view
        opened.hidden = (PHONE_COLUMN,)
    ids = normalised_identifiers(cols)
    screened = screen_identifiers(ctx.store, opened.view, ids, policy)
    if "email" in cols:  # no @: not an e-mail, linked to nothing (say so, not in silence)
        raw = f"nullif(trim({ident('email')}::VARCHAR, {_SPACE}), '')"
        ctx.note_invalid(
            ctx.store.fetchall(
                f"SELECT 'email', count(DISTINCT v), list(DISTINCT v ORDER BY v)[1:5] "  # noqa: S608 - identifiers via ident(), values bound as parameters
                f"FROM (SELECT {raw} AS v FROM {ident(opened.view)}) "
                "WHERE v IS NOT NULL AND NOT contains(v, '@') HAVING count(*) > 0"
            )
        )
    ctx.note_invalid(
        ctx.store.fetchall(
            f"SELECT t, count(*), list(v ORDER BY v)[1:5] FROM {VERDICTS} "  # noqa: S608 - identifiers via ident(), values bound as parameters
            "WHERE kind = 'invalid' GROUP BY t ORDER BY t"
        )
    )
    national = found.get("national", [])
    if national:
        examples = ", ".join(national[:3])
        ctx.warnings.append(
            f"{opened.source.name}: {len(national):,} phone number(s) in national form "
            f"({examples}) kept as digits: they match the same digits only, not their "
            "international form; set identity.default_country in microseg.yaml (e.g. FR) "
            "to read them in that country"
        )
    return ids, screened


def _usable(expr: str, id_type: str) -> str:
    """``expr`` unless a verdict sets its value aside (then NULL)."""
    return (
        f"CASE WHEN ({expr}) IN (SELECT v FROM {VERDICTS} WHERE t = {text(id_type)}) "  # noqa: S608 - identifiers via ident(), values bound as parameters
        f"THEN NULL ELSE ({expr}) END"
    )


def identifier_problems(columns: dict[str, str], screened: set[str]) -> list[Problem]:
    """A row with no identifier, and a row whose identifiers were all set aside
    (``screened``: the identifier types that have verdicts in this source)."""
    raw = normalised_identifiers(columns)
    none_given = " AND ".join(f"{e} IS NULL" for e in raw.values())
    problems = [
        Problem(
            "customer_id",
            none_given,
            "NULL",
            text(
                "missing required field 'customer_id' (no customer_id, email, phone or "
                "anonymous_id on this row; an e-mail needs an @)"
            ),
            "missing_customer",
        )
    ]
    if not screened:
        return problems
    first_type = (
        "CASE " + " ".join(f"WHEN {e} IS NOT NULL THEN {text(t)}" for t, e in raw.items()) + " END"
    )
    first_value = f"coalesce({', '.join(raw.values())})"
    first_cell = (
        "CASE "
        + " ".join(
            f"WHEN {raw[t]} IS NOT NULL THEN {ident(t)}::VARCHAR" for t in raw if t in columns
        )
        + " END"
    )
    verdict = f"(SELECT {{}} FROM {VERDICTS} WHERE t = {first_type} AND v = {first_value} LIMIT 1)"  # noqa: S608 - identifiers via ident(), values bound as parameters
    all_set_aside = " AND ".join(
        f"{_usable(e, t)} IS NULL" if t in screened else f"{e} IS NULL" for t, e in raw.items()
    )
    problems.append(
        Problem(
            "customer_id",
            f"NOT ({none_given}) AND {all_set_aside}",
            first_cell,
            f"{verdict.format('reason')} || {text('; the row has no other identifier')}",
            code_sql=(
                f"CASE {verdict.format('kind')} WHEN 'invalid' THEN 'invalid_' || {first_type} "
                "WHEN 'placeholder' THEN 'placeholder_identifier' ELSE 'shared_identifier' END"
            ),
            column_sql=first_type,
        )
    )
    return problems


def count_set_aside(ctx: LoadContext) -> None:
    """Count the accepted rows of ``_stage`` that lose an identifier to a verdict."""
    store = ctx.store
    for id_type in IDENTITY_TYPES:
        rows = store.fetchall(
            f"""SELECT d.kind || '_' || d.t, count(*)
            FROM _stage s JOIN {VERDICTS} d ON d.t = $t AND d.v = s.{ident("id_" + id_type)}
            WHERE s._ok GROUP BY 1""",  # noqa: S608 - identifiers via ident(), values bound as parameters
            {"t": id_type},
        )
        ctx.count(ctx.set_aside, rows)


@dataclass(frozen=True)
class IdentityOutcome:
    new_customers: int
    merged_customers: int
    #: identifiers found shared in this load: (type, value, customers)
    shared: list[tuple[str, str, int]] = field(default_factory=list)


def resolve_identities(
    ctx: LoadContext, opened: OpenedSource, policy: IdentityPolicy
) -> IdentityOutcome:
    """Give every accepted row of ``_stage`` a customer; create ``_resolved`` for the join.

    ``_stage`` has the normalised identifier columns ``id_customer_id``, ``id_email``,
    ``id_phone``, ``id_anonymous_id``, their :data:`KEY` as ``_key`` and the flag ``_ok``.
    Values that ``_id_verdicts`` sets aside link no one. The result table ``_resolved``
    maps ``_key`` to ``resolved_id``. Rows whose only
    identifiers turn out to be shared are rejected (their ``_ok`` becomes false).
    """
    store, load_id, now = ctx.store, ctx.load_id, ctx.now
    count_set_aside(ctx)
    cols = [f"id_{t}" for t in IDENTITY_TYPES]
    plain = _PLAIN
    usable = ", ".join(f"{_usable(ident(c), c[3:])} AS {ident(c)}" for c in cols)
    store.execute("DROP TABLE IF EXISTS _keys")
    store.execute(
        f"CREATE TEMP TABLE _keys AS SELECT _key, {usable} FROM "  # noqa: S608 - identifiers via ident(), values bound as parameters
        f"(SELECT DISTINCT _key, {', '.join(cols)} FROM _stage WHERE _ok)"
    )
    store.execute("DROP TABLE IF EXISTS _resolved")
    store.execute(
        f"""CREATE TEMP TABLE _resolved AS
        SELECT k._key, coalesce(i.customer_id, k.id_customer_id) AS resolved_id,
               i.customer_id IS NULL AS is_new
        FROM _keys k
        LEFT JOIN identities i ON i.id_type = 'customer_id' AND i.id_value = k.id_customer_id
        WHERE {plain}"""  # noqa: S608 - identifiers via ident(), values bound as parameters
    )
    new_plain = int(store.scalar("SELECT count(*) FROM _resolved WHERE is_new"))
    if new_plain:
        store.execute(
            "INSERT INTO identities SELECT 'customer_id', resolved_id, resolved_id, $now, $load "
            "FROM _resolved WHERE is_new",
            {"now": now, "load": load_id},
        )
        store.execute(
            "INSERT INTO customer_registry SELECT resolved_id, $now, false, NULL, $load "
            "FROM _resolved WHERE is_new",
            {"now": now, "load": load_id},
        )
    store.execute("ALTER TABLE _resolved DROP COLUMN is_new")
    linked = store.fetchall(f"SELECT _key, {', '.join(cols)} FROM _keys WHERE NOT ({plain})")  # noqa: S608 - identifiers via ident(), values bound as parameters
    if not linked:
        return IdentityOutcome(new_customers=new_plain, merged_customers=0)
    stitch = Stitch(store, policy, load_id=load_id, now=now)
    new_linked, merged = stitch.run(linked)
    if stitch.shared:
        _set_aside_shared(ctx, opened, stitch)
    return IdentityOutcome(
        new_customers=new_plain + new_linked, merged_customers=merged, shared=stitch.shared
    )


def _set_aside_shared(ctx: LoadContext, opened: OpenedSource, stitch: Stitch) -> None:
    """Record this load's shared identifiers, count the rows that lose them, reject the
    rows left with nothing else."""
    store = ctx.store
    shared = stitch.shared
    shared_rows = {
        "t": [s[0] for s in shared],
        "v": [s[1] for s in shared],
        "n": pa.array([s[2] for s in shared], pa.int64()),
    }
    with store.registered("_shared_src", shared_rows):
        store.execute(
            "INSERT INTO shared_identifiers SELECT t, v, n, 'shared', $load, $now FROM _shared_src",
            {"load": ctx.load_id, "now": ctx.now},
        )
        store.execute("CREATE OR REPLACE TEMP TABLE _shared_now AS SELECT t, v FROM _shared_src")
    orphans = stitch.orphans
    orphan_rows = {
        "_key": pa.array([o[0] for o in orphans], pa.string()),
        "t": pa.array([o[1] for o in orphans], pa.string()),
        "v": pa.array([o[2] for o in orphans], pa.string()),
    }
    with store.registered("_orphans_src", orphan_rows):
        store.execute(
            """CREATE OR REPLACE TEMP TABLE _orphans AS
            SELECT o._key, o.t AS col, o.v AS val, 'shared_identifier' AS code,
                   o.t || ' ''' || o.v || ''' is shared by ' || s.customers
                   || ' customers (more than identity.max_customers_per_identifier): it links '
                   || 'no one; the row has no other identifier' AS reason
            FROM _orphans_src o
            JOIN shared_identifiers s ON s.id_type = o.t AND s.id_value = o.v
                 AND s.load_id = $load""",
            {"load": ctx.load_id},
        )
    for id_type in IDENTITY_TYPES[1:]:
        rows = store.fetchall(
            f"""SELECT 'shared_' || $t, count(*) FROM _stage s
            JOIN _shared_now n ON n.t = $t AND n.v = s.{ident("id_" + id_type)}
            WHERE s._ok AND s._key NOT IN (SELECT _key FROM _orphans)""",  # noqa: S608 - identifiers via ident(), values bound as parameters
            {"t": id_type},
        )
        ctx.count(ctx.set_aside, [r for r in rows if r[1]])
    ctx.reject_orphans(opened, "_orphans")
    ctx.shared.extend(
        {"id_type": t, "id_value": v, "customers": n} for t, v, n in sorted(stitch.shared)
    )
