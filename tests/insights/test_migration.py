"""Migration between segments: transition matrices, series, alerts, snapshots, timelines.

The hand-built shop (times UTC, workspace zone Europe/Paris, snapshots at the end of a
local day: 2025-05-31 means 2025-05-31T22:00Z):

- C1 single, marries on 2025-06-15 (a dated attribute update); never buys;
- C2 single, buys 100 on 2025-05-20: a recent buyer at the end of May, out of the
  30-day window at the end of June;
- C3 married all along, buys 50 on 2025-06-10;
- C4 single, buys 40 on 2025-05-25 and 60 on 2025-06-20;
- C5 nothing known, never buys.

Segments in priority order: married, then recent-buyers (a purchase in the last 30 days).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from microseg import Workspace
from microseg.cli import app
from microseg.core.errors import ParameterError
from tests.conftest import write

NAMES = ["married", "recent-buyers"]


def _shop(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest(
        "customers",
        write(
            tmp_path / "c.csv",
            "customer_id,signup,marital_status\n"
            "C1,2024-01-01,single\nC2,2024-01-01,single\nC3,2024-01-01,married\n"
            "C4,2024-01-01,single\nC5,2024-01-01,",
        ),
        valid_from="signup",
    )
    ws.ingest(
        "customers",
        write(
            tmp_path / "u.csv",
            "customer_id,updated_at,marital_status\nC1,2025-06-15T10:00:00Z,married",
        ),
    )
    ws.ingest(
        "events",
        write(
            tmp_path / "e.csv",
            "customer_id,type,timestamp,amount,order_id\n"
            "C2,purchase,2025-05-20T10:00:00Z,100,O1\n"
            "C3,purchase,2025-06-10T10:00:00Z,50,O2\n"
            "C4,purchase,2025-05-25T10:00:00Z,40,O3\n"
            "C4,purchase,2025-06-20T10:00:00Z,60,O4",
        ),
    )
    segments = ws.path / "segments"
    married = "name: married\nrule: {attribute: marital_status, eq: married}"
    write(segments / "married.yaml", married)
    write(
        segments / "recent-buyers.yaml",
        "name: recent-buyers\nrule: {event: purchase, window: {last: 30 days}}",
    )


def test_transition_matrix_by_hand(ws: Workspace, tmp_path: Path) -> None:
    _shop(ws, tmp_path)
    result = ws.insights.migration(NAMES, start="2025-05-31", end="2025-06-30")
    counts = result.matrix.counts()
    assert counts == {
        ("none", "married"): 1,  # C1 married on 2025-06-15
        ("recent-buyers", "none"): 1,  # C2's purchase left the 30-day window
        ("married", "married"): 1,  # C3
        ("recent-buyers", "recent-buyers"): 1,  # C4 bought again
        ("none", "none"): 1,  # C5
    }
    assert result.states == ["married", "recent-buyers", "none"]
    married = result.matrix.cell("none", "married")
    assert married is not None
    assert married.share == 0.5
    assert married.revenue == 0.0
    kept = result.matrix.cell("married", "married")
    assert kept is not None
    assert (kept.share, kept.revenue) == (1.0, 50.0)
    again = result.matrix.cell("recent-buyers", "recent-buyers")
    assert again is not None
    assert (again.share, again.revenue) == (0.5, 60.0)
    assert again.clv is None  # no value model fitted
    assert any("CLV is left out" in note for note in result.notes)
    start = {s.state: s.customers for s in result.sizes if s.as_of == result.dates[0]}
    end = {s.state: s.customers for s in result.sizes if s.as_of == result.dates[1]}
    assert start == {"married": 1, "recent-buyers": 2, "none": 2}
    assert end == {"married": 2, "recent-buyers": 1, "none": 2}


def test_in_and_out_of_one_segment(ws: Workspace, tmp_path: Path) -> None:
    _shop(ws, tmp_path)
    result = ws.insights.migration(["recent-buyers"], start="2025-05-31", end="2025-06-30")
    assert result.matrix.counts() == {
        ("recent-buyers", "none"): 1,
        ("recent-buyers", "recent-buyers"): 1,
        ("none", "none"): 2,
        ("none", "recent-buyers"): 1,  # C3 bought on 2025-06-10
    }


def test_monthly_series_sizes_revenue_alerts(ws: Workspace, tmp_path: Path) -> None:
    _shop(ws, tmp_path)
    result = ws.insights.migration(NAMES, start="2025-04-30", end="2025-07-31", every="month")
    assert [d.replace(tzinfo=None).isoformat() for d in result.dates] == [
        "2025-04-30T22:00:00",  # the end of 2025-04-30 in Paris, in UTC
        "2025-05-31T22:00:00",
        "2025-06-30T22:00:00",
        "2025-07-31T22:00:00",
    ]
    sizes = {(result.dates.index(s.as_of), s.state): (s.customers, s.revenue) for s in result.sizes}
    assert sizes == {
        (0, "married"): (1, 0.0),
        (0, "none"): (4, 0.0),
        (1, "married"): (1, 0.0),
        (1, "recent-buyers"): (2, 140.0),  # C2 100 + C4 40 in May
        (1, "none"): (2, 0.0),
        (2, "married"): (2, 50.0),  # C3 50 in June
        (2, "recent-buyers"): (1, 60.0),  # C4 60 in June
        (2, "none"): (2, 0.0),
        (3, "married"): (2, 0.0),
        (3, "none"): (3, 0.0),
    }
    assert len(result.steps) == 3
    # first to last: C1 married, C2 and C4 came and went, C3 and C5 stayed
    assert result.matrix.counts() == {
        ("married", "married"): 1,
        ("none", "married"): 1,
        ("none", "none"): 3,
    }
    # Sankey: one node per state present at each date, links between consecutive dates
    assert len(result.nodes) == 10
    assert sum(link.customers for link in result.links) == 15
    alerts = {(result.dates.index(a.end), a.state, a.measure): a.change for a in result.alerts}
    assert alerts == {
        (1, "none", "customers"): -0.5,
        (1, "recent-buyers", "customers"): None,  # from zero
        (1, "recent-buyers", "revenue"): None,
        (2, "married", "customers"): 1.0,
        (2, "married", "revenue"): None,
        (2, "recent-buyers", "customers"): -0.5,
        (2, "recent-buyers", "revenue"): -0.5714,
        (3, "married", "revenue"): -1.0,
        (3, "recent-buyers", "customers"): -1.0,
        (3, "recent-buyers", "revenue"): -1.0,
        (3, "none", "customers"): 0.5,
    }
    quieter = ws.insights.migration(
        NAMES, start="2025-04-30", end="2025-07-31", every="month", threshold=0.6
    )
    assert {(a.state, a.measure, a.change) for a in quieter.alerts if a.change is not None} == {
        ("married", "customers", 1.0),
        ("married", "revenue", -1.0),
        ("recent-buyers", "customers", -1.0),
        ("recent-buyers", "revenue", -1.0),
    }


def test_backfilled_series_equals_one_by_one_evaluations(ws: Workspace, tmp_path: Path) -> None:
    _shop(ws, tmp_path)
    dates = ["2025-04-30", "2025-05-31", "2025-06-30", "2025-07-31"]
    result = ws.insights.migration(NAMES, start=dates[0], end=dates[-1], every="month")
    assert not any(s.reused for s in result.snapshots)
    memberships = ws.store.table("memberships")
    for index, day in enumerate(dates):
        run = ws.segments.evaluate(NAMES, as_of=day, save=False)
        stored = memberships.filter(memberships.as_of == run.as_of)
        for name in NAMES:
            alone = run.members(name).to_pyarrow().column("customer_id").to_pylist()
            kept = stored.filter(stored.segment == name).to_pyarrow()
            assert sorted(kept.column("customer_id").to_pylist()) == alone
            assert set(kept.column("version").to_pylist()) <= {run.versions[name]}
        table = run.result.table()  # type: ignore[union-attr]
        rows = table.to_pyarrow().to_pylist()
        first = [next((n for n in NAMES if r[n]), "none") for r in rows]
        expected = {s: first.count(s) for s in set(first)}
        got = {s.state: s.customers for s in result.sizes if s.as_of == result.dates[index]}
        assert got == expected
    # the same request reuses the stored snapshots and gives the same answer
    again = ws.insights.migration(NAMES, start=dates[0], end=dates[-1], every="month")
    assert all(s.reused for s in again.snapshots)
    assert again.model_dump(exclude={"snapshots"}) == result.model_dump(exclude={"snapshots"})
    # new data makes them stale
    ws.ingest(
        "events",
        write(
            tmp_path / "e2.csv",
            "customer_id,type,timestamp,amount\nC5,purchase,2025-07-10T10:00:00Z,30",
        ),
    )
    fresh = ws.insights.migration(NAMES, start=dates[0], end=dates[-1], every="month")
    assert not any(s.reused for s in fresh.snapshots)
    last = {s.state: s.customers for s in fresh.sizes if s.as_of == fresh.dates[-1]}
    assert last == {"married": 2, "recent-buyers": 1, "none": 2}


def test_trait_states(ws: Workspace, tmp_path: Path) -> None:
    _shop(ws, tmp_path)
    result = ws.insights.migration(start="2025-05-31", end="2025-06-30", trait="lifecycle_stage")
    assert result.basis == "trait:lifecycle_stage"
    counts = result.matrix.counts()
    # C1 and C5 never bought; C3 bought first on 2025-06-10 (new); C2 and C4 bought
    # first in May: new at the end of May (less than 30 days), then active
    assert counts == {
        ("prospect", "prospect"): 2,
        ("prospect", "new"): 1,
        ("new", "active"): 2,
    }
    assert result.states == ["prospect", "new", "active"]


def test_customer_timeline(ws: Workspace, tmp_path: Path) -> None:
    _shop(ws, tmp_path)
    c2 = ws.insights.history("C2", start="2025-04-30", end="2025-07-31", segments=NAMES)
    assert c2.segments == [[], ["recent-buyers"], [], []]
    assert [(c.as_of.date().isoformat(), c.segment, c.change) for c in c2.changes] == [
        ("2025-05-31", "recent-buyers", "entered"),
        ("2025-06-30", "recent-buyers", "left"),
    ]
    c1 = ws.insights.history("C1", start="2025-04-30", end="2025-07-31")
    assert [(c.segment, c.change) for c in c1.changes] == [("married", "entered")]


def test_bad_requests_say_what_to_do(ws: Workspace, tmp_path: Path) -> None:
    _shop(ws, tmp_path)
    with pytest.raises(ParameterError, match="must come after the start"):
        ws.insights.migration(NAMES, start="2025-06-30", end="2025-05-31")
    with pytest.raises(ParameterError, match="use month or week"):
        ws.insights.migration(NAMES, start="2025-05-31", end="2025-06-30", every="day")
    with pytest.raises(ParameterError, match="say what the states are"):
        ws.insights.migration(start="2025-05-31", end="2025-06-30")
    with pytest.raises(ParameterError, match="no trait 'lifecycle'"):
        ws.insights.migration(start="2025-05-31", end="2025-06-30", trait="lifecycle")


def test_cli_migration_json_table_and_plot(ws: Workspace, tmp_path: Path) -> None:
    _shop(ws, tmp_path)
    root = str(ws.path)
    ws.close()
    base = ["--workspace", root, "insights", "migration", *NAMES, "--from", "2025-05-31"]
    result = CliRunner().invoke(app, [*base, "--to", "2025-06-30", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    flows = {(f["source"], f["target"]): f["customers"] for f in data["matrix"]["flows"]}
    assert flows[("none", "married")] == 1
    assert flows[("recent-buyers", "none")] == 1
    text = CliRunner().invoke(app, [*base, "--to", "2025-06-30"])
    assert text.exit_code == 0, text.output
    rows = [line.split() for line in text.output.splitlines()]
    assert ["│", "none", "│", "married", "│", "1", "│", "50%", "│", "0", "│", "-", "│"] in rows
    assert max(len(line) for line in text.output.splitlines()) <= 80
    page = tmp_path / "flows.html"
    plotted = CliRunner().invoke(
        app, [*base, "--to", "2025-07-31", "--every", "month", "--plot", str(page)]
    )
    assert plotted.exit_code == 0, plotted.output
    html = page.read_text(encoding="utf-8")
    assert "sankey" in html
    assert "Plotly.newPlot" in html
    # plotly.js is inside the page, not loaded from a CDN: it opens offline
    assert len(html) > 1_000_000
    assert "plotly.js v" in html
    assert "<script src=" not in html
    history = CliRunner().invoke(
        app,
        [
            "--workspace",
            root,
            "profile",
            "C2",
            "--history",
            "--from",
            "2025-04-30",
            "--to",
            "2025-07-31",
            "--json",
        ],
    )
    assert history.exit_code == 0, history.output
    changes = json.loads(history.output)["history"]["changes"]
    assert [(c["segment"], c["change"]) for c in changes] == [
        ("recent-buyers", "entered"),
        ("recent-buyers", "left"),
    ]


def test_weekly_series_of_timestamps(ws: Workspace, tmp_path: Path) -> None:
    _shop(ws, tmp_path)
    result = ws.insights.migration(
        NAMES, start="2025-05-01T00:00:00Z", end="2025-05-29T00:00:00Z", every="week"
    )
    assert [d.isoformat() for d in result.dates] == [
        f"2025-05-{day:02d}T00:00:00+00:00" for day in (1, 8, 15, 22, 29)
    ]
    # C2 bought on 2025-05-20T10:00Z, C4 on the 25th: recent buyers from the 22nd, 29th
    sizes = [result.size(i, "recent-buyers") for i in range(5)]
    assert [s.customers if s else 0 for s in sizes] == [0, 0, 0, 1, 2]
    months = ws.insights.migration(
        NAMES, start="2025-04-30T12:00:00Z", end="2025-06-30T12:00:00Z", every="month"
    )
    assert [d.isoformat() for d in months.dates] == [
        "2025-04-30T12:00:00+00:00",
        "2025-05-31T12:00:00+00:00",  # a month end steps to month ends
        "2025-06-30T12:00:00+00:00",
    ]
