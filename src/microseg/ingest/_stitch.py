"""The union-find over identifiers, with the guard against shared identifiers and the
merge log: the part of identity stitching that runs in Python (see
:mod:`microseg.ingest._identity` for the rules)."""

from __future__ import annotations

import hashlib
from collections import Counter, deque
from datetime import datetime
from typing import Any

import pyarrow as pa

from microseg.ingest._screen import IdentityPolicy
from microseg.store import IDENTITY_TYPES, Store, ident

__all__ = ["Node", "Stitch", "UnionFind"]

Node = tuple[str, str]


class UnionFind:
    def __init__(self) -> None:
        self.parent: dict[Node, Node] = {}

    def find(self, node: Node) -> Node:
        """The root of ``node``'s set; iterative (chains may be longer than the stack),
        with the path compressed so that the next search is one step."""
        parent = self.parent
        root = parent.setdefault(node, node)
        while parent[root] != root:
            root = parent[root]
        while node != root:
            parent[node], node = root, parent[node]
        return root

    def union(self, a: Node, b: Node) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _minted_id(identifier: Node) -> str:
    digest = hashlib.sha256(f"{identifier[0]}:{identifier[1]}".encode()).hexdigest()
    return "u-" + digest[:16]


class Stitch:
    """Union-find over rows that carry e-mails, phones or anonymous ids, with the guard
    against shared identifiers and the merge log."""

    def __init__(self, store: Store, policy: IdentityPolicy, *, load_id: int, now: datetime):
        self.store = store
        self.policy = policy
        self.load_id = load_id
        self.now = now
        self.shared: list[tuple[str, str, int]] = []
        self.orphans: list[tuple[str, str, str]] = []  # (_key, type, value) left with nothing

    def _lookup(self, nodes: list[Node]) -> dict[Node, str]:
        """The stored owner of each identifier that has one."""
        lookup = pa.table({"t": [n[0] for n in nodes], "v": [n[1] for n in nodes]})
        self.store.con.register("_lookup", lookup)
        try:
            return {
                (t, v): c
                for t, v, c in self.store.fetchall(
                    "SELECT i.id_type, i.id_value, i.customer_id FROM identities i "
                    "JOIN _lookup l ON i.id_type = l.t AND i.id_value = l.v"
                )
            }
        finally:
            self.store.con.unregister("_lookup")

    def _merged_through(self, nodes: list[Node]) -> dict[Node, int]:
        """How many customers each identifier has already joined (merges not undone)."""
        lookup = pa.table({"t": [n[0] for n in nodes], "v": [n[1] for n in nodes]})
        self.store.con.register("_lookup", lookup)
        try:
            return {
                (t, v): int(n)
                for t, v, n in self.store.fetchall(
                    "SELECT m.via_type, m.via_value, count(*) FROM merges m "
                    "JOIN _lookup l ON m.via_type = l.t AND m.via_value = l.v "
                    "WHERE m.unmerged_at IS NULL GROUP BY ALL"
                )
            }
        finally:
            self.store.con.unregister("_lookup")

    def _guard(self, rows: list[tuple[str, list[Node]]]) -> set[Node]:
        """The identifiers that would join more separate customers than the limit.

        An identifier's customers are the separate customers it would join: the groups
        its rows form without it (and without the other shared identifiers), its stored
        owner, and the customers it joined in earlier loads. Only identifiers on more
        rows than the limit can qualify; the set is narrowed until it is stable.
        """
        limit = self.policy.max_customers
        on_rows = Counter(n for _, nodes in rows for n in nodes if n[0] != "customer_id")
        merged = self._merged_through(list(on_rows))
        suspects = {n for n, k in on_rows.items() if k + 1 + merged.get(n, 0) > limit}
        if not suspects:
            return set()
        owners = self._lookup(list(suspects))
        counts: dict[Node, int] = {}
        while suspects:
            uf = UnionFind()
            for _, nodes in rows:
                kept = [n for n in nodes if n not in suspects]
                if kept:
                    uf.find(kept[0])
                for node in kept[1:]:
                    uf.union(kept[0], node)
            others = self._lookup(list(uf.parent))
            for node, owner in others.items():
                uf.union(node, ("customer_id", owner))
            groups: dict[Node, set[Node]] = {n: set() for n in suspects}
            for _, nodes in rows:
                kept = [n for n in nodes if n not in suspects]
                if not kept:
                    continue
                for node in nodes:
                    if node in suspects:
                        groups[node].add(uf.find(kept[0]))
            for node in suspects:
                if node in owners:
                    groups[node].add(uf.find(("customer_id", owners[node])))
            counts = {n: len(g) + merged.get(n, 0) for n, g in groups.items()}
            cleared = {n for n, c in counts.items() if c <= limit}
            if not cleared:
                break
            suspects -= cleared
        self.shared = sorted((n[0], n[1], counts[n]) for n in suspects)
        return suspects

    def run(self, rows_in: list[tuple[Any, ...]]) -> tuple[int, int]:  # noqa: C901 - one pass of the stitcher; its steps share the union-find state
        store, now = self.store, self.now
        rows: list[tuple[str, list[Node]]] = [
            (str(row[0]), [(t, v) for t, v in zip(IDENTITY_TYPES, row[1:], strict=True) if v])
            for row in rows_in
        ]
        shared = self._guard(rows)
        if shared:
            kept_rows = []
            for key, nodes in rows:
                kept = [n for n in nodes if n not in shared]
                if kept:
                    kept_rows.append((key, kept))
                else:
                    self.orphans.append((key, nodes[0][0], nodes[0][1]))
            rows = kept_rows
        uf = UnionFind()
        for _, nodes in rows:
            for node in nodes[1:]:
                uf.union(nodes[0], node)
            uf.find(nodes[0])
        existing = self._lookup(list(uf.parent))
        for node, customer in list(existing.items()):
            uf.union(node, ("customer_id", customer))
            # the owner's own id is stored too: not a new identity of this load
            existing.setdefault(("customer_id", customer), customer)
        known_ids = sorted(set(existing.values()))
        store.con.register("_known", pa.table({"c": pa.array(known_ids, pa.string())}))
        registry = {
            c: (bool(minted), first_seen)
            for c, minted, first_seen in store.fetchall(
                "SELECT customer_id, minted, first_seen FROM customer_registry r "
                "JOIN _known k ON r.customer_id = k.c"
            )
        }
        store.con.unregister("_known")

        components: dict[Node, list[Node]] = {}
        for node in uf.parent:
            components.setdefault(uf.find(node), []).append(node)

        survivor_of: dict[Node, str] = {}
        new_identities: list[tuple[str, str, str]] = []
        new_registry: list[tuple[str, bool, str | None]] = []
        merges: list[tuple[str, str, str, str]] = []
        merging: dict[Node, tuple[str, list[str]]] = {}  # root -> survivor, losers
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
            losers = sorted(candidates - {survivor})
            if losers:
                merging[root] = (survivor, losers)
            for loser in losers:
                if loser not in registry:
                    new_registry.append((loser, False, survivor))
            if survivor not in registry and candidates:
                new_registry.append((survivor, False, None))
        if merging:
            vias = _links(rows, existing, uf, merging)
            for survivor, losers in merging.values():
                for loser in losers:
                    via = vias[loser]
                    merges.append((loser, survivor, via[0], via[1]))

        resolved = pa.table(
            {
                "_key": pa.array([key for key, _ in rows], pa.string()),
                "resolved_id": pa.array(
                    [survivor_of[uf.find(nodes[0])] for _, nodes in rows], pa.string()
                ),
            }
        )
        store.con.register("_linked", resolved)
        store.execute("INSERT INTO _resolved SELECT _key, resolved_id FROM _linked")
        store.con.unregister("_linked")
        self._insert_identities(new_identities)
        self._insert_registry(new_registry)
        if merges:
            _apply_merges(store, merges, set(registry), load_id=self.load_id, now=now)
        new_count = sum(1 for r in new_registry if r[2] is None)
        return new_count, len(merges)

    def _insert_identities(self, new_identities: list[tuple[str, str, str]]) -> None:
        if not new_identities:
            return
        rows = {
            "t": [r[0] for r in new_identities],
            "v": [r[1] for r in new_identities],
            "c": [r[2] for r in new_identities],
        }
        with self.store.registered("_new_ids", rows):
            self.store.execute(
                "INSERT INTO identities SELECT t, v, c, $now, $load FROM _new_ids",
                {"now": self.now, "load": self.load_id},
            )

    def _insert_registry(self, new_registry: list[tuple[str, bool, str | None]]) -> None:
        if not new_registry:
            return
        rows = {
            "c": [r[0] for r in new_registry],
            "m": [r[1] for r in new_registry],
            "s": pa.array([r[2] for r in new_registry], pa.string()),
        }
        with self.store.registered("_new_reg", rows):
            self.store.execute(
                "INSERT INTO customer_registry SELECT c, $now, m, s, $load FROM _new_reg",
                {"now": self.now, "load": self.load_id},
            )


