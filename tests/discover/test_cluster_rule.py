"""``cluster: {run, in}`` rules on a real discovery run, in batch and per profile."""

from __future__ import annotations

import random
from typing import Any

import pandas as pd
import pytest
import yaml

from microseg import Workspace
from tests.discover.conftest import END

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(shop_ws: Workspace) -> dict[str, Any]:
    found = shop_ws.discover.run(as_of=END, seed=1, name="october", refits=0)
    stored = shop_ws.discover.assignments("october").to_pylist()
    return {"clusters": found.clusters, "labels": {r["customer_id"]: r["cluster"] for r in stored}}


def _segment(ws: Workspace, name: str, rule: dict[str, Any]) -> None:
    text = yaml.safe_dump({"name": name, "rule": rule})
    (ws.path / "segments" / f"{name}.yaml").write_text(text)


def _members(ws: Workspace, name: str, as_of: Any) -> set[str]:
    members = ws.segments.members(name, as_of=as_of).to_pyarrow()
    return set(members.column("customer_id").to_pylist())


def test_rule_selects_the_run_s_own_assignments(shop_ws: Workspace, run: dict[str, Any]) -> None:
    by_size = sorted(run["clusters"], key=lambda c: -c["size"])
    first, second = by_size[0], by_size[1]
    _segment(
        shop_ws,
        "two-clusters",
        {"cluster": {"run": "october", "in": [first["id"], second["name"]]}},
    )
    wanted = {first["id"], second["id"]}
    expected = {cid for cid, label in run["labels"].items() if label in wanted}
    assert len(expected) == first["size"] + second["size"]
    assert _members(shop_ws, "two-clusters", END) == expected

    # the per-profile evaluator agrees, customer by customer (a sample of both sides)
    rng = random.Random(3)
    inside = rng.sample(sorted(expected), 15)
    outside = rng.sample(sorted(set(run["labels"]) - expected), 15)
    for cid in inside + outside:
        one = shop_ws.segments.of(cid, as_of=END, names=["two-clusters"])
        assert one["two-clusters"] == (cid in expected), cid
        cluster, name = shop_ws.discover.assign(cid, "october", as_of=END)
        assert cluster == run["labels"][cid]
        assert name == next(c["name"] for c in run["clusters"] if c["id"] == cluster)
    explained = shop_ws.segments.explain("two-clusters", inside[0], as_of=END)
    assert explained.holds
    assert "of run october is in" in explained.text


def test_new_customers_are_assigned_the_same_both_ways(
    shop_ws: Workspace, run: dict[str, Any]
) -> None:
    # a customer who signed up after the run, with two purchases, gets a cluster later on
    # (the purchases within the day of tolerance after the workspace's clock: before the
    # reject limit, two later ones were silently rejected as future and the test ran on none)
    shop_ws.ingest(
        "customers",
        pd.DataFrame({"customer_id": ["NEW1"], "valid_from": ["2026-11-01"], "gender": ["female"]}),
    )
    shop_ws.ingest(
        "events",
        pd.DataFrame(
            {
                "event_id": ["n1", "n2"],
                "customer_id": ["NEW1", "NEW1"],
                "timestamp": ["2026-11-01T05:00:00Z", "2026-11-01T20:00:00Z"],
                "type": ["purchase", "purchase"],
                "amount": [120.0, 80.0],
            }
        ),
    )
    later = "2026-11-10"
    cluster, _ = shop_ws.discover.assign("NEW1", "october", as_of=later)
    assert cluster in {c["id"] for c in run["clusters"]} | {0}
    _segment(shop_ws, "new-one", {"cluster": {"run": "october", "in": [cluster]}})
    assert "NEW1" in _members(shop_ws, "new-one", later)
    assert shop_ws.segments.of("NEW1", as_of=later, names=["new-one"]) == {"new-one": True}


def test_unknown_runs_and_clusters_are_reported(shop_ws: Workspace, run: dict[str, Any]) -> None:
    from microseg.lang import RuleError

    _segment(shop_ws, "bad-run", {"cluster": {"run": "octobre", "in": [1]}})
    _segment(shop_ws, "bad-cluster", {"cluster": {"run": "october", "in": [99]}})
    with pytest.raises(RuleError) as info:
        shop_ws.segments.validate(["bad-run", "bad-cluster"])
    text = str(info.value)
    assert "unknown discovery run 'octobre'; did you mean 'october'?" in text
    assert "run october has no cluster 99" in text
    for name in ("bad-run", "bad-cluster"):
        (shop_ws.path / "segments" / f"{name}.yaml").unlink()
