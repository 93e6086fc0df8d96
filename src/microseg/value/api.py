"""``ws.value``: summaries, fitting, stored fits, predictions and backtests (docs/value.md).

Also the profile's model provider: the value-model outputs (``p_alive``, ``clv``...) that
traits read, scored with the fit that applies at an evaluation's ``as_of``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import ibis
import pyarrow as pa

from microseg.context import Context
from microseg.core.duration import parse_duration
from microseg.core.errors import WorkspaceError
from microseg.core.time import AsOf
from microseg.lang import Clock, ModelExpr
from microseg.lang.profile import ModelScorer
from microseg.profile import ProfileAssembler
from microseg.value._backtest import Backtest, backtest
from microseg.value._diagnostics import FitWarning
from microseg.value._fit import ValueFit, fit_value, model_column
from microseg.value._summary import Summary, profile_summary, summary_table

__all__ = ["ModelColumns", "Value", "prediction_outputs"]


def prediction_outputs(horizon: str) -> list[ModelExpr]:
    """The outputs :meth:`Value.predict` returns, for a horizon (a :class:`DurationError`
    when it is not a duration, before any model output is built from it)."""
    parse_duration(horizon)
    return [
        ModelExpr(model="p_alive"),
        ModelExpr(model="churn_risk"),
        ModelExpr(model="expected_purchases", horizon=horizon),
        ModelExpr(model="p_any_purchase", horizon=horizon),
        ModelExpr(model="expected_spend"),
        ModelExpr(model="clv", horizon=horizon),
    ]


class Value:
    """Customer value: ``ws.value``."""

    def __init__(self, context: Context, profile: ProfileAssembler) -> None:
        self._context = context
        self._profile = profile

    def summary(self, *, as_of: AsOf | None = None, unit: str | None = None) -> ibis.Table:
        """Frequency, recency, T and repeat spend of every buyer at ``as_of`` (lazy table)."""
        return summary_table(
            self._profile.events(),
            self._context.clock(as_of),
            self._context.config.value,
            unit=unit,
        )

    def fit(
        self,
        *,
        model: str | None = None,
        as_of: AsOf | None = None,
        unit: str | None = None,
        save: bool = True,
    ) -> ValueFit:
        """Fit the purchase model (``value.model``) and Gamma-Gamma on the summary at ``as_of``.

        The fit is stored with its calibration instant; model traits (``p_alive``,
        ``clv_12m``, ...) use the latest fit calibrated at or before their own ``as_of``.
        """
        context = self._context
        clock = context.clock(as_of)
        settings = context.config.value
        summary = summary_table(self._profile.events(), clock, settings, unit=unit).to_pyarrow()
        fit = fit_value(summary, as_of=clock.as_of, settings=settings, model=model, unit=unit)
        if save:
            with context.store.transaction():
                fit.fit_id = context.store.save_value_fit(
                    fit.to_dict(),
                    as_of=clock.as_of,
                    fitted_at=context.now(),
                    model=fit.model,
                    unit=fit.unit,
                    customers=fit.customers,
                )
        return fit

    def latest_fit(self, *, as_of: AsOf | None = None) -> ValueFit | None:
        """The stored fit that model traits use at ``as_of`` (None when there is none)."""
        return self._fit_at(None if as_of is None else self._context.clock(as_of).as_of)

    def _fit_at(self, moment: datetime | None) -> ValueFit | None:
        stored = self._context.store.latest_value_fit(moment)
        if stored is None:
            return None
        return ValueFit.from_dict(stored["fit"], fit_id=int(stored["fit_id"]))

    def _require_fit(self, clock: Clock) -> ValueFit:
        fit = self._fit_at(clock.as_of)
        if fit is None:
            raise WorkspaceError(
                f"no value model fitted at or before {clock.as_of:%Y-%m-%d %H:%M} UTC",
                hint="run `microseg clv fit` (with --as-of no later than this evaluation)",
            )
        return fit

    def predict(self, *, as_of: AsOf | None = None, horizon: str | None = None) -> pa.Table:
        """Every buyer's summary and predictions at ``as_of`` with the stored fit.

        Columns: customer_id, frequency, recency, T, monetary_value, p_alive, churn_risk,
        expected_purchases, p_any_purchase, expected_spend and clv (over ``horizon``,
        default ``value.horizon_months`` months). The schema's metadata carries the fit's
        id (``microseg.fit_id``) and its warnings as JSON (``microseg.fit_warnings``).
        """
        context = self._context
        clock = context.clock(as_of)
        fit = self._require_fit(clock)
        horizon = horizon or f"{context.config.value.horizon_months} months"
        wanted = prediction_outputs(horizon)
        summary = summary_table(self._profile.events(), clock, context.config.value, unit=fit.unit)
        table = summary.order_by("customer_id").to_pyarrow()
        scored = fit.score_table(table, wanted)
        columns = {
            name: table.column(name)
            for name in ("customer_id", "frequency", "recency", "T", "monetary_value")
        }
        for expr in wanted:
            columns[expr.model] = scored.column(model_column(expr))
        # the fit's warnings travel with its predictions (empty list: nothing to doubt)
        warnings = json.dumps([w.to_dict() for w in fit.warnings()])
        return pa.table(columns).replace_schema_metadata(
            {"microseg.fit_id": str(fit.fit_id), "microseg.fit_warnings": warnings}
        )

    def fit_warnings(self, *, as_of: AsOf | None = None) -> list[FitWarning]:
        """The warnings of the fit that value-model traits use at ``as_of`` (empty when
        there is no fit, or nothing to doubt)."""
        fit = self.latest_fit(as_of=as_of)
        return [] if fit is None else fit.warnings()

    def backtest(
        self,
        *,
        calibration_end: AsOf,
        holdout_end: AsOf,
        model: str | None = None,
        unit: str | None = None,
    ) -> Backtest:
        """Fit at ``calibration_end`` and compare predicted with actual purchases until
        ``holdout_end`` (bare dates: the end of that day). Nothing is stored."""
        return backtest(
            self._profile.events(),
            self._context.clock(calibration_end),
            self._context.clock(holdout_end),
            self._context.config.value,
            model=model,
            unit=unit,
        )

    def provider(self) -> ModelColumns:
        """The profile's model provider backed by this namespace's stored fits."""
        return ModelColumns(self)


class ModelColumns:
    """Value-model outputs for the profile, scored with the fit that applies at ``as_of``."""

    def __init__(self, value: Value) -> None:
        self._value = value

    def available(self, moment: datetime | None) -> bool:
        return self._value._context.store.latest_value_fit(moment) is not None

    def scores(self, clock: Clock, wanted: Sequence[ModelExpr]) -> pa.Table:
        """customer_id and each wanted model output for every buyer at the clock's as_of."""
        value = self._value
        fit = value._require_fit(clock)
        summary = summary_table(
            value._profile.events(), clock, value._context.config.value, unit=fit.unit
        )
        return fit.score_table(summary.to_pyarrow(), list(wanted))

    def scorer(self, clock: Clock) -> ModelScorer | None:
        """The per-profile twin of :meth:`scores` (no database query per call)."""
        if not self.available(clock.as_of):
            return None
        fit = self._value._require_fit(clock)
        settings = self._value._context.config.value
        summaries: dict[int, Summary | None] = {}

        def score(expr: ModelExpr, events: Sequence[Any], at: Clock) -> Any:
            key = id(events)
            if key not in summaries:
                summaries[key] = profile_summary(events, at, settings, unit=fit.unit)
            return fit.profile_output(expr, summaries[key])

        return score
