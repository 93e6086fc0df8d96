"""Result handles: an evaluation owns its result table under a name no one else uses.

Two evaluations in one process, or two threads with their own session, never overwrite
each other's results: each gets a temporary table named by :func:`result_name`, reachable
only through the :class:`ResultTable` handle the evaluation returns.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

import duckdb
import ibis
import pyarrow as pa

from microseg.store._sql import ident

if TYPE_CHECKING:
    from microseg.store._store import Store

__all__ = ["ResultTable", "create_temp_table", "result_name"]


def result_name(prefix: str) -> str:
    """A temporary table name unique to one evaluation: ``prefix`` and 16 random hex digits."""
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


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
        return int(self.store.scalar(f"SELECT count(*) FROM {ident(self.name)}"))  # noqa: S608 - a generated name, quoted

    def drop(self) -> None:
        """Free the table now (it goes anyway when the store closes)."""
        self.store.execute(f"DROP TABLE IF EXISTS temp.{ident(self.name)}")


def create_temp_table(store: Store, name: str, plan: Callable[[bool], ibis.Table]) -> None:
    """Create the temporary table ``name`` from ``plan(merged)``.

    The plain plan (``merged=False``) is tried first, the fastest; when DuckDB runs out of
    memory on it (at about 10M customers with the default 1 GB), the merged plan, which
    spills to disk, is used instead. The table is dropped, then created: ``overwrite=True``
    would write every row twice (a copy).
    """
    for merged in (False, True):
        store.ibis.drop_table(name, database=("temp", "main"), force=True)
        try:
            store.ibis.create_table(name, plan(merged), temp=True)
            return
        except duckdb.OutOfMemoryException:
            if merged:
                raise
