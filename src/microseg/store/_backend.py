"""DuckDB behind the store: its Ibis backend, with DuckDB's errors told as microseg's.

DuckDB raises ``duckdb.OutOfMemoryException`` when a query needs more than
``store.memory_limit``; the store turns it into :class:`StoreMemoryError` wherever the
query runs (the store's own SQL, or an Ibis expression executed on the store's backend),
so nothing above ``store/`` needs to know DuckDB.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb
from ibis.backends.duckdb import Backend as DuckDBBackend

from microseg.core.errors import StoreMemoryError

__all__ = ["Backend", "OutOfMemory", "translated"]

_HINT = (
    "raise `store: {memory_limit: ...}` in microseg.yaml (e.g. 8GB for 10 million "
    "customers), or set `store: {threads: 1}`"
)


class OutOfMemory(StoreMemoryError, duckdb.OutOfMemoryException):
    """The :class:`StoreMemoryError` the store raises: also DuckDB's own exception, so that
    code written against DuckDB's error keeps catching it."""


def out_of_memory(exc: duckdb.OutOfMemoryException) -> OutOfMemory:
    """The error to raise for DuckDB's ``exc``: the message the command line has always
    printed (DuckDB's first line, what to change)."""
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return OutOfMemory(
        f"the database ran out of the memory it may use ({first}); nothing was changed",
        hint=_HINT,
    )


@contextmanager
def translated() -> Iterator[None]:
    """Run a block on DuckDB; its out-of-memory error leaves as :class:`StoreMemoryError`."""
    try:
        yield
    except OutOfMemory:
        raise
    except duckdb.OutOfMemoryException as exc:
        raise out_of_memory(exc) from exc


class Backend(DuckDBBackend):  # type: ignore[misc]  # ibis ships no type hints here
    """Ibis's DuckDB backend whose executions translate DuckDB's out-of-memory error."""

    def raw_sql(self, *args: Any, **kwargs: Any) -> Any:
        with translated():
            return super().raw_sql(*args, **kwargs)

    def create_table(self, *args: Any, **kwargs: Any) -> Any:
        with translated():
            return super().create_table(*args, **kwargs)

    def to_pyarrow(self, *args: Any, **kwargs: Any) -> Any:
        with translated():
            return super().to_pyarrow(*args, **kwargs)

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        with translated():
            return super().execute(*args, **kwargs)

    def to_parquet(self, *args: Any, **kwargs: Any) -> Any:
        with translated():
            return super().to_parquet(*args, **kwargs)
