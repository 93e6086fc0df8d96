"""Bisecting k-means and HDBSCAN runs, run names, and assigners of stored runs."""

from __future__ import annotations

import json
import time

import numpy as np
import pyarrow as pa
import pytest

from microseg import Workspace
from microseg.discover import (
    ClusterAssigner,
    DiscoveryError,
    assignments,
    discover,
    list_runs,
    load_assigner,
    load_run,
    save_cluster,
)

pytestmark = pytest.mark.slow

AS_OF = "2026-10-31"


@pytest.fixture(scope="module")
def runs(shop_ws: Workspace) -> dict[str, int]:
    """One stored run per method, named after it."""
    ids = {}
    for method in ("kmeans", "bisecting", "hdbscan"):
        run = discover(shop_ws, as_of=AS_OF, method=method, seed=2, refits=1, name=f"m-{method}")
        assert run.run_id is not None
        assert run.name == f"m-{method}"
        ids[method] = run.run_id
    return ids


@pytest.fixture(scope="module")
def inputs(shop_ws: Workspace, runs: dict[str, int]) -> tuple[pa.Table, pa.Table]:
    """The traits and attributes at the runs' as_of, as the rule engine would pass them."""
    shop_ws.compute_traits(as_of=AS_OF, save=False)
    traits = shop_ws.store.table("_trait_eval").to_pyarrow()
    customers = shop_ws.customers(as_of=AS_OF).to_pyarrow()
    return traits, customers


def _stored(ws: Workspace, run: int | str) -> dict[str, int]:
    table = assignments(ws.store, run)
    return dict(
        zip(
            table.column("customer_id").to_pylist(),
            table.column("cluster").to_pylist(),
            strict=True,
        )
    )


@pytest.mark.parametrize("method", ["kmeans", "bisecting", "hdbscan"])
def test_everyone_covered_and_small_clusters_merged(
    shop_ws: Workspace, runs: dict[str, int], method: str
) -> None:
    data = load_run(shop_ws.store, runs[method])
    m = data["metrics"]
    assert data["params"]["method"] == method
    assert m["coverage"] == 1.0
    assert m["assigned"] == m["customers"] == 3000
    assert sum(c["size"] for c in data["clusters"]) == 3000
    assert m["clusters"] == len([c for c in data["clusters"] if c["id"] != 0])
    for c in data["clusters"]:
        siblings = [d for d in data["clusters"] if d["macro"] == c["macro"]]
        assert c["id"] == 0 or c["size"] >= 50 or len(siblings) == 1


def test_bisecting_has_no_unclustered_group(shop_ws: Workspace, runs: dict[str, int]) -> None:
    data = load_run(shop_ws.store, runs["bisecting"])
    assert data["metrics"]["unclustered"] == 0
    assert 0 not in [c["id"] for c in data["clusters"]]
    assert 0 not in load_assigner(shop_ws.store, runs["bisecting"]).clusters
    assert data["metrics"]["stability_ari"] is not None


def test_hdbscan_reports_its_noise_as_the_unclustered_group(
    shop_ws: Workspace, runs: dict[str, int]
) -> None:
    data = load_run(shop_ws.store, runs["hdbscan"])
    m = data["metrics"]
    noise = data["clusters"][0]
    assert noise["id"] == 0
    assert noise["name"] == "unclustered"
    assert 0 < m["unclustered"] == noise["size"] < 3000
    assert noise["rule"] is None
    assert noise["precision"] is None
    assert noise["top_features"]
    assert sum(x["unclustered"] for x in data["macros"]) == m["unclustered"]
    assert list(_stored(shop_ws, runs["hdbscan"]).values()).count(0) == m["unclustered"]
    assert load_assigner(shop_ws.store, "m-hdbscan").clusters[0] == "unclustered"
    with pytest.raises(DiscoveryError, match="unclustered group, which has no rule"):
        save_cluster(shop_ws, "m-hdbscan", 0, name="noise")
    listed = {r["name"]: r for r in list_runs(shop_ws.store)}
    assert listed["m-hdbscan"]["unclustered"] == m["unclustered"]


@pytest.mark.parametrize("method", ["kmeans", "bisecting", "hdbscan"])
def test_assigner_gives_the_stored_labels(
    shop_ws: Workspace, runs: dict[str, int], inputs: tuple[pa.Table, pa.Table], method: str
) -> None:
    traits, customers = inputs
    assigner = load_assigner(shop_ws.store, runs[method])
    assert isinstance(assigner, ClusterAssigner)
    assert (assigner.run_id, assigner.name) == (runs[method], f"m-{method}")
    assert assigner.macro == ("trait", "lifecycle_stage")
    assert "lifecycle_stage" in assigner.traits
    assert f"{assigner.as_of:%Y-%m-%d}" == AS_OF
    labels = assigner.assign_table(traits, customers)
    stored = _stored(shop_ws, runs[method])
    ids = traits.column("customer_id").to_pylist()
    assert labels.tolist() == [stored[c] for c in ids]
    names = {c["id"]: c["name"] for c in load_run(shop_ws.store, runs[method])["clusters"]}
    assert assigner.clusters == names


