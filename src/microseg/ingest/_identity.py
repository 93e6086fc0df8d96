"""Identity stitching: one customer across customer ids, e-mails, phones and devices.

Rules (docs/data-model.md, "Identity"):

* identifiers are normalised: e-mail trimmed and lower-cased (must contain ``@``),
  phone reduced to digits with a leading ``+`` when it had an international prefix
  (``+`` or ``00``), fewer than 6 digits is no phone; ids trimmed;
* identifiers seen on the same row belong to the same customer; the union of all
  such links over all loads (union-find) is one customer;
* when a link joins customers that already exist, they merge: the survivor is a
  source-given id before a minted one, then the one seen first, then the smallest
  id; the others' events, identifiers and attributes follow it, and the merge is
  written to the ``merges`` table;
* a customer known only by e-mail, phone or anonymous id gets a minted id
  ``u-`` + 16 hex digits derived from its smallest identifier (stable across loads).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from microseg.store import IDENTITY_TYPES, Store, ident

__all__ = ["KEY", "IdentityOutcome", "normalised_identifiers", "resolve_identities"]

_PLAIN = "id_email IS NULL AND id_phone IS NULL AND id_anonymous_id IS NULL"
#: One text key per combination of identifiers on a row (the customer id alone when that
#: is all the row has), computed over the columns id_customer_id .. id_anonymous_id.
KEY = (
    f"CASE WHEN {_PLAIN} THEN id_customer_id ELSE concat_ws(chr(31), "
    "coalesce(id_customer_id, ''), coalesce(id_email, ''), coalesce(id_phone, ''), "
    "coalesce(id_anonymous_id, '')) END"
)


def normalised_identifiers(columns: dict[str, str]) -> dict[str, str]:
    """SQL expressions of the normalised identifiers present in a source (others NULL)."""

    def text(name: str) -> str:
        return f"nullif(trim({ident(name)}::VARCHAR), '')" if name in columns else "NULL::VARCHAR"

    email = text("email")
    phone = text("phone")
    digits = f"regexp_replace({phone}, '[^0-9]', '', 'g')"
    return {
        "customer_id": text("customer_id"),
        "email": f"CASE WHEN contains({email}, '@') THEN lower({email}) END",
        "phone": (
            f"CASE WHEN length({digits}) < 6 THEN NULL "
            f"WHEN starts_with({phone}, '+') THEN '+' || {digits} "
            f"WHEN starts_with({digits}, '00') THEN '+' || substr({digits}, 3) "
            f"ELSE {digits} END"
        ),
        "anonymous_id": text("anonymous_id"),
    }


@dataclass(frozen=True)
class IdentityOutcome:
    new_customers: int
    merged_customers: int


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[tuple[str, str], tuple[str, str]] = {}

    def find(self, node: tuple[str, str]) -> tuple[str, str]:
        parent = self.parent.setdefault(node, node)
        if parent == node:
            return node
        root = self.find(parent)
        self.parent[node] = root
        return root

    def union(self, a: tuple[str, str], b: tuple[str, str]) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _minted_id(identifier: tuple[str, str]) -> str:
    digest = hashlib.sha256(f"{identifier[0]}:{identifier[1]}".encode()).hexdigest()
    return "u-" + digest[:16]


def resolve_identities(store: Store, stage: str, *, load_id: int, now: datetime) -> IdentityOutcome:
    """Give every accepted row of ``stage`` a customer; create ``_resolved`` for the join.

    ``stage`` has the normalised identifier columns ``id_customer_id``, ``id_email``,
    ``id_phone``, ``id_anonymous_id``, their :data:`KEY` as ``_key`` and the flag ``_ok``.
    The result table ``_resolved`` maps ``_key`` to ``resolved_id``.
    """
    cols = [f"id_{t}" for t in IDENTITY_TYPES]
    plain = _PLAIN
    store.execute("DROP TABLE IF EXISTS _keys")
    store.execute(
        f"CREATE TEMP TABLE _keys AS SELECT DISTINCT _key, {', '.join(cols)} "  # noqa: S608 - identifiers via ident(), values bound as parameters
        f"FROM {ident(stage)} WHERE _ok"
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
    linked = store.fetchall(f"SELECT {', '.join(cols)} FROM _keys WHERE NOT ({plain})")  # noqa: S608 - identifiers via ident(), values bound as parameters
    new_linked, merged = _stitch(store, linked, load_id=load_id, now=now) if linked else (0, 0)
    return IdentityOutcome(new_customers=new_plain + new_linked, merged_customers=merged)


def _stitch(
    store: Store,
    rows: list[tuple[str | None, ...]],
    *,
    load_id: int,
    now: datetime,
) -> tuple[int, int]:
    """Union-find over rows that carry e-mails, phones or anonymous ids."""
    uf = _UnionFind()
    keyed: list[tuple[tuple[str | None, ...], list[tuple[str, str]]]] = []
    for row in rows:
        nodes = [(t, v) for t, v in zip(IDENTITY_TYPES, row, strict=True) if v is not None]
        for node in nodes[1:]:
            uf.union(nodes[0], node)
        uf.find(nodes[0])
        keyed.append((row, nodes))

    all_nodes = list(uf.parent)
    lookup = pa.table({"t": [n[0] for n in all_nodes], "v": [n[1] for n in all_nodes]})
    store.con.register("_lookup", lookup)
    existing = {
        (t, v): c
        for t, v, c in store.fetchall(
            "SELECT i.id_type, i.id_value, i.customer_id FROM identities i "
            "JOIN _lookup l ON i.id_type = l.t AND i.id_value = l.v"
        )
    }
    store.con.unregister("_lookup")
    for node, customer in existing.items():
        uf.union(node, ("customer_id", customer))
    known_ids = sorted(set(existing.values()))
    store.con.register("_known", pa.table({"c": known_ids}))
    registry = {
        c: (bool(minted), first_seen)
        for c, minted, first_seen in store.fetchall(
            "SELECT customer_id, minted, first_seen FROM customer_registry r "
            "JOIN _known k ON r.customer_id = k.c"
        )
    }
    store.con.unregister("_known")

    components: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for node in uf.parent:
        components.setdefault(uf.find(node), []).append(node)

    survivor_of: dict[tuple[str, str], str] = {}
    new_identities: list[tuple[str, str, str]] = []
    new_registry: list[tuple[str, bool, str | None]] = []
    merges: list[tuple[str, str, str, str]] = []
    for root, nodes in components.items():
        candidates: set[str] = set()
        for node in nodes:
            if node in existing:
                candidates.add(existing[node])
            elif node[0] == "customer_id":
                candidates.add(node[1])
        if candidates:

            def rank(c: str) -> tuple[bool, bool, datetime, str]:
                minted, first_seen = registry.get(c, (False, None))
                return (minted, c not in registry, first_seen or now, c)

            survivor = min(candidates, key=rank)
        else:
            survivor = _minted_id(min(nodes))
            new_registry.append((survivor, True, None))
            new_identities.append(("customer_id", survivor, survivor))
        survivor_of[root] = survivor
        new_identities.extend((n[0], n[1], survivor) for n in nodes if n not in existing)
        links = sorted(n for n in nodes if n[0] != "customer_id")
        via = links[0] if links else ("customer_id", survivor)
        for loser in sorted(candidates - {survivor}):
            merges.append((loser, survivor, via[0], via[1]))
            if loser not in registry:
                new_registry.append((loser, False, survivor))
        if survivor not in registry and candidates:
            new_registry.append((survivor, False, None))

    resolved = pa.table(
        {
            **{
                f"id_{t}": pa.array([row[i] for row, _ in keyed], pa.string())
                for i, t in enumerate(IDENTITY_TYPES)
            },
            "resolved_id": [survivor_of[uf.find(nodes[0])] for _, nodes in keyed],
        }
    )
    store.con.register("_linked", resolved)
    store.execute(f"INSERT INTO _resolved SELECT {KEY}, resolved_id FROM _linked")  # noqa: S608 - identifiers via ident(), values bound as parameters
    store.con.unregister("_linked")
    if new_identities:
        store.con.register(
            "_new_ids",
            pa.table(
                {
                    "t": [r[0] for r in new_identities],
                    "v": [r[1] for r in new_identities],
                    "c": [r[2] for r in new_identities],
                }
            ),
        )
        store.execute(
            "INSERT INTO identities SELECT t, v, c, $now, $load FROM _new_ids",
            {"now": now, "load": load_id},
        )
        store.con.unregister("_new_ids")
    if new_registry:
        store.con.register(
            "_new_reg",
            pa.table(
                {
                    "c": [r[0] for r in new_registry],
                    "m": [r[1] for r in new_registry],
                    "s": pa.array([r[2] for r in new_registry], pa.string()),
                }
            ),
        )
        store.execute(
            "INSERT INTO customer_registry SELECT c, $now, m, s, $load FROM _new_reg",
            {"now": now, "load": load_id},
        )
        store.con.unregister("_new_reg")
    existing_losers = [m for m in merges if m[0] in registry]
    if merges:
        _apply_merges(store, merges, existing_losers, load_id=load_id, now=now)
    new_count = sum(1 for r in new_registry if r[2] is None)
    return new_count, len(merges)


def _apply_merges(
    store: Store,
    merges: list[tuple[str, str, str, str]],
    existing_losers: list[tuple[str, str, str, str]],
    *,
    load_id: int,
    now: datetime,
) -> None:
    """Move events, identifiers and attributes of merged customers to their survivor."""
    table = pa.table(
        {
            "loser": [m[0] for m in merges],
            "survivor": [m[1] for m in merges],
            "via_type": [m[2] for m in merges],
            "via_value": [m[3] for m in merges],
        }
    )
    store.con.register("_merge_src", table)
    store.execute("DROP TABLE IF EXISTS _merge_map")
    store.execute("CREATE TEMP TABLE _merge_map AS SELECT * FROM _merge_src")
    store.con.unregister("_merge_src")
    store.execute(
        "INSERT INTO merges SELECT loser, survivor, via_type, via_value, $now, $load "
        "FROM _merge_map",
        {"now": now, "load": load_id},
    )
    if not existing_losers:
        return
    moves = [
        "UPDATE events SET customer_id = m.survivor FROM _merge_map m "
        "WHERE events.customer_id = m.loser",
        "UPDATE identities SET customer_id = m.survivor FROM _merge_map m "
        "WHERE identities.customer_id = m.loser",
        "UPDATE customer_registry SET merged_into = m.survivor FROM _merge_map m "
        "WHERE customer_registry.merged_into = m.loser",
        "UPDATE customer_registry SET merged_into = m.survivor FROM _merge_map m "
        "WHERE customer_registry.customer_id = m.loser",
    ]
    for statement in moves:
        store.execute(statement)
    attrs = [
        c
        for c in store.columns("customer_history")
        if c not in ("customer_id", "valid_from", "valid_to", "load_id")
    ]
    if not attrs:
        return
    # Survivor's own values win; a loser fills what the survivor lacks.
    combined = ", ".join(
        f"coalesce(any_value(s.{ident(a)}), any_value(l.{ident(a)})) AS {ident(a)}" for a in attrs
    )
    store.execute("DROP TABLE IF EXISTS _merged_versions")
    store.execute(
        f"""CREATE TEMP TABLE _merged_versions AS
        SELECT m.survivor AS customer_id, {combined}
        FROM _merge_map m
        JOIN customer_history l ON l.customer_id = m.loser AND l.valid_to IS NULL
        LEFT JOIN customer_history s ON s.customer_id = m.survivor AND s.valid_to IS NULL
        GROUP BY m.survivor"""  # noqa: S608 - identifiers via ident(), values bound as parameters
    )
    store.execute(
        "UPDATE customer_history SET valid_to = $now WHERE valid_to IS NULL AND "
        "(customer_id IN (SELECT loser FROM _merge_map) "
        "OR customer_id IN (SELECT customer_id FROM _merged_versions))",
        {"now": now},
    )
    store.execute(
        f"INSERT INTO customer_history (customer_id, valid_from, valid_to, load_id, "  # noqa: S608 - identifiers via ident(), values bound as parameters
        f"{', '.join(ident(a) for a in attrs)}) "
        f"SELECT customer_id, $now, NULL, $load, {', '.join(ident(a) for a in attrs)} "
        "FROM _merged_versions",
        {"now": now, "load": load_id},
    )
