"""Fits at a boundary say so: a shop without churn warns; CDNOW keeps its numbers, no warning."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from microseg import Workspace
from microseg.cli import app
from microseg.value import BGNBD, GammaGamma, ParetoNBD, fit_report

from .conftest import CALIBRATION_END

START = datetime(2024, 1, 1, tzinfo=UTC)
END = datetime(2025, 12, 31, tzinfo=UTC)


def no_churn_events(path: Path, *, customers: int = 300, seed: int = 3) -> Path:
    """Every customer buys about every 3 weeks from their first purchase to the end."""
    rng = np.random.default_rng(seed)
    span = (END - START).days
    lines = ["customer_id,timestamp,type,amount"]
    for c in range(customers):
        day = float(rng.uniform(0, span * 0.6))
        while day < span:
            moment = START + timedelta(days=int(day))
            lines.append(f"c{c},{moment:%Y-%m-%d},purchase,{rng.uniform(20, 40):.2f}")
            day += rng.exponential(21.0)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def no_churn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("nochurn")
    ws = Workspace.init(root / "ws", clock=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    ws.ingest("events", no_churn_events(root / "events.csv"))
    ws.close()
    return root / "ws"


def _codes(warnings: list[dict[str, object]]) -> set[object]:
    return {w["code"] for w in warnings}


def test_a_shop_without_churn_gives_a_boundary_warning_from_python(no_churn: Path) -> None:
    ws = Workspace.open(no_churn, clock=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    try:
        fit = ws.value.fit(model="bgnbd", unit="week", save=False)
        table = ws.value.predict() if ws.value.latest_fit() else None
    finally:
        ws.close()
    codes = {w.code for w in fit.purchase.warnings_}
    assert "near_bound" in codes, fit.purchase.warnings_
    bound = next(w for w in fit.purchase.warnings_ if w.code == "near_bound")
    assert "P(alive)" in bound.message
    assert "pareto-nbd" in bound.hint
    assert "penalizer" in bound.hint
    assert "--as-of" in bound.hint
    assert fit.warnings() == fit.purchase.warnings_ + (fit.spend.warnings_ if fit.spend else [])
    assert table is None  # nothing saved


def test_clv_fit_prints_and_carries_the_warning(no_churn: Path) -> None:
    runner = CliRunner()
    base = ["--workspace", str(no_churn)]
    out = runner.invoke(app, [*base, "clv", "fit", "--model", "bgnbd", "--json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.output)
    assert "near_bound" in _codes(report["purchase"]["warnings"])
    assert "near_bound" in _codes(report["warnings"])
    assert all(w["message"] and w["hint"] for w in report["warnings"])
    # full precision: the boundary values are not rounded to 4 decimals
    params = report["purchase"]["params"]
    assert any(v != round(v, 4) for v in params.values())

    out = runner.invoke(app, [*base, "clv", "fit", "--model", "bgnbd"])
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    assert "warning" in text
    assert "edge of what the model can express" in text
    assert "pareto-nbd" in text


def test_predictions_and_traits_from_a_boundary_fit_carry_the_warning(no_churn: Path) -> None:
    runner = CliRunner()
    base = ["--workspace", str(no_churn)]
    at = ["--as-of", "2025-12-31"]
    assert runner.invoke(app, [*base, "clv", "fit", "--model", "bgnbd", *at]).exit_code == 0

    ws = Workspace.open(no_churn, clock=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    try:
        table = ws.value.predict(as_of="2025-12-31")
    finally:
        ws.close()
    metadata = table.schema.metadata or {}
    carried = json.loads(metadata[b"microseg.fit_warnings"])
    assert "near_bound" in _codes(carried)

    out = runner.invoke(app, [*base, "clv", "predict", "--json", *at])
    assert out.exit_code == 0, out.output
    assert "near_bound" in _codes(json.loads(out.output)["warnings"])
    out = runner.invoke(app, [*base, "clv", "predict", *at])
    assert "edge of what the model can express" in " ".join(out.output.split())

    out = runner.invoke(app, [*base, "profile", "c1", "--json", *at])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["traits"]["p_alive"] is not None
    assert "near_bound" in _codes(data["fit_warnings"])
    assert any("p_alive" in w and "edge of what" in w for w in data["warnings"])
    out = runner.invoke(app, [*base, "profile", "c1", *at])
    said = " ".join(out.output.split())
    assert "edge of what the model can express" in said
    assert said.count("what to try:") == 1  # the advice once, however many warnings

    out = runner.invoke(app, [*base, "traits", "list", "--json"])
    assert any("p_alive" in w and "edge of what" in w for w in json.loads(out.output)["warnings"])


def test_cdnow_fits_give_no_warning_and_full_precision(cdnow: Workspace, tmp_path: Path) -> None:
    fit = cdnow.value.fit(model="bgnbd", as_of=CALIBRATION_END, unit="week", save=False)
    assert fit.purchase.warnings_ == []
    assert fit.spend is not None
    assert fit.spend.warnings_ == []
    pareto = cdnow.value.fit(model="pareto-nbd", as_of=CALIBRATION_END, unit="week", save=False)
    assert pareto.purchase.warnings_ == []
    report = fit_report(fit).to_dict()
    pareto_report = fit_report(pareto).to_dict()
    assert report["warnings"] == []
    assert pareto_report["warnings"] == []
    assert report["purchase"]["params"]["r"] == fit.purchase.params_["r"]
    assert round(report["purchase"]["params"]["r"], 3) == 0.243


def test_warnings_survive_storage_and_old_fits_are_diagnosed_again() -> None:
    model = BGNBD.from_dict(
        {"model": "BGNBD", "params": {"r": 0.5, "alpha": 3.0, "a": 1.7e6, "b": 1.8e7}}
    )
    # a state without standard errors (published parameters, older fits) is checked for
    # its bounds only
    assert [w.code for w in model.warnings_] == ["near_bound"]
    assert "no drop-out heterogeneity" in model.warnings_[0].message
    again = BGNBD.from_dict(model.to_dict())
    assert again.warnings_ == model.warnings_
    ok = ParetoNBD.from_dict(
        {"model": "ParetoNBD", "params": {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.67}}
    )
    assert ok.warnings_ == []
    spend = GammaGamma.from_dict(
        {
            "model": "GammaGamma",
            "params": {"p": 6.25, "q": 3.74, "gamma": 15.44},
            "standard_errors": {"p": 0.3, "q": 0.2, "gamma": 1.0},
        }
    )
    assert spend.warnings_ == []


def test_a_penalty_removes_the_boundary_warning() -> None:
    rng = np.random.default_rng(0)
    n = 1000
    T = rng.uniform(20, 52, n)
    x = rng.poisson(0.3 * T).astype(float)
    tx = np.where(x > 0, T * rng.uniform(0.9, 1.0, n), 0.0)
    plain = BGNBD().fit(x, tx, T)
    assert "near_bound" in {w.code for w in plain.warnings_}
    penalized = BGNBD(penalizer=0.01).fit(x, tx, T)
    assert "near_bound" not in {w.code for w in penalized.warnings_}


def test_discovery_clusters_described_by_a_boundary_fit_carry_its_warning(
    no_churn: Path,
) -> None:
    runner = CliRunner()
    base = ["--workspace", str(no_churn)]
    at = ["--as-of", "2025-12-31"]
    assert runner.invoke(app, [*base, "clv", "fit", "--model", "bgnbd", *at]).exit_code == 0
    ws = Workspace.open(no_churn, clock=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    try:
        run = ws.discover.run(as_of="2025-12-31", macro=None, save=False)
    finally:
        ws.close()
    assert any("p_alive_mean" in c for c in run.clusters)
    notes = [n for n in run.notes if n.code == "value_fit_warning"]
    assert notes, run.notes
    assert "P(alive)" in notes[0].message
