"""The uplift statistics: hand-computed figures on tiny data, CUPED, power, coverage."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from microseg.activate._uplift import (
    compare_means,
    compare_rates,
    cuped,
    difference_interval,
    needed_per_group,
    ratio_interval,
    wilson_interval,
)


def test_two_proportions_by_hand() -> None:
    # 30 of 100 treated converted, 20 of 100 in control
    result = compare_rates(30, 100, 20, 100)
    assert result.absolute_uplift == pytest.approx(0.10)
    assert result.relative_uplift == pytest.approx(0.50)
    # pooled rate 0.25: z = 0.1 / sqrt(0.25 * 0.75 * (1/100 + 1/100)) = 1.63299
    assert result.p_value == pytest.approx(0.102470, abs=1e-5)
    # Wilson 30/100 = [0.21894, 0.39586], 20/100 = [0.13339, 0.28883]; Newcombe:
    # 0.1 - sqrt(0.08106^2 + 0.08883^2), 0.1 + sqrt(0.09586^2 + 0.06661^2)
    low, high = result.absolute_interval
    assert low == pytest.approx(-0.02026, abs=2e-4)
    assert high == pytest.approx(0.21673, abs=2e-4)
    # log ratio: log(1.5) +- 1.96 * sqrt(1/30 - 1/100 + 1/20 - 1/100) = 0.405465 +- 0.493249
    r_low, r_high = result.relative_interval
    assert r_low == pytest.approx(np.exp(np.log(1.5) - 0.493249) - 1, abs=1e-5)
    assert r_high == pytest.approx(np.exp(np.log(1.5) + 0.493249) - 1, abs=1e-5)
    # 294 per group detect 20% against 30% 80% of the time at the 5% level (Fleiss)
    assert result.needed_per_group == 294 == needed_per_group(0.2, 0.3)


def test_wilson_matches_scipy() -> None:
    low, high = wilson_interval(30, 100)
    ci = stats.binomtest(30, 100).proportion_ci(0.95, method="wilson")
    assert (float(low), float(high)) == pytest.approx((ci.low, ci.high), abs=1e-9)


def test_no_converter_in_control_has_no_relative_interval() -> None:
    result = compare_rates(3, 10, 0, 10)
    assert result.relative_uplift is None
    assert result.relative_interval == (None, None)
    assert result.absolute_interval[0] is not None


def test_welch_difference_by_hand() -> None:
    treated = np.asarray([10.0, 0.0, 20.0, 10.0])
    control = np.asarray([0.0, 10.0, 0.0, 2.0])
    result = compare_means(treated, control)
    assert result.difference == pytest.approx(10.0 - 3.0)
    # Welch: se = sqrt(66.667/4 + 22.667/4) = 4.7258; df = 4.86 (Welch-Satterthwaite)
    se = np.sqrt(np.var(treated, ddof=1) / 4 + np.var(control, ddof=1) / 4)
    v1, v2 = np.var(treated, ddof=1) / 4, np.var(control, ddof=1) / 4
    df = (v1 + v2) ** 2 / (v1**2 / 3 + v2**2 / 3)
    half = stats.t.ppf(0.975, df) * se
    assert result.interval == pytest.approx((7.0 - half, 7.0 + half))


def test_cuped_reduces_variance_on_correlated_data() -> None:
    rng = np.random.default_rng(1)
    n = 4000
    pre = rng.normal(10, 3, n)
    treated = rng.random(n) < 0.5
    post = pre + rng.normal(0, 1, n) + 0.5 * treated
    plain = compare_means(post[treated], post[~treated])
    adjusted = cuped(post, pre, treated)
    assert adjusted.theta == pytest.approx(1.0, abs=0.05)
    assert adjusted.variance_reduction > 0.85  # corr^2 = 9 / 10
    width = plain.interval[1] - plain.interval[0]  # type: ignore[operator]
    cuped_ci = adjusted.difference.interval
    assert cuped_ci[1] - cuped_ci[0] < width / 2  # type: ignore[operator]
    assert cuped_ci[0] < 0.5 < cuped_ci[1]  # type: ignore[operator]


def test_cuped_without_a_useful_covariate_changes_nothing() -> None:
    y = np.asarray([1.0, 0.0, 1.0, 0.0])
    x = np.zeros(4)
    result = cuped(y, x, np.asarray([True, True, False, False]))
    assert result.theta == 0.0
    assert result.variance_reduction == 0.0


def test_intervals_cover_the_true_uplift_95_percent_of_the_time() -> None:
    """2,000 simulated campaigns with a known uplift (20% -> 25.2%, +26% relative): the
    nominal 95% intervals cover the truth in 93-97% of them."""
    rng = np.random.default_rng(2026)
    runs, n_t, n_c = 4000, 900, 300
    p_c, lift = 0.2, 0.26
    p_t = p_c * (1 + lift)
    x_t = rng.binomial(n_t, p_t, runs)
    x_c = rng.binomial(n_c, p_c, runs)
    low, high = difference_interval(x_t, n_t, x_c, n_c)
    covered = np.mean((low <= p_t - p_c) & (p_t - p_c <= high))
    assert 0.93 <= covered <= 0.97, covered
    r_low, r_high = ratio_interval(x_t, n_t, x_c, n_c)
    covered = np.mean((r_low <= lift) & (lift <= r_high))
    assert 0.93 <= covered <= 0.97, covered
    # revenue per member: skewed (most spend nothing), Welch's interval on the difference
    spend_t = rng.exponential(50.0, (2000, 400)) * (rng.random((2000, 400)) < 0.3)
    spend_c = rng.exponential(40.0, (2000, 400)) * (rng.random((2000, 400)) < 0.3)
    test = stats.ttest_ind(spend_t, spend_c, axis=1, equal_var=False)
    ci = test.confidence_interval(0.95)
    truth = 0.3 * 50.0 - 0.3 * 40.0
    covered = np.mean((ci.low <= truth) & (truth <= ci.high))
    assert 0.93 <= covered <= 0.97, covered
