"""Sessions: one cursor each, so concurrent readers never overwrite each other's tables."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from microseg import Workspace
from microseg.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "s.duckdb", timezone="Europe/Paris") as opened:
        opened.execute("CREATE TABLE numbers AS SELECT range AS n FROM range(1000)")
        yield opened


def test_temp_names_are_unique_and_keep_their_prefix(store: Store) -> None:
    names = {store.temp_name("_segment_eval_") for _ in range(1000)}
    assert len(names) == 1000
    assert all(n.startswith("_segment_eval_") for n in names)


def test_a_session_has_the_store_s_zone_and_data_but_its_own_temp_tables(store: Store) -> None:
    with store.session() as session:
        assert session.scalar("SELECT current_setting('TimeZone')") == "Europe/Paris"
        assert session.scalar("SELECT count(*) FROM numbers") == 1000
        assert session.table("numbers").count().to_pyarrow().as_py() == 1000
        name = session.temp_name("_result_")
        numbers = session.table("numbers")
        session.create_temp_table(name, lambda: numbers.filter(numbers.n < 10))
        assert session.table(name).count().to_pyarrow().as_py() == 10
        assert session.row_count(name) == session.scalar(f'SELECT count(*) FROM "{name}"') == 10
        assert name not in {r[0] for r in store.fetchall("SELECT table_name FROM duckdb_tables()")}
    # closing a session leaves the store open
    assert store.scalar("SELECT count(*) FROM numbers") == 1000


def test_two_threads_read_and_create_tables_concurrently(store: Store) -> None:
    rounds = 20
    barrier = threading.Barrier(2)
    results: dict[int, list[int]] = {}
    errors: list[BaseException] = []

    def work(limit: int) -> None:
        try:
            with store.session() as session:
                found = []
                for _ in range(rounds):
                    barrier.wait(timeout=30)
                    name = session.temp_name("_result_")
                    numbers = session.table("numbers")
                    session.create_temp_table(name, lambda t=numbers: t.filter(t.n < limit))
                    found.append(int(session.table(name).count().to_pyarrow().as_py()))
                    found.append(int(session.scalar(f'SELECT max(n) + 1 FROM "{name}"')))
                    session.drop_temp_table(name)
                results[limit] = found
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=work, args=(limit,)) for limit in (10, 700)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert results == {10: [10] * (2 * rounds), 700: [700] * (2 * rounds)}


def test_same_name_in_two_sessions_does_not_collide(store: Store) -> None:
    with store.session() as one, store.session() as two:
        for session, limit in ((one, 3), (two, 5)):
            numbers = session.table("numbers")
            session.create_temp_table("_same", lambda n=numbers, k=limit: n.filter(n.n < k))
        assert one.scalar('SELECT count(*) FROM "_same"') == 3
        assert two.scalar('SELECT count(*) FROM "_same"') == 5


def test_a_workspace_store_has_sessions(ws: Workspace) -> None:
    with ws.store.session() as session:
        assert session.status_counts() == ws.store.status_counts()
