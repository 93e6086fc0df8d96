r"""The BG/NBD purchase model (Fader, Hardie & Lee 2005, "Counting your customers the easy way").

While alive, a customer buys as a Poisson process with rate :math:`\lambda \sim
\text{Gamma}(r, \alpha)`; after each repeat purchase they drop out with probability
:math:`p \sim \text{Beta}(a, b)`. For a customer with ``x`` repeat purchases, the last at
``t_x``, observed for ``T`` since the first purchase, the likelihood is (FHL 2005, eq. 6)

.. math::

    L = \frac{\Gamma(r+x)\alpha^r}{\Gamma(r)} \left[
        \frac{B(a, b+x)}{B(a,b)} (\alpha+T)^{-(r+x)}
        + [x>0] \frac{B(a+1, b+x-1)}{B(a,b)} (\alpha+t_x)^{-(r+x)} \right],

computed as a log-sum-exp of the two terms, which never overflows whatever ``x`` (the
"#NUM!" problem of Fader & Hardie's note 027).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import betainc, betaln, digamma, expit, gammaln, hyp2f1

from microseg.value._base import (
    FloatArray,
    Pairs,
    RFMRows,
    ValueModel,
    as_float_array,
    check_integer,
    check_non_negative,
    check_rfm,
    compress_rfm,
    expm1_ratio,
    log1p_ratio,
    pairs,
    weighted_sums,
)
from microseg.value._diagnostics import SAME_RATE, plain
from microseg.value._special import bg_log_hyp


class BGNBD(ValueModel):
    """Beta-geometric/NBD model of repeat purchasing in a non-contractual setting.

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
        ``{"r", "alpha", "a", "b"}``: gamma shape and rate of the purchase rate, beta
        parameters of the drop-out probability. ``alpha`` is in the time unit of the fit.
    standard_errors_, confidence_intervals_:
        From the observed information; 95% intervals on the log scale.
    log_likelihood_, n_customers_, converged_, n_iter_, fit_seconds_:
        About the fit.

    Examples
    --------
    >>> model = BGNBD.from_dict(
    ...     {"model": "BGNBD", "params": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}}
    ... )
    >>> round(float(model.expected_purchases(39, 2, 30.43, 38.86)), 3)
    1.226
    """

    param_names = ("r", "alpha", "a", "b")
    shape_params = frozenset({"r", "a", "b"})

    def _limits(self) -> dict[str, str]:
        # a mean drop-out probability a/(a+b) under 1e-4: nobody is ever seen to leave
        _, _, a, b = self._params()
        return {"a": "low"} if a / (a + b) < 1e-4 else {}

    def _edge_meaning(self, edges: Mapping[str, str]) -> list[str]:
        _r, _alpha, a, b = self._params()
        said: list[str] = []
        if "r" in edges or "alpha" in edges:
            said.append(SAME_RATE)
        if edges.get("a") == "low" or a / (a + b) < 1e-3:
            said.append(
                "customers almost never drop out, so P(alive) is about 1 for everyone, "
                "lapsed customers included"
            )
        elif "a" in edges or "b" in edges:
            if edges.get("b") == "low":
                said.append("almost every customer drops out right after a purchase")
            else:
                said.append(
                    f"every customer has the same chance ({plain(a / (a + b))}) of dropping out "
                    "after each purchase (no drop-out heterogeneity)"
                )
        return said

    def fit(
        self,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        *,
        weights: ArrayLike | None = None,
    ) -> BGNBD:
        """Fit by maximum likelihood on unique (frequency, recency, T) rows.

        Parameters
        ----------
        frequency:
            Repeat purchases per customer (whole numbers >= 0).
        recency:
            Time from first to last purchase (0 when frequency is 0).
        T:
            Time from first purchase to the end of the observation period.
        weights:
            Optional number of customers each row stands for.
        """
        started = time.perf_counter()
        self._check_hyperparameters()
        rows = compress_rfm(frequency, recency, T, weights=weights)
        objective = _Likelihood(rows)
        scale = float(np.average(rows.T, weights=rows.weights)) or 1.0
        rate = float(np.average(rows.frequency, weights=rows.weights)) / scale
        start = np.array([1.0, 1.0 / max(rate, 1e-3 / scale), 1.0, 1.0])
        self._run_fit(objective, start, float(rows.weights.sum()), started)
        return self

    # -- predictions ------------------------------------------------------------------

    def p_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """P(alive at T | x, t_x, T) (Fader, Hardie & Lee 2008, "Computing P(alive)").

        ``1 / (1 + [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x))``; 1 for x = 0.
        """
        x, tx, big_t = _rfm(frequency, recency, T)
        return self._p_alive(x.ravel(), tx.ravel(), big_t.ravel()).reshape(x.shape)

    def _p_alive(
        self, x: FloatArray, tx: FloatArray, T: FloatArray, at_t: Pairs | None = None
    ) -> FloatArray:
        r, alpha, a, b = self._params()
        log_odds = np.log(alpha + T)
        log_odds -= np.log(alpha + tx)
        log_odds *= r + x
        log_odds -= np.log(b + np.maximum(x, 1.0) - 1.0)
        log_odds += np.log(a)
        alive = np.asarray(expit(-log_odds), dtype=np.float64)
        alive[x == 0] = 1.0
        return alive

    def expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        r"""E[purchases in (T, T+t] | x, t_x, T] (FHL 2005, eq. 10).

        The product of P(alive) and the expectation of a customer alive at T, which is the
        unconditional expectation with the posterior parameters
        :math:`(r+x, \alpha+T, a, b+x)`.
        """
        horizon, x, tx, big_t, shape = _flat_inputs(t, frequency, recency, T)
        expected = self._p_alive(x, tx, big_t) * self.expected_given_alive(horizon, x, big_t)
        return expected.reshape(shape)

    def expected_purchases_new(self, t: ArrayLike) -> FloatArray:
        r"""E[X(t)] for a new customer (FHL 2005, eq. 9):
        :math:`\frac{a+b-1}{a-1}\left[1 - \left(\frac{\alpha}{\alpha+t}\right)^r
        {}_2F_1\left(r, b; a+b-1; \frac{t}{\alpha+t}\right)\right]`."""
        horizon = _horizon(t)
        zeros = np.zeros(horizon.shape)
        return self.expected_given_alive(horizon, zeros, zeros)

    def p_any_purchase(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        r"""P(at least one purchase in (T, T+t] | x, t_x, T).

        An alive customer drops out only right after a purchase, so the next purchase comes
        at rate :math:`\lambda \sim \text{Gamma}(r+x, \alpha+T)`:
        :math:`P = P(\text{alive})\,[1 - ((\alpha+T)/(\alpha+T+t))^{r+x}]`.
        """
        horizon, x, tx, big_t, shape = _flat_inputs(t, frequency, recency, T)
        alive = self._p_alive(x, tx, big_t)
        return (alive * self.p_any_given_alive(horizon, x, big_t)).reshape(shape)

    def p_any_given_alive(
        self, t: FloatArray, x: FloatArray, T: FloatArray, at_t: Pairs | None = None
    ) -> FloatArray:
        """P(a purchase in (T, T+t] | alive at T); ``at_t`` (unused here) is (x, T)'s pairs."""
        r, alpha, _, _ = self._params()
        return np.asarray(-np.expm1(-(r + x) * np.log1p(t / (alpha + T))), dtype=np.float64)

    def purchase_count_pmf(self, t: ArrayLike, n: ArrayLike) -> FloatArray:
        r"""P(X(t) = n) for a new customer (FHL 2005, eq. 8).

        The second term's finite sum is the negative binomial's upper tail, written as the
        regularised incomplete beta function :math:`I_{t/(\alpha+t)}(n, r)`.
        """
        r, alpha, a, b = self._params()
        horizon = _horizon(t)
        count = as_float_array("n", n)
        check_non_negative("n", count)
        check_integer("n", count)
        horizon, count = np.broadcast_arrays(horizon, count)
        positive = horizon > 0
        safe = np.where(positive, horizon, 1.0)
        log_q = np.log(safe) - np.log(alpha + safe)
        count_term = np.where(positive, count * log_q, np.where(count == 0, 0.0, -np.inf))
        log_p = np.log(alpha) - np.log(alpha + horizon)
        first = betaln(a, b + count) - betaln(a, b) + gammaln(r + count) - gammaln(r)
        first = first - gammaln(count + 1) + r * log_p + count_term
        cs = np.maximum(count, 1.0)
        second = np.exp(betaln(a + 1, b + cs - 1) - betaln(a, b)) * betainc(
            cs, r, horizon / (alpha + horizon)
        )
        return np.asarray(np.exp(first) + np.where(count > 0, second, 0.0), dtype=np.float64)

    def expected_given_alive(self, t: FloatArray, x: FloatArray, T: FloatArray) -> FloatArray:
        """E[purchases in (T, T+t] | alive at T, x, T], computed once per (x, T) pair.

        With the Euler transformation the hypergeometric term becomes
        ``2F1(a+b-1-r, a-1; a+b+x-1; z) = 1 + (a-1) U``, z = t/(alpha+T+t), and
        ``E = -(a+b+x-1) y expm1r((a-1) y)`` with ``y = log(1-z) + U log1pr((a-1) U)``,
        exact and finite at a = 1 and for any x.
        """
        self._params()
        t, x, T = np.broadcast_arrays(t, x, T)
        shape = t.shape
        t, x, T = t.ravel(), x.ravel(), T.ravel()
        out = np.zeros(t.size)
        positive = t > 0
        if positive.any():
            tp, xp, tp_big = t[positive], x[positive], T[positive]
            if np.all(tp == tp[0]):
                grouped = pairs(xp, tp_big)
                value = self._alive_expectation(float(tp[0]), grouped.x, grouped.t)
                out[positive] = value[grouped.inverse]
            else:
                out[positive] = self._alive_expectation(tp, xp, tp_big)
        return out.reshape(shape)

    def _alive_expectation(self, t: float | FloatArray, x: FloatArray, T: FloatArray) -> FloatArray:
        r, alpha, a, b = self._params()
        scale = alpha + T
        log_w = -np.log1p(t / scale)
        z = -np.expm1(log_w)
        c = a + b + x - 1.0
        eps = a - 1.0
        z = np.broadcast_to(z, c.shape).copy()
        log_w = np.broadcast_to(log_w, c.shape)
        if a > 2.0 and a + b > 100.0:
            # far from a = 1 the plain form needs no Euler transformation, and with large
            # a and b (little drop-out) it converges fast where the transformed series,
            # with a + b - 1 - r among its parameters, would need millions of terms
            log_f = np.log(hyp2f1(r + x, b + x, c, z))
            direct = c / eps * -np.expm1((r + x) * log_w + log_f)
            if np.all(np.isfinite(direct)):
                return np.asarray(np.maximum(direct, 0.0), dtype=np.float64)
        y = np.full(c.shape, np.nan)
        series = c > 1.0
        if series.any():
            y[series] = _log_hyp_over_eps(a, a + b - 1.0 - r, c[series], z[series], log_w[series])
        # C <= 1 (x = 0 with a + b <= 2) or a cancelled sum: scipy's hyp2f1, whose
        # parameters are then all small
        rest = ~np.isfinite(y)
        if rest.any():
            g = hyp2f1(a + b - 1.0 - r, eps, c[rest], z[rest])
            g = np.where(np.isfinite(g) & (g > 0), g, 1e-300)
            y[rest] = log_w[rest] + (np.log(g) / eps if eps != 0 else 0.0)
        return np.asarray(np.maximum(-c * y * expm1_ratio(eps * y), 0.0), dtype=np.float64)


