"""What a front end shows of a value fit: both models' parameters under their usual names."""

from __future__ import annotations

import math
from typing import Any

from microseg.core.results import Instant, Result
from microseg.value._fit import ValueFit

__all__ = ["FitReport", "ModelReport", "SpendReport", "fit_report"]


class ModelReport(Result):
    """One fitted model: estimates, standard errors, 95% intervals and diagnostics."""

    params: dict[str, float | None]
    standard_errors: dict[str, float | None]
    confidence_intervals: dict[str, tuple[float | None, float | None]]
    log_likelihood: float | None
    customers: int
    converged: bool
    seconds: float | None


class SpendReport(ModelReport):
    """The Gamma-Gamma spend model, which assumes spend and frequency independent."""

    spend_frequency_correlation: float | None


class FitReport(Result):
    """A value fit as shown (``microseg clv fit --json``): the purchase and spend models."""

    fit_id: int | None
    model: str
    unit: str
    as_of: Instant
    customers: int
    repeat_customers: int
    seconds: float
    purchase: ModelReport
    spend: SpendReport | None


def _number(value: float, digits: int = 4) -> float | None:
    return None if not math.isfinite(value) else round(value, digits)


def _model(m: Any) -> dict[str, Any]:
    errors = getattr(m, "standard_errors_", {}) or {}
    intervals = getattr(m, "confidence_intervals_", {}) or {}
    return {
        "params": {k: _number(float(v)) for k, v in m.params_.items()},
        "standard_errors": {k: _number(float(v)) for k, v in errors.items()},
        "confidence_intervals": {
            k: (_number(float(lo)), _number(float(hi))) for k, (lo, hi) in intervals.items()
        },
        "log_likelihood": _number(float(m.log_likelihood_), 3),
        "customers": int(m.n_customers_),
        "converged": bool(m.converged_),
        "seconds": _number(float(m.fit_seconds_), 3),
    }


def fit_report(fit: ValueFit) -> FitReport:
    """The parameters of both models under their usual names, with diagnostics."""
    spend = None
    if fit.spend is not None:
        correlation = _number(float(fit.spend.spend_frequency_correlation_))
        spend = SpendReport(**_model(fit.spend), spend_frequency_correlation=correlation)
    return FitReport(
        fit_id=fit.fit_id,
        model=fit.model,
        unit=fit.unit,
        as_of=fit.as_of,
        customers=fit.customers,
        repeat_customers=fit.repeat_customers,
        seconds=fit.seconds,
        purchase=ModelReport(**_model(fit.purchase)),
        spend=spend,
    )
