"""The event ids the store may hold (service/_ids.py): "none of these" is never said of an
id that is stored."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from microseg import Workspace
from microseg.service._ids import StoredIds
from tests.conftest import NOW, write


def test_none_of_is_said_only_of_ids_not_stored(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "shop", clock=lambda: NOW)
    events = write(
        tmp_path / "events.csv",
        """
event_id,customer_id,timestamp,type
e1,C1,2025-12-01T10:00:00Z,view
e2,C2,2025-12-01T10:00:00Z,view
e3,C2,2025-12-01T11:00:00Z,view
""",
    )
    ws.ingest("events", events)
    hashes = ws.store.event_id_hashes

    def none_of(*ids: str) -> bool:
        return ids_held.none_of(hashes(list(ids)))

    ids_held = StoredIds(merge_at=3)
    assert not none_of("a")  # not filled yet: possibly stored
    ids_held.fill(np.concatenate([hashes(), hashes(["e2"])]))
    assert len(ids_held) == 3
    assert none_of("x", "y")
    assert none_of()
    for stored in ("e1", "e2", "e3"):
        assert not none_of("x", stored)
    ids_held.add(hashes(["n1", "n2"]))  # kept apart until there are merge_at of them
    assert not none_of("n2")
    ids_held.add(hashes(["n3"]))  # merged into the sorted hashes
    assert len(ids_held) == 6
    for stored in ("e1", "n1", "n2", "n3"):
        assert not none_of(stored)
    assert none_of("n4", "zz" * 40)
    # DuckDB's hash of a stored id is the hash of the same text given
    assert sorted(hashes().tolist()) == sorted(hashes(["e1", "e2", "e3"]).tolist())


def test_an_empty_store_holds_no_id() -> None:
    held = StoredIds()
    held.fill(np.empty(0, dtype=np.uint64))
    assert held.none_of(np.array([1, 2], dtype=np.uint64))
    held.add(np.array([1], dtype=np.uint64))
    assert not held.none_of(np.array([2, 1], dtype=np.uint64))
