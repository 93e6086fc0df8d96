"""``cluster:`` nodes: parsing, checking, and the two evaluators on the same assigner.

A discovery run's assigner is stood in for by a small rule on age here; the end-to-end
path with real runs is in tests/discover.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from microseg import Workspace
from microseg.lang import ClusterRule, RuleError, Schema, check_rule, parse_definition
from microseg.lang._clusters import cluster_column, cluster_ids
from microseg.lang.batch import BatchCompiler
from microseg.lang.profile import ProfileEvaluator

AS_OF = "2026-01-14T12:00:00Z"


class AgeRun:
    """A stand-in run: cluster 1 under 30, 2 from 30, 0 (unclustered) without an age."""

    def __init__(self) -> None:
        self.run_id = 7
        self.name = "by-age"
        self.clusters = {0: "unclustered", 1: "Young", 2: "Older"}
        self.traits: list[str] = []
        self.attributes = ["age"]

    def assign_one(self, traits: Mapping[str, Any], attributes: Mapping[str, Any]) -> int:
        age = attributes.get("age")
        return 0 if age is None else (1 if age < 30 else 2)

    def assign_table(self, traits: pa.Table, customers: pa.Table) -> np.ndarray[Any, Any]:
        ages = dict(
            zip(customers["customer_id"].to_pylist(), customers["age"].to_pylist(), strict=True)
        )
        ids = traits["customer_id"].to_pylist()
        return np.array([self.assign_one({}, {"age": ages.get(c)}) for c in ids])


def _lookup(run: str | int) -> AgeRun:
    if str(run) not in ("by-age", "7"):
        raise KeyError(run)
    return AgeRun()


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    ws = Workspace.init(tmp_path / "ws")
    ws.ingest(
        "customers",
        pd.DataFrame(
            {
                "customer_id": ["A", "B", "C", "D"],
                "age": [25.0, None, 41.0, 29.0],
                "valid_from": ["2020-01-01"] * 4,
            }
        ),
    )
    return ws


def _members(ws: Workspace, rule: dict[str, Any]) -> set[str]:
    """Members by the batch compiler and by the per-profile evaluator, which must agree."""
    parsed = parse_definition({"name": "s", "rule": rule}).rule
    clock = ws.context.clock(AS_OF)
    customers = ws.customers(as_of=AS_OF)
    people = customers.to_pyarrow()
    labels = AgeRun().assign_table(people.select(["customer_id"]), people)
    column = ibis.memtable(
        pa.table({"cid": people["customer_id"], cluster_column(7): pa.array(labels)})
    )
    customers = customers.left_join(column, customers.customer_id == column.cid).drop("cid")
    compiler = BatchCompiler(
        customers,
        ws.events(),
        clock,
        attribute_types=ws.profile.attribute_types(),
        clusters=_lookup,
    )
    lowered = compiler.rule(parsed)
    table = compiler.table()
    rows = table.select("customer_id", s=lowered(table)).to_pyarrow().to_pylist()
    batch = {r["customer_id"] for r in rows if r["s"]}
    single = {
        cid
        for cid in "ABCD"
        if ProfileEvaluator(ws.profile.of(cid, as_of=AS_OF), clock, clusters=_lookup).holds(parsed)
    }
    assert batch == single
    return batch


def test_ids_and_names_select_the_same_members(ws: Workspace) -> None:
    assert _members(ws, {"cluster": {"run": "by-age", "in": [1]}}) == {"A", "D"}
    assert _members(ws, {"cluster": {"run": 7, "in": ["older"]}}) == {"C"}
    assert _members(ws, {"cluster": {"run": "7", "in": ["Young", 2]}}) == {"A", "C", "D"}
    assert _members(ws, {"cluster": {"run": "by-age", "in": [0]}}) == {"B"}
    assert _members(ws, {"not": {"cluster": {"run": "by-age", "in": [1]}}}) == {"B", "C"}


def test_parsing_rejects_malformed_nodes() -> None:
    for bad in ({"run": "x"}, {"run": "x", "in": []}, {"run": True, "in": [1]}, {"in": [1]}):
        with pytest.raises(RuleError):
            parse_definition({"name": "s", "rule": {"cluster": bad}})
    rule = parse_definition({"name": "s", "rule": {"cluster": {"run": "r", "in": [1, "x"]}}})
    assert isinstance(rule.rule, ClusterRule)


def test_check_names_unknown_runs_and_clusters() -> None:
    schema = Schema(clusters={"by-age": AgeRun().clusters, "7": AgeRun().clusters})

    def problems(spec: dict[str, Any]) -> list[tuple[str, str]]:
        rule = parse_definition({"name": "s", "rule": {"cluster": spec}}).rule
        return check_rule(rule, schema)

    assert problems({"run": "by-age", "in": [1, "older"]}) == []
    assert problems({"run": "by-ag", "in": [1]}) == [
        ("rule.cluster.run", "unknown discovery run 'by-ag'; did you mean 'by-age'?")
    ]
    [(path, message)] = problems({"run": 7, "in": [5]})
    assert path == "rule.cluster.in"
    assert "run 7 has no cluster 5; its clusters: 0 (unclustered), 1 (Young), 2 (Older)" in message
    [(_, message)] = check_rule(
        parse_definition({"name": "s", "rule": {"cluster": {"run": "x", "in": [1]}}}).rule,
        Schema(),
    )
    assert "none is stored yet; run `microseg discover run`" in message


def test_cluster_ids_resolve_names_and_numbers() -> None:
    spec = parse_definition({"name": "s", "rule": {"cluster": {"run": "r", "in": ["OLDER", "1"]}}})
    assert isinstance(spec.rule, ClusterRule)
    assert cluster_ids(spec.rule.cluster, AgeRun().clusters) == frozenset({1, 2})
