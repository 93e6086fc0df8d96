"""The summary step: frequency, recency, T and repeat spend from ingested events."""

from __future__ import annotations

import math
from datetime import date

import pytest

from microseg import Workspace
from microseg.config import ValueSettings
from microseg.value._summary import profile_summary, summary_table

from .conftest import CALIBRATION_END


def _summary(ws: Workspace, unit: str = "day"):  # type: ignore[no-untyped-def]
    clock = ws.context.clock(CALIBRATION_END)
    table = summary_table(ws.events(), clock, ws.config.value, unit=unit)
    return table.to_pyarrow().to_pandas().set_index("customer_id").sort_index()


def test_cdnow_summary_matches_the_literature_set_up(cdnow: Workspace) -> None:
    s = _summary(cdnow)
    # 2,357 customers, all with a first purchase in the first quarter of 1997
    assert len(s) == 2357
    # totals of the standard summary (days): frequency 2457, recency 112949, T 539779
    assert s.frequency.sum() == 2457
    assert s.recency.sum() == 112949
    assert s["T"].sum() == 539779
    assert s.monetary_value.sum() == pytest.approx(33183.644, abs=1e-3)
    # customer 4: purchases on 01-01, 01-18 and 08-02 (two CDs on the first day)
    row = s.loc["c00004"]
    assert (row.frequency, row.recency, row["T"]) == (2.0, 213.0, 272.0)
    assert row.monetary_value == pytest.approx((29.73 + 14.96) / 2)
    assert row.first_day == date(1997, 1, 1)


def test_weekly_unit_divides_by_seven(cdnow: Workspace) -> None:
    s = _summary(cdnow, unit="week")
    assert s.loc["c00004", "T"] == pytest.approx(272 / 7)  # 38.857 weeks
    assert s["T"].max() == pytest.approx(272 / 7)


def test_profile_summary_agrees_with_batch(cdnow: Workspace) -> None:
    batch = _summary(cdnow, unit="week")
    clock = cdnow.context.clock(CALIBRATION_END)
    events = cdnow.events().to_pyarrow().to_pandas()
    for customer_id, group in list(events.groupby("customer_id"))[:400]:
        one = profile_summary(group.to_dict("records"), clock, cdnow.config.value, unit="week")
        assert one is not None
        row = batch.loc[customer_id]
        assert (one.frequency, one.recency, one.T) == (row.frequency, row.recency, row["T"])
        assert math.isclose(one.monetary_value, row.monetary_value, rel_tol=1e-12, abs_tol=1e-9)


def test_returns_scale_repeat_spend_and_purchases_after_as_of_do_not_count(ws: Workspace) -> None:
    from tests.conftest import write

    path = write(
        ws.path / "e.csv",
        """
customer_id,timestamp,type,amount
a,2025-01-01T10:00:00Z,purchase,100
a,2025-01-01T15:00:00Z,purchase,20
a,2025-01-11T10:00:00Z,purchase,40
a,2025-01-21T10:00:00Z,purchase,60
a,2025-01-25T10:00:00Z,return,22
a,2025-03-01T10:00:00Z,purchase,500
b,2025-02-01T10:00:00Z,purchase,10
""",
    )
    ws.ingest("events", path)
    clock = ws.context.clock("2025-01-31")
    batch = summary_table(ws.events(), clock, ws.config.value, unit="day").to_pyarrow().to_pandas()
    a = batch.set_index("customer_id").loc["a"]
    # days 01-01, 01-11, 01-21 before as_of: 2 repeats, repeat spend (40 + 60) / 2 = 50,
    # scaled by 1 - 22 / 220 (returned share) = 45
    assert (a.frequency, a.recency, a["T"]) == (2.0, 20.0, 30.0)
    assert a.monetary_value == pytest.approx(45.0)
    assert "b" not in set(batch.customer_id)  # first purchase after as_of
    events = ws.events().to_pyarrow().to_pandas()
    one = profile_summary(
        events[events.customer_id == "a"].to_dict("records"), clock, ws.config.value, unit="day"
    )
    assert one is not None
    assert (one.frequency, one.recency, one.T, one.monetary_value) == pytest.approx(
        (2.0, 20.0, 30.0, 45.0)
    )
    gross = profile_summary(
        events[events.customer_id == "a"].to_dict("records"),
        clock,
        ValueSettings(net_returns=False),
        unit="day",
    )
    assert gross is not None
    assert gross.monetary_value == pytest.approx(50.0)