class _Likelihood:
    """The BG/NBD negative log-likelihood and its gradient on compressed rows."""

    def __init__(self, rows: RFMRows):
        self.x = rows.frequency
        self.tx = rows.recency
        self.T = rows.T
        self.w = rows.weights
        self.ux, self.ix = np.unique(self.x, return_inverse=True)
        self.repeat = self.x > 0

    def __call__(self, params: FloatArray) -> tuple[float, FloatArray]:
        r, alpha, a, b = (float(v) for v in params)
        ux, ix = self.ux, self.ix
        uxs = np.maximum(ux, 1.0)
        base = betaln(a, b)
        lb1 = betaln(a, b + ux) - base
        lb2 = np.where(ux > 0, betaln(a + 1, b + uxs - 1) - base, 0.0)
        lg = gammaln(r + ux) - gammaln(r)
        log_big_t = np.log(alpha + self.T)
        log_tx = np.log(alpha + self.tx)
        rx = r + self.x
        l1 = lb1[ix] - rx * log_big_t
        l2 = np.where(self.repeat, lb2[ix] - rx * log_tx, -np.inf)
        ll = lg[ix] + r * np.log(alpha) + np.logaddexp(l1, l2)
        w2 = expit(l2 - l1)
        w1 = 1.0 - w2
        psi_ab = digamma(a + b)
        psi_abx = digamma(a + b + ux)
        dl1_a = psi_ab - psi_abx
        dl1_b = digamma(b + ux) - psi_abx - digamma(b) + psi_ab
        dl2_a = 1.0 / a - psi_abx + psi_ab
        dl2_b = np.where(ux > 0, digamma(b + uxs - 1) - psi_abx - digamma(b) + psi_ab, 0.0)
        d_r = (digamma(r + ux) - digamma(r))[ix] + np.log(alpha) - w1 * log_big_t - w2 * log_tx
        d_alpha = r / alpha - rx * (w1 / (alpha + self.T) + w2 / (alpha + self.tx))
        d_a = w1 * dl1_a[ix] + w2 * dl2_a[ix]
        d_b = w1 * dl1_b[ix] + w2 * dl2_b[ix]
        w = self.w
        sums = weighted_sums(w, ll, d_r, d_alpha, d_a, d_b)
        return -float(sums[0]), -sums[1:]


