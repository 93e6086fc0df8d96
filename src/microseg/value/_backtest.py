"""Backtest of a value model: fit on a calibration period, compare with a holdout period.

The customers are those with a purchase before the end of calibration. For each, the model
predicts the number of repeat purchase days in the holdout (conditional expectation given
their calibration summary); the actual number is counted from the events. The naive
baseline continues each customer's calibration rate (frequency / T) through the holdout.

Two tables give the data of the usual plots:

* ``tracking``: repeat purchase days per week over calibration and holdout, actual against
  the model's expectation for the cohort (each customer from their first purchase day);
* ``by_frequency``: mean holdout purchases per number of calibration repeat purchases,
  actual against the model and the baseline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa

from microseg.config import ValueSettings
from microseg.core.errors import ModelFitError, ParameterError
from microseg.core.results import Result
from microseg.lang import Clock
from microseg.value._fit import ValueFit, fit_value
from microseg.value._summary import purchase_orders, summary_table, unit_days

__all__ = ["Backtest", "BacktestResult", "backtest"]

FREQUENCY_GROUPS = 7  # 0 .. 6 and "7+"


@dataclass
class Backtest:
    """Predicted against actual repeat purchase days in a holdout period."""

    calibration_end: date
    holdout_end: date
    holdout_units: float
    unit: str
    fit: ValueFit
    customers: int
    total_actual: float
    total_predicted: float
    total_naive: float
    mae: float
    mae_naive: float
    rmse: float
    rmse_naive: float
    tracking: list[dict[str, Any]] = field(default_factory=list)
    by_frequency: list[dict[str, Any]] = field(default_factory=list)
    per_customer: pa.Table | None = None

    def to_result(self) -> BacktestResult:
        """What a front end shows of the backtest (``--json``, the API)."""
        return BacktestResult(
            calibration_end=self.calibration_end,
            holdout_end=self.holdout_end,
            holdout_length=round(self.holdout_units, 4),
            unit=self.unit,
            model=self.fit.model,
            params=self.fit.purchase.params_,
            customers=self.customers,
            total_actual=self.total_actual,
            total_predicted=round(self.total_predicted, 3),
            total_naive=round(self.total_naive, 3),
            mae=round(self.mae, 4),
            mae_naive=round(self.mae_naive, 4),
            rmse=round(self.rmse, 4),
            rmse_naive=round(self.rmse_naive, 4),
            tracking=self.tracking,
            by_frequency=self.by_frequency,
        )

    def to_dict(self) -> dict[str, Any]:
        return self.to_result().to_dict()


class BacktestResult(Result):
    """A backtest as shown: holdout purchases against the model's and a naive forecast,
    week by week (``tracking``) and by calibration frequency (``by_frequency``)."""

    calibration_end: date
    holdout_end: date
    holdout_length: float  # in model units
    unit: str
    model: str
    params: dict[str, float]
    customers: int
    total_actual: float
    total_predicted: float
    total_naive: float
    mae: float
    mae_naive: float
    rmse: float
    rmse_naive: float
    tracking: list[dict[str, Any]]
    by_frequency: list[dict[str, Any]]


def _purchase_days(events: ir.Table, settings: ValueSettings, zone: str) -> ir.Table:
    """Distinct (customer_id, local purchase day), an order on the day of its first line."""
    bought = events.filter(events.type == ibis.literal(settings.purchase_event))
    return purchase_orders(bought, zone).select("customer_id", "_day").distinct()


def backtest(
    events: ir.Table,
    calibration: Clock,
    holdout: Clock,
    settings: ValueSettings,
    *,
    model: str | None = None,
    unit: str | None = None,
) -> Backtest:
    """Fit at the end of ``calibration``, compare predictions with ``holdout``'s events."""
    unit = unit or settings.unit
    if holdout.as_of <= calibration.as_of:
        raise ParameterError(
            f"the holdout end ({holdout.today()}) must come after the calibration end "
            f"({calibration.today()})"
        )
    summary = summary_table(events, calibration, settings, unit=unit)
    calib = summary.to_pyarrow()
    if calib.num_rows < 2:
        raise ModelFitError(
            f"only {calib.num_rows} customer(s) bought before {calibration.today()}",
            hint="choose a later --calibration-end",
        )
    fit = fit_value(calib, as_of=calibration.as_of, settings=settings, model=model, unit=unit)
    per = unit_days(unit)
    length = (holdout.today() - calibration.today()).days / per

    days = _purchase_days(
        events.filter(events.timestamp < ibis.literal(holdout.as_of)), settings, holdout.timezone
    )
    in_holdout = days.filter(days._day > ibis.literal(calibration.today()))
    actual_counts = in_holdout.group_by("customer_id").aggregate(actual=in_holdout.count())
    joined = (
        summary.left_join(actual_counts, "customer_id")
        .drop("customer_id_right")
        .mutate(actual=ibis._.actual.fill_null(0))
        .order_by("customer_id")
        .to_pyarrow()
    )
    f, r, t = (
        joined.column(c).to_numpy(zero_copy_only=False).astype(np.float64)
        for c in ("frequency", "recency", "T")
    )
    actual = joined.column("actual").to_numpy(zero_copy_only=False).astype(np.float64)
    predicted = np.asarray(fit.purchase.expected_purchases(length, f, r, t), np.float64)
    rate = np.divide(f, t, out=np.zeros_like(f), where=t > 0)
    naive = rate * length

    groups = np.minimum(f, FREQUENCY_GROUPS).astype(np.int64)
    by_frequency = []
    for g in range(FREQUENCY_GROUPS + 1):
        chosen = groups == g
        n = int(chosen.sum())
        if n == 0:
            continue
        by_frequency.append(
            {
                "frequency": f"{g}+" if g == FREQUENCY_GROUPS else str(g),
                "customers": n,
                "actual": round(float(actual[chosen].mean()), 4),
                "predicted": round(float(predicted[chosen].mean()), 4),
                "naive": round(float(naive[chosen].mean()), 4),
            }
        )

    tracking = _tracking(summary, days, fit, calibration, holdout, per)
    per_customer = joined.select(["customer_id", "frequency", "recency", "T", "actual"])
    per_customer = per_customer.append_column("predicted", pa.array(predicted)).append_column(
        "naive", pa.array(naive)
    )
    return Backtest(
        calibration_end=calibration.today(),
        holdout_end=holdout.today(),
        holdout_units=length,
        unit=unit,
        fit=fit,
        customers=joined.num_rows,
        total_actual=float(actual.sum()),
        total_predicted=float(predicted.sum()),
        total_naive=float(naive.sum()),
        mae=float(np.abs(predicted - actual).mean()),
        mae_naive=float(np.abs(naive - actual).mean()),
        rmse=float(np.sqrt(((predicted - actual) ** 2).mean())),
        rmse_naive=float(np.sqrt(((naive - actual) ** 2).mean())),
        tracking=tracking,
        by_frequency=by_frequency,
        per_customer=per_customer,
    )


