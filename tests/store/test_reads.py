"""The store's reads for the facade agree with the SQL the facade runs today."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from microseg import Workspace
from microseg.core.results import as_utc
from microseg.store import Store
from tests.conftest import write


def test_status_reads_match_the_workspace_status(loaded: Workspace) -> None:
    store, status = loaded.store, loaded.status()
    assert store.status_counts() == status.tables
    assert list(store.status_counts()) == list(status.tables)
    assert store.status_counts()["rejects"] == 1
    # the store keeps naive UTC; results carry aware UTC instants (core.results.Instant)
    first, last = store.event_range()
    assert first is not None
    assert last is not None
    assert (as_utc(first), as_utc(last)) == (status.first_event, status.last_event)
    assert store.event_type_counts() == status.event_types
    assert list(store.event_type_counts().values()) == sorted(
        status.event_types.values(), reverse=True
    )
    assert store.last_load() == status.last_load
    assert store.shared_identifier_count() == status.shared_identifiers


def test_status_reads_of_an_empty_store(tmp_path: Path) -> None:
    with Store(tmp_path / "empty.duckdb") as store:
        assert set(store.status_counts().values()) == {0}
        assert store.event_range() == (None, None)
        assert store.event_type_counts() == {}
        assert store.last_load() is None
        assert store.event_types() == frozenset()
        assert store.assignable_runs() == []


def test_event_types_are_the_distinct_types(loaded: Workspace) -> None:
    store = loaded.store
    distinct = {str(r[0]) for r in store.fetchall("SELECT DISTINCT type FROM events")}
    assert store.event_types() == distinct == {"purchase", "view", "bogus-day"}


def test_event_types_are_cached_until_the_next_load(
    loaded: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = loaded.store
    first = store.event_types()
    scans: list[str] = []
    original = Store.table

    def counting(self: Store, name: str) -> object:
        scans.append(name)
        return original(self, name)

    monkeypatch.setattr(Store, "table", counting)
    assert store.event_types() == first
    assert scans == []
    loaded.ingest(
        "events",
        write(tmp_path / "more.csv", "event_id,customer_id,timestamp,type\nx1,C1,2025-03-01,login"),
    )
    assert store.event_types() == first | {"login"}
    assert scans == ["events"]


def test_trait_cuts_at_exactly_as_of(tmp_path: Path) -> None:
    as_of = datetime(2025, 6, 30, 22, 0)
    with Store(tmp_path / "s.duckdb") as store:
        assert not store.has_trait_cuts(as_of)
        store.replace_trait_cuts({"rfm_r": [1.0, 2.0]}, as_of=as_of)
        assert store.has_trait_cuts(as_of)
        exact = store.scalar("SELECT count(*) FROM trait_cuts WHERE as_of = $a", {"a": as_of})
        assert bool(exact) is True
        assert not store.has_trait_cuts(datetime(2025, 6, 30, 22, 0, 0, 1))
        assert not store.has_trait_cuts(datetime(2025, 7, 1))
