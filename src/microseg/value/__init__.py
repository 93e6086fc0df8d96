"""Customer value: buy-till-you-die models, lifetime value, churn risk (docs/value.md).

:class:`BGNBD` and :class:`ParetoNBD` model how often customers buy and when they stop;
:class:`GammaGamma` how much they spend per purchase; :func:`clv` combines the two into a
discounted value per customer and :func:`churn_risk` bands P(alive). Every model follows
the scikit-learn estimator contract (hyper-parameters in ``__init__``, ``fit`` returns the
model, fitted state ends in ``_``) and round-trips through ``to_dict``/``from_dict``.
"""

from microseg.value._backtest import Backtest, BacktestResult, backtest
from microseg.value._diagnostics import FIT_WARNING_CODES, FitWarning
from microseg.value._export import PREDICTION_FORMATS, PredictionFormat, write_predictions
from microseg.value._fit import ValueFit, model_column
from microseg.value._models import (
    BGNBD,
    DAYS_PER_MONTH,
    GammaGamma,
    ParetoNBD,
    PurchaseModel,
    RFMRows,
    churn_risk,
    clv,
    compress_rfm,
    score,
    simulate_bgnbd,
    simulate_gamma_gamma,
    simulate_pareto_nbd,
)
from microseg.value._plot import backtest_svg
from microseg.value._report import (
    FitReport,
    FitWarningResult,
    ModelReport,
    SpendReport,
    fit_report,
    warning_results,
)
from microseg.value._summary import Summary, profile_summary, summary_table, unit_days

__all__ = [
    "BGNBD",
    "DAYS_PER_MONTH",
    "FIT_WARNING_CODES",
    "PREDICTION_FORMATS",
    "Backtest",
    "BacktestResult",
    "FitReport",
    "FitWarning",
    "FitWarningResult",
    "GammaGamma",
    "ModelReport",
    "ParetoNBD",
    "PredictionFormat",
    "PurchaseModel",
    "RFMRows",
    "SpendReport",
    "Summary",
    "ValueFit",
    "backtest",
    "backtest_svg",
    "churn_risk",
    "clv",
    "compress_rfm",
    "fit_report",
    "model_column",
    "profile_summary",
    "score",
    "simulate_bgnbd",
    "simulate_gamma_gamma",
    "simulate_pareto_nbd",
    "summary_table",
    "unit_days",
    "warning_results",
    "write_predictions",
]
