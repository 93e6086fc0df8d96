"""Rewriting the store's database file: a new file filled from the old one, then
swapped in by a rename, so that a kill at any moment leaves the old file as it was and
the new file holds nothing it was not given (DuckDB keeps deleted rows in a file until
their space is reused; a file written afresh never held them)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import duckdb

from microseg.store._backend import Backend, translated

if TYPE_CHECKING:
    from microseg.store._store import Store

__all__ = ["rewrite"]

_T = TypeVar("_T")


def _literal(path: Path) -> str:
    """A SQL string literal of a file path: ATTACH takes no parameters. The path is the
    workspace's own store file, never a value from data."""
    text = str(path)
    if "\x00" in text:
        raise ValueError(f"a store path cannot hold a NUL character: {text!r}")
    return "'" + text.replace("'", "''") + "'"


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def rewrite(store: Store, work: Callable[[duckdb.DuckDBPyConnection], _T]) -> _T:
    """Rewrite the store's file: ``work`` fills the new database ``dst`` (its schema is
    already ``src``'s) from the old one ``src``; the new file then replaces the old one
    by a rename, and the store reopens on it. On any error or kill before the rename,
    the old file is untouched (a leftover new file is removed by the next rewrite)."""
    path = store.path.resolve()
    fresh = path.with_name(path.name + ".rewrite")
    for stale in (fresh, Path(str(fresh) + ".wal")):
        stale.unlink(missing_ok=True)
    settings = store.fetchone("SELECT current_setting('memory_limit'), current_setting('threads')")
    assert settings is not None
    writes = store.writes
    store.execute("CHECKPOINT")
    store.close()
    try:
        if Path(str(path) + ".wal").exists():
            raise OSError(f"{path}.wal is still there after a checkpoint; nothing was changed")
        con = duckdb.connect()
        try:
            con.execute(f"SET memory_limit = '{settings[0]}'")
            con.execute(f"ATTACH {_literal(path)} AS src (READ_ONLY)")
            con.execute(f"ATTACH {_literal(fresh)} AS dst")
            con.execute("COPY FROM DATABASE src TO dst (SCHEMA)")
            with translated():
                outcome = work(con)
            con.execute("DETACH dst")
            con.execute("DETACH src")
        finally:
            con.close()
        if Path(str(fresh) + ".wal").exists():
            raise OSError(f"{fresh}.wal was left by the rewrite; nothing was changed")
        _fsync(fresh)
        os.replace(fresh, path)
        _fsync(path.parent)
    except BaseException:
        fresh.unlink(missing_ok=True)
        raise
    finally:
        _reopen(store, settings)
    store.writes = writes + 1
    return outcome


def _reopen(store: Store, settings: tuple[Any, ...]) -> None:
    backend = Backend().connect(str(store.path))
    assert isinstance(backend, Backend)
    store._attach(store.path, store.timezone, backend)
    store.execute(f"SET memory_limit = '{settings[0]}'")
    store.threads(int(settings[1]))
    store.execute("SET preserve_insertion_order = false")
