"""Snapshots of a series evaluated in one pass over the events (``evaluate_series``) are
the one-by-one evaluations at the same dates, customer by customer (issue 13, part 2)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from microseg import Workspace
from microseg.segments import SegmentRun
from microseg.synth import generate_shop
from tests.conftest import write

#: Rules over the synthetic shop: event windows, attribute history, traits (scores and a
#: mode), segment references, sequences, has:, bucket, local-time parts, relative dates.
RULES: dict[str, Any] = {
    "recent-buyers": {"event": "purchase", "window": {"last": "30 days"}},
    "big-90d": {
        "event": "purchase",
        "window": {"last": "90 days"},
        "sum": {"property": "amount", "gt": 150},
    },
    "married": {"attribute": "marital_status", "eq": "married"},
    "married-recent": {"all": [{"segment": "married"}, {"segment": "recent-buyers"}]},
    "anime": {"event": "purchase", "where": [{"property": "category", "eq": "anime"}]},
    "many-categories": {"event": "purchase", "distinct": {"property": "category", "gte": 3}},
    "avg-basket": {"event": "purchase", "avg": {"property": "amount", "gte": 40}},
    "repeaters": {"trait": "purchase_count", "gte": 3},
    "active": {"trait": "lifecycle_stage", "in": ["active", "at_risk"]},
    "champions": {"trait": "rfm_group", "in": ["Champions", "Loyal"]},
    "fan": {"trait": "favourite", "eq": "anime"},
    "abandoned": {
        "sequence": {
            "steps": [
                {"event": "cart_add"},
                {"event": "purchase", "within": "2 days", "absent": True},
            ],
            "window": {"last": "60 days"},
        }
    },
    "repeat-30d": {
        "sequence": {"steps": [{"event": "purchase"}, {"event": "purchase", "within": "30 days"}]}
    },
    "reachable-buyers": {"all": [{"has": "email"}, {"event": "purchase"}]},
    "holdout": {"bucket": {"salt": "spring", "from": 0, "to": 30}},
    "december": {"event": "purchase", "where": [{"property": "month", "eq": 12}]},
    "recent-activity": {"event": "any", "max": {"property": "timestamp", "gte": "30 days ago"}},
    "openers": {"event": "email_open", "window": {"last": "3 months"}},
    "young-signups": {"attribute": "signup_date", "gte": "6 months ago"},
}
DATES = ["2025-12-31", "2026-03-31", "2026-06-30", "2026-10-31"]


def _save_rules(ws: Workspace, rules: dict[str, Any]) -> None:
    for name, rule in rules.items():
        text = json.dumps({"name": name, "rule": rule})
        (ws.path / "segments" / f"{name}.yaml").write_text(text, encoding="utf-8")


def _rows(run: SegmentRun, names: list[str]) -> dict[str, tuple[bool, ...]]:
    assert run.result is not None
    rows = run.result.table().to_pyarrow().to_pylist()
    return {r["customer_id"]: tuple(bool(r[n]) for n in names) for r in rows}


def _stored(ws: Workspace, run: SegmentRun, names: list[str]) -> dict[str, set[str]]:
    table = ws.store.table("memberships")
    table = table.filter(table.as_of == run.as_of).to_pyarrow().to_pylist()
    return {n: {r["customer_id"] for r in table if r["segment"] == n} for n in names}


def _assert_same(ws: Workspace, names: list[str], dates: list[str]) -> list[SegmentRun]:
    series = ws.segments.evaluate_series(names, dates, save=True)
    assert [r.as_of for r in series] == [ws.context.instant(d) for d in dates]
    for day, run in zip(dates, series, strict=True):
        alone = ws.segments.evaluate(names, as_of=day, save=False)
        assert run.sizes == alone.sizes, day
        assert run.versions == alone.versions
        assert run.customers == alone.customers
        assert _rows(run, names) == _rows(alone, names), day
        stored = _stored(ws, run, names)
        for name in names:
            members = alone.members(name).to_pyarrow().column("customer_id").to_pylist()
            assert stored[name] == set(members), (day, name)
    return series


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    root: Path = tmp_path_factory.mktemp("series")
    data = generate_shop(root / "data", customers=400, seed=7)
    ws = Workspace.init(
        root / "ws", timezone="Europe/Paris", clock=lambda: datetime(2026, 11, 1, tzinfo=UTC)
    )
    ws.ingest("customers", data.paths["customers"], valid_from="signup_date")
    ws.ingest("customers", data.paths["customer_updates"])
    ws.ingest("events", list(data.event_files))
    (ws.path / "traits").mkdir(exist_ok=True)
    (ws.path / "traits" / "favourite.yaml").write_text(
        "name: favourite\ntype: text\n"
        "value: {aggregate: mode, event: purchase, property: category}\n",
        encoding="utf-8",
    )
    _save_rules(ws, RULES)
    yield ws
    ws.close()


def test_one_pass_series_equals_one_by_one_on_the_synthetic_shop(shop: Workspace) -> None:
    names = list(RULES)
    series = _assert_same(shop, names, DATES)
    # the rules do select people, and differently over time (the test can fail)
    for name in ("recent-buyers", "married", "repeaters", "abandoned", "fan", "champions"):
        sizes = [run.sizes[name] for run in series]
        assert any(sizes), name
    assert len({run.sizes["recent-buyers"] for run in series}) > 1
    assert len({run.sizes["married"] for run in series}) > 1


def test_a_date_as_an_instant_and_unsorted_dates(shop: Workspace) -> None:
    names = ["recent-buyers", "recent-activity", "abandoned", "champions"]
    _assert_same(shop, names, ["2026-06-30", "2026-03-15T12:00:00Z", "2025-11-30"])


def _hand_shop(ws: Workspace, tmp_path: Path) -> None:
    """C1 single, marries on 2025-06-15, no e-mail; C2 buys 100 on 2025-05-20 and 20 at the
    very instant of the end of May (2025-05-31T22:00Z, not before it); C3 married, buys 50
    on 2025-06-10; C4 adds to cart on 2025-06-25 and never buys."""
    ws.ingest(
        "customers",
        write(
            tmp_path / "c.csv",
            "customer_id,signup,marital_status,email\n"
            "C1,2024-01-01,single,\nC2,2024-01-01,single,c2@example.com\n"
            "C3,2024-01-01,married,c3@example.com\nC4,2024-01-01,single,c4@example.com",
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
            "C2,purchase,2025-05-31T22:00:00Z,20,O2\n"
            "C3,purchase,2025-06-10T10:00:00Z,50,O3\n"
            "C4,cart_add,2025-06-25T10:00:00Z,,",
        ),
    )
    _save_rules(
        ws,
        {
            "married": {"attribute": "marital_status", "eq": "married"},
            "recent-buyers": {"event": "purchase", "window": {"last": "30 days"}},
            "big": {"event": "purchase", "sum": {"property": "amount", "gte": 120}},
            "reachable-married": {"all": [{"segment": "married"}, {"has": "email"}]},
            "two-orders": {"trait": "purchase_count", "gte": 2},
            "abandoned": {
                "sequence": {
                    "steps": [
                        {"event": "cart_add"},
                        {"event": "purchase", "within": "2 days", "absent": True},
                    ]
                }
            },
        },
    )


def test_one_pass_series_by_hand(ws: Workspace, tmp_path: Path) -> None:
    _hand_shop(ws, tmp_path)
    names = ["married", "recent-buyers", "big", "reachable-married", "two-orders", "abandoned"]
    dates = ["2025-05-31", "2025-06-30", "2025-07-31"]
    series = _assert_same(ws, names, dates)
    members = [
        {
            n: sorted(c for c, row in _rows(run, names).items() if row[i])
            for i, n in enumerate(names)
        }
        for run in series
    ]
    assert members[0] == {
        "married": ["C3"],
        "recent-buyers": ["C2"],  # the 20 at the very end of May is not before it
        "big": [],
        "reachable-married": ["C3"],
        "two-orders": [],
        "abandoned": [],
    }
    assert members[1] == {
        "married": ["C1", "C3"],
        "recent-buyers": ["C2", "C3"],  # C2's second order, on the last instant of May
        "big": ["C2"],
        "reachable-married": ["C3"],  # C1 has no e-mail
        "two-orders": ["C2"],
        "abandoned": ["C4"],
    }
    assert members[2] == {
        "married": ["C1", "C3"],
        "recent-buyers": [],
        "big": ["C2"],
        "reachable-married": ["C3"],
        "two-orders": ["C2"],
        "abandoned": ["C4"],
    }


def test_a_series_of_one_date_and_bad_requests(ws: Workspace, tmp_path: Path) -> None:
    _hand_shop(ws, tmp_path)
    _assert_same(ws, ["recent-buyers", "married"], ["2025-06-30"])
    assert ws.segments.evaluate_series(["married"], [], save=False) == []
    from microseg.lang import RuleError

    with pytest.raises(RuleError, match="nope"):
        ws.segments.evaluate_series(["nope"], ["2025-06-30"])


def test_dates_split_into_groups_give_the_same_snapshots(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parts of many columns are computed for groups of dates (one date each here)."""
    import microseg.lang._batch_events as batch_events

    monkeypatch.setattr(batch_events, "SERIES_COLUMNS", 1)
    _hand_shop(ws, tmp_path)
    names = ["married", "recent-buyers", "big", "two-orders", "abandoned"]
    _assert_same(ws, names, ["2025-05-31", "2025-06-30", "2025-07-31"])
