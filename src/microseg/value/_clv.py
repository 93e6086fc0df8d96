"""Customer lifetime value, batch scoring of every output, and churn-risk bands."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from microseg.core.errors import ValueModelError
from microseg.value._base import FloatArray, Pairs, as_float_array, pairs
from microseg.value._bgnbd import BGNBD, _horizon, _rfm
from microseg.value._gammagamma import GammaGamma
from microseg.value._pareto import ParetoNBD

#: Average days in a month (365.25 / 12).
DAYS_PER_MONTH = 365.25 / 12

#: The purchase models :func:`clv` and :func:`score` work with.
PurchaseModel = BGNBD | ParetoNBD


def clv(  # noqa: PLR0913 - the two models, the summary's four columns, then settings (keyword-only)
    purchase_model: PurchaseModel,
    spend_model: GammaGamma,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    monetary_value: ArrayLike,
    *,
    horizon_months: int = 12,
    monthly_discount_rate: float = 0.01,
    unit_days: float = 7.0,
) -> FloatArray:
    r"""Discounted expected value of each customer over the next ``horizon_months``.

    .. math::

        \text{CLV} = E[\text{spend}] \sum_{m=1}^{H}
            \frac{E[X(T, T+t_m)] - E[X(T, T+t_{m-1})]}{(1+d)^m},
        \quad t_m = m \cdot \frac{365.25/12}{\text{unit\_days}},

    as lifetimes' ``customer_lifetime_value`` but vectorised: the expected purchases are
    P(alive) times an expectation that depends only on (frequency, T), computed once per
    distinct pair.

    Parameters
    ----------
    purchase_model, spend_model:
        Fitted models; the purchase model in the time unit ``unit_days`` (7 for weeks,
        1 for days).
    frequency, recency, T, monetary_value:
        Each customer's summary, as used to fit the models.
    horizon_months:
        Months to sum over.
    monthly_discount_rate:
        Discount rate per month, d above.
    unit_days:
        Days in the purchase model's time unit.
    """
    scores = score(
        purchase_model,
        spend_model,
        frequency,
        recency,
        T,
        monetary_value,
        outputs=("clv",),
        horizon_months=horizon_months,
        monthly_discount_rate=monthly_discount_rate,
        unit_days=unit_days,
    )
    return scores["clv"]


#: What :func:`score` can compute.
OUTPUTS = ("p_alive", "expected_purchases", "p_any_purchase", "expected_spend", "clv")


def score(  # noqa: PLR0913 - the two models, the summary's four columns, then settings (keyword-only)
    purchase_model: PurchaseModel,
    spend_model: GammaGamma | None,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    monetary_value: ArrayLike | None = None,
    *,
    t: float = 52.0,
    outputs: tuple[str, ...] = OUTPUTS,
    horizon_months: int = 12,
    monthly_discount_rate: float = 0.01,
    unit_days: float = 7.0,
) -> dict[str, FloatArray]:
    """Every output for a batch of customers, sharing the work between them.

    Inputs are checked once, P(alive) is computed once, and whatever depends on a customer
    only through (frequency, T) once per distinct pair; each output equals the model method
    of the same name (``t`` is the horizon of ``expected_purchases`` and
    ``p_any_purchase``; the ``clv`` options are those of :func:`clv`).
    """
    unknown = set(outputs) - set(OUTPUTS)
    if unknown:
        raise ValueModelError(f"unknown outputs {sorted(unknown)}: choose from {list(OUTPUTS)}")
    needs_spend = {"expected_spend", "clv"} & set(outputs)
    if needs_spend and (spend_model is None or monetary_value is None):
        raise ValueModelError(f"{sorted(needs_spend)} need a spend model and monetary_value")
    if not (isinstance(horizon_months, int) and horizon_months >= 1):
        raise ValueModelError(f"horizon_months must be an int >= 1, got {horizon_months!r}")
    if not monthly_discount_rate > -1:
        raise ValueModelError(f"monthly_discount_rate must be > -1, got {monthly_discount_rate!r}")
    if not unit_days > 0:
        raise ValueModelError(f"unit_days must be > 0, got {unit_days!r}")
    horizon = float(_horizon(t))
    x, tx, big_t = _rfm(frequency, recency, T)
    shape = x.shape
    x, tx, big_t = x.ravel(), tx.ravel(), big_t.ravel()
    at_t = pairs(x, big_t)
    alive = purchase_model._p_alive(x, tx, big_t, at_t)
    out: dict[str, FloatArray] = {}
    if "p_alive" in outputs:
        out["p_alive"] = alive
    if "expected_purchases" in outputs:
        given = purchase_model.expected_given_alive(np.full(at_t.x.size, horizon), at_t.x, at_t.t)
        out["expected_purchases"] = alive * given[at_t.inverse]
    if "p_any_purchase" in outputs:
        chance = purchase_model.p_any_given_alive(np.full(x.size, horizon), x, big_t, at_t)
        out["p_any_purchase"] = alive * chance
    if needs_spend:
        assert spend_model is not None
        assert monetary_value is not None
        m = np.broadcast_to(as_float_array("monetary_value", monetary_value), shape).ravel()
        spend = spend_model.expected_spend(x, m)
        if "expected_spend" in outputs:
            out["expected_spend"] = spend
        if "clv" in outputs:
            value = _discounted_purchases(
                purchase_model, at_t, horizon_months, monthly_discount_rate, unit_days
            )
            out["clv"] = spend * alive * value[at_t.inverse]
    return {name: np.asarray(v, dtype=np.float64).reshape(shape) for name, v in out.items()}


def _discounted_purchases(
    model: PurchaseModel, at_t: Pairs, months: int, rate: float, unit_days: float
) -> FloatArray:
    """Per (x, T) pair: sum over months of the month's expected purchases if alive,
    discounted."""
    step = DAYS_PER_MONTH / unit_days
    value = np.zeros(at_t.x.size)
    previous = np.zeros(at_t.x.size)
    for month in range(1, months + 1):
        times = np.full(at_t.x.size, month * step)
        current = model.expected_given_alive(times, at_t.x, at_t.t)
        value += (current - previous) / (1.0 + rate) ** month
        previous = current
    return value


def churn_risk(
    p_alive: ArrayLike, thresholds: tuple[float, float] = (0.3, 0.7)
) -> NDArray[np.str_]:
    """Churn-risk bands from P(alive): ``"high"`` below the first threshold, ``"medium"``
    below the second, ``"low"`` otherwise.

    The default cut points (0.3, 0.7) are conventions, not estimates: set them from the
    business's own retention targets, or from quantiles of P(alive).

    Examples
    --------
    >>> churn_risk([0.1, 0.5, 0.9]).tolist()
    ['high', 'medium', 'low']
    """
    low, high = thresholds
    if not 0 <= low <= high <= 1:
        raise ValueModelError(f"thresholds must satisfy 0 <= low <= high <= 1, got {thresholds!r}")
    values = as_float_array("p_alive", p_alive)
    bad = (values < 0) | (values > 1)
    if bad.any():
        where = f"row {int(np.argmax(bad))}" if values.ndim else "the value"
        raise ValueModelError(
            f"p_alive must be in [0, 1]; {where} is {values.flat[np.argmax(bad)]}"
        )
    return np.where(values < low, "high", np.where(values < high, "medium", "low"))
