"""The value table: what each segment (or cluster) is worth, ranked.

Per group of customers: size and share; revenue, orders (distinct orders, not lines),
average order value and purchase frequency over a period before ``as_of``; returns;
predicted value from the latest value fit (CLV, P(alive), churn risk); e-mail open rate;
growth against an earlier snapshot; and market potential (docs/insights.md).

Groups arrive as one long table (``customer_id``, ``group``): a customer may be in several
segments, and each membership counts. Everything is one Ibis aggregation per table over
the backend's events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import ibis
import ibis.expr.types as ir
import pyarrow as pa
from pydantic import Field

from microseg.config import WorkspaceConfig
from microseg.core.errors import ParameterError
from microseg.core.results import Instant, ProblemResult, Result
from microseg.core.text import did_you_mean
from microseg.lang.batch import order_column
from microseg.value import FitWarningResult

__all__ = [
    "POTENTIAL_FORMULA",
    "VALUE_COLUMNS",
    "Groups",
    "PreviousSnapshot",
    "ValueRow",
    "ValueTable",
    "check_column",
    "group_figures",
    "rank_rows",
    "value_rows",
]

#: How market potential is computed, shown with every table.
POTENTIAL_FORMULA = (
    "market_potential = members x p_any_purchase x expected_spend "
    "(p_any_purchase: mean P(at least one purchase in the horizon), expected_spend: mean "
    "expected spend per purchase, both over the members the value fit scores)"
)


class ValueRow(Result):
    """One segment or cluster of a value table (money in the shop's currency)."""

    group: str
    title: str | None = None
    members: int
    share: float
    #: members with at least one order in the period
    buyers: int
    revenue: float
    orders: int
    aov: float | None
    #: orders per member in the period
    frequency: float | None
    returns: float
    return_share: float | None
    emails_sent: int
    emails_opened: int
    open_rate: float | None
    #: members the value fit scores (buyers before as_of); the model columns average them
    scored: int | None = None
    clv_mean: float | None = None
    clv_total: float | None = None
    p_alive_mean: float | None = None
    high_churn_share: float | None = None
    p_any_purchase: float | None = None
    expected_spend: float | None = None
    market_potential: float | None = None
    members_previous: int | None = None
    revenue_previous: float | None = None
    size_growth: float | None = None
    revenue_growth: float | None = None


#: The columns a table can be ranked by.
VALUE_COLUMNS = tuple(
    name for name, f in ValueRow.model_fields.items() if name not in ("group", "title")
)


class PreviousSnapshot(Result):
    """What growth compares with: a stored evaluation, or the same computation earlier."""

    as_of: Instant
    source: Literal["stored", "computed"]
    text: str


class ValueTable(Result):
    """A value table: one row per group, ranked by ``by`` (largest first)."""

    as_of: Instant
    period: str
    period_start: Instant
    customers: int
    source: Literal["segments", "run", "grid"]
    run: str | None = None
    #: the grid's dimensions when the groups are its cells
    dimensions: list[str] = Field(default_factory=list)
    by: str
    horizon: str
    fit_id: int | None
    fit_as_of: Instant | None
    #: why the model columns are null (no value fit at or before as_of), else None
    no_fit: str | None
    fit_warnings: list[FitWarningResult]
    market_potential_formula: str
    previous: PreviousSnapshot | None
    rows: list[ValueRow]
    warnings: list[str]
    problems: list[ProblemResult]

    def to_arrow(self) -> pa.Table:
        """The rows as an Arrow table (one column per field of :class:`ValueRow`)."""
        names = list(ValueRow.model_fields)
        return pa.table({n: [getattr(r, n) for r in self.rows] for n in names})


@dataclass(frozen=True)
class Groups:
    """Customers in groups: ``table`` has ``customer_id`` and ``group`` (one row each
    membership), ``order`` the groups in their natural order, ``titles`` their titles."""

    table: ir.Table
    order: list[str]
    titles: dict[str, str | None]


def _per_customer(
    events: ir.Table, start: datetime, end: datetime, config: WorkspaceConfig
) -> ir.Table:
    """Revenue, orders, returns and e-mails of every customer with an event in [start, end)."""
    names = config.traits.event_types
    window = events.filter(
        (events.timestamp >= ibis.literal(start)) & (events.timestamp < ibis.literal(end))
    )
    amount = window.amount.cast("float64").fill_null(0.0)
    bought = window.type == ibis.literal(names.purchase)
    returned = window.type == ibis.literal(names.return_)
    order = bought.ifelse(order_column(window), ibis.null("string"))
    return window.group_by("customer_id").aggregate(
        _revenue=bought.ifelse(amount, 0.0).sum(),
        _orders=order.nunique(),
        _returns=returned.ifelse(amount, 0.0).sum(),
        _sent=(window.type == ibis.literal(names.email_sent)).ifelse(1, 0).sum(),
        _opened=(window.type == ibis.literal(names.email_open)).ifelse(1, 0).sum(),
    )


def group_figures(
    groups: ir.Table,
    events: ir.Table,
    start: datetime,
    end: datetime,
    config: WorkspaceConfig,
    predictions: pa.Table | None = None,
) -> dict[str, dict[str, Any]]:
    """Each group's raw sums over [start, end), and the model means with ``predictions``."""
    metrics = _per_customer(events, start, end, config).rename(_mid="customer_id")
    joined = groups.left_join(metrics, groups.customer_id == metrics._mid).drop("_mid")
    if predictions is not None:
        scores = ibis.memtable(
            predictions.select(
                ["customer_id", "clv", "p_alive", "churn_risk", "p_any_purchase", "expected_spend"]
            )
        ).rename(_pid="customer_id")
        joined = joined.left_join(scores, joined.customer_id == scores._pid).drop("_pid")
    sums: dict[str, ir.Value] = {
        "members": joined.count(),
        "buyers": (joined._orders.fill_null(0) > 0).ifelse(1, 0).sum(),
        "revenue": joined._revenue.fill_null(0.0).sum(),
        "orders": joined._orders.fill_null(0).sum(),
        "returns": joined._returns.fill_null(0.0).sum(),
        "sent": joined._sent.fill_null(0).sum(),
        "opened": joined._opened.fill_null(0).sum(),
    }
    if predictions is not None:
        sums |= {
            "scored": joined.p_alive.count(),
            "clv_total": joined.clv.sum(),
            "clv_mean": joined.clv.mean(),
            "p_alive_mean": joined.p_alive.mean(),
            "high": (joined.churn_risk == ibis.literal("high")).ifelse(1, 0).sum(),
            "p_any": joined.p_any_purchase.mean(),
            "spend": joined.expected_spend.mean(),
        }
    table = joined.group_by("group").aggregate(**sums)
    return {str(r["group"]): r for r in table.to_pyarrow().to_pylist()}


def _ratio(part: float | None, whole: float | None, digits: int = 4) -> float | None:
    if part is None or not whole:
        return None
    return round(part / whole, digits)


def _money(value: Any) -> float | None:
    return None if value is None or math.isnan(float(value)) else round(float(value), 2)


def value_rows(
    groups: Groups,
    figures: dict[str, dict[str, Any]],
    customers: int,
    *,
    previous: dict[str, dict[str, Any]] | None,
    scored: bool,
) -> list[ValueRow]:
    """One row per group, in the groups' order (groups without members get zeros)."""
    rows = []
    for name in groups.order:
        f = figures.get(name, {})
        members = int(f.get("members") or 0)
        revenue = float(f.get("revenue") or 0.0)
        orders = int(f.get("orders") or 0)
        model: dict[str, Any] = {}
        if scored:
            p_any, spend = f.get("p_any"), f.get("spend")
            potential = members * p_any * spend if p_any is not None and spend is not None else None
            model = {
                "scored": int(f.get("scored") or 0),
                "clv_mean": _money(f.get("clv_mean")),
                "clv_total": _money(f.get("clv_total") or 0.0),
                "p_alive_mean": _ratio(f.get("p_alive_mean"), 1.0),
                "high_churn_share": _ratio(f.get("high"), f.get("scored")),
                "p_any_purchase": _ratio(p_any, 1.0),
                "expected_spend": _money(spend),
                "market_potential": _money(potential),
            }
        growth: dict[str, Any] = {}
        if previous is not None:
            before = previous.get(name, {})
            was, earned = int(before.get("members") or 0), float(before.get("revenue") or 0.0)
            growth = {
                "members_previous": was,
                "revenue_previous": round(earned, 2),
                "size_growth": _ratio(members - was, was),
                "revenue_growth": _ratio(revenue - earned, earned),
            }
        rows.append(
            ValueRow(
                group=name,
                title=groups.titles.get(name),
                members=members,
                share=_ratio(members, customers) or 0.0,
                buyers=int(f.get("buyers") or 0),
                revenue=round(revenue, 2),
                orders=orders,
                aov=_ratio(revenue, orders, 2),
                frequency=_ratio(orders, members),
                returns=round(float(f.get("returns") or 0.0), 2),
                return_share=_ratio(float(f.get("returns") or 0.0), revenue),
                emails_sent=int(f.get("sent") or 0),
                emails_opened=int(f.get("opened") or 0),
                open_rate=_ratio(f.get("opened"), f.get("sent")),
                **model,
                **growth,
            )
        )
    return rows


def check_column(by: str) -> None:
    """Refuse a ranking column the table does not have, naming the ones it has."""
    if by not in VALUE_COLUMNS:
        raise ParameterError(
            f"--by {by!r}: not a column of the value table" + did_you_mean(by, VALUE_COLUMNS),
            hint="rank by one of " + ", ".join(VALUE_COLUMNS),
        )


def rank_rows(rows: list[ValueRow], by: str) -> list[ValueRow]:
    """``rows`` largest ``by`` first (nulls last, then by name)."""
    check_column(by)

    def key(row: ValueRow) -> tuple[bool, float, str]:
        value = getattr(row, by)
        return (value is None, -(value or 0.0), row.group)

    return sorted(rows, key=key)