def _tracking(
    summary: ir.Table,
    days: ir.Table,
    fit: ValueFit,
    calibration: Clock,
    holdout: Clock,
    per: float,
) -> list[dict[str, Any]]:
    """Repeat purchase days per week: actual, and expected from each first purchase day."""
    cohort = summary.select("customer_id", "first_day")
    start: date = cohort.first_day.min().to_pyarrow().as_py()
    end = holdout.today()
    weeks = (end - start).days // 7 + 1
    repeat = days.inner_join(cohort, "customer_id")
    repeat = repeat.filter((repeat._day > repeat.first_day) & (repeat._day <= ibis.literal(end)))
    week = (repeat._day.delta(ibis.literal(start), unit="day") // 7).name("week")
    counted = repeat.group_by(week).aggregate(n=repeat.count()).to_pyarrow()
    actual = np.zeros(weeks)
    for w, n in zip(
        counted.column("week").to_pylist(), counted.column("n").to_pylist(), strict=True
    ):
        actual[int(w)] += n
    firsts = cohort.group_by("first_day").aggregate(n=cohort.count()).to_pyarrow()
    offsets = np.asarray([(d - start).days for d in firsts.column("first_day").to_pylist()], float)
    counts = np.asarray(firsts.column("n").to_pylist(), np.float64)
    # expected cumulative repeat purchases at the end of each week (day 7k + 7 from start)
    ends = np.minimum((np.arange(weeks) + 1) * 7.0, (end - start).days + 1.0)
    elapsed = np.clip(ends[:, None] - offsets[None, :] - 1.0, 0.0, None) / per
    cumulative = (
        np.asarray(fit.purchase.expected_purchases_new(elapsed.ravel()), np.float64).reshape(
            elapsed.shape
        )
        @ counts
    )
    expected = np.diff(np.concatenate([[0.0], cumulative]))
    calibration_week = (calibration.today() - start).days // 7
    return [
        {
            "week": int(w),
            "start": (start + timedelta(days=7 * w)).isoformat(),
            "period": "calibration" if w <= calibration_week else "holdout",
            "actual": int(actual[w]),
            "expected": round(float(expected[w]), 3),
        }
        for w in range(weeks)
    ]
