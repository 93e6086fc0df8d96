"""A workspace's value models: fitting them on the summary, storing them, scoring with them.

A :class:`ValueFit` is a purchase model (BG/NBD or Pareto/NBD) and a Gamma-Gamma spend model
fitted together on the summary at a calibration instant. It is stored in the workspace as
JSON, so one customer can be scored later from their own events with no database query;
the batch path scores every buyer at once with the same vectorised formulas.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from microseg.config import ValueSettings
from microseg.core.duration import parse_duration
from microseg.core.errors import ModelFitError, ValueModelError
from microseg.lang import ModelExpr
from microseg.value._diagnostics import FitWarning
from microseg.value._models import BGNBD, DAYS_PER_MONTH, GammaGamma, ParetoNBD, churn_risk, clv
from microseg.value._summary import Summary, unit_days

__all__ = ["PURCHASE_MODELS", "ValueFit", "fit_value", "model_column"]

PURCHASE_MODELS: dict[str, type[BGNBD] | type[ParetoNBD]] = {
    "bgnbd": BGNBD,
    "pareto-nbd": ParetoNBD,
}

Array = npt.NDArray[np.float64]


def model_column(expr: ModelExpr) -> str:
    """The column name of one model output in batch tables."""
    return expr.column


@dataclass
class ValueFit:
    """A fitted purchase model and spend model, with the set-up they were fitted in."""

    purchase: BGNBD | ParetoNBD
    spend: GammaGamma | None
    model: str
    unit: str
    as_of: datetime
    customers: int
    repeat_customers: int
    seconds: float
    settings: ValueSettings
    fit_id: int | None = None

    def warnings(self) -> list[FitWarning]:
        """The purchase model's warnings, then the spend model's (empty: nothing to doubt)."""
        spend = self.spend.warnings_ if self.spend is not None else []
        return [*self.purchase.warnings_, *spend]

    # -- storage -------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "unit": self.unit,
            "as_of": self.as_of.isoformat(),
            "customers": self.customers,
            "repeat_customers": self.repeat_customers,
            "seconds": self.seconds,
            "purchase": self.purchase.to_dict(),
            "spend": self.spend.to_dict() if self.spend is not None else None,
            "settings": self.settings.model_dump(mode="json"),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, fit_id: int | None = None) -> ValueFit:
        purchase_cls = PURCHASE_MODELS[str(data["model"])]
        spend = data.get("spend")
        return cls(
            purchase=purchase_cls.from_dict(data["purchase"]),
            spend=GammaGamma.from_dict(spend) if spend else None,
            model=str(data["model"]),
            unit=str(data["unit"]),
            as_of=datetime.fromisoformat(str(data["as_of"])),
            customers=int(data["customers"]),
            repeat_customers=int(data["repeat_customers"]),
            seconds=float(data["seconds"]),
            settings=ValueSettings.model_validate(data["settings"]),
            fit_id=fit_id,
        )

    # -- scoring -------------------------------------------------------------------------------

    def horizon_units(self, horizon: str) -> float:
        """A horizon (``90 days``, ``12 months``) in the model's time unit."""
        days = parse_duration(horizon).approx_timedelta().total_seconds() / 86400.0
        return days / unit_days(self.unit)

    def outputs(
        self,
        frequency: Array,
        recency: Array,
        T: Array,
        monetary_value: Array,
        wanted: Sequence[ModelExpr],
    ) -> dict[str, npt.NDArray[Any]]:
        """Every wanted output for arrays of summaries, keyed by :func:`model_column`."""
        out: dict[str, npt.NDArray[Any]] = {}
        alive: Array | None = None
        for expr in wanted:
            column = model_column(expr)
            if column in out:
                continue
            if expr.model in ("p_alive", "churn_risk"):
                if alive is None:
                    alive = np.asarray(self.purchase.p_alive(frequency, recency, T), np.float64)
                out[column] = (
                    alive
                    if expr.model == "p_alive"
                    else np.asarray(churn_risk(alive, self.settings.churn_thresholds))
                )
            elif expr.model == "expected_purchases":
                t = self.horizon_units(str(expr.horizon))
                out[column] = np.asarray(
                    self.purchase.expected_purchases(t, frequency, recency, T), np.float64
                )
            elif expr.model == "p_any_purchase":
                t = self.horizon_units(str(expr.horizon))
                out[column] = np.asarray(
                    self.purchase.p_any_purchase(t, frequency, recency, T), np.float64
                )
            elif expr.model == "expected_spend":
                out[column] = self._spend(frequency, monetary_value)
            elif expr.model == "clv":
                out[column] = self._clv(frequency, recency, T, monetary_value, expr.horizon)
        return out

    def profile_output(self, expr: ModelExpr, summary: Summary | None) -> Any:
        """One output for one customer's summary (None without a purchase)."""
        if summary is None:
            return None
        f, r, t, m = (
            np.asarray([v], np.float64)
            for v in (summary.frequency, summary.recency, summary.T, summary.monetary_value)
        )
        value = self.outputs(f, r, t, m, [expr])[model_column(expr)][0]
        if expr.model == "churn_risk":
            return str(value)
        return None if np.isnan(value) else float(value)

    def _spend(self, frequency: Array, monetary_value: Array) -> Array:
        ok = self._spendable(frequency)
        out = np.full(frequency.shape, np.nan)
        if self.spend is not None and ok.any():
            out[ok] = self.spend.expected_spend(frequency[ok], np.clip(monetary_value[ok], 0, None))
        return out

    def _spendable(self, frequency: Array) -> npt.NDArray[np.bool_]:
        """Rows whose expected spend is finite (Gamma-Gamma with q <= 1 has no mean)."""
        if self.spend is None:
            return np.zeros(frequency.shape, dtype=bool)
        p, q = float(self.spend.params_["p"]), float(self.spend.params_["q"])
        return np.asarray(p * frequency + q - 1.0 > 0)

    def _clv(
        self,
        frequency: Array,
        recency: Array,
        T: Array,
        monetary_value: Array,
        horizon: str | None,
    ) -> Array:
        out = np.full(frequency.shape, np.nan)
        ok = self._spendable(frequency)
        if self.spend is None or not ok.any():
            return out
        if horizon is None:
            months = self.settings.horizon_months
        else:
            days = parse_duration(horizon).approx_timedelta().total_seconds() / 86400.0
            months = max(1, round(days / DAYS_PER_MONTH))
        out[ok] = np.asarray(
            clv(
                self.purchase,
                self.spend,
                frequency[ok],
                recency[ok],
                T[ok],
                np.clip(monetary_value[ok], 0, None),
                horizon_months=months,
                monthly_discount_rate=self.settings.monthly_discount_rate,
                unit_days=unit_days(self.unit),
            ),
            np.float64,
        )
        return out

    def score_table(self, summary: pa.Table, wanted: Sequence[ModelExpr]) -> pa.Table:
        """customer_id and every wanted output, for a summary table from the store."""
        columns = {
            name: summary.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
            for name in ("frequency", "recency", "T", "monetary_value")
        }
        outputs = self.outputs(
            columns["frequency"],
            columns["recency"],
            columns["T"],
            columns["monetary_value"],
            wanted,
        )
        columns = {
            name: pa.array(values, mask=np.isnan(values))
            if values.dtype.kind == "f"
            else pa.array(values)
            for name, values in outputs.items()
        }  # a value that cannot be computed is missing (null), as in the per-profile path
        return pa.table({"customer_id": summary.column("customer_id"), **columns})


