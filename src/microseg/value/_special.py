r"""Stable special functions for the purchase models, in log space, vectorised.

The Pareto/NBD likelihood needs integrals of the form

.. math::

    I(t_0, t_1) = \int_{t_0}^{t_1} (\alpha+\tau)^{-e_\alpha} (\beta+\tau)^{-e_\beta}\, d\tau,

which are written with :math:`F(t) = I(t, \infty)` as :math:`F(t_0) - F(t_1)`. With
:math:`M = \max(\alpha, \beta)`, :math:`m = \min(\alpha, \beta)`, :math:`e_M, e_m` their
exponents and :math:`z = (M - m)/(M + t)`, the substitution :math:`u = (M+t)/(M+\tau)`
gives Gauss's hypergeometric function (Fader & Hardie 2005, "A note on deriving the
Pareto/NBD model and related expressions", eq. 22-23), and Euler's transformation
:math:`{}_2F_1(a, b; a+1; z) = (1-z)^{1-b}\, {}_2F_1(1, a+1-b; a+1; z)` turns it into

.. math::

    \log F(t) = -e_M \log(M+t) + (1-e_m)\log(m+t) - \log(e_M+e_m-1) + \log S,\quad
    S = \sum_{k\ge 0} \frac{(e_M)_k}{(e_M+e_m)_k} z^k .

Every term of :math:`S` is positive and each is smaller than the previous by at least the
factor :math:`z < 1`, so the series neither overflows nor cancels: it is summed while
:math:`z \le 0.9`. Closer to 1 the series is slow (this is the overflow and non-convergence
of lifetimes' issue #25), and :math:`F` is integrated instead: in :math:`w = \log(m+\tau)`
the integrand is log-concave, so its mode is known in closed form, the interval where it
is within :math:`e^{-50}` of the mode is found by Newton's method, and 16-point
Gauss-Legendre on panels doubling in width away from the mode finishes. Intervals so short
that :math:`F(t_0) - F(t_1)` would cancel are integrated directly (8-point Gauss-Legendre).

Derivatives with respect to the exponents and the scales come with every value, for the
fit's analytic gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit, logsumexp

from microseg.value._base import FloatArray, Pairs

_GL8_X, _GL8_W = np.polynomial.legendre.leggauss(8)
_GL16_X, _GL16_W = np.polynomial.legendre.leggauss(16)
_LOG_GL8_W = np.log(_GL8_W)
_LOG_GL16_W = np.log(_GL16_W)

#: Above this z the series for F gives way to quadrature.
SERIES_MAX_Z = 0.9
#: |log F(t1) - log F(t0)| below which the interval is integrated directly.
SHORT_INTERVAL = 1e-3
_BLOCK = 32


@dataclass(frozen=True)
class LogValue:
    """A log-value and its derivatives with respect to (e_alpha, alpha, e_beta, beta)."""

    value: FloatArray
    grad: FloatArray | None  # shape (4, n) or None


def _hyp_series(
    b: FloatArray, c: FloatArray, z: FloatArray, grad: bool
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """S = sum_k (b)_k/(c)_k z^k for c > b > 0, 0 <= z <= 0.9, with dS/db, dS/dc, dS/dz.

    Terms are built in blocks (a cumulative product of the term ratios); the first block
    is sized for the largest z, so most calls need one block. Without ``grad`` the
    derivatives are left at 0.
    """
    n = z.size
    total = np.ones(n)
    d_b = np.zeros(n)
    d_c = np.zeros(n)
    d_z = np.zeros(n)
    last = np.ones(n)
    log_db = np.zeros(n)
    log_dc = np.zeros(n)
    active = np.flatnonzero(z > 0)
    z_max = float(z.max()) if n else 0.0
    block = int(np.clip(np.ceil(-40.0 / np.log(max(z_max, 1e-300))) + 2, 4, _BLOCK))
    k0 = 1
    while active.size:
        k = k0 + np.arange(block, dtype=np.float64)
        bb = b[active, None] + (k - 1)
        cc = c[active, None] + (k - 1)
        zr = z[active]
        ratio = bb / cc
        ratio *= zr[:, None]
        terms = np.cumprod(ratio, axis=1)
        terms *= last[active, None]
        total[active] += terms.sum(axis=1)
        if grad:
            cum_db = log_db[active, None] + np.cumsum(1.0 / bb, axis=1)
            cum_dc = log_dc[active, None] - np.cumsum(1.0 / cc, axis=1)
            d_b[active] += (terms * cum_db).sum(axis=1)
            d_c[active] += (terms * cum_dc).sum(axis=1)
            d_z[active] += (terms * k).sum(axis=1) / zr  # sum of k c_k z^(k-1)
            log_db[active] = cum_db[:, -1]
            log_dc[active] = cum_dc[:, -1]
        last[active] = terms[:, -1]
        tail = last[active] * (k[-1] + 1.0 / (1.0 - zr)) / (1.0 - zr) ** 2
        active = active[tail > 1e-17 * total[active]]
        k0 += block
        block = _BLOCK
    # rows with z == 0 have only the first term; the slope there is b / c
    zero = z <= 0
    d_z[zero] = b[zero] / c[zero]
    return total, d_b, d_c, d_z


def _log_f_series(
    e_big: FloatArray,
    e_small: FloatArray,
    big: float,
    small: float,
    t: FloatArray,
    grad: bool = True,
) -> tuple[FloatArray, FloatArray | None]:
    """log F and its gradient in (e_M, e_m, M, m) by the Euler-transformed series."""
    log_big = np.log(big + t)
    log_small = np.log(small + t)
    a = e_big + e_small - 1.0
    z = (big - small) / (big + t)
    s, s_b, s_c, s_z = _hyp_series(e_big, e_big + e_small, z, grad)
    value = -e_big * log_big + (1.0 - e_small) * log_small - np.log(a) + np.log(s)
    if not grad:
        return value, None
    dz = s_z / s
    gradient = np.stack(
        [
            -log_big - 1.0 / a + (s_b + s_c) / s,
            -log_small - 1.0 / a + s_c / s,
            -e_big / (big + t) + dz * (small + t) / (big + t) ** 2,
            (1.0 - e_small) / (small + t) - dz / (big + t),
        ]
    )
    return value, gradient


def _newton_edge(
    e_big: FloatArray,
    e_small: FloatArray,
    log_gap: float,
    start: FloatArray,
    target: FloatArray,
    direction: float,
) -> FloatArray:
    """Where the concave psi falls to ``target`` on one side of its mode (Newton)."""
    w = start + direction
    floor = 1e-3 * np.minimum(e_big + e_small - 1.0, 1.0)
    for _ in range(60):
        psi = (1.0 - e_small) * w - e_big * np.logaddexp(log_gap, w)
        slope = (1.0 - e_small) - e_big * expit(w - log_gap)
        slope = np.minimum(slope, -floor) if direction > 0 else np.maximum(slope, floor)
        step = np.clip((psi - target) / slope, -1e12, 1e12)
        w = w - step
        if np.all(np.abs(step) < 1e-6):
            break
    return w


def _log_f_quadrature(
    e_big: FloatArray,
    e_small: FloatArray,
    big: float,
    small: float,
    t: FloatArray,
    grad: bool = True,
) -> tuple[FloatArray, FloatArray | None]:
    """log F and its gradient in (e_M, e_m, M, m) by quadrature, for z close to 1.

    In w = log(m + tau) the integrand (with its Jacobian) is exp(psi(w)),
    psi(w) = (1 - e_m) w - e_M log(M - m + e^w), which is concave.
    """
    gap = big - small
    log_gap = float(np.log(gap))
    w0 = np.log(small + t)
    mode = w0.copy()
    rises = e_small < 1.0
    if rises.any():
        share = np.clip((1.0 - e_small[rises]) / e_big[rises], 1e-300, 1 - 1e-16)
        mode[rises] = np.maximum(w0[rises], log_gap + np.log(share) - np.log1p(-share))
    top = (1.0 - e_small) * mode - e_big * np.logaddexp(log_gap, mode)
    target = top - 50.0
    right = _newton_edge(e_big, e_small, log_gap, mode, target, 1.0)
    right = np.maximum(right, mode + 1e-9)
    left = np.where(mode > w0, _newton_edge(e_big, e_small, log_gap, mode, target, -1.0), w0)
    left = np.clip(left, w0, mode)
    # panels doubling in width away from the mode resolve a narrow peak and a long tail
    share = expit(mode - log_gap)
    curvature = e_big * share * (1.0 - share)
    edge_slope = np.abs((1.0 - e_small) - e_big * share)
    scale = 1.0 / np.maximum(np.sqrt(curvature), np.maximum(edge_slope, 1e-12))
    nodes, log_weights = [], []
    for length, sign in ((mode - left, -1.0), (right - mode, 1.0)):
        ratio = np.max(length / scale)
        count = int(np.clip(np.ceil(np.log2(ratio + 1.0)), 1, 60))
        bounds = np.minimum(scale[:, None] * (2.0 ** np.arange(count + 1) - 1.0), length[:, None])
        bounds[:, -1] = length
        half = np.diff(bounds, axis=1) / 2.0  # (n, count)
        mid = mode[:, None] + sign * (bounds[:, :-1] + half)
        w = mid[:, :, None] + sign * half[:, :, None] * _GL16_X
        with_width = half[:, :, None] > 0
        logs = np.where(
            with_width, _LOG_GL16_W + np.log(np.where(with_width, half[:, :, None], 1.0)), -np.inf
        )
        nodes.append(w.reshape(w.shape[0], -1))
        log_weights.append(logs.reshape(w.shape[0], -1))
    w = np.concatenate(nodes, axis=1)
    log_big_tau = np.logaddexp(log_gap, w)
    log_terms = np.concatenate(log_weights, axis=1) + (1.0 - e_small[:, None]) * w
    log_terms = log_terms - e_big[:, None] * log_big_tau
    value = logsumexp(log_terms, axis=1)
    if not grad:
        return value, None
    weights = np.exp(log_terms - value[:, None])
    gradient = np.stack(
        [
            -(weights * log_big_tau).sum(axis=1),
            -(weights * w).sum(axis=1),
            -e_big * (weights * np.exp(-log_big_tau)).sum(axis=1),
            -e_small * (weights * np.exp(-w)).sum(axis=1),
        ]
    )
    return value, gradient


def log_f(
    e_alpha: FloatArray,
    e_beta: FloatArray,
    alpha: float,
    beta: float,
    t: FloatArray,
    *,
    grad: bool = True,
) -> LogValue:
    """log of F(t) = int_t^inf (alpha+tau)^-e_alpha (beta+tau)^-e_beta dtau, with gradient.

    Needs e_alpha + e_beta > 1. The gradient is with respect to
    (e_alpha, alpha, e_beta, beta).
    """
    if alpha >= beta:
        e_big, e_small, big, small = e_alpha, e_beta, alpha, beta
    else:
        e_big, e_small, big, small = e_beta, e_alpha, beta, alpha
    z = (big - small) / (big + t)
    value = np.empty(t.size)
    gradient = np.empty((4, t.size)) if grad else None
    near = z > SERIES_MAX_Z
    for mask, method in ((~near, _log_f_series), (near, _log_f_quadrature)):
        if mask.any():
            v, g = method(e_big[mask], e_small[mask], big, small, t[mask], grad)
            value[mask] = v
            if gradient is not None and g is not None:
                gradient[:, mask] = g
    if gradient is None:
        return LogValue(value, None)
    # back from (e_M, e_m, M, m) to (e_alpha, alpha, e_beta, beta)
    order = [0, 2, 1, 3] if alpha >= beta else [1, 3, 0, 2]
    return LogValue(value, gradient[order])


def _log_direct(
    e_alpha: FloatArray,
    e_beta: FloatArray,
    alpha: float,
    beta: float,
    t0: FloatArray,
    t1: FloatArray,
) -> LogValue:
    """log of the integral over a short [t0, t1] by 8-point Gauss-Legendre, with gradient."""
    half = (t1 - t0) / 2.0
    tau = (t0 + t1)[:, None] / 2.0 + half[:, None] * _GL8_X
    log_a = np.log(alpha + tau)
    log_b = np.log(beta + tau)
    log_terms = _LOG_GL8_W - e_alpha[:, None] * log_a - e_beta[:, None] * log_b
    norm = logsumexp(log_terms, axis=1, keepdims=True)
    weights = np.exp(log_terms - norm)
    value = norm[:, 0] + np.log(half)
    grad = np.stack(
        [
            -(weights * log_a).sum(axis=1),
            -e_alpha * (weights / (alpha + tau)).sum(axis=1),
            -(weights * log_b).sum(axis=1),
            -e_beta * (weights / (beta + tau)).sum(axis=1),
        ]
    )
    return LogValue(value, grad)


def log_interval(
    x: FloatArray,
    at0: Pairs,
    at1: Pairs,
    shift_alpha: float,
    alpha: float,
    e_beta: float,
    beta: float,
    *,
    grad: bool = True,
) -> LogValue:
    """log of int_{t0}^{t1} (alpha+tau)^-(shift_alpha+x) (beta+tau)^-e_beta dtau per row.

    ``at0`` and ``at1`` index the rows' (x, t0) and (x, t1) pairs, where F is computed
    once per pair. Rows need t1 >= t0; an empty interval gives -inf. The gradient is with
    respect to (shift_alpha, alpha, e_beta, beta).
    """
    f0 = log_f(shift_alpha + at0.x, np.full(at0.x.size, e_beta), alpha, beta, at0.t, grad=grad)
    f1 = log_f(shift_alpha + at1.x, np.full(at1.x.size, e_beta), alpha, beta, at1.t, grad=grad)
    lf0 = f0.value[at0.inverse]
    delta = f1.value[at1.inverse] - lf0
    short = delta > -SHORT_INTERVAL
    delta = np.minimum(delta, -SHORT_INTERVAL)
    gap = -np.expm1(delta)
    value = lf0 + np.log(gap)
    gradient = None
    if grad:
        assert f0.grad is not None
        assert f1.grad is not None
        ratio = np.exp(delta)
        gradient = (f0.grad[:, at0.inverse] - ratio * f1.grad[:, at1.inverse]) / gap
    rows = np.flatnonzero(short)
    if rows.size:
        t0 = at0.t[at0.inverse[rows]]
        t1 = at1.t[at1.inverse[rows]]
        empty = t1 <= t0
        value[rows[empty]] = -np.inf
        if gradient is not None:
            gradient[:, rows[empty]] = 0.0
        rows, t0, t1 = rows[~empty], t0[~empty], t1[~empty]
    if rows.size:
        direct = _log_direct(shift_alpha + x[rows], np.full(rows.size, e_beta), alpha, beta, t0, t1)
        value[rows] = direct.value
        if gradient is not None:
            assert direct.grad is not None
            gradient[:, rows] = direct.grad
    return LogValue(value, gradient)


def bg_log_hyp(
    a_param: float, a_top: float, c: FloatArray, z: FloatArray, max_terms: int = 20_000
) -> tuple[FloatArray, FloatArray]:
    r"""(log|U|, sign U) with :math:`{}_2F_1(A, a-1; C; z) = 1 + (a-1) U` (BG/NBD expectation).

    :math:`U = \sum_{k\ge1} (A)_k (a)_{k-1} / ((C)_k k!)\, z^k`, needs C > 0. Written this
    way the expectation stays exact at a = 1. Terms are summed in blocks in log space with
    their signs (A may be negative), so large ``a`` cannot overflow; past ``max_terms``
    (z within about 1e-4 of 1) the remaining tail is left out.
    """
    n = z.size
    log_terms_all: list[FloatArray] = []
    rows_all: list[NDArray[np.int64]] = []
    signs_all: list[FloatArray] = []
    first = np.abs(a_top) * z / c
    log_last = np.full(n, -np.inf)
    some = first > 0
    log_last[some] = np.log(first[some])
    sign_last = np.full(n, 1.0 if a_top >= 0 else -1.0)
    log_terms_all.append(log_last.copy())
    rows_all.append(np.arange(n, dtype=np.int64))
    signs_all.append(sign_last.copy())
    running = log_last.copy()
    active = np.flatnonzero(some)
    offsets = np.arange(64, dtype=np.float64)
    k0 = 1
    while active.size and k0 < max_terms:
        k = k0 + offsets  # ratio from u_k to u_{k+1}
        top = a_top + k
        log_ratio = (
            np.log(np.abs(top))
            + np.log(a_param + k - 1)
            - np.log(c[active, None] + k)
            - np.log(k + 1)
            + np.log(z[active, None])
        )
        logs = log_last[active, None] + np.cumsum(log_ratio, axis=1)
        signs = sign_last[active, None] * np.cumprod(np.where(top < 0, -1.0, 1.0))
        log_terms_all.append(logs.ravel())
        rows_all.append(np.repeat(active, offsets.size).astype(np.int64))
        signs_all.append(np.asarray(signs, dtype=np.float64).ravel())
        log_last[active] = logs[:, -1]
        sign_last[active] = signs[:, -1]
        running[active] = np.logaddexp(running[active], logs.max(axis=1))
        zr = z[active]
        done = log_last[active] - np.log1p(-zr) < running[active] - 40.0
        active = active[~done]
        k0 += 64
    rows = np.concatenate(rows_all)
    logs_flat = np.concatenate(log_terms_all)
    signs_flat = np.concatenate(signs_all)
    peak = np.full(n, -np.inf)
    np.maximum.at(peak, rows, logs_flat)
    safe_peak = np.where(np.isfinite(peak), peak, 0.0)
    scaled = signs_flat * np.exp(logs_flat - safe_peak[rows])
    total = np.bincount(rows, weights=scaled, minlength=n)
    log_abs = np.full(n, -np.inf)
    nonzero = total != 0
    log_abs[nonzero] = np.log(np.abs(total[nonzero])) + safe_peak[nonzero]
    return log_abs, np.sign(total)