def _rfm(
    frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    x = as_float_array("frequency", frequency)
    tx = as_float_array("recency", recency)
    big_t = as_float_array("T", T)
    check_rfm(x, tx, big_t)
    x, tx, big_t = np.broadcast_arrays(x, tx, big_t)
    return x, tx, big_t


def _flat_inputs(
    t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, tuple[int, ...]]:
    """Validated, broadcast and flattened (t, x, t_x, T) and their common shape."""
    horizon = _horizon(t)
    x, tx, big_t = _rfm(frequency, recency, T)
    horizon, x, tx, big_t = np.broadcast_arrays(horizon, x, tx, big_t)
    shape = x.shape
    return horizon.ravel(), x.ravel(), tx.ravel(), big_t.ravel(), shape


def _horizon(t: ArrayLike) -> FloatArray:
    horizon = as_float_array("t", t)
    check_non_negative("t", horizon)
    return horizon


def _log_hyp_over_eps(
    a: float, a_top: float, c: FloatArray, z: FloatArray, log_w: FloatArray
) -> FloatArray:
    """y = log(1-z) + log(2F1(A, a-1; C; z)) / (a-1), and NaN where the sum cancelled."""
    eps = a - 1.0
    log_abs_u, sign_u = bg_log_hyp(a, a_top, c, z)
    y = np.full(c.shape, np.nan)
    log_abs_eps_u = log_abs_u + (np.log(abs(eps)) if eps != 0 else -np.inf)
    sign = sign_u * np.sign(eps)
    small = log_abs_eps_u < np.log(0.5)
    u = sign_u[small] * np.exp(log_abs_u[small])
    y[small] = log_w[small] + u * log1p_ratio(eps * u)
    large = ~small & (sign > 0)
    y[large] = log_w[large] + (log_abs_eps_u[large] + np.log1p(np.exp(-log_abs_eps_u[large]))) / eps
    shrinks = ~small & (sign < 0) & (log_abs_eps_u < np.log(1.0 - 1e-8))
    y[shrinks] = log_w[shrinks] + np.log1p(-np.exp(log_abs_eps_u[shrinks])) / eps
    return y
