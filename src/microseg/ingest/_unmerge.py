"""Undoing merges from the merge log, and listing the identifiers that link no one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import Field

from microseg.core.errors import WorkspaceError
from microseg.core.results import Result
from microseg.store import Store

__all__ = ["IdentityNamespace", "UnmergeResult", "shared_identifiers", "unmerge"]


class UnmergeResult(Result):
    """What :func:`unmerge` gave back."""

    survivor: str
    restored: list[str]
    events: int = 0
    identities: int = 0
    #: survivors whose attributes could not go back to their version before the merge
    #: (they changed since, or another absorbed customer is still merged into them)
    attributes_kept: list[str] = Field(default_factory=list)


def shared_identifiers(store: Store) -> list[dict[str, Any]]:
    """Identifiers that link no one: shared by too many customers, or undone by an unmerge."""
    keys = ("id_type", "id_value", "customers", "reason", "load_id", "flagged_at")
    rows = store.fetchall(
        "SELECT id_type, id_value, customers, reason, load_id, flagged_at "
        "FROM shared_identifiers ORDER BY customers DESC NULLS LAST, id_type, id_value"
    )
    return [dict(zip(keys, row, strict=True)) for row in rows]


def _merges_to_undo(store: Store, customer_id: str) -> list[tuple[Any, ...]]:
    row = store.fetchone(
        "SELECT merged_into FROM customer_registry WHERE customer_id = $1", [customer_id]
    )
    if row is None:
        raise WorkspaceError(
            f"no customer {customer_id!r} in the workspace",
            hint="give a customer id from the customers or merges tables",
        )
    columns = "merge_id, loser, survivor, via_type, via_value, merged_at, load_id, logged"
    if row[0] is not None:
        found = store.fetchall(
            f"SELECT {columns} FROM merges WHERE loser = $1 AND unmerged_at IS NULL "  # noqa: S608 - identifiers via ident(), values bound as parameters
            "ORDER BY merge_id DESC LIMIT 1",
            [customer_id],
        )
    else:
        found = store.fetchall(
            f"SELECT {columns} FROM merges WHERE survivor = $1 AND unmerged_at IS NULL "  # noqa: S608 - identifiers via ident(), values bound as parameters
            "ORDER BY merge_id DESC",
            [customer_id],
        )
    if not found:
        raise WorkspaceError(
            f"customer {customer_id!r} has not absorbed anyone and was not merged into anyone",
            hint="see `microseg status` and the merges table for the merges there are",
        )
    old = [m for m in found if not m[7]]
    if old:
        raise WorkspaceError(
            f"the merge of {old[0][1]!r} into {old[0][2]!r} was made before microseg recorded "
            "what a merge moves, so it cannot be undone",
            hint="re-load the sources into a new workspace to separate these customers",
        )
    return found


def unmerge(store: Store, customer_id: str, *, now: datetime) -> UnmergeResult:
    """Undo the merge that absorbed ``customer_id``, or, for a survivor, every merge
    into it (latest first): the absorbed customers get back the events, identifiers and
    attribute versions they had, and the identifier that linked them links no one from
    then on (so that re-loading the same files does not merge them again).
    """
    merges = _merges_to_undo(store, customer_id)
    restored: list[str] = []
    events = identities = 0
    kept: list[str] = []
    with store.transaction():
        for merge_id, loser, survivor, via_type, via_value, _merged_at, load_id, _ in merges:
            m = {"m": merge_id, "loser": loser}
            events += int(
                store.scalar(
                    "SELECT count(*) FROM merge_moves WHERE merge_id = $m AND what = 'event'",
                    {"m": merge_id},
                )
            )
            store.execute(
                "UPDATE events SET customer_id = $loser FROM merge_moves v "
                "WHERE v.merge_id = $m AND v.what = 'event' AND events.event_id = v.key",
                m,
            )
            identities += int(
                store.scalar(
                    "SELECT count(*) FROM merge_moves WHERE merge_id = $m AND what = 'identity'",
                    {"m": merge_id},
                )
            )
            store.execute(
                "UPDATE identities SET customer_id = $loser FROM merge_moves v "
                "WHERE v.merge_id = $m AND v.what = 'identity' "
                "AND identities.id_type = v.key AND identities.id_value = v.key2",
                m,
            )
            store.execute(
                "UPDATE customer_registry SET merged_into = NULL WHERE customer_id = $loser",
                {"loser": loser},
            )
            store.execute(
                "UPDATE customer_registry SET merged_into = $loser FROM merge_moves v "
                "WHERE v.merge_id = $m AND v.what = 'absorbed' "
                "AND customer_registry.customer_id = v.key",
                m,
            )
            store.execute(
                "UPDATE merges SET unmerged_at = $now WHERE merge_id = $m",
                {"now": now, "m": merge_id},
            )
            _restore_versions(store, merge_id, loser, survivor, kept)
            store.execute(
                "INSERT INTO shared_identifiers SELECT $t, $v, NULL, 'unmerged', $load, $now "
                "WHERE NOT EXISTS (SELECT 1 FROM shared_identifiers "
                "WHERE id_type = $t AND id_value = $v)",
                {"t": via_type, "v": via_value, "load": load_id, "now": now},
            )
            restored.append(loser)
    return UnmergeResult(
        survivor=str(merges[0][2]),
        restored=restored,
        events=events,
        identities=identities,
        attributes_kept=sorted(set(kept)),
    )


def _restore_versions(
    store: Store, merge_id: int, loser: str, survivor: str, kept: list[str]
) -> None:
    """Reopen the absorbed customer's last version; give the survivor back its own when
    the merge's combined version is still current and no one else of that merge is left."""
    m = {"m": merge_id, "loser": loser}
    store.execute(
        "UPDATE customer_history SET valid_to = NULL FROM merge_moves v "
        "WHERE v.merge_id = $m AND v.what = 'closed_version' AND v.key = $loser "
        "AND customer_history.customer_id = $loser AND customer_history.valid_from = v.at_time "
        "AND customer_history.load_id = v.load_id",
        m,
    )
    new = store.fetchone(
        "SELECT at_time, load_id FROM merge_moves WHERE merge_id = $m AND what = 'new_version'",
        {"m": merge_id},
    )
    if new is None:
        return
    others = store.scalar(
        "SELECT count(*) FROM merges o JOIN merges m ON m.merge_id = $m "
        "AND o.survivor = m.survivor AND o.load_id = m.load_id AND o.merged_at = m.merged_at "
        "WHERE o.unmerged_at IS NULL AND o.merge_id <> $m",
        {"m": merge_id},
    )
    current = store.scalar(
        "SELECT count(*) FROM customer_history WHERE customer_id = $s AND valid_to IS NULL "
        "AND valid_from = $at AND load_id = $load",
        {"s": survivor, "at": new[0], "load": new[1]},
    )
    if others or not current:
        kept.append(survivor)
        return
    store.execute(
        "DELETE FROM customer_history WHERE customer_id = $s AND valid_to IS NULL "
        "AND valid_from = $at AND load_id = $load",
        {"s": survivor, "at": new[0], "load": new[1]},
    )
    store.execute(
        "UPDATE customer_history SET valid_to = NULL FROM merge_moves v "
        "WHERE v.merge_id = $m AND v.what = 'closed_version' AND v.key = $s "
        "AND customer_history.customer_id = $s AND customer_history.valid_from = v.at_time "
        "AND customer_history.load_id = v.load_id",
        {"m": merge_id, "s": survivor},
    )


class IdentityNamespace:
    """``ws.identity``: the identifiers that link no one, and undoing merges.

    Examples
    --------
    >>> ws.identity.shared()                                          # doctest: +SKIP
    >>> ws.identity.unmerge("C2").restored                            # doctest: +SKIP
    """

    def __init__(self, store: Store, now: Callable[[], datetime]) -> None:
        self._store = store
        self._now = now

    def shared(self) -> list[dict[str, Any]]:
        """Identifiers that link no one (``reason``: ``shared`` or ``unmerged``)."""
        return shared_identifiers(self._store)

    def unmerge(self, customer_id: str) -> UnmergeResult:
        """Undo the merge that absorbed ``customer_id`` or, for a survivor, every merge
        into it; see docs/data-model.md ("Undoing a merge")."""
        return unmerge(self._store, customer_id, now=self._now())
