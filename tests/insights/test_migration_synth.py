"""Migration on the synthetic shop: its planted marriages are the flows into ``married``,
each counted once over a monthly series; cluster and lifecycle states cover everyone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from microseg import Workspace
from microseg.synth import generate_shop

START, END = "2025-01-31", "2026-10-31"
#: the shop's events run to 2026-11-01: "now" is after them
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, Path]]:
    root: Path = tmp_path_factory.mktemp("migration")
    data = generate_shop(root / "data", customers=300, seed=5)
    ws = Workspace.init(root / "ws", timezone="Europe/Paris", clock=lambda: NOW)
    ws.ingest("customers", data.paths["customers"], valid_from="signup_date")
    ws.ingest("customers", data.paths["customer_updates"])
    ws.ingest("events", list(data.event_files))
    (ws.path / "segments" / "married.yaml").write_text(
        "name: married\nrule: {attribute: marital_status, eq: married}\n", encoding="utf-8"
    )
    yield ws, data.paths["customer_updates"]
    ws.close()


def _planted(updates: Path, ws: Workspace) -> set[str]:
    """The customers the synthetic shop marries between START and END (its own file)."""
    first, last = ws.context.instant(START), ws.context.instant(END)
    rows = pq.read_table(updates).to_pylist()
    return {
        r["customer_id"]
        for r in rows
        if r["marital_status"] == "married"
        and first <= r["updated_at"].astimezone(UTC).replace(tzinfo=None) < last
    }


def _married(ws: Workspace, as_of: str) -> set[str]:
    table = ws.customers(as_of=as_of)
    chosen = table.filter(table.marital_status == "married").select("customer_id")
    return set(chosen.to_pyarrow().column("customer_id").to_pylist())


def test_planted_marriages_are_the_flows_into_married(shop: tuple[Workspace, Path]) -> None:
    ws, updates = shop
    planted = _planted(updates, ws)
    assert len(planted) >= 5  # the shop plants some in this period
    start, end = _married(ws, START), _married(ws, END)
    assert planted <= end - start
    # the flows into married: the planted weddings and the married who signed up since
    result = ws.insights.migration(["married"], start=START, end=END)
    counts = result.matrix.counts()
    assert counts[("none", "married")] == len(end - start)
    assert counts[("married", "married")] == len(start)
    assert ("married", "none") not in counts  # nobody is unmarried by the shop
    series = ws.insights.migration(["married"], start=START, end=END, every="month")
    assert len(series.dates) == 22
    moved = sum(step.counts().get(("none", "married"), 0) for step in series.steps)
    assert moved == len(end - start)  # each one counted once, in its month
    # the stacked area's sizes add up to the customers at each date
    customers = ws.profile.attributes(END).count().to_pyarrow().as_py()
    last = [s for s in series.sizes if s.as_of == series.dates[-1]]
    assert sum(s.customers for s in last) == customers
    assert all(s.reused for s in ws.insights.migration(["married"], start=START, end=END).snapshots)


def test_one_married_customer_timeline(shop: tuple[Workspace, Path]) -> None:
    ws, updates = shop
    someone = sorted(_planted(updates, ws))[0]
    history = ws.insights.history(someone, start=START, end=END, segments=["married"])
    assert [(c.segment, c.change) for c in history.changes] == [("married", "entered")]
    wedding = next(
        r["updated_at"]
        for r in pq.read_table(updates).to_pylist()
        if r["customer_id"] == someone and r["marital_status"] == "married"
    )
    seen = history.changes[0].as_of
    assert seen > wedding.astimezone(UTC)  # seen at the first snapshot after the wedding
    assert (seen - wedding.astimezone(UTC)).days <= 31


def test_lifecycle_states_cover_everyone(shop: tuple[Workspace, Path]) -> None:
    ws, _ = shop
    result = ws.insights.migration(start="2026-04-30", end=END, trait="lifecycle_stage")
    total = sum(result.matrix.counts().values())
    assert total == ws.profile.attributes(END).count().to_pyarrow().as_py()
    assert set(result.states) <= {"prospect", "new", "reactivated", "active", "at_risk", "lapsed"}
    assert datetime(2026, 4, 30, 22, tzinfo=UTC) == result.dates[0]


def test_clv_carried_by_the_flows(shop: tuple[Workspace, Path]) -> None:
    ws, _ = shop
    ws.value.fit(as_of="2026-06-30")
    result = ws.insights.migration(["married"], start="2026-06-30", end=END)
    predicted = ws.value.predict(as_of=END)
    total = sum(predicted.column("clv").to_pylist())
    flows = result.matrix.flows
    assert all(f.clv is not None for f in flows)
    assert sum(f.clv or 0.0 for f in flows) == pytest.approx(total, abs=0.01 * len(flows))
    # what flows into a state is that state's CLV at the end
    for state in result.states:
        into = sum(f.clv or 0.0 for f in flows if f.target == state)
        size = result.size(1, state)
        assert size is not None
        assert size.clv == pytest.approx(into, abs=0.01 * len(flows))
    married = set(
        ws.segments.members("married", as_of=END).to_pyarrow().column("customer_id").to_pylist()
    )
    by_hand = sum(
        clv
        for customer, clv in zip(
            predicted.column("customer_id").to_pylist(),
            predicted.column("clv").to_pylist(),
            strict=True,
        )
        if customer in married
    )
    assert result.size(1, "married").clv == pytest.approx(by_hand, abs=0.01)  # type: ignore[union-attr]
    assert not any("CLV is left out" in note for note in result.notes)


def test_clv_from_a_fit_at_the_first_snapshot(shop: tuple[Workspace, Path]) -> None:
    ws, _ = shop
    ws.value.fit(as_of="2026-05-31")  # calibrated at the end of that day, as the snapshot
    result = ws.insights.migration(["married"], start="2026-05-31", end=END)
    first = result.size(0, "married")
    assert first is not None
    assert first.clv is not None
    assert first.clv > 0
