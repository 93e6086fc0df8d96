"""The statistics of a campaign against its holdout: uplift, intervals, CUPED, power.

Conversion (a share of members with at least one outcome event) is compared with:

* the **absolute uplift** ``p_t - p_c`` and Newcombe's hybrid score interval (his method
  10: Wilson intervals of each rate combined), which keeps its coverage for small groups
  and rates near 0 or 1 where the Wald interval does not;
* the **relative uplift** ``p_t / p_c - 1`` and the log-ratio (Katz) interval
  ``exp(log(p_t/p_c) +- z * sqrt(1/x_t - 1/n_t + 1/x_c - 1/n_c)) - 1`` (the delta method
  on the log scale), undefined when a group has no converter;
* the **p-value** of the pooled two-proportion z-test (two-sided).

Revenue per member is a difference in means with Welch's interval (unequal variances).
CUPED (Deng et al., 2013) subtracts ``theta * (x - mean(x))`` from each member's outcome,
``x`` being the same outcome over a pre-period of the same length before the send and
``theta = cov(x, y) / var(x)`` over both groups: the estimate stays unbiased (the
assignment does not depend on ``x``) and its variance shrinks by ``corr(x, y)^2``.

Every function takes numpy arrays where it helps, so the coverage of the intervals can be
checked on thousands of simulated campaigns at once (tests/activate/test_uplift.py).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

from microseg.core.results import Result

__all__ = [
    "Comparison",
    "CupedEstimate",
    "MeanDifference",
    "compare_means",
    "compare_rates",
    "cuped",
    "difference_interval",
    "needed_per_group",
    "ratio_interval",
    "wilson_interval",
]

Floats = npt.NDArray[np.float64]
ArrayLike = Any


def _z(level: float) -> float:
    return float(stats.norm.ppf(0.5 + level / 2))


def wilson_interval(x: ArrayLike, n: ArrayLike, level: float = 0.95) -> tuple[Floats, Floats]:
    """Wilson score interval of the proportion ``x / n`` (arrays allowed)."""
    x, n = np.asarray(x, dtype=float), np.asarray(n, dtype=float)
    z = _z(level)
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def difference_interval(
    x_t: ArrayLike, n_t: ArrayLike, x_c: ArrayLike, n_c: ArrayLike, level: float = 0.95
) -> tuple[Floats, Floats]:
    """Newcombe's hybrid score interval of ``x_t/n_t - x_c/n_c`` (arrays allowed)."""
    p_t = np.asarray(x_t, dtype=float) / np.asarray(n_t, dtype=float)
    p_c = np.asarray(x_c, dtype=float) / np.asarray(n_c, dtype=float)
    l_t, u_t = wilson_interval(x_t, n_t, level)
    l_c, u_c = wilson_interval(x_c, n_c, level)
    d = p_t - p_c
    low = d - np.sqrt((p_t - l_t) ** 2 + (u_c - p_c) ** 2)
    high = d + np.sqrt((u_t - p_t) ** 2 + (p_c - l_c) ** 2)
    return low, high


def ratio_interval(
    x_t: ArrayLike, n_t: ArrayLike, x_c: ArrayLike, n_c: ArrayLike, level: float = 0.95
) -> tuple[Floats, Floats]:
    """Log-ratio interval of the relative uplift ``(x_t/n_t) / (x_c/n_c) - 1``; NaN where a
    group has no converter."""
    x_t, n_t = np.asarray(x_t, dtype=float), np.asarray(n_t, dtype=float)
    x_c, n_c = np.asarray(x_c, dtype=float), np.asarray(n_c, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.log((x_t / n_t) / (x_c / n_c))
        se = np.sqrt(1 / x_t - 1 / n_t + 1 / x_c - 1 / n_c)
        ok = (x_t > 0) & (x_c > 0)
        z = _z(level)
        low = np.where(ok, np.exp(log_ratio - z * se) - 1, np.nan)
        high = np.where(ok, np.exp(log_ratio + z * se) - 1, np.nan)
    return low, high


def two_proportion_p(x_t: ArrayLike, n_t: ArrayLike, x_c: ArrayLike, n_c: ArrayLike) -> Floats:
    """Two-sided p-value of the pooled two-proportion z-test (1 when nothing varies)."""
    x_t, n_t = np.asarray(x_t, dtype=float), np.asarray(n_t, dtype=float)
    x_c, n_c = np.asarray(x_c, dtype=float), np.asarray(n_c, dtype=float)
    pooled = (x_t + x_c) / (n_t + n_c)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n_t + 1 / n_c))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (x_t / n_t - x_c / n_c) / se, 0.0)
    return np.asarray(2 * stats.norm.sf(np.abs(z)), dtype=float)


