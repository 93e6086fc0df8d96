"""Rows of people erased with ``microseg forget`` are refused (docs/governance.md).

The tombstone (``forgotten``) keeps salted SHA-256 hashes of an erased person's ids and
identifiers, never their values; a row any of whose normalised identifiers hashes to one
of them is rejected with the reason ``forgotten``, and its reject keeps no clear value.
"""

from __future__ import annotations

from microseg.ingest._convert import Params
from microseg.ingest._load import LoadContext, Problem, text
from microseg.store import SALT_KEY

__all__ = ["FORGOTTEN", "forgotten_problem"]

#: the reject code of a row that belongs to an erased person
FORGOTTEN = "forgotten"


def forgotten_problem(ctx: LoadContext, ids: dict[str, str], params: Params) -> list[Problem]:
    """The check refusing erased people's rows (none while nobody was erased); ``ids``
    are the SQL expressions of a source's normalised identifiers."""
    store = ctx.store
    salt = store.meta_value(SALT_KEY)
    if salt is None or not store.scalar("SELECT count(*) FROM forgotten"):
        return []
    bound = params.add(salt)
    condition = " OR ".join(
        f"sha256({bound}::VARCHAR || ({expr})) IN (SELECT hash FROM forgotten)"  # noqa: S608 - identifiers via ident(), values bound as parameters
        for expr in ids.values()
    )
    return [
        Problem(
            "",
            condition,
            "NULL",
            text("this person was erased (microseg forget); row refused, values not kept"),
            FORGOTTEN,
        )
    ]
