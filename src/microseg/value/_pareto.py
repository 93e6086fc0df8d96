r"""The Pareto/NBD purchase model (Schmittlein, Morrison & Colombo 1987).

While alive a customer buys at rate :math:`\lambda \sim \text{Gamma}(r, \alpha)`; the
lifetime is exponential with rate :math:`\mu \sim \text{Gamma}(s, \beta)`. Integrating the
individual likelihood :math:`\lambda^x e^{-(\lambda+\mu)T} + \lambda^x \mu
\int_{t_x}^T e^{-(\lambda+\mu)\tau} d\tau` over both gammas gives (Fader & Hardie 2005,
"A note on deriving the Pareto/NBD model and related expressions", eq. 17-23)

.. math::

    L = \frac{\Gamma(r+x)\alpha^r\beta^s}{\Gamma(r)} \left[
        (\alpha+T)^{-(r+x)}(\beta+T)^{-s}
        + s \int_{t_x}^{T} (\alpha+\tau)^{-(r+x)} (\beta+\tau)^{-(s+1)} d\tau \right].

The integral is the difference of the Gauss hypergeometric terms of the note, evaluated
in log space by :mod:`microseg.value._special`; nothing overflows for thousands of
purchases or very long histories.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import digamma, expit, gammaln

from microseg.value._base import (
    FloatArray,
    Pairs,
    RFMRows,
    ValueModel,
    compress_rfm,
    expm1_ratio,
    pairs,
    weighted_sums,
)
from microseg.value._bgnbd import _flat_inputs, _horizon, _rfm
from microseg.value._diagnostics import SAME_RATE
from microseg.value._special import log_interval


class ParetoNBD(ValueModel):
    """Pareto/NBD model of repeat purchasing in a non-contractual setting.

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
        ``{"r", "alpha", "s", "beta"}``: gamma shape and rate of the purchase rate and of
        the drop-out rate, in the time unit of the fit.
    standard_errors_, confidence_intervals_, log_likelihood_, n_customers_, converged_,
    n_iter_, fit_seconds_:
        As for :class:`BGNBD`.

    Examples
    --------
    >>> model = ParetoNBD.from_dict(
    ...     {"model": "ParetoNBD", "params": {"r": 0.553, "alpha": 10.578, "s": 0.606,
    ...      "beta": 11.669}}
    ... )
    >>> round(float(model.p_alive(0, 0, 39)), 3)
    0.294
    """

    param_names = ("r", "alpha", "s", "beta")
    shape_params = frozenset({"r", "s"})

    def _limits(self) -> dict[str, str]:
        # a mean drop-out rate s/beta under 1e-5 per time unit (a mean lifetime of more than
        # 270 years in days): nobody is ever seen to leave
        _, _, s, beta = self._params()
        return {"s": "low", "beta": "high"} if s / beta < 1e-5 else {}

    def _edge_meaning(self, edges: Mapping[str, str]) -> list[str]:
        _r, _alpha, s, beta = self._params()
        said: list[str] = []
        if "r" in edges or "alpha" in edges:
            said.append(SAME_RATE)
        if (edges.get("beta") == "high" and s / beta < 1e-4) or s / beta < 1e-5:
            said.append(
                "customers almost never drop out, so P(alive) is about 1 for everyone, "
                "lapsed customers included"
            )
        elif "s" in edges or "beta" in edges:
            said.append(
                "every customer is taken to drop out at the same rate (no drop-out heterogeneity)"
            )
        return said

    def fit(
        self,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        *,
        weights: ArrayLike | None = None,
    ) -> ParetoNBD:
        """Fit by maximum likelihood on unique (frequency, recency, T) rows.

        Parameters are as for :meth:`BGNBD.fit`.
        """
        started = time.perf_counter()
        self._check_hyperparameters()
        rows = compress_rfm(frequency, recency, T, weights=weights)
        objective = _Likelihood(rows)
        scale = float(np.average(rows.T, weights=rows.weights)) or 1.0
        rate = float(np.average(rows.frequency, weights=rows.weights)) / scale
        start = np.array([1.0, 1.0 / max(rate, 1e-3 / scale), 1.0, scale])
        self._run_fit(objective, start, float(rows.weights.sum()), started)
        return self

    def p_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """P(alive at T | x, t_x, T): the share of the first term in the likelihood."""
        x, tx, big_t = _rfm(frequency, recency, T)
        return self._p_alive(x.ravel(), tx.ravel(), big_t.ravel()).reshape(x.shape)

    def _p_alive(
        self, x: FloatArray, tx: FloatArray, T: FloatArray, at_t: Pairs | None = None
    ) -> FloatArray:
        r, alpha, s, beta = self._params()
        first = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
        at_t = at_t if at_t is not None else pairs(x, T)
        interval = log_interval(x, pairs(x, tx), at_t, r, alpha, s + 1.0, beta, grad=False)
        return np.asarray(expit(first - np.log(s) - interval.value), dtype=np.float64)

    def expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        r"""E[purchases in (T, T+t] | x, t_x, T] (Fader & Hardie 2005 note, eq. 40):
        :math:`P(\text{alive}) \frac{(r+x)(\beta+T)}{(\alpha+T)(s-1)}
        \left[1 - \left(\frac{\beta+T}{\beta+T+t}\right)^{s-1}\right]`, finite at s = 1."""
        horizon, x, tx, big_t, shape = _flat_inputs(t, frequency, recency, T)
        expected = self._p_alive(x, tx, big_t) * self.expected_given_alive(horizon, x, big_t)
        return expected.reshape(shape)

    def expected_purchases_new(self, t: ArrayLike) -> FloatArray:
        r"""E[X(t)] for a new customer:
        :math:`\frac{r\beta}{\alpha(s-1)}[1 - (\beta/(\beta+t))^{s-1}]`."""
        horizon = _horizon(t)
        zeros = np.zeros(horizon.shape)
        return self.expected_given_alive(horizon, zeros, zeros)

    def expected_given_alive(self, t: FloatArray, x: FloatArray, T: FloatArray) -> FloatArray:
        """E[purchases in (T, T+t] | alive at T]: the posterior gammas' closed form."""
        r, alpha, s, beta = self._params()
        scale = beta + T
        log_growth = np.log1p(t / scale)
        per_rate = scale * log_growth * expm1_ratio(-(s - 1.0) * log_growth)
        return np.asarray((r + x) / (alpha + T) * per_rate, dtype=np.float64)

    def p_any_purchase(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        r"""P(at least one purchase in (T, T+t] | x, t_x, T).

        Given alive at T with posterior gammas, the next purchase comes before death and
        before T+t with probability
        :math:`(r+x)(\alpha+T)^{r+x}(\beta+T)^s \int_T^{T+t}
        (\alpha+\tau)^{-(r+x+1)}(\beta+\tau)^{-s} d\tau`.
        """
        horizon, x, tx, big_t, shape = _flat_inputs(t, frequency, recency, T)
        at_t = pairs(x, big_t)
        alive = self._p_alive(x, tx, big_t, at_t)
        return (alive * self.p_any_given_alive(horizon, x, big_t, at_t)).reshape(shape)

    def p_any_given_alive(
        self, t: FloatArray, x: FloatArray, T: FloatArray, at_t: Pairs | None = None
    ) -> FloatArray:
        """P(a purchase in (T, T+t] | alive at T); ``at_t`` may carry (x, T)'s pairs."""
        r, alpha, s, beta = self._params()
        at_t = at_t if at_t is not None else pairs(x, T)
        end = pairs(x, T + t)
        interval = log_interval(x, at_t, end, r + 1.0, alpha, s, beta, grad=False)
        log_p = np.log(r + x) + (r + x) * np.log(alpha + T) + s * np.log(beta + T)
        return np.asarray(np.exp(np.minimum(log_p + interval.value, 0.0)), dtype=np.float64)


class _Likelihood:
    """The Pareto/NBD negative log-likelihood and its gradient on compressed rows."""

    def __init__(self, rows: RFMRows):
        self.x = rows.frequency
        self.T = rows.T
        self.w = rows.weights
        self.ux, self.ix = np.unique(self.x, return_inverse=True)
        self.start = pairs(self.x, rows.recency)
        self.end = pairs(self.x, rows.T)

    def __call__(self, params: FloatArray) -> tuple[float, FloatArray]:
        r, alpha, s, beta = (float(v) for v in params)
        x, big_t, ix = self.x, self.T, self.ix
        log_a = np.log(alpha + big_t)
        log_b = np.log(beta + big_t)
        l1 = -(r + x) * log_a - s * log_b
        interval = log_interval(x, self.start, self.end, r, alpha, s + 1.0, beta)
        assert interval.grad is not None
        l2 = np.log(s) + interval.value
        g2 = interval.grad
        g2[2] += 1.0 / s
        w2 = expit(l2 - l1)
        w1 = 1.0 - w2
        ll = (gammaln(r + self.ux) - gammaln(r))[ix] + r * np.log(alpha) + s * np.log(beta)
        ll = ll + np.logaddexp(l1, l2)
        d_r = (digamma(r + self.ux) - digamma(r))[ix] + np.log(alpha) - w1 * log_a + w2 * g2[0]
        d_alpha = r / alpha - w1 * (r + x) / (alpha + big_t) + w2 * g2[1]
        d_s = np.log(beta) - w1 * log_b + w2 * g2[2]
        d_beta = s / beta - w1 * s / (beta + big_t) + w2 * g2[3]
        w = self.w
        sums = weighted_sums(w, ll, d_r, d_alpha, d_s, d_beta)
        return -float(sums[0]), -sums[1:]
