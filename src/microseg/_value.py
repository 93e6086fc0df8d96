"""The value half of the Workspace facade: fit, store, score and backtest value models."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import ibis
import pyarrow as pa

from microseg.config import WorkspaceConfig
from microseg.core.errors import WorkspaceError
from microseg.core.time import AsOf
from microseg.lang import Clock
from microseg.lang._expr import ModelExpr
from microseg.store import Store
from microseg.value._backtest import Backtest, backtest
from microseg.value._fit import ValueFit, fit_value, model_column
from microseg.value._summary import summary_table

__all__ = ["ValueMixin", "prediction_outputs"]


def prediction_outputs(horizon: str) -> list[ModelExpr]:
    """The outputs ``predict_value`` returns, for a horizon."""
    return [
        ModelExpr(model="p_alive"),
        ModelExpr(model="churn_risk"),
        ModelExpr(model="expected_purchases", horizon=horizon),
        ModelExpr(model="p_any_purchase", horizon=horizon),
        ModelExpr(model="expected_spend"),
        ModelExpr(model="clv", horizon=horizon),
    ]


class ValueMixin:
    """Methods of :class:`microseg.Workspace` for customer value (docs/value.md)."""

    config: WorkspaceConfig
    store: Store

    if TYPE_CHECKING:

        def events(self, as_of: AsOf | None = None) -> ibis.Table: ...

        def clock(self, as_of: AsOf | None = None) -> Clock: ...

        def now(self) -> Any: ...

    def value_summary(self, *, as_of: AsOf | None = None, unit: str | None = None) -> ibis.Table:
        """Frequency, recency, T and repeat spend of every buyer at ``as_of`` (lazy table)."""
        return summary_table(self.events(), self.clock(as_of), self.config.value, unit=unit)

    def fit_value(
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
        clock = self.clock(as_of)
        summary = summary_table(self.events(), clock, self.config.value, unit=unit).to_pyarrow()
        fit = fit_value(
            summary, as_of=clock.as_of, settings=self.config.value, model=model, unit=unit
        )
        if save:
            with self.store.transaction():
                fit.fit_id = self.store.save_value_fit(
                    fit.to_dict(),
                    as_of=clock.as_of,
                    fitted_at=self.now(),
                    model=fit.model,
                    unit=fit.unit,
                    customers=fit.customers,
                )
        return fit

    def value_fit(self, *, as_of: AsOf | None = None) -> ValueFit | None:
        """The stored fit that model traits use at ``as_of`` (None when there is none)."""
        return self._fit_at(None if as_of is None else self.clock(as_of).as_of)

    def _fit_at(self, moment: datetime | None) -> ValueFit | None:
        stored = self.store.latest_value_fit(moment)
        if stored is None:
            return None
        return ValueFit.from_dict(stored["fit"], fit_id=int(stored["fit_id"]))

    def require_value_fit(self, clock: Clock) -> ValueFit:
        fit = self._fit_at(clock.as_of)
        if fit is None:
            raise WorkspaceError(
                f"no value model fitted at or before {clock.as_of:%Y-%m-%d %H:%M} UTC",
                hint="run `microseg clv fit` (with --as-of no later than this evaluation)",
            )
        return fit

    def model_scores(self, clock: Clock, wanted: list[ModelExpr]) -> pa.Table:
        """customer_id and each wanted model output for every buyer at the clock's as_of."""
        fit = self.require_value_fit(clock)
        summary = summary_table(self.events(), clock, self.config.value, unit=fit.unit)
        return fit.score_table(summary.to_pyarrow(), wanted)

    def predict_value(self, *, as_of: AsOf | None = None, horizon: str | None = None) -> pa.Table:
        """Every buyer's summary and predictions at ``as_of`` with the stored fit.

        Columns: customer_id, frequency, recency, T, monetary_value, p_alive, churn_risk,
        expected_purchases, p_any_purchase, expected_spend and clv (over ``horizon``,
        default ``value.horizon_months`` months).
        """
        clock = self.clock(as_of)
        fit = self.require_value_fit(clock)
        horizon = horizon or f"{self.config.value.horizon_months} months"
        wanted = prediction_outputs(horizon)
        summary = summary_table(self.events(), clock, self.config.value, unit=fit.unit)
        table = summary.order_by("customer_id").to_pyarrow()
        scored = fit.score_table(table, wanted)
        columns = {
            name: table.column(name)
            for name in ("customer_id", "frequency", "recency", "T", "monetary_value")
        }
        for expr in wanted:
            columns[expr.model] = scored.column(model_column(expr))
        return pa.table(columns)

    def backtest_value(
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
            self.events(),
            self.clock(calibration_end),
            self.clock(holdout_end),
            self.config.value,
            model=model,
            unit=unit,
        )
