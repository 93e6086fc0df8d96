"""Frequency, recency, age and repeat spend of every buyer, as of a calibration instant.

The "buy till you die" models read four numbers per customer, computed from purchase
events strictly before ``as_of`` (the end of the calibration period):

``frequency``
    repeat purchase days: the number of distinct days with a purchase, minus one.
    Several purchases on one day count once, as in the literature. A purchase is an order:
    the lines of one order (one ``order_id``, or without one a customer's lines at one
    instant) are grouped first, and the order falls on the day of its first line.
``recency``
    time from the first purchase day to the last purchase day (0 without repeats).
``T``
    time from the first purchase day to the last day of the calibration period. With
    calibration through 1997-09-30 (``as_of`` the next midnight), a first purchase on
    1997-01-01 gives T = 272 days = 38.857 weeks.
``monetary_value``
    mean spend of a repeat purchase day: the spend of every purchase day but the first,
    divided by ``frequency`` (0 without repeats). With ``net_returns`` it is scaled by one
    minus the customer's returned share (returned amount over purchased amount, both
    before ``as_of``, clipped to [0, 1]).

Days are calendar days in the workspace time zone, and times are whole days, divided by 7
for the weekly unit. The batch summary (an Ibis table) and the one-profile summary (plain
Python) compute the same numbers; the tests compare them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir

from microseg.config import ValueSettings
from microseg.core.errors import ValueModelError
from microseg.lang import Clock, order_of
from microseg.lang.batch import _instant_to_local, _utc_instant, order_column

__all__ = [
    "SUMMARY_COLUMNS",
    "Summary",
    "profile_summary",
    "purchase_orders",
    "summary_table",
    "unit_days",
]

SUMMARY_COLUMNS = ("customer_id", "frequency", "recency", "T", "monetary_value", "first_day")
#: decimals the average spend is rounded to (the same input to a fit on every run)
MONEY_DIGITS = 9


def unit_days(unit: str) -> float:
    """Days in one model time unit (``day`` or ``week``)."""
    if unit not in ("day", "week"):
        raise ValueModelError(f"unknown time unit {unit!r}: use day or week")
    return 7.0 if unit == "week" else 1.0


@dataclass(frozen=True)
class Summary:
    """One customer's summary (times in the model unit)."""

    frequency: float
    recency: float
    T: float
    monetary_value: float
    first_day: date


def summary_table(
    events: ir.Table,
    clock: Clock,
    settings: ValueSettings,
    *,
    unit: str | None = None,
) -> ir.Table:
    """Every customer with at least one purchase before ``clock.as_of``, summarised."""
    per = unit_days(unit or settings.unit)
    before = events.filter(events.timestamp < ibis.literal(clock.as_of))
    bought = before.filter(before.type == ibis.literal(settings.purchase_event))
    orders = purchase_orders(bought, clock.timezone)
    days = orders.group_by(["customer_id", "_day"]).aggregate(_spend=orders._spend.sum())
    last_day = ibis.literal(clock.today())
    per_customer = days.group_by("customer_id").aggregate(
        _n=days.count(),
        first_day=days._day.min(),
        _last=days._day.max(),
        _total=days._spend.sum(),
        _first_spend=days._spend.argmin(days._day),
    )
    repeats = (per_customer._n - 1).cast("float64")
    repeat_spend = per_customer._total - per_customer._first_spend
    mean_repeat = ibis.cases((repeats > 0, repeat_spend / repeats), else_=ibis.literal(0.0))
    result = per_customer.mutate(
        frequency=repeats,
        recency=per_customer._last.delta(per_customer.first_day, unit="day").cast("float64") / per,
        T=last_day.delta(per_customer.first_day, unit="day").cast("float64") / per,
        monetary_value=mean_repeat,
    )
    if settings.net_returns:
        gross = bought.group_by("customer_id").aggregate(_gross=bought.amount.cast("float64").sum())
        returned = before.filter(before.type == ibis.literal(settings.return_event))
        back = returned.group_by("customer_id").aggregate(
            _back=returned.amount.cast("float64").sum()
        )
        shares = gross.left_join(back, "customer_id").drop("customer_id_right")
        kept = 1.0 - (shares._back.fill_null(0.0) / shares._gross).clip(lower=0.0, upper=1.0)
        shares = shares.select(
            "customer_id", _kept=ibis.cases((shares._gross > 0, kept), else_=1.0)
        )
        result = result.left_join(shares, "customer_id").drop("customer_id_right")
        result = result.mutate(monetary_value=result.monetary_value * result._kept.fill_null(1.0))
    # sums of a parallel aggregate differ in their last bits from run to run, and a fit can
    # tip on them (a line search that stops ABNORMAL one run in six on a small shop):
    # rounded to 1e-9, far below a cent, the input is the same every time
    result = result.mutate(monetary_value=result.monetary_value.round(MONEY_DIGITS))
    return result.select(*SUMMARY_COLUMNS)


def purchase_orders(bought: ir.Table, zone: str) -> ir.Table:
    """One row per order of the purchase events ``bought``: ``customer_id``, ``_day`` (the
    local day of its first line, in ``zone``) and ``_spend`` (its lines' amounts)."""
    keyed = bought.mutate(_order=order_column(bought))
    orders = keyed.group_by(["customer_id", "_order"]).aggregate(
        _at=keyed.timestamp.min(), _spend=keyed.amount.cast("float64").sum().fill_null(0.0)
    )
    local = _instant_to_local(zone, _utc_instant("UTC", orders._at))
    return orders.select("customer_id", "_spend", _day=local.date())


def profile_summary(
    events: Iterable[Mapping[str, Any]],
    clock: Clock,
    settings: ValueSettings,
    *,
    unit: str | None = None,
) -> Summary | None:
    """The same summary for one customer's events (naive UTC timestamps); None if no purchase."""
    per = unit_days(unit or settings.unit)
    orders: dict[str, tuple[datetime, float]] = {}
    gross = back = 0.0
    for event in events:
        moment: datetime = event["timestamp"]
        if moment >= clock.as_of:
            continue
        amount = event.get("amount")
        if event["type"] == settings.purchase_event:
            key = order_of(event)
            at, total = orders.get(key, (moment, 0.0))
            value = float(amount) if amount is not None else 0.0
            orders[key] = (min(at, moment), total + value)
            if amount is not None:
                gross += float(amount)
        elif event["type"] == settings.return_event and amount is not None:
            back += float(amount)
    if not orders:
        return None
    spend: dict[date, float] = {}
    for moment, total in orders.values():
        day = clock.local(moment).date()
        spend[day] = spend.get(day, 0.0) + total
    first, last = min(spend), max(spend)
    repeats = len(spend) - 1
    mean_repeat = (sum(spend.values()) - spend[first]) / repeats if repeats else 0.0
    if settings.net_returns and gross > 0:
        mean_repeat *= 1.0 - min(max(back / gross, 0.0), 1.0)
    return Summary(
        frequency=float(repeats),
        recency=_days(last - first) / per,
        T=_days(clock.today() - first) / per,
        monetary_value=round(mean_repeat, MONEY_DIGITS),
        first_day=first,
    )


def _days(span: timedelta) -> float:
    return float(span.days)
