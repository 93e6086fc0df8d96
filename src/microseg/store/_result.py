"""Result handles: an evaluation owns its result table under a name no one else uses.

Two evaluations in one process, or two threads with their own session, never overwrite
each other's results: each gets a temporary table named by :meth:`Store.temp_name`,
reachable only through the :class:`ResultTable` handle the evaluation returns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import ibis
import pyarrow as pa

if TYPE_CHECKING:
    from microseg.store._store import Store

__all__ = ["ResultTable"]


class ResultTable:
    """One evaluation's temporary result table (on the store or session that made it)."""

    def __init__(self, store: Store, name: str) -> None:
        self.store = store
        self.name = name

    def __repr__(self) -> str:
        return f"ResultTable({self.name!r})"

    def table(self) -> ibis.Table:
        """The result as a lazy Ibis table."""
        return self.store.table(self.name)

    def to_pyarrow(self) -> pa.Table:
        return self.table().to_pyarrow()

    def count(self) -> int:
        return self.store.row_count(self.name)

    def drop(self) -> None:
        """Free the table now (it goes anyway when the store or session closes)."""
        self.store.drop_temp_table(self.name)
