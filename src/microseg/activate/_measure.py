"""Measure a campaign: outcome events in a window after the send, treatment vs control.

Each audience member's outcome is read from the events: whether they had at least one
event of the outcome type in ``[sent_at, sent_at + window)`` (a converter), and the sum
of those events' amounts (revenue). The same over ``[sent_at - window, sent_at)`` is the
pre-period outcome CUPED adjusts with. The figures are :mod:`._uplift`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import ibis
import numpy as np
import numpy.typing as npt

from microseg.activate._uplift import (
    Comparison,
    CupedEstimate,
    MeanDifference,
    compare_means,
    compare_rates,
    cuped,
)
from microseg.core.results import Instant, Result
from microseg.store import CampaignRepository, Store

__all__ = ["CampaignMeasurement", "GroupFigures", "Outcomes", "SliceMeasurement", "outcomes"]

Bools = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float64]

#: the level of every interval and of the verdict's test
LEVEL = 0.95


@dataclass(frozen=True)
class Outcomes:
    """Per audience member (sorted by id): side, outcome after and before the send."""

    customer_ids: list[str]
    treated: Bools
    converted: Floats
    revenue: Floats
    pre_converted: Floats
    pre_revenue: Floats
    has_amounts: bool

    def subset(self, keep: Bools) -> Outcomes:
        return Outcomes(
            [c for c, k in zip(self.customer_ids, keep.tolist(), strict=True) if k],
            self.treated[keep],
            self.converted[keep],
            self.revenue[keep],
            self.pre_converted[keep],
            self.pre_revenue[keep],
            self.has_amounts,
        )


def _per_customer(events: ibis.Table, start: datetime, end: datetime) -> ibis.Table:
    inside = events.filter((events.timestamp >= start) & (events.timestamp < end))
    return inside.group_by("customer_id").aggregate(
        n=inside.count(), amount=inside.amount.sum().fill_null(0.0)
    )


def outcomes(
    store: Store, name: str, outcome: str, sent_at: datetime, window: timedelta
) -> Outcomes:
    """Every audience member's outcome after and before the send of campaign ``name``."""
    events = store.table("events")
    events = events.filter(events.type == outcome)
    post = _per_customer(events, sent_at, sent_at + window).rename(post_n="n", post_amount="amount")
    pre = _per_customer(events, sent_at - window, sent_at).rename(pre_n="n", pre_amount="amount")
    members = CampaignRepository(store).assignments(name)
    joined = members.left_join(post, "customer_id").select(members, "post_n", "post_amount")
    joined = joined.left_join(pre, "customer_id").select(joined, "pre_n", "pre_amount")
    rows = joined.order_by("customer_id").to_pyarrow()

    def column(key: str) -> Floats:
        values = rows.column(key).to_numpy(zero_copy_only=False)
        filled: Floats = np.nan_to_num(np.asarray(values, dtype=float), nan=0.0)
        return filled

    amounts = events.filter(events.amount.notnull() & (events.amount != 0)).count()
    return Outcomes(
        customer_ids=[str(c) for c in rows.column("customer_id").to_pylist()],
        treated=np.asarray(
            [g == "treatment" for g in rows.column("group").to_pylist()], dtype=bool
        ),
        converted=(column("post_n") > 0).astype(float),
        revenue=column("post_amount"),
        pre_converted=(column("pre_n") > 0).astype(float),
        pre_revenue=column("pre_amount"),
        has_amounts=bool(amounts.to_pyarrow().as_py()),
    )


class GroupFigures(Result):
    """One side of a campaign: members, converters, their rate, revenue per member."""

    members: int
    converters: int
    rate: float | None
    revenue_per_member: float | None


class SliceMeasurement(Result):
    """The campaign's figures over its whole audience or one part of it."""

    slice: str
    kind: str  # campaign, segment or cell
    treatment: GroupFigures
    control: GroupFigures
    conversion: Comparison
    revenue: MeanDifference | None
    cuped_conversion: CupedEstimate | None
    cuped_revenue: CupedEstimate | None
    significant: bool
    verdict: str