def needed_per_group(
    p_c: float, p_t: float, *, alpha: float = 0.05, power: float = 0.8
) -> int | None:
    """Members per group a two-sided two-proportion test needs to detect ``p_t`` against
    ``p_c`` with probability ``power`` (None when the rates are equal)."""
    if p_t == p_c:
        return None
    z_a, z_b = _z(1 - alpha), float(stats.norm.ppf(power))
    mean = (p_t + p_c) / 2
    root = z_a * math.sqrt(2 * mean * (1 - mean)) + z_b * math.sqrt(
        p_t * (1 - p_t) + p_c * (1 - p_c)
    )
    return math.ceil(root**2 / (p_t - p_c) ** 2)


def _finite(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


class Comparison(Result):
    """Treatment against control on a conversion rate."""

    absolute_uplift: float | None
    absolute_interval: tuple[float | None, float | None]
    relative_uplift: float | None
    relative_interval: tuple[float | None, float | None]
    p_value: float | None
    #: members per group the observed rates would need for 80% power at the 5% level
    needed_per_group: int | None
    interval_methods: str = "absolute: Newcombe hybrid score; relative: log ratio"


def compare_rates(x_t: int, n_t: int, x_c: int, n_c: int, level: float = 0.95) -> Comparison:
    """Absolute and relative uplift of the treatment's rate over the control's."""
    if n_t == 0 or n_c == 0:
        return Comparison(
            absolute_uplift=None,
            absolute_interval=(None, None),
            relative_uplift=None,
            relative_interval=(None, None),
            p_value=None,
            needed_per_group=None,
        )
    p_t, p_c = x_t / n_t, x_c / n_c
    low, high = difference_interval(x_t, n_t, x_c, n_c, level)
    r_low, r_high = ratio_interval(x_t, n_t, x_c, n_c, level)
    return Comparison(
        absolute_uplift=p_t - p_c,
        absolute_interval=(_finite(float(low)), _finite(float(high))),
        relative_uplift=(p_t / p_c - 1) if p_c > 0 else None,
        relative_interval=(_finite(float(r_low)), _finite(float(r_high))),
        p_value=float(two_proportion_p(x_t, n_t, x_c, n_c)),
        needed_per_group=needed_per_group(p_c, p_t),
    )


class MeanDifference(Result):
    """Difference in means of treatment and control with Welch's interval."""

    treatment_mean: float | None
    control_mean: float | None
    difference: float | None
    interval: tuple[float | None, float | None]
    p_value: float | None
    interval_method: str = "Welch"


def compare_means(y_t: Floats, y_c: Floats, level: float = 0.95) -> MeanDifference:
    """Welch's t interval and test of ``mean(y_t) - mean(y_c)``."""
    if len(y_t) < 2 or len(y_c) < 2:
        means = [float(np.mean(y)) if len(y) else None for y in (y_t, y_c)]
        return MeanDifference(
            treatment_mean=means[0],
            control_mean=means[1],
            difference=None,
            interval=(None, None),
            p_value=None,
        )
    difference = float(np.mean(y_t) - np.mean(y_c))
    if np.var(y_t) == 0 and np.var(y_c) == 0:
        interval: tuple[float | None, float | None] = (difference, difference)
        p_value: float | None = None
    else:
        test = stats.ttest_ind(y_t, y_c, equal_var=False)
        ci = test.confidence_interval(level)
        interval = (_finite(float(ci.low)), _finite(float(ci.high)))
        p_value = _finite(float(test.pvalue))
    return MeanDifference(
        treatment_mean=float(np.mean(y_t)),
        control_mean=float(np.mean(y_c)),
        difference=difference,
        interval=interval,
        p_value=p_value,
    )


class CupedEstimate(Result):
    """A difference in means adjusted by the pre-period outcome (CUPED)."""

    theta: float
    #: share of the outcome's variance removed: 1 - var(adjusted) / var(outcome)
    variance_reduction: float
    difference: MeanDifference
    #: the adjusted difference over the control's unadjusted mean
    relative_uplift: float | None


def cuped(
    y: Floats, x: Floats, treated: npt.NDArray[np.bool_], level: float = 0.95
) -> CupedEstimate:
    """CUPED: the treatment effect on ``y`` with the pre-period ``x`` as covariate."""
    y, x = np.asarray(y, dtype=float), np.asarray(x, dtype=float)
    var_x = float(np.var(x, ddof=1)) if len(x) > 1 else 0.0
    theta = float(np.cov(x, y, ddof=1)[0, 1] / var_x) if var_x > 0 else 0.0
    adjusted = y - theta * (x - float(np.mean(x)))
    var_y = float(np.var(y, ddof=1)) if len(y) > 1 else 0.0
    reduction = 1 - float(np.var(adjusted, ddof=1)) / var_y if var_y > 0 else 0.0
    difference = compare_means(adjusted[treated], adjusted[~treated], level)
    control = float(np.mean(y[~treated])) if (~treated).any() else 0.0
    relative = (
        difference.difference / control if difference.difference is not None and control else None
    )
    return CupedEstimate(
        theta=theta,
        variance_reduction=reduction,
        difference=difference,
        relative_uplift=relative,
    )
