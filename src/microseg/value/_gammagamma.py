r"""The Gamma-Gamma model of spend per transaction (Fader, Hardie & Lee 2005, "RFM and CLV";
Fader & Hardie 2013, "The Gamma-Gamma model of monetary value").

A customer's transactions are :math:`\text{Gamma}(p, \nu)` with a customer-level rate
:math:`\nu \sim \text{Gamma}(q, \gamma)`, so the mean :math:`m_x` of ``x`` transactions has
density

.. math::

    f(m_x | p, q, \gamma, x) = \frac{\Gamma(px+q)}{\Gamma(px)\Gamma(q)}
        \frac{\gamma^q\, m_x^{px-1}\, x^{px}}{(\gamma + m_x x)^{px+q}} .

The model assumes spend per transaction is independent of how often a customer buys; the
fit measures the correlation between frequency and mean spend and says when it is not
small.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import digamma, gammaln

from microseg.core.errors import ValueModelError
from microseg.value._base import (
    FloatArray,
    ValueModel,
    as_float_array,
    check_integer,
    check_non_negative,
    distinct_rows,
    same_length,
    weighted_sums,
)

#: |correlation| between frequency and mean spend above which the fit says so.
CORRELATION_LIMIT = 0.3


class GammaGamma(ValueModel):
    """Gamma-Gamma model of the average transaction value of repeat customers.

    Parameters
    ----------
    penalizer:
        L2 penalty on the log-parameters (0: plain maximum likelihood).
    tol:
        Gradient tolerance of the optimiser on the average log-likelihood.
    max_iter:
        Most optimiser iterations.

    Attributes
    ----------
    params_:
        ``{"p", "q", "gamma"}``; the population mean spend is ``p * gamma / (q - 1)``.
    spend_frequency_correlation_:
        Pearson correlation between frequency and mean spend over the fitted customers.
    independence_warning_:
        A sentence when ``|correlation| > 0.3`` (the model's independence assumption is
        doubtful), else ``None``. Never emitted as a Python warning.
    standard_errors_, confidence_intervals_, log_likelihood_, n_customers_, converged_,
    n_iter_, fit_seconds_:
        As for :class:`BGNBD`.
    """

    param_names = ("p", "q", "gamma")
    shape_params = frozenset({"p", "q"})

    def _edge_meaning(self, edges: Mapping[str, str]) -> list[str]:
        said: list[str] = []
        if "p" in edges:
            said.append("each customer's spend is taken to be the same on every order")
        if "q" in edges or "gamma" in edges:
            said.append(
                "every customer is taken to have the same average spend (no spread "
                "between customers)"
            )
        return said

    spend_frequency_correlation_: float
    independence_warning_: str | None

    def fit(
        self,
        frequency: ArrayLike,
        monetary_value: ArrayLike,
        *,
        weights: ArrayLike | None = None,
    ) -> GammaGamma:
        """Fit on repeat customers: ``frequency`` >= 1 repeat purchases, each with the mean
        value ``monetary_value`` > 0 of those repeat purchases."""
        started = time.perf_counter()
        self._check_hyperparameters()
        x = np.atleast_1d(as_float_array("frequency", frequency))
        m = np.atleast_1d(as_float_array("monetary_value", monetary_value))
        if weights is None:
            same_length(frequency=x, monetary_value=m)
            w = np.ones(x.size)
        else:
            w = np.atleast_1d(as_float_array("weights", weights))
            same_length(frequency=x, monetary_value=m, weights=w)
            check_non_negative("weights", w)
            if not w.sum() > 0:
                raise ValueModelError("weights sum to 0: there is nothing to fit")
        check_integer("frequency", x)
        bad = x < 1
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueModelError(
                f"frequency must be >= 1 for the Gamma-Gamma model; row {i} is {x[i]} "
                "(fit on repeat customers only: filter frequency > 0)"
            )
        bad = m <= 0
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueModelError(f"monetary_value must be > 0; row {i} is {m[i]}")
        self.spend_frequency_correlation_ = _correlation(x, m, w)
        self.independence_warning_ = _independence_warning(self.spend_frequency_correlation_)
        first, summed = distinct_rows(w, x, m)
        objective = _Likelihood(x[first], m[first], summed)
        mean = float(np.average(m, weights=w))
        start = np.array([1.0, 2.0, mean])
        self._run_fit(objective, start, float(w.sum()), started)
        return self

    def expected_spend(self, frequency: ArrayLike, monetary_value: ArrayLike) -> FloatArray:
        r"""E[mean transaction value | x, m_x] (FHL 2005 "RFM and CLV", eq. 5):
        :math:`\frac{p(\gamma + m_x x)}{px + q - 1}`, a weighted average of the population
        mean :math:`p\gamma/(q-1)` and the observed mean. Frequency 0 gives the population
        mean (``monetary_value`` is then ignored)."""
        p, q, gamma = self._params()
        x = as_float_array("frequency", frequency)
        m = as_float_array("monetary_value", monetary_value)
        check_non_negative("frequency", x)
        check_non_negative("monetary_value", m)
        x, m = np.broadcast_arrays(x, m)
        m = np.where(x > 0, m, 0.0)
        denominator = p * x + q - 1.0
        if np.any(denominator <= 0):
            raise ValueModelError(
                f"the expected spend is infinite: q = {q:.4g} <= 1 has no population mean; "
                "score repeat customers only, or refit with more data"
            )
        return np.asarray(p * (gamma + m * x) / denominator, dtype=np.float64)

    def population_mean_spend(self) -> float:
        """``p * gamma / (q - 1)`` (infinite when q <= 1)."""
        p, q, gamma = self._params()
        return p * gamma / (q - 1.0) if q > 1 else float("inf")

    def _extra_state(self) -> dict[str, Any]:
        return {
            "spend_frequency_correlation": self.spend_frequency_correlation_,
            "independence_warning": self.independence_warning_,
        }

    def _restore_extra(self, state: Any) -> None:
        value = state.get("spend_frequency_correlation")
        self.spend_frequency_correlation_ = float(value) if value is not None else float("nan")
        self.independence_warning_ = state.get("independence_warning")


class _Likelihood:
    def __init__(self, x: FloatArray, m: FloatArray, w: FloatArray):
        self.x, self.m, self.w = x, m, w
        self.ux, self.ix = np.unique(x, return_inverse=True)
        self.mx = m * x
        self.log_m = np.log(m)
        self.log_x = np.log(x)

    def __call__(self, params: FloatArray) -> tuple[float, FloatArray]:
        p, q, gamma = (float(v) for v in params)
        x, ix, ux = self.x, self.ix, self.ux
        px = p * x
        log_total = np.log(gamma + self.mx)
        lg = (gammaln(p * ux + q) - gammaln(p * ux))[ix]
        ll = lg - gammaln(q) + q * np.log(gamma) + (px - 1.0) * self.log_m + px * self.log_x
        ll = ll - (px + q) * log_total
        psi_pq = digamma(p * ux + q)[ix]
        d_p = x * (psi_pq - digamma(p * ux)[ix] + self.log_m + self.log_x - log_total)
        d_q = psi_pq - digamma(q) + np.log(gamma) - log_total
        d_gamma = q / gamma - (px + q) / (gamma + self.mx)
        w = self.w
        sums = weighted_sums(w, ll, d_p, d_q, d_gamma)
        return -float(sums[0]), -sums[1:]


def _correlation(x: FloatArray, m: FloatArray, w: FloatArray) -> float:
    if x.size < 2:
        return float("nan")
    dx = x - np.average(x, weights=w)
    dm = m - np.average(m, weights=w)
    sx = float(np.average(dx * dx, weights=w))
    sm = float(np.average(dm * dm, weights=w))
    if sx <= 0 or sm <= 0:
        return float("nan")
    return float(np.average(dx * dm, weights=w) / np.sqrt(sx * sm))


def _independence_warning(correlation: float) -> str | None:
    if np.isfinite(correlation) and abs(correlation) > CORRELATION_LIMIT:
        return (
            f"frequency and mean spend are correlated ({correlation:+.2f}); the Gamma-Gamma "
            "model assumes they are independent, so its spend estimates may be biased"
        )
    return None