def _links(
    rows: list[tuple[str, list[Node]]],
    existing: dict[Node, str],
    uf: UnionFind,
    merging: dict[Node, tuple[str, list[str]]],
) -> dict[str, Node]:
    """The identifier that linked each absorbed customer to its survivor.

    The graph of a merging group has the links of this load's rows and, for stored
    identifiers, the link to their owner. A breadth-first search from the survivor
    reaches each absorbed customer along a shortest path; the identifier it came
    through last (its nearest identifier that is not a customer id) is the link.
    """
    graph: dict[Node, list[Node]] = {}

    def edge(a: Node, b: Node) -> None:
        graph.setdefault(a, []).append(b)
        graph.setdefault(b, []).append(a)

    for _, nodes in rows:
        if uf.find(nodes[0]) in merging:
            for node in nodes[1:]:
                edge(nodes[0], node)
    for node, owner in existing.items():
        if uf.find(node) in merging and node != ("customer_id", owner):
            edge(node, ("customer_id", owner))
    links: dict[str, Node] = {}
    for survivor, losers in merging.values():
        start = ("customer_id", survivor)
        came_from: dict[Node, Node] = {start: start}
        queue = deque([start])
        while queue:
            node = queue.popleft()
            for nxt in graph.get(node, ()):
                if nxt not in came_from:
                    came_from[nxt] = node
                    queue.append(nxt)
        for loser in losers:
            step = came_from.get(("customer_id", loser), start)
            while step[0] == "customer_id" and step != start:
                step = came_from[step]
            links[loser] = step if step != start else ("customer_id", loser)
    return links


