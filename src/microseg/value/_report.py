"""What a front end shows of a value fit: both models' parameters under their usual names."""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field

from microseg.core.results import Instant, Result
from microseg.value._diagnostics import FitWarning
from microseg.value._fit import ValueFit

__all__ = [
    "FitReport",
    "FitWarningResult",
    "ModelReport",
    "SpendReport",
    "fit_report",
    "warning_results",
]


class FitWarningResult(Result):
    """A reason to doubt a fit (:class:`microseg.value.FitWarning`) as shown."""

    code: str
    message: str
    hint: str
    params: list[str]


class ModelReport(Result):
    """One fitted model: estimates (full precision), standard errors, 95% intervals,
    diagnostics and the fit's warnings."""

    params: dict[str, float | None]
    standard_errors: dict[str, float | None]
    confidence_intervals: dict[str, tuple[float | None, float | None]]
    log_likelihood: float | None
    customers: int
    converged: bool
    seconds: float | None
    warnings: list[FitWarningResult] = Field(default_factory=list)


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
    #: the warnings of both models, purchase model first
    warnings: list[FitWarningResult] = Field(default_factory=list)


def _number(value: float, digits: int = 4) -> float | None:
    return None if not math.isfinite(value) else round(value, digits)


def _exact(value: float) -> float | None:
    return None if not math.isfinite(value) else value


def warning_results(warnings: list[FitWarning]) -> list[FitWarningResult]:
    """Fit warnings as results (for ``--json``)."""
    return [FitWarningResult.model_validate(w.to_dict()) for w in warnings]


def _model(m: Any) -> dict[str, Any]:
    errors = getattr(m, "standard_errors_", {}) or {}
    intervals = getattr(m, "confidence_intervals_", {}) or {}
    return {
        "params": {k: _exact(float(v)) for k, v in m.params_.items()},
        "standard_errors": {k: _exact(float(v)) for k, v in errors.items()},
        "confidence_intervals": {
            k: (_exact(float(lo)), _exact(float(hi))) for k, (lo, hi) in intervals.items()
        },
        "log_likelihood": _exact(float(m.log_likelihood_)),
        "customers": int(m.n_customers_),
        "converged": bool(m.converged_),
        "seconds": _number(float(m.fit_seconds_), 3),
        "warnings": warning_results(list(getattr(m, "warnings_", []))),
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
        warnings=warning_results(fit.warnings()),
    )
