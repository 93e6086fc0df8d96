"""The discovery-run repository: rows in, the same rows out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pytest

from microseg.store import RunRow, Store

AS_OF = datetime(2026, 10, 31, 23, 0)
AT = datetime(2026, 11, 1, 8, 0)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "runs.duckdb") as opened:
        yield opened


def _row(run_id: int, name: str, *, assigner: str = "{}", metrics: object = None) -> RunRow:
    document = {"run_id": run_id, "metrics": metrics or {}, "clusters": []}
    return RunRow(
        run_id=run_id,
        as_of=AS_OF,
        created_at=AT,
        method="kmeans",
        customers=3,
        clusters=2,
        run=json.dumps(document),
        name=name,
        assigner=assigner,
    )


def _assignments(ids: list[str]) -> pa.Table:
    return pa.table(
        {
            "customer_id": pa.array(ids, pa.string()),
            "macro": pa.array(["all"] * len(ids), pa.string()),
            "cluster": pa.array(list(range(len(ids))), pa.int32()),
        }
    )


def test_a_run_round_trips(store: Store) -> None:
    runs = store.runs
    assert runs.next_id() == 1
    metrics = {"unclustered": 4, "stability_ari": 0.75, "coverage": 0.9}
    with store.transaction():
        runs.insert(_row(1, "q4", metrics=metrics), _assignments(["C2", "C1", "C3"]))
    assert runs.next_id() == 2
    assert runs.id_named("q4") == 1
    assert runs.id_named("q5") is None
    assert runs.has_id(1)
    assert not runs.has_id(2)
    document, name = runs.document(1)
    assert json.loads(document)["metrics"] == metrics
    assert name == "q4"
    assert runs.assigner(1) == ("{}", "q4")
    assert runs.assignments(1).to_pydict() == {
        "customer_id": ["C1", "C2", "C3"],
        "macro": ["all"] * 3,
        "cluster": [1, 0, 2],
    }
    assert runs.summaries() == [
        {
            "run_id": 1,
            "name": "q4",
            "as_of": AS_OF,
            "created_at": AT,
            "method": "kmeans",
            "customers": 3,
            "clusters": 2,
            "unclustered": 4,
            "stability_ari": 0.75,
            "coverage": 0.9,
        }
    ]


def test_summaries_match_the_json_extraction_they_replace(store: Store) -> None:
    with store.transaction():
        store.runs.insert(_row(1, "a", metrics={"coverage": 1}), _assignments([]))
        store.runs.insert(
            _row(2, "b", metrics={"unclustered": 0, "stability_ari": None}), _assignments([])
        )
    rows = store.fetchall(
        "SELECT run_id, name, as_of, created_at, method, customers, clusters, "
        "coalesce(json_extract(run, '$.metrics.unclustered')::BIGINT, 0), "
        "json_extract(run, '$.metrics.stability_ari')::DOUBLE, "
        "json_extract(run, '$.metrics.coverage')::DOUBLE "
        "FROM discovery_runs ORDER BY run_id DESC"
    )
    assert [tuple(r.values()) for r in store.runs.summaries()] == rows
    assert [r["run_id"] for r in store.runs.summaries()] == [2, 1]


def test_names_newest_first_with_the_default_for_unnamed_runs(store: Store) -> None:
    with store.transaction():
        for run_id in (1, 2, 3):
            store.runs.insert(_row(run_id, f"r{run_id}"), _assignments([]))
    store.execute("UPDATE discovery_runs SET name = NULL, assigner = NULL WHERE run_id = 2")
    assert store.runs.latest_names(2) == [(3, "r3"), (2, "run-2")]
    assert store.runs.assignable() == store.assignable_runs() == [1, 3]
    assert store.runs.assigner(2) == (None, None)


def test_a_failed_transaction_stores_nothing(store: Store) -> None:

    def write() -> None:
        with store.transaction():
            store.runs.insert(_row(1, "x"), _assignments(["C1"]))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        write()
    assert store.runs.summaries() == []
    assert store.runs.assignments(1).num_rows == 0


def test_unknown_run_id_is_a_key_error(store: Store) -> None:
    with pytest.raises(KeyError):
        store.runs.document(7)