def _apply_merges(
    store: Store,
    merges: list[tuple[str, str, str, str]],
    known: set[str],
    *,
    load_id: int,
    now: datetime,
) -> None:
    """Move events, identifiers and attributes of merged customers to their survivor,
    logging in ``merge_moves`` what moved so that :func:`unmerge` can move it back."""
    first_id = int(store.scalar("SELECT coalesce(max(merge_id), 0) + 1 FROM merges"))
    table = pa.table(
        {
            "merge_id": pa.array(range(first_id, first_id + len(merges)), pa.int64()),
            "loser": [m[0] for m in merges],
            "survivor": [m[1] for m in merges],
            "via_type": [m[2] for m in merges],
            "via_value": [m[3] for m in merges],
            "existed": [m[0] in known for m in merges],
        }
    )
    store.con.register("_merge_src", table)
    store.execute("DROP TABLE IF EXISTS _merge_map")
    store.execute("CREATE TEMP TABLE _merge_map AS SELECT * FROM _merge_src")
    store.con.unregister("_merge_src")
    params = {"now": now, "load": load_id}
    store.execute(
        "INSERT INTO merges (loser, survivor, via_type, via_value, merged_at, load_id, "
        "merge_id, logged, unmerged_at) SELECT loser, survivor, via_type, via_value, $now, "
        "$load, merge_id, true, NULL FROM _merge_map",
        params,
    )
    # a loser new in this load owns nothing but its own id, which went to the survivor
    store.execute(
        "INSERT INTO merge_moves SELECT merge_id, 'identity', 'customer_id', loser, NULL, NULL "
        "FROM _merge_map WHERE NOT existed"
    )
    if not any(m[0] in known for m in merges):
        return
    log = [
        "SELECT m.merge_id, 'event', e.event_id, NULL, NULL, NULL FROM events e "
        "JOIN _merge_map m ON e.customer_id = m.loser AND m.existed",
        "SELECT m.merge_id, 'identity', i.id_type, i.id_value, NULL, NULL FROM identities i "
        "JOIN _merge_map m ON i.customer_id = m.loser AND m.existed",
        "SELECT m.merge_id, 'absorbed', r.customer_id, NULL, NULL, NULL "
        "FROM customer_registry r JOIN _merge_map m ON r.merged_into = m.loser AND m.existed",
    ]
    for select in log:
        store.execute(f"INSERT INTO merge_moves {select}")
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
    # the versions this closes (the losers' and the survivors') and the one it opens
    store.execute(
        """INSERT INTO merge_moves
        SELECT m.merge_id, 'closed_version', h.customer_id, NULL, h.valid_from, h.load_id
        FROM _merge_map m JOIN customer_history h
          ON h.valid_to IS NULL AND (h.customer_id = m.loser OR (h.customer_id = m.survivor
             AND m.survivor IN (SELECT customer_id FROM _merged_versions)))
        UNION ALL
        SELECT m.merge_id, 'new_version', v.customer_id, NULL, $now, $load
        FROM _merge_map m JOIN _merged_versions v ON v.customer_id = m.survivor""",
        params,
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
        params,
    )
