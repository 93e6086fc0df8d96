"""Difference in differences of ratio measures, with Welch intervals over customers.

Every measure is a ratio of sums over a group's customers: ``R = sum(N) / sum(D)`` (orders
per customer: N = orders, D = 1; average order value: N = spend, D = orders; a category's
share of spend: N = the category's spend, D = all spend). For a group, the change is
``R_after - R_before``; the estimate is the changers' change less the controls' change.

The interval linearises each ratio (the delta method): customer i contributes
``z_i = (N_i1 - R_1 D_i1) / mean(D_1) - (N_i0 - R_0 D_i0) / mean(D_0)``, whose mean is 0 and
whose variance over n customers, divided by n, is the variance of the group's change. For
D = 1, ``z_i`` is the customer's own after-minus-before difference, centred: a plain Welch
interval on per-customer differences. The two groups are independent, so their variances add,
with Welch-Satterthwaite degrees of freedom and Student's t quantile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

__all__ = ["Change", "GroupData", "diff_in_diff"]

Arr = npt.NDArray[np.float64]


@dataclass(frozen=True)
class GroupData:
    """One group's per-customer numerators and denominators, before (0) and after (1)."""

    n0: Arr
    d0: Arr
    n1: Arr
    d1: Arr

    @property
    def size(self) -> int:
        return int(self.n0.shape[0])


@dataclass(frozen=True)
class Change:
    """One group's ratio before and after, and the variance of its change."""

    before: float
    after: float
    variance: float
    size: int


def _ratio(num: Arr, den: Arr) -> float:
    total = float(den.sum())
    return float(num.sum()) / total if total > 0 else math.nan


def group_change(data: GroupData) -> Change:
    """The group's ratio before and after and the (delta-method) variance of the change."""
    r0, r1 = _ratio(data.n0, data.d0), _ratio(data.n1, data.d1)
    n = data.size
    if n < 2 or math.isnan(r0) or math.isnan(r1):
        return Change(r0, r1, math.nan, n)
    z = (data.n1 - r1 * data.d1) / float(data.d1.mean()) - (data.n0 - r0 * data.d0) / float(
        data.d0.mean()
    )
    return Change(r0, r1, float(np.var(z, ddof=1)) / n, n)


def diff_in_diff(changers: GroupData, controls: GroupData, level: float = 0.95) -> dict[str, Any]:
    """Both groups' ratios before and after, the estimate and its Welch interval.

    Values are NaN where a ratio has no denominator (no spend, no orders) in a window, and
    the interval is NaN with fewer than two customers in a group.
    """
    k, c = group_change(changers), group_change(controls)
    estimate = (k.after - k.before) - (c.after - c.before)
    low = high = math.nan
    variance = k.variance + c.variance
    if not math.isnan(variance):
        if variance == 0.0:
            low = high = estimate
        else:
            df = variance**2 / (k.variance**2 / (k.size - 1) + c.variance**2 / (c.size - 1))
            half = float(stats.t.ppf(0.5 + level / 2.0, df)) * math.sqrt(variance)
            low, high = estimate - half, estimate + half
    return {
        "changers_before": k.before,
        "changers_after": k.after,
        "controls_before": c.before,
        "controls_after": c.after,
        "did": estimate,
        "low": low,
        "high": high,
    }
