"""DuckDB's out-of-memory error leaves the store as StoreMemoryError, wherever it ran."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import ibis
import pytest

from microseg.core.errors import MicrosegError, StoreMemoryError
from microseg.store import Store

# A list aggregate cannot spill to disk: past a few megabytes it runs out of memory.
HUNGRY = "SELECT list(range) FROM range(20000000)"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "m.duckdb", memory_limit="20MB", threads=1) as opened:
        opened.execute("CREATE VIEW numbers AS SELECT range FROM range(20000000)")
        yield opened


def _says_what_to_raise(error: StoreMemoryError) -> None:
    text = str(error)
    assert text.startswith("the database ran out of the memory it may use (")
    assert "nothing was changed" in text
    assert "memory_limit" in text
    assert "threads: 1" in text
    assert isinstance(error, MicrosegError)
    # code written against DuckDB's own error keeps catching it
    assert isinstance(error, duckdb.OutOfMemoryException)


def test_sql_run_by_the_store(store: Store) -> None:
    with pytest.raises(StoreMemoryError) as caught:
        store.fetchall(HUNGRY)
    _says_what_to_raise(caught.value)


def test_an_ibis_expression_on_the_store(store: Store) -> None:
    numbers = store.table("numbers")
    with pytest.raises(StoreMemoryError) as caught:
        numbers.aggregate(all=numbers.range.collect()).to_pyarrow()
    _says_what_to_raise(caught.value)
    with pytest.raises(StoreMemoryError):
        store.ibis.create_table("big", numbers.aggregate(all=numbers.range.collect()), temp=True)


def test_a_failed_write_changes_nothing(store: Store) -> None:
    store.execute("CREATE TABLE kept (x BIGINT)")

    def write() -> None:
        with store.transaction():
            store.execute("INSERT INTO kept VALUES (1)")
            store.execute(f"INSERT INTO kept SELECT len(l) FROM ({HUNGRY}) t(l)")

    with pytest.raises(StoreMemoryError):
        write()
    assert store.scalar("SELECT count(*) FROM kept") == 0


def test_the_next_plan_is_tried_when_one_runs_out(store: Store) -> None:
    numbers = store.table("numbers")
    tried: list[str] = []

    def hungry() -> ibis.Table:
        tried.append("hungry")
        return numbers.aggregate(n=numbers.range.collect().length())

    def frugal() -> ibis.Table:
        tried.append("frugal")
        return numbers.aggregate(n=numbers.count())

    table = store.create_temp_table("_counted", hungry, frugal)
    assert tried == ["hungry", "frugal"]
    assert table.to_pyarrow().to_pylist() == [{"n": 20000000}]
    with pytest.raises(StoreMemoryError):
        store.create_temp_table("_counted", hungry)