@pytest.mark.parametrize("method", ["kmeans", "hdbscan"])
def test_assign_one_equals_assign_table(
    shop_ws: Workspace, runs: dict[str, int], inputs: tuple[pa.Table, pa.Table], method: str
) -> None:
    traits, customers = inputs
    # some customers in an unseen or missing stage, some without attributes at all
    stages = traits.column("lifecycle_stage").to_pylist()
    stages = [("vip" if i % 7 == 0 else None if i % 11 == 0 else s) for i, s in enumerate(stages)]
    traits = traits.set_column(
        traits.column_names.index("lifecycle_stage"), "lifecycle_stage", pa.array(stages)
    )
    customers = customers.filter(pa.array([i % 13 != 0 for i in range(customers.num_rows)]))
    assigner = load_assigner(shop_ws.store, runs[method])
    table = assigner.assign_table(traits, customers)
    people = {c["customer_id"]: c for c in customers.to_pylist()}
    rows = traits.to_pylist()
    started = time.perf_counter()
    one = [assigner.assign_one(r, people.get(r["customer_id"], {})) for r in rows]
    per_customer = (time.perf_counter() - started) / len(rows)
    assert one == table.tolist()
    print(f"assign_one: {per_customer * 1e6:.0f} us per customer")
    assert per_customer < 1e-3


def test_assigner_round_trip(shop_ws: Workspace, runs: dict[str, int], inputs: tuple) -> None:
    assigner = load_assigner(shop_ws.store, runs["hdbscan"])
    copy = ClusterAssigner.from_dict(json.loads(json.dumps(assigner.to_dict())))
    assert copy.to_dict() == assigner.to_dict()
    assert np.array_equal(copy.assign_table(*inputs), assigner.assign_table(*inputs))


@pytest.mark.parametrize("method", ["bisecting", "hdbscan"])
def test_same_seed_same_run(shop_ws: Workspace, method: str) -> None:
    args = {"method": method, "seed": 5, "max_clusters": 4, "refits": 0, "save": False}
    a = discover(shop_ws, as_of=AS_OF, **args)  # type: ignore[arg-type]
    b = discover(shop_ws, as_of=AS_OF, **args)  # type: ignore[arg-type]
    assert a.labels.tolist() == b.labels.tolist()
    assert [c["name"] for c in a.clusters] == [c["name"] for c in b.clusters]
    assert a.assigner.to_dict() == b.assigner.to_dict()


def test_names_default_clash_and_lookup(shop_ws: Workspace, runs: dict[str, int]) -> None:
    unnamed = discover(shop_ws, as_of=AS_OF, macro=None, max_clusters=3, refits=0)
    assert unnamed.name == f"run-{unnamed.run_id}"
    assert load_run(shop_ws.store, f"run-{unnamed.run_id}")["run_id"] == unnamed.run_id
    with pytest.raises(DiscoveryError, match=r"named 'm-kmeans' already exists \(run \d+\)"):
        discover(shop_ws, as_of=AS_OF, name="m-kmeans")
    for bad in ("Bad Name", "q4_split", "-x", "123", "run-9"):
        with pytest.raises(DiscoveryError, match="name"):
            discover(shop_ws, as_of=AS_OF, name=bad)
    run_id = runs["kmeans"]
    for ref in (run_id, str(run_id), "m-kmeans"):
        assert load_run(shop_ws.store, ref)["name"] == "m-kmeans"
        assert load_assigner(shop_ws.store, ref).run_id == run_id
        assert assignments(shop_ws.store, ref).num_rows == 3000
    path = save_cluster(shop_ws, "m-kmeans", 1, name="from-a-named-run")
    assert "m-kmeans" in path.read_text()
    with pytest.raises(DiscoveryError, match="no discovery run named 'nope'; known runs: ") as err:
        load_assigner(shop_ws.store, "nope")
    assert "m-kmeans" in str(err.value)
    assert "microseg discover list" in str(err.value)
    with pytest.raises(DiscoveryError, match="no discovery run 999"):
        load_assigner(shop_ws.store, "999")


def test_cli_run_named_list_show(shop_ws: Workspace, runs: dict[str, int]) -> None:
    from typer.testing import CliRunner

    from microseg.cli import app

    runner = CliRunner()
    base = ["--workspace", str(shop_ws.path)]
    ran = runner.invoke(
        app,
        [
            *base,
            "discover",
            "run",
            "--as-of",
            AS_OF,
            "--method",
            "hdbscan",
            "--refits",
            "0",
            "--name",
            "cli-density",
            "--json",
        ],
    )
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.output)["name"] == "cli-density"
    listed = runner.invoke(app, [*base, "discover", "list", "--json"])
    names = [r["name"] for r in json.loads(listed.output)]
    assert names[0] == "cli-density"
    assert "m-bisecting" in names
    shown = runner.invoke(app, [*base, "discover", "show", "cli-density"])
    assert shown.exit_code == 0, shown.output
    assert "unclustered" in shown.output
    clash = runner.invoke(
        app, [*base, "discover", "run", "--as-of", AS_OF, "--name", "cli-density"]
    )
    assert clash.exit_code == 1
    assert "already exists" in clash.output
    args = ["--as-of", AS_OF, "--macro", "none", "--k", "3", "--refits", "1", "--json"]
    given = runner.invoke(app, [*base, "discover", "run", *args])
    assert given.exit_code == 0, given.output
    data = json.loads(given.output)
    assert data["params"]["n_clusters"] == 3
    assert data["metrics"]["clusters"] == 3
    assert data["macros"][0]["scores"] == {}  # no k search when k is given
