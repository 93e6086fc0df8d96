"""Erasure: one person out of every table, proved, with a tombstone that refuses their
return (docs/governance.md, "Erasure").

The person is every customer id merged into the one named (and the one it was merged
into), with their identifiers. The store finds their rows in every table it has (see
:mod:`microseg.store`), writes a new database file without them, keeps salted hashes of
their ids and identifiers, scans every column of every table of the new file for any of
them in clear, and only then swaps the files: all of it, or (on any error or kill)
nothing.
"""

from __future__ import annotations

from pydantic import Field

from microseg.context import Context
from microseg.core.errors import WorkspaceError
from microseg.core.results import Instant, Result

__all__ = ["ErasureProof", "ErasureReport", "forget"]


class ErasureProof(Result):
    """The scan that follows an erasure: every column of every table, read as text, for
    each of the person's ids and identifiers (whole tokens; e-mails in any case). An
    identifier anywhere, or an id where ids name customers (customer columns, JSON and
    list values, tables without customer columns), is a hit; an id elsewhere is a
    look-alike (another kind of value that happens to be equal)."""

    tables: int
    columns: int
    #: the values looked for, by kind (customer ids, e-mail, phone...); never the values
    looked_for: dict[str, int] = Field(default_factory=dict)
    #: ``table.column`` -> rows still holding one of them (none when the erasure worked)
    hits: dict[str, int] = Field(default_factory=dict)
    #: ``table.column`` -> rows holding a value equal to one of the ids where ids are not
    #: customers (an order number 1001 when a customer is 1001): kept, not the person
    lookalikes: dict[str, int] = Field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not self.hits


class ErasureReport(Result):
    """What ``forget`` removed, and its proof."""

    customer_id: str
    #: the customer ids that were this person (the survivor and every id merged into it)
    ids: list[str]
    forgotten_at: Instant
    #: rows removed per table
    removed: dict[str, int] = Field(default_factory=dict)
    #: events removed per type, and their dates
    events: dict[str, int] = Field(default_factory=dict)
    first_event: Instant | None = None
    last_event: Instant | None = None
    #: salted hashes added to the tombstone (ids and identifiers)
    tombstones: int = 0
    proof: ErasureProof
    #: rows of other customers that mentioned the person (an event's note naming their
    #: e-mail), per table: kept, with the mention replaced by ``[forgotten]``
    redacted: dict[str, int] = Field(default_factory=dict)


def forget(context: Context, customer_id: str) -> ErasureReport:
    """Erase the person ``customer_id`` is (see the module); raises
    :class:`WorkspaceError` for an unknown or already forgotten id."""
    store = context.store
    person = store.find_person(customer_id)
    if person is None:
        if store.forgotten_matches([customer_id]):
            raise WorkspaceError(
                f"customer {customer_id!r} was already forgotten",
                hint="nothing of them is left; their rows are refused if they come back",
            )
        raise WorkspaceError(
            f"no customer {customer_id!r} in this workspace",
            hint="check the id with `microseg profile CUSTOMER_ID`",
        )
    now = context.now()
    erased = store.erase_person(person, at=now)
    kinds: dict[str, int] = {"customer_id": len(person.all_ids())}
    for id_type, _ in person.identifiers:
        if id_type != "customer_id":
            kinds[id_type] = kinds.get(id_type, 0) + 1
    return ErasureReport(
        customer_id=person.customer_id,
        ids=list(person.ids),
        forgotten_at=now,
        removed=dict(sorted(erased.removed.items())),
        events=erased.events,
        first_event=erased.first_event,
        last_event=erased.last_event,
        tombstones=erased.tombstones,
        proof=ErasureProof(
            tables=erased.tables_scanned,
            columns=erased.columns_scanned,
            looked_for=kinds,
            hits=erased.hits,
            lookalikes=erased.lookalikes,
        ),
        redacted=dict(sorted(erased.redacted.items())),
    )
