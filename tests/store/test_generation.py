"""The generation stamp changes with every write evaluations depend on, and only then."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pyarrow as pa

from microseg import Workspace
from microseg.store import RunRow
from tests.conftest import write

AS_OF = datetime(2025, 6, 30, 22, 0)


def test_each_kind_of_write_changes_the_generation(loaded: Workspace, tmp_path: Path) -> None:
    store = loaded.store
    seen = [store.generation()]

    def changed() -> bool:
        stamp = store.generation()
        hash(stamp)
        fresh = stamp not in seen
        seen.append(stamp)
        return fresh

    # reads leave it alone
    loaded.status()
    store.event_types()
    assert store.generation() == seen[0]

    loaded.ingest(
        "events",
        write(tmp_path / "more.csv", "event_id,customer_id,timestamp,type\nx1,C1,2025-03-01,view"),
    )
    assert changed(), "a load"
    store.save_value_fit({}, as_of=AS_OF, fitted_at=AS_OF, model="m", unit="u", customers=1)
    assert changed(), "a value fit"
    empty = pa.table({"customer_id": pa.array([], pa.string()), "macro": [], "cluster": []})
    with store.transaction():
        store.runs.insert(
            RunRow(1, AS_OF, AS_OF, "kmeans", 0, 0, json.dumps({}), "r", "{}"),
            empty.cast(
                pa.schema(
                    [("customer_id", pa.string()), ("macro", pa.string()), ("cluster", pa.int32())]
                )
            ),
        )
    assert changed(), "a discovery run"
    store.replace_trait_cuts({"rfm_r": [1.0, 2.0]}, as_of=AS_OF)
    assert changed(), "trait cut points"
    store.replace_trait_cuts({"rfm_r": [1.0, 3.0]}, as_of=AS_OF)
    assert changed(), "other cut points at the same instant"
    loaded.attributes.drop("city")
    assert changed(), "an attribute dropped"
    assert store.generation() == seen[-1]


def test_a_session_sees_the_same_generation(loaded: Workspace) -> None:
    with loaded.store.session() as session:
        assert session.generation() == loaded.store.generation()