class CampaignMeasurement(Result):
    """``microseg campaign measure``: the campaign's uplift, whole and by part."""

    name: str
    outcome: str
    window: str
    sent_at: Instant
    window_end: Instant
    #: False while the window has not ended (outcomes may still arrive)
    window_complete: bool
    pre_period_start: Instant
    level: float
    slices: list[SliceMeasurement]
    notes: list[str]


def _group(data: Outcomes, side: Bools) -> GroupFigures:
    n = int(side.sum())
    converters = int(data.converted[side].sum())
    return GroupFigures(
        members=n,
        converters=converters,
        rate=converters / n if n else None,
        revenue_per_member=float(data.revenue[side].mean()) if n and data.has_amounts else None,
    )


def _points(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:+.2f} pts"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:+.1f}%"


def _p_text(p: float | None) -> str:
    if p is None:
        return "no test"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def verdict(treatment: GroupFigures, control: GroupFigures, conversion: Comparison) -> str:
    """In plain words: what the comparison shows, or why it cannot tell."""
    if not treatment.members or not control.members:
        empty = "treatment" if not treatment.members else "control"
        return f"Nothing to compare: the {empty} group has no members."
    low, high = conversion.absolute_interval
    p = conversion.p_value
    if p is not None and p < 1 - LEVEL and low is not None and high is not None:
        direction = "higher" if (conversion.absolute_uplift or 0) > 0 else "lower"
        r_low, r_high = conversion.relative_interval
        return (
            f"The treated converted at a {direction} rate: {_points(conversion.absolute_uplift)}"
            f" (95% interval {_points(low)} to {_points(high)}), relative "
            f"{_percent(conversion.relative_uplift)} ({_percent(r_low)} to {_percent(r_high)}),"
            f" {_p_text(p)}."
        )
    needed = conversion.needed_per_group
    sizes = f"{treatment.members:,} treated and {control.members:,} in control"
    if needed is None:
        return f"Too small to tell: both groups converted at the same rate ({sizes})."
    return (
        f"Too small to tell: the observed difference of {_points(conversion.absolute_uplift)}"
        f" is within the noise ({_p_text(p)}); detecting a difference this size 80% of the "
        f"time at the 5% level needs about {needed:,} members per group ({sizes})."
    )


def measure_slice(data: Outcomes, label: str, kind: str, *, with_cuped: bool) -> SliceMeasurement:
    """The figures of one slice of the audience."""
    t, c = data.treated, ~data.treated
    treatment, control = _group(data, t), _group(data, c)
    conversion = compare_rates(
        treatment.converters, treatment.members, control.converters, control.members, LEVEL
    )
    revenue = compare_means(data.revenue[t], data.revenue[c], LEVEL) if data.has_amounts else None
    enough = treatment.members > 1 and control.members > 1
    return SliceMeasurement(
        slice=label,
        kind=kind,
        treatment=treatment,
        control=control,
        conversion=conversion,
        revenue=revenue,
        cuped_conversion=(
            cuped(data.converted, data.pre_converted, t, LEVEL) if with_cuped and enough else None
        ),
        cuped_revenue=(
            cuped(data.revenue, data.pre_revenue, t, LEVEL)
            if with_cuped and enough and data.has_amounts
            else None
        ),
        significant=bool(conversion.p_value is not None and conversion.p_value < 1 - LEVEL),
        verdict=verdict(treatment, control, conversion),
    )


def slice_by(data: Outcomes, members: set[str]) -> Outcomes:
    keep = np.asarray([c in members for c in data.customer_ids], dtype=bool)
    return data.subset(keep)


def cells_of(data: Outcomes, cells: dict[str, str]) -> list[tuple[str, Outcomes]]:
    """The audience split by grid cell (``cells``: customer id -> cell), cells sorted."""
    labels = np.asarray([cells.get(c, "") for c in data.customer_ids], dtype=object)
    found = sorted({str(x) for x in labels.tolist() if x})
    return [(cell, data.subset(labels == cell)) for cell in found]
