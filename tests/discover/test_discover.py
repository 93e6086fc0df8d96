"""Discovery end to end on a small synthetic shop."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import adjusted_rand_score

from microseg import Workspace
from microseg.discover import (
    DiscoveryError,
)

pytestmark = pytest.mark.slow

AS_OF = "2026-10-31"


def _truth(ws: Workspace) -> dict[str, str]:
    table = pq.read_table(
        ws.path / "data" / "ground_truth.parquet", columns=["customer_id", "segment"]
    )
    return dict(zip(table.column(0).to_pylist(), table.column(1).to_pylist(), strict=True))


def test_planted_segments_recovered(shop_ws: Workspace) -> None:
    started = time.perf_counter()
    run = shop_ws.discover.run(as_of=AS_OF, macro=None, seed=1, save=False)
    seconds = time.perf_counter() - started
    truth = _truth(shop_ws)
    ids = run.customer_ids.tolist()
    rows = [i for i, c in enumerate(ids) if c in truth]
    segments = [truth[ids[i]] for i in rows]
    ari = adjusted_rand_score(segments, run.labels[rows])
    planted = [j for j, s in enumerate(segments) if s != "background"]
    ari_planted = adjusted_rand_score(
        [segments[j] for j in planted], run.labels[[rows[j] for j in planted]]
    )
    print(
        f"ARI {ari:.3f} (planted only {ari_planted:.3f}), {len(run.clusters)} clusters, "
        f"stability {run.metrics['stability_ari']}, {seconds:.1f} s"
    )
    # this shop gives 0.80 and 0.95 (stability 0.99); before features were weighted and
    # missing values skipped, 0.58 and 0.89. Looser bounds, so that it cannot flake
    assert ari > 0.65
    assert ari_planted > 0.85
    assert run.metrics["stability_ari"] > 0.8


@pytest.fixture(scope="module")
def stored(shop_ws: Workspace) -> int:
    run = shop_ws.discover.run(as_of=AS_OF, seed=3, min_size=60)
    assert run.run_id is not None
    return run.run_id


def test_two_levels_cover_everyone_and_respect_min_size(shop_ws: Workspace, stored: int) -> None:
    data = shop_ws.discover.show(stored)
    m = data["metrics"]
    assert data["seconds"] > 0  # the stored run keeps how long it took
    assert m["coverage"] == 1.0
    assert m["assigned"] == m["customers"] == 3000
    # each macro segment keeps the weights its distance used, largest first
    for macro in data["macros"]:
        weights = list(macro["top_weights"].values())
        assert weights == sorted(weights, reverse=True)
        assert len(weights) == 8
    assert sum(c["size"] for c in data["clusters"]) == 3000
    stages = {c["macro"] for c in data["clusters"]}
    assert {"active", "lapsed"} <= stages
    by_macro = {x["macro"]: x for x in data["macros"]}
    for c in data["clusters"]:
        siblings = [d for d in data["clusters"] if d["macro"] == c["macro"]]
        # a micro cluster below min_size only exists where its macro segment is that small
        assert c["size"] >= 60 or len(siblings) == 1
        assert by_macro[c["macro"]]["size"] >= c["size"]
    table = shop_ws.discover.assignments(stored)
    assert table.num_rows == 3000
    assert table.column("cluster").null_count == 0
    assert shop_ws.discover.list()[0]["run_id"] == stored


def test_names_and_descriptions(shop_ws: Workspace, stored: int) -> None:
    for c in shop_ws.discover.show(stored)["clusters"]:
        # the stage in words ("at risk: ...", not at_risk)
        assert c["name"].startswith(f"{c['macro'].replace('_', ' ')}: ")
        assert c["top_features"]
        assert 0 < c["share"] <= 1
        assert c["revenue"] >= 0


def test_saved_rule_has_the_members_it_claims(shop_ws: Workspace, stored: int) -> None:
    data = shop_ws.discover.show(stored)
    fidelity = []
    for c in data["clusters"]:
        fidelity.append((c["id"], c["name"], c["precision"], c["recall"]))
        name = f"disc-{stored}-{c['id']}"
        path = shop_ws.discover.save(stored, c["id"], name=name)
        assert path == Path(shop_ws.path / "segments" / f"{name}.yaml")
        members = shop_ws.segments.evaluate([name], as_of=AS_OF, save=False).sizes[name]
        assert members == c["members"], (c["id"], c["rule"])
        assert c["true_positives"] <= min(members, c["size"])
    for row in fidelity:
        print("cluster {} {:60s} precision {:.2f} recall {:.2f}".format(*row))
    assert np.mean([p for _, _, p, _ in fidelity]) > 0.6


def test_same_seed_same_run(shop_ws: Workspace) -> None:
    a = shop_ws.discover.run(as_of=AS_OF, seed=7, save=False, max_clusters=4, refits=0)
    b = shop_ws.discover.run(as_of=AS_OF, seed=7, save=False, max_clusters=4, refits=0)
    assert a.labels.tolist() == b.labels.tolist()
    assert [c["name"] for c in a.clusters] == [c["name"] for c in b.clusters]


def test_sensitive_attributes_excluded_unless_requested(shop_ws: Workspace) -> None:
    assert "religion" in shop_ws.config.sensitive
    default = shop_ws.discover.run(as_of=AS_OF, macro=None, save=False, max_clusters=3, refits=0)
    assert not any(f.startswith("religion") for f in default.features["features"])
    with pytest.raises(DiscoveryError, match="sensitive"):
        shop_ws.discover.run(as_of=AS_OF, attributes=["religion", "interests"], save=False)
    allowed = shop_ws.discover.run(
        as_of=AS_OF,
        macro=None,
        attributes=["religion", "interests"],
        allow_sensitive=["religion"],
        max_clusters=3,
        refits=0,
    )
    assert any(f.startswith("religion=") for f in allowed.features["features"])
    assert allowed.run_id is not None
    recorded = shop_ws.discover.show(allowed.run_id)
    assert recorded["params"]["allow_sensitive"] == ["religion"]
    assert recorded["features"]["sensitive_used"] == ["religion"]


def test_unknown_run_and_cluster(shop_ws: Workspace, stored: int) -> None:
    with pytest.raises(DiscoveryError, match="no discovery run 999"):
        shop_ws.discover.show(999)
    with pytest.raises(DiscoveryError, match="no cluster 999"):
        shop_ws.discover.save(stored, 999, name="nope")


def test_cli_list_show_save(shop_ws: Workspace, stored: int) -> None:
    from typer.testing import CliRunner

    from microseg.cli import app

    runner = CliRunner()
    base = ["--workspace", str(shop_ws.path)]
    listed = runner.invoke(app, [*base, "discover", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert stored in [r["run_id"] for r in json.loads(listed.output)]
    shown = runner.invoke(app, [*base, "discover", "show", str(stored), "--json"])
    assert json.loads(shown.output)["metrics"]["coverage"] == 1.0
    saved = runner.invoke(
        app, [*base, "discover", "save", str(stored), "2", "--name", "cli-saved", "--json"]
    )
    assert saved.exit_code == 0, saved.output
    assert (shop_ws.path / "segments" / "cli-saved.yaml").exists()
    missing = runner.invoke(app, [*base, "discover", "show", "999"])
    assert missing.exit_code == 1
