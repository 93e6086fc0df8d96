"""Value in descriptions: mean p_alive, mean and total 12-month CLV once a value fit exists."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pytest

from microseg import Workspace
from microseg.discover import load_assigner

from .conftest import make_shop

pytestmark = pytest.mark.slow

AS_OF = "2026-10-31"


@pytest.fixture(scope="module")
def valued_ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """A 1,000-customer shop whose value models were fitted at AS_OF."""
    ws = make_shop(tmp_path_factory.mktemp("discover-value") / "ws", customers=1000, seed=5)
    ws.value.fit(as_of=AS_OF)
    yield ws
    ws.close()


def test_clusters_report_p_alive_and_clv(valued_ws: Workspace) -> None:
    run = valued_ws.discover.run(as_of=AS_OF, macro=None, max_clusters=4, refits=0, name="valued")
    computed = valued_ws.traits.compute(["p_alive", "clv_12m"], as_of=AS_OF, save=False)
    assert computed.result is not None
    traits = computed.result.to_pyarrow()
    clv = np.array(traits.column("clv_12m").to_pylist(), dtype=float)
    assert not any(f in run.features["features"] for f in ("p_alive", "clv_12m"))
    for c in run.clusters:
        assert 0 <= c["p_alive_mean"] <= 1
        assert c["clv_12m_mean"] >= 0
        assert c["clv_12m_total"] == pytest.approx(c["clv_12m_mean"] * c["valued"], rel=1e-3)
    total = sum(c["clv_12m_total"] for c in run.clusters)
    assert total == pytest.approx(np.nansum(clv), rel=1e-6)

    from typer.testing import CliRunner

    from microseg.cli import app

    base = ["--workspace", str(valued_ws.path), "discover", "show", "valued"]
    shown = CliRunner().invoke(app, base, env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "p_alive" in shown.output
    assert "clv_12m total" in shown.output
    data = json.loads(CliRunner().invoke(app, [*base, "--json"]).output)
    assert "clv_12m_total" in data["clusters"][0]


def test_value_traits_are_features_only_when_named(valued_ws: Workspace) -> None:
    run = valued_ws.discover.run(
        as_of=AS_OF,
        macro=None,
        traits=["total_spend", "p_alive"],
        attributes=[],
        max_clusters=3,
        refits=0,
    )
    assert run.features["features"] == ["total_spend", "p_alive"]
    assert load_assigner(valued_ws.store, run.name or "").traits == ["total_spend", "p_alive"]


def test_no_value_columns_before_the_fit(valued_ws: Workspace) -> None:
    run = valued_ws.discover.run(
        as_of="2026-06-30", macro=None, max_clusters=3, refits=0, save=False
    )
    assert "p_alive_mean" not in run.clusters[0]
