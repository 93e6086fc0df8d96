"""The value models against published numbers, lifetimes, their own simulations and extremes.

Sources of the anchors:

- FHL 2005: Fader, Hardie & Lee, "Counting your customers the easy way", Marketing Science
  24(2), and its Excel sheet (as quoted by lifetimes' and BTYD's tests).
- FH Pareto/NBD: Fader & Hardie's Pareto/NBD notes; the estimates and log-likelihood as
  reported in FHL 2005 (Table 2) and reproduced by CLVTools' correctness tests, which
  also give the standard errors.
- FH 2013: Fader & Hardie, "The Gamma-Gamma model of monetary value" and its spreadsheet;
  CLVTools' correctness test gives the log-likelihood -4055.9177.
- BTYD: the R package's documentation (pnbd.PAlive example, walkthrough vignette).
- lifetimes 0.11.3: values computed with lifetimes at the same parameters (noted so).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
import pytest

import microseg.value
from microseg.core.errors import ModelFitError
from microseg.value import (
    BGNBD,
    GammaGamma,
    ParetoNBD,
    churn_risk,
    clv,
    compress_rfm,
    score,
    simulate_bgnbd,
    simulate_gamma_gamma,
    simulate_pareto_nbd,
)
from microseg.value._base import ValueModel
from microseg.value._special import _log_f_quadrature, _log_f_series

CDNOW = Path(__file__).resolve().parents[1] / "data" / "CDNOW_sample.txt"
BG_PUBLISHED = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PARETO_PUBLISHED = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
GG_PUBLISHED = {"p": 6.25, "q": 3.74, "gamma": 15.44}


def cdnow_summary() -> pd.DataFrame:
    """The standard CDNOW calibration summary, weekly, built from the raw sample."""
    raw = pd.read_csv(
        CDNOW,
        sep=r"\s+",
        header=None,
        names=["customer", "id", "date", "cds", "amount"],
        dtype={"date": str},
    )
    raw["date"] = pd.to_datetime(raw["date"], format="%Y%m%d")
    end = pd.Timestamp("1997-09-30")
    days = raw.groupby(["customer", "date"], as_index=False)["amount"].sum()
    first = days.groupby("customer")["date"].min()
    calibration = days[(days["date"] <= end) & days["customer"].isin(first[first <= end].index)]
    calibration = calibration.sort_values(["customer", "date"])
    grouped = calibration.groupby("customer")
    purchases = grouped.size()
    start = first.loc[purchases.index]
    frequency = (purchases - 1).astype(float)
    repeat_total = grouped["amount"].sum() - grouped["amount"].first()
    return pd.DataFrame(
        {
            "frequency": frequency,
            "recency": (grouped["date"].max() - start).dt.days / 7.0,
            "T": (end - start).dt.days / 7.0,
            "monetary": (repeat_total / frequency.where(frequency > 0)).fillna(0.0),
        }
    )


@pytest.fixture(scope="module")
def summary() -> pd.DataFrame:
    return cdnow_summary()


Model = TypeVar("Model", bound=ValueModel)


def model(cls: type[Model], params: dict[str, float]) -> Model:
    """A model with given parameters, as ``from_dict`` builds it for scoring."""
    return cls.from_dict({"model": cls.__name__, "params": params})


def sig3(value: float) -> float:
    return float(f"{value:.3g}")


# -- the public surface -----------------------------------------------------------------


def test_public_surface_is_deliberate() -> None:
    models = {
        "BGNBD",
        "DAYS_PER_MONTH",
        "GammaGamma",
        "ParetoNBD",
        "PurchaseModel",
        "RFMRows",
        "churn_risk",
        "clv",
        "compress_rfm",
        "score",
        "simulate_bgnbd",
        "simulate_gamma_gamma",
        "simulate_pareto_nbd",
    }
    assert models <= set(microseg.value.__all__)
    assert set(microseg.value._models.__all__) == models


# -- CDNOW: the summary and the published estimates ------------------------------------


def test_cdnow_summary_matches_the_papers(summary: pd.DataFrame) -> None:
    assert len(summary) == 2357
    assert int((summary.frequency > 0).sum()) == 946
    first = summary.iloc[0]  # customer 4: first purchase 1997-01-01, T = 272 days
    assert (first.frequency, round(first.recency, 2), round(first["T"], 3)) == (2, 30.43, 38.857)


def test_bgnbd_cdnow_estimates(summary: pd.DataFrame) -> None:
    fitted = BGNBD().fit(summary.frequency, summary.recency, summary["T"])
    for name, value in BG_PUBLISHED.items():  # FHL 2005, to the 3 decimals published
        assert fitted.params_[name] == pytest.approx(value, abs=6e-4)
        assert sig3(fitted.params_[name]) == sig3(value)
    assert fitted.log_likelihood_ == pytest.approx(-9582.4, abs=0.1)
    assert fitted.converged_
    assert fitted.n_customers_ == 2357
    for name, (low, high) in fitted.confidence_intervals_.items():
        assert 0 < low < fitted.params_[name] < high
        assert fitted.standard_errors_[name] > 0


def test_pareto_cdnow_estimates(summary: pd.DataFrame) -> None:
    fitted = ParetoNBD().fit(summary.frequency, summary.recency, summary["T"])
    assert {k: sig3(v) for k, v in fitted.params_.items()} == {
        "r": 0.553,
        "alpha": 10.6,
        "s": 0.606,
        "beta": 11.7,
    }
    for name, value in PARETO_PUBLISHED.items():  # FHL 2005 Table 2, to 3 decimals
        assert fitted.params_[name] == pytest.approx(value, abs=6e-4)
    assert fitted.log_likelihood_ == pytest.approx(-9595.0, abs=0.1)
    # standard errors as reported by CLVTools' correctness tests
    clvtools = {"r": 0.0476264, "alpha": 0.8427222, "s": 0.1872594, "beta": 6.2105448}
    for name, value in clvtools.items():
        assert fitted.standard_errors_[name] == pytest.approx(value, rel=2e-3)


def test_gamma_gamma_cdnow_estimates(summary: pd.DataFrame) -> None:
    repeat = summary[summary.frequency > 0]
    fitted = GammaGamma().fit(repeat.frequency, repeat.monetary)
    assert fitted.n_customers_ == 946
    for name, value in GG_PUBLISHED.items():  # FH 2013, to the 2 decimals published
        assert fitted.params_[name] == pytest.approx(value, abs=6e-3)
        assert sig3(fitted.params_[name]) == sig3(value)
    assert fitted.log_likelihood_ == pytest.approx(-4055.9177, abs=0.01)  # CLVTools
    assert fitted.spend_frequency_correlation_ == pytest.approx(0.11, abs=0.01)
    assert fitted.independence_warning_ is None


def test_fit_on_compressed_rows_is_the_same_fit(summary: pd.DataFrame) -> None:
    rows = compress_rfm(summary.frequency, summary.recency, summary["T"])
    assert rows.n_rows < len(summary)
    assert rows.weights.sum() == len(summary)
    direct = BGNBD().fit(summary.frequency, summary.recency, summary["T"])
    weighted = BGNBD().fit(rows.frequency, rows.recency, rows.T, weights=rows.weights)
    for name in BGNBD.param_names:
        assert weighted.params_[name] == pytest.approx(direct.params_[name], rel=1e-6)


# -- closed-form anchors -----------------------------------------------------------------


def test_bgnbd_published_predictions(summary: pd.DataFrame) -> None:
    bg = model(BGNBD, BG_PUBLISHED)
    # FHL 2005, section 5: customer with x = 2, t_x = 30.43, T = 38.86 over 39 weeks
    assert float(bg.expected_purchases(39, 2, 30.43, 38.86)) == pytest.approx(1.226, abs=5e-4)
    # FHL 2005 Excel sheet (tracking plot): E[X(t)] for a new customer, at the sheet's
    # unrounded estimates, which the fit reproduces
    fitted = BGNBD().fit(summary.frequency, summary.recency, summary["T"])
    times = [0.1429, 1.0, 3.0, 31.8571, 32.0, 78.0]
    sheet = [0.0078, 0.0532, 0.1506, 1.0405, 1.0437, 1.8576]
    np.testing.assert_allclose(fitted.expected_purchases_new(times), sheet, atol=5e-4)


def test_bgnbd_matches_lifetimes_at_the_same_parameters() -> None:
    # reference values computed with lifetimes 0.11.3 (BetaGeoFitter, params set by hand)
    bg = model(BGNBD, BG_PUBLISHED)
    f, r, t = _customers()
    np.testing.assert_allclose(
        bg.p_alive(f, r, t),
        [1.0, 0.2121009854, 0.7265785701, 0.6417563459, 0.9689156497, 0.9588307536],
        rtol=1e-8,
    )
    np.testing.assert_allclose(
        bg.expected_purchases(52, f, r, t),
        [0.2520730223, 0.2598234649, 1.5587208064, 4.1988555849, 25.7581959365, 33.4690813513],
        rtol=1e-8,
    )
    np.testing.assert_allclose(
        bg.expected_purchases_new([39.0, 78.0]), [1.1967231933, 1.8605190579], rtol=1e-8
    )
    np.testing.assert_allclose(
        bg.purchase_count_pmf(39, [0, 1, 2, 3]),
        [0.5737863521, 0.1993952808, 0.0854297595, 0.0458603538],
        rtol=1e-8,
    )


def test_bgnbd_pmf_sums_to_one() -> None:
    bg = model(BGNBD, BG_PUBLISHED)
    assert float(bg.purchase_count_pmf(39, np.arange(2000)).sum()) == pytest.approx(1.0, abs=1e-9)
    assert float(bg.purchase_count_pmf(0, 0)) == 1.0
    assert float(bg.purchase_count_pmf(0, 3)) == 0.0


def test_pareto_published_predictions(summary: pd.DataFrame) -> None:
    pareto = model(ParetoNBD, PARETO_PUBLISHED)
    # BTYD pnbd.PAlive example: x = 0, T = 39 gives 0.2941633 at BTYD's estimates
    assert float(pareto.p_alive(0, 0, 39)) == pytest.approx(0.2942, abs=5e-4)
    # BTYD walkthrough (quoted by lifetimes): x = 26, t_x = 30.86, T = 31 over 52 weeks,
    # 25.46 at the estimates fitted on CDNOW
    fitted = ParetoNBD().fit(summary.frequency, summary.recency, summary["T"])
    assert float(fitted.expected_purchases(52, 26, 30.86, 31)) == pytest.approx(25.46, abs=0.01)


def test_pareto_matches_lifetimes_at_the_same_parameters() -> None:
    # reference values computed with lifetimes 0.11.3 (ParetoNBDFitter, params set by hand)
    pareto = model(ParetoNBD, PARETO_PUBLISHED)
    f, r, t = _customers()
    np.testing.assert_allclose(
        pareto.p_alive(f, r, t),
        [0.2952866046, 0.1680023267, 0.8691675592, 0.7495014077, 0.9979187311, 0.9849770862],
        rtol=1e-8,
    )
    np.testing.assert_allclose(
        pareto.expected_purchases(52, f, r, t),
        [0.1362010059, 0.2176196913, 1.8508267207, 4.7217541998, 25.4584729514, 33.3165906550],
        rtol=1e-8,
    )
    np.testing.assert_allclose(
        pareto.expected_purchases_new([39.0, 78.0]), [1.2130028443, 1.9093981293], rtol=1e-8
    )


def test_gamma_gamma_spreadsheet_and_lifetimes() -> None:
    gg = model(GammaGamma, GG_PUBLISHED)
    # FH 2013 spreadsheet, first CDNOW customers (x, m_x): 24.65, 18.91, 71.46
    spend = gg.expected_spend([2, 1, 0, 5], [22.345, 11.77, 0.0, 73.74])
    np.testing.assert_allclose(spend[:2], [24.65, 18.91], atol=0.01)
    assert float(spend[2]) == pytest.approx(6.25 * 15.44 / 2.74)
    assert gg.population_mean_spend() == pytest.approx(6.25 * 15.44 / 2.74)
    # lifetimes 0.11.3 conditional_expected_average_profit at the same parameters
    np.testing.assert_allclose(
        gg.expected_spend([7, 26, 40], [30.0, 45.0, 15.0]),
        [30.3075930308, 44.8378116679, 15.2191975944],
        rtol=1e-9,
    )


def test_clv_matches_lifetimes() -> None:
    bg = model(BGNBD, BG_PUBLISHED)
    gg = model(GammaGamma, GG_PUBLISHED)
    f, r, t = _customers()
    m = np.array([0, 11.77, 22.345, 30.0, 45.0, 15.0])
    # lifetimes counts 4.345 weeks a month: the same steps in days
    value = clv(bg, gg, f, r, t, m, unit_days=(365.25 / 12) / 4.345)
    expected = [8.3690043589, 4.6372946597, 36.283177003, 120.23556129, 1092.6435728, 481.57113837]
    np.testing.assert_allclose(value, expected, rtol=1e-8)
    # a longer horizon or a lower discount rate is worth more
    assert np.all(clv(bg, gg, f, r, t, m, horizon_months=24) > clv(bg, gg, f, r, t, m))
    no_discount = clv(bg, gg, f, r, t, m, monthly_discount_rate=0.0)
    assert np.all(no_discount > clv(bg, gg, f, r, t, m))
    weeks = (365.25 / 12) * 12 / 7
    spend = gg.expected_spend(f, m)
    np.testing.assert_allclose(no_discount, spend * bg.expected_purchases(weeks, f, r, t))


def test_clv_with_daily_units_matches_weekly() -> None:
    bg = model(BGNBD, BG_PUBLISHED)
    daily = model(BGNBD, {**BG_PUBLISHED, "alpha": BG_PUBLISHED["alpha"] * 7})
    gg = model(GammaGamma, GG_PUBLISHED)
    f, r, t = _customers()
    m = np.full(f.size, 20.0)
    weekly = clv(bg, gg, f, r, t, m)
    per_day = clv(daily, gg, f, r * 7, t * 7, m, unit_days=1.0)
    np.testing.assert_allclose(per_day, weekly, rtol=1e-10)


@pytest.mark.parametrize("purchase", [BGNBD, ParetoNBD])
def test_score_equals_the_separate_methods(purchase: type[BGNBD] | type[ParetoNBD]) -> None:
    fitted = model(purchase, BG_PUBLISHED if purchase is BGNBD else PARETO_PUBLISHED)
    gg = model(GammaGamma, GG_PUBLISHED)
    f, r, t = simulate_bgnbd(2000, BG_PUBLISHED, T=39.0, seed=9, resolution=1 / 7)
    m = np.where(f > 0, 20.0 + f, 0.0)
    scores = score(fitted, gg, f, r, t, m, t=26.0, horizon_months=6)
    np.testing.assert_allclose(scores["p_alive"], fitted.p_alive(f, r, t), rtol=1e-12)
    np.testing.assert_allclose(
        scores["expected_purchases"], fitted.expected_purchases(26.0, f, r, t), rtol=1e-12
    )
    np.testing.assert_allclose(
        scores["p_any_purchase"], fitted.p_any_purchase(26.0, f, r, t), rtol=1e-12
    )
    np.testing.assert_allclose(scores["expected_spend"], gg.expected_spend(f, m), rtol=1e-12)
    np.testing.assert_allclose(
        scores["clv"], clv(fitted, gg, f, r, t, m, horizon_months=6), rtol=1e-12
    )
    assert set(score(fitted, None, f, r, t, outputs=("p_alive",))) == {"p_alive"}
    with pytest.raises(ValueError, match="need a spend model"):
        score(fitted, None, f, r, t)


def _customers() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.array([0, 1, 2, 7, 26, 40.0]),
        np.array([0, 1.71, 30.43, 29.43, 30.86, 38.0]),
        np.array([38.86, 38.86, 38.86, 38.86, 31.0, 38.86]),
    )


# -- numerical stability ---------------------------------------------------------------

EXTREME = {
    "frequency": [500, 0, 1000, 3000, 1, 0, 2000, 50],
    "recency": [4999, 0, 0.5, 5000, 5000, 0, 4999.9, 3],
    "T": [5000, 10000, 5000, 5000, 5000, 0, 5000, 3],
}
PARAMS = {
    BGNBD: [
        BG_PUBLISHED,
        {"r": 1e-6, "alpha": 1e-6, "a": 1e-6, "b": 1e-6},
        {"r": 1e6, "alpha": 1e6, "a": 1e6, "b": 1e6},
        {"r": 50.0, "alpha": 0.01, "a": 200.0, "b": 0.05},
        {"r": 0.01, "alpha": 500.0, "a": 1.0, "b": 1e4},
    ],
    ParetoNBD: [
        PARETO_PUBLISHED,
        {"r": 1e-6, "alpha": 1e-6, "s": 1e-6, "beta": 1e-6},
        {"r": 1e6, "alpha": 1e6, "s": 1e6, "beta": 1e6},
        {"r": 50.0, "alpha": 0.01, "s": 3.0, "beta": 1e4},
        {"r": 0.01, "alpha": 500.0, "s": 0.02, "beta": 0.001},
        {"r": 0.5, "alpha": 10.0, "s": 1.0, "beta": 10.0},
    ],
}


@pytest.mark.parametrize(
    ("cls", "params"),
    [(cls, p) for cls, many in PARAMS.items() for p in many],
    ids=lambda v: v.__name__ if isinstance(v, type) else ",".join(f"{x:g}" for x in v.values()),
)
def test_extreme_rows_stay_finite_and_bounded(
    cls: type[BGNBD] | type[ParetoNBD], params: dict[str, float]
) -> None:
    fitted = model(cls, params)
    f, r, t = (np.array(EXTREME[k], dtype=float) for k in ("frequency", "recency", "T"))
    alive = fitted.p_alive(f, r, t)
    assert np.all(np.isfinite(alive))
    assert np.all((alive >= 0) & (alive <= 1))
    previous = np.zeros(f.size)
    previous_any = np.zeros(f.size)
    for horizon in (1.0, 10.0, 52.0, 520.0, 5200.0):
        expected = fitted.expected_purchases(horizon, f, r, t)
        assert np.all(np.isfinite(expected))
        assert np.all(expected >= previous * (1 - 1e-9))
        anything = fitted.p_any_purchase(horizon, f, r, t)
        assert np.all(np.isfinite(anything))
        # quadrature (z near 1) is accurate to about 1e-6 relative at the most extreme values
        assert np.all((anything >= previous_any * (1 - 1e-5)) & (anything <= alive + 1e-12))
        previous, previous_any = expected, anything
    new = fitted.expected_purchases_new([0.0, 1.0, 100.0, 10000.0])
    assert np.all(np.isfinite(new))
    assert new[0] == 0
    assert np.all(np.diff(new) >= 0)


def test_extreme_likelihoods_are_finite() -> None:
    from microseg.value import _bgnbd, _pareto

    f, r, t = (np.array(EXTREME[k], dtype=float) for k in ("frequency", "recency", "T"))
    rows = compress_rfm(f, r, t)
    for cls, objective in (
        (BGNBD, _bgnbd._Likelihood(rows)),
        (ParetoNBD, _pareto._Likelihood(rows)),
    ):
        for params in PARAMS[cls]:
            nll, grad = objective(np.array(list(params.values())))
            assert math.isfinite(nll), (cls.__name__, params)
            assert np.all(np.isfinite(grad)), (cls.__name__, params)


def test_pareto_gradient_matches_finite_differences() -> None:
    from microseg.value._pareto import _Likelihood

    f, r, t = (np.array(EXTREME[k], dtype=float) for k in ("frequency", "recency", "T"))
    f = np.concatenate([f, [2, 0, 7, 1]])
    r = np.concatenate([r, [30.43, 0, 29.43, 0.01]])
    t = np.concatenate([t, [38.86, 38.86, 38.86, 38.86]])
    objective = _Likelihood(compress_rfm(f, r, t))
    # the second set sends every F through the quadrature branch (z close to 1)
    for params in ([0.553, 10.578, 0.606, 11.669], [0.5, 0.05, 0.8, 400.0]):
        theta = np.log(params)
        _, grad = objective(np.exp(theta))
        numeric = np.empty(4)
        for j in range(4):
            step = np.zeros(4)
            step[j] = 1e-6
            up = objective(np.exp(theta + step))[0]
            down = objective(np.exp(theta - step))[0]
            numeric[j] = (up - down) / 2e-6
        np.testing.assert_allclose(grad * np.exp(theta), numeric, rtol=1e-5, atol=1e-4)


def test_series_and_quadrature_agree() -> None:
    e_big = np.array([0.6, 3.2, 40.0, 500.0, 1.6])
    e_small = np.array([1.6, 1.6, 0.3, 1.1, 2000.0])
    t = np.array([0.0, 2.0, 5.0, 0.0, 1.0])
    for big, small in ((10.0, 1.0), (40.0, 11.0), (12.0, 1.5)):
        series, series_grad = _log_f_series(e_big, e_small, big, small, t)
        quad, quad_grad = _log_f_quadrature(e_big, e_small, big, small, t)
        np.testing.assert_allclose(quad, series, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(quad_grad, series_grad, rtol=1e-6, atol=1e-8)


def test_fit_survives_heavy_buyers_and_long_histories() -> None:
    f, r, t = simulate_pareto_nbd(
        5000, {"r": 2.0, "alpha": 1.0, "s": 0.5, "beta": 50.0}, T=5000.0, seed=3
    )
    assert f.max() > 1000
    for cls in (BGNBD, ParetoNBD):
        fitted = cls().fit(f, r, t)
        assert fitted.converged_
        assert math.isfinite(fitted.log_likelihood_)


def test_fit_without_dropout_converges_whatever_the_row_order() -> None:
    # buyers who never drop out: the BG/NBD likelihood flattens as a and b grow, and the
    # line search used to stop short (ABNORMAL) on some orders of the same rows
    rng = np.random.default_rng(11)
    n = 180
    ages = np.floor(rng.uniform(4, 108, n) * 7) / 7
    lam = rng.gamma(1.0, 1.0 / 10.0, n)
    events = rng.poisson(lam * ages).astype(np.float64)
    recency = np.where(events > 0, ages * rng.beta(np.maximum(events, 1), 1.0), 0.0)
    recency = np.floor(recency * 7) / 7
    fits = []
    for seed in range(5):
        order = np.random.default_rng(seed).permutation(n)
        fitted = BGNBD().fit(events[order], recency[order], ages[order])
        assert fitted.converged_
        fits.append(fitted.params_)
    assert all(f == fits[0] for f in fits)
    # no dropout detected: the dropout odds a / (a + b) stay small
    assert fits[0]["a"] / (fits[0]["a"] + fits[0]["b"]) < 0.2


# Forty repeat buyers whose spend barely varies around each one's own mean: Gamma-Gamma's
# p and gamma run off together along a ridge where p * gamma is fixed.
_RIDGE_FREQUENCY = [10, 9, 5, 5, 2, 11, 2, 2, 6, 5, 2, 4, 2, 2, 2, 1, 2, 2, 4, 3]
_RIDGE_FREQUENCY += [3, 10, 2, 5, 3, 11, 2, 9, 3, 3, 1, 11, 2, 9, 5, 3, 3, 2, 2, 3]
_RIDGE_SPEND = [146.814, 83.718888889, 50.476, 107.48, 156.635, 115.86, 89.735, 73.955]
_RIDGE_SPEND += [40.173333333, 88.03, 176.475, 69.26, 54.65, 306.57, 44.48, 191.28, 60.005]
_RIDGE_SPEND += [177.785, 94.2275, 56.15, 34.043333333, 78.811, 119.44, 137.1, 219.363333333]
_RIDGE_SPEND += [17.691818182, 40.635, 35.597777778, 111.633333333, 80.766666667, 53.73]
_RIDGE_SPEND += [148.582727273, 36.775, 176.086666667, 204.104, 92.22, 196.126666667]
_RIDGE_SPEND += [147.365, 64.075, 21.51]


def test_gamma_gamma_on_a_ridge_converges_to_one_fit_whatever_the_row_order() -> None:
    # the line search stopped (ABNORMAL) on about one order in twenty of these rows, and
    # the parameters changed with the order the store returned the customers in
    frequency, spend = np.array(_RIDGE_FREQUENCY), np.array(_RIDGE_SPEND)
    fits = []
    for seed in range(100):
        order = np.random.default_rng(seed).permutation(frequency.size)
        fitted = GammaGamma().fit(frequency[order], spend[order])
        assert fitted.converged_
        fits.append(fitted.params_)
    assert all(f == fits[0] for f in fits)
    # the fit says it is degenerate rather than hiding it: at the edge, and the data do not
    # pin the parameters down (the curvature along the ridge is tiny: huge standard errors,
    # or, when the Hessian comes out singular in floating point, none; which one depends on
    # the last bits of the numerical libraries, and both are said)
    codes = {w.code for w in fitted.warnings_}
    assert "near_bound" in codes
    assert codes & {"flat_likelihood", "no_standard_errors"}
    # p * gamma / (q - 1), the population's mean spend, is what the ridge pins down
    p, q, gamma = fits[0]["p"], fits[0]["q"], fits[0]["gamma"]
    assert p * gamma / (q - 1) == pytest.approx(np.mean(spend), rel=0.2)


def test_bgnbd_expectation_with_little_dropout_matches_mpmath() -> None:
    # a and b in the millions (a fit that finds almost no drop-out): the reference values
    # are the closed form evaluated with mpmath at 30 digits
    model = BGNBD.from_dict(
        {"model": "BGNBD", "params": {"r": 0.937, "alpha": 10.0, "a": 8.9e6, "b": 1e8}}
    )
    x = np.array([0.0, 3.0, 9.0, 1.0, 5.0])
    tx = np.array([0.0, 20.0, 90.0, 2.0, 5.0])
    big_t = np.array([50.0, 50.0, 100.0, 95.0, 5.0])
    reference = [0.7599713218944509, 1.2228938412613255, 3.123659227650042]
    reference += [0.13035410319645027, 8.680729832645607]
    got = model.expected_purchases(52.0, x, tx, big_t)
    np.testing.assert_allclose(got, reference, rtol=1e-9)


# -- parameter recovery ----------------------------------------------------------------


@pytest.mark.slow
def test_bgnbd_recovers_simulated_parameters() -> None:
    truth = {"r": 0.8, "alpha": 5.0, "a": 0.9, "b": 3.0}
    ages = np.random.default_rng(1).uniform(10, 52, 100_000)
    f, r, t = simulate_bgnbd(100_000, truth, T=ages, seed=2)
    fitted = BGNBD().fit(f, r, t)
    for name, value in truth.items():
        assert abs(fitted.params_[name] - value) < 4 * fitted.standard_errors_[name], name


@pytest.mark.slow
def test_pareto_recovers_simulated_parameters() -> None:
    truth = {"r": 0.6, "alpha": 8.0, "s": 0.7, "beta": 12.0}
    ages = np.random.default_rng(1).uniform(10, 52, 100_000)
    f, r, t = simulate_pareto_nbd(100_000, truth, T=ages, seed=4, resolution=1 / 7)
    fitted = ParetoNBD().fit(f, r, t)
    for name, value in truth.items():
        # the daily grid biases slightly; 4 standard errors still hold
        assert abs(fitted.params_[name] - value) < 4 * fitted.standard_errors_[name], name


def test_gamma_gamma_recovers_simulated_parameters() -> None:
    truth = {"p": 4.0, "q": 3.0, "gamma": 20.0}
    frequency = np.random.default_rng(5).integers(1, 20, 100_000).astype(float)
    spend = simulate_gamma_gamma(frequency, truth, seed=6)
    fitted = GammaGamma().fit(frequency, spend)
    for name, value in truth.items():
        assert abs(fitted.params_[name] - value) < 4 * fitted.standard_errors_[name], name
    assert abs(fitted.spend_frequency_correlation_) < 0.05


def test_gamma_gamma_flags_correlated_spend() -> None:
    frequency = np.repeat(np.arange(1.0, 21.0), 50)
    spend = 5.0 * frequency * np.random.default_rng(0).uniform(0.9, 1.1, frequency.size)
    fitted = GammaGamma().fit(frequency, spend)
    assert fitted.spend_frequency_correlation_ > 0.9
    assert fitted.independence_warning_ is not None
    assert "independent" in fitted.independence_warning_


def test_simulated_data_respect_the_summary_rules() -> None:
    for simulate, params in (
        (simulate_bgnbd, BG_PUBLISHED),
        (simulate_pareto_nbd, PARETO_PUBLISHED),
    ):
        f, r, t = simulate(10_000, params, T=39.0, seed=0, resolution=1 / 7)
        assert np.all(r <= t)
        assert np.all(r[f == 0] == 0)
        assert np.all(f == np.floor(f))


# -- the estimator contract, serialisation and errors ---------------------------------


def test_to_dict_round_trips_through_json(summary: pd.DataFrame) -> None:
    fitted = ParetoNBD(penalizer=0.001).fit(summary.frequency, summary.recency, summary["T"])
    state = json.loads(json.dumps(fitted.to_dict()))
    restored = ParetoNBD.from_dict(state)
    assert restored.params_ == fitted.params_
    assert restored.penalizer == 0.001
    assert restored.standard_errors_ == pytest.approx(fitted.standard_errors_)
    assert float(restored.p_alive(3, 20.0, 38.0)) == float(fitted.p_alive(3, 20.0, 38.0))
    repeat = summary[summary.frequency > 0]
    gg = GammaGamma().fit(repeat.frequency, repeat.monetary)
    gg_state = json.loads(json.dumps(gg.to_dict()))
    assert GammaGamma.from_dict(gg_state).spend_frequency_correlation_ == pytest.approx(
        gg.spend_frequency_correlation_
    )


def test_from_dict_rejects_other_models_and_bad_params() -> None:
    with pytest.raises(ValueError, match="not 'BGNBD'"):
        BGNBD.from_dict({"model": "ParetoNBD", "params": PARETO_PUBLISHED})
    with pytest.raises(ValueError, match="exactly the keys"):
        BGNBD.from_dict({"model": "BGNBD", "params": {"r": 1.0}})
    with pytest.raises(ValueError, match="> 0"):
        BGNBD.from_dict({"model": "BGNBD", "params": {**BG_PUBLISHED, "a": -1.0}})


def test_fit_returns_self_and_init_only_stores() -> None:
    estimator = BGNBD(penalizer=0.1, tol=1e-6, max_iter=50)
    assert not hasattr(estimator, "params_")
    assert estimator.fit([0, 1, 2, 5], [0, 1.0, 2.0, 3.0], [4.0, 4.0, 4.0, 4.0]) is estimator
    with pytest.raises(ModelFitError, match="not fitted"):
        ParetoNBD().p_alive(1, 1, 2)


def test_penalizer_shrinks_log_parameters(summary: pd.DataFrame) -> None:
    plain = BGNBD().fit(summary.frequency, summary.recency, summary["T"])
    shrunk = BGNBD(penalizer=1.0).fit(summary.frequency, summary.recency, summary["T"])
    assert abs(math.log(shrunk.params_["alpha"])) < abs(math.log(plain.params_["alpha"]))
    assert shrunk.log_likelihood_ < plain.log_likelihood_


def test_failed_optimiser_raises_model_fit_error(summary: pd.DataFrame) -> None:
    with pytest.raises(ModelFitError) as caught:
        ParetoNBD(max_iter=1).fit(summary.frequency, summary.recency, summary["T"])
    assert caught.value.result is not None
    assert hasattr(caught.value.result, "x")


@pytest.mark.parametrize(
    ("frequency", "recency", "T", "message"),
    [
        ([0, -1], [0, 0], [1, 1], r"frequency must be >= 0; row 1 is -1"),
        ([0, 1.5], [0, 1], [1, 1], r"frequency must be a whole number; row 1 is 1.5"),
        ([1, 1], [0.5, 2.0], [1, 1], r"recency must be <= T; row 1 has recency 2.0 > T 1.0"),
        ([0, 1], [0.5, 1], [1, 1], r"recency must be 0 when frequency is 0; row 0"),
        ([0, 1], [0, -1], [1, 1], r"recency must be >= 0; row 1"),
        ([0, 1], [0, 1], [1, np.nan], r"T must be finite; row 1"),
        ([0, 1], [0, 1], [1, 1, 1], r"same length, got frequency=2, recency=2, T=3"),
        ([], [], [], r"empty"),
    ],
)
def test_bad_inputs_name_the_row(
    frequency: list[float], recency: list[float], T: list[float], message: str
) -> None:
    for cls in (BGNBD, ParetoNBD):
        with pytest.raises(ValueError, match=message):
            cls().fit(frequency, recency, T)


def test_bad_hyperparameters_and_spend_inputs() -> None:
    with pytest.raises(ValueError, match="'penalizer' parameter of BGNBD must be a float >= 0"):
        BGNBD(penalizer=-1).fit([1], [1], [2])
    with pytest.raises(ValueError, match="'max_iter' parameter of GammaGamma"):
        GammaGamma(max_iter=0).fit([1], [2.0])
    with pytest.raises(ValueError, match=r"frequency must be >= 1 .* row 1"):
        GammaGamma().fit([1, 0], [2.0, 3.0])
    with pytest.raises(ValueError, match="monetary_value must be > 0; row 0"):
        GammaGamma().fit([1, 2], [0.0, 3.0])
    with pytest.raises(ValueError, match="weights must be >= 0; row 1"):
        BGNBD().fit([1, 2], [1, 1], [2, 2], weights=[1, -1])
    with pytest.raises(ValueError, match="t must be >= 0"):
        model(BGNBD, BG_PUBLISHED).expected_purchases(-1, 1, 1, 2)


def test_scalars_and_arrays_give_the_same_predictions() -> None:
    for fitted in (model(BGNBD, BG_PUBLISHED), model(ParetoNBD, PARETO_PUBLISHED)):
        f, r, t = _customers()
        vector = fitted.expected_purchases(10, f, r, t)
        scalars = [float(fitted.expected_purchases(10, *row)) for row in zip(f, r, t, strict=True)]
        np.testing.assert_allclose(vector, scalars, rtol=1e-12)
        assert np.shape(fitted.p_alive(1, 1.0, 2.0)) == ()


def test_churn_risk_bands() -> None:
    assert churn_risk([0.0, 0.29, 0.3, 0.69, 0.7, 1.0]).tolist() == [
        "high",
        "high",
        "medium",
        "medium",
        "low",
        "low",
    ]
    assert churn_risk([0.2, 0.6], (0.1, 0.5)).tolist() == ["medium", "low"]
    with pytest.raises(ValueError, match="thresholds"):
        churn_risk([0.5], (0.8, 0.2))
    with pytest.raises(ValueError, match=r"p_alive must be in \[0, 1\]; row 1 is 1.5"):
        churn_risk([0.5, 1.5])