def fit_value(
    summary: pa.Table,
    *,
    as_of: datetime,
    settings: ValueSettings,
    model: str | None = None,
    unit: str | None = None,
) -> ValueFit:
    """Fit the purchase model and Gamma-Gamma on a summary table (see summary_table)."""
    model = model or settings.model
    unit = unit or settings.unit
    if model not in PURCHASE_MODELS:
        raise ValueModelError(f"unknown model {model!r}: use one of {', '.join(PURCHASE_MODELS)}")
    if summary.num_rows < 2:
        raise ModelFitError(
            f"only {summary.num_rows} customer(s) with a purchase before {as_of:%Y-%m-%d}",
            hint="ingest purchase events, or choose a later --as-of",
        )
    started = time.perf_counter()
    f, r, t, m = (
        summary.column(c).to_numpy(zero_copy_only=False).astype(np.float64)
        for c in ("frequency", "recency", "T", "monetary_value")
    )
    purchase = PURCHASE_MODELS[model](penalizer=settings.penalizer).fit(f, r, t)
    repeat = (f > 0) & (m > 0)
    spend = (
        GammaGamma(penalizer=settings.penalizer).fit(f[repeat], m[repeat])
        if (int(repeat.sum()) >= 2)
        else None
    )
    return ValueFit(
        purchase=purchase,
        spend=spend,
        model=model,
        unit=unit,
        as_of=as_of,
        customers=summary.num_rows,
        repeat_customers=int(repeat.sum()),
        seconds=round(time.perf_counter() - started, 3),
        settings=settings.model_copy(update={"model": model, "unit": unit}),
    )
