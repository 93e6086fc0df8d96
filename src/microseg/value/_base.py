"""What the value models share: input checks, row compression, the optimiser and JSON state.

The models are fitted by maximum likelihood over the logarithms of their parameters with
L-BFGS-B and an analytic gradient. Standard errors come from the observed information: the
Hessian of the negative log-likelihood at the optimum, taken by central differences of the
analytic gradient and mapped to the natural parameters.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import OptimizeResult, minimize

from microseg.core.errors import ModelFitError, ValueModelError
from microseg.value._diagnostics import FitWarning, diagnose

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: The z value of a 95% two-sided normal interval.
Z_95 = 1.959963984540054
#: Bounds on every log-parameter during the fit: parameters stay in [1e-8, 1e8].
LOG_BOUNDS = (math.log(1e-8), math.log(1e8))
#: Version of the dictionary written by ``to_dict``.
STATE_VERSION = 1


def as_float_array(name: str, values: ArrayLike) -> FloatArray:
    """``values`` as a finite float array of at most one dimension (scalars stay 0-d)."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueModelError(f"{name} must be numeric: {exc}") from None
    if array.ndim > 1:
        raise ValueModelError(f"{name} must be a scalar or a 1-D array, got shape {array.shape}")
    bad = ~np.isfinite(array)
    if bad.any():
        raise ValueModelError(f"{name} must be finite; {_where(bad)} is {array.flat[_first(bad)]}")
    return array


def _first(mask: NDArray[np.bool_]) -> int:
    return int(np.argmax(mask.ravel()))


def _where(mask: NDArray[np.bool_]) -> str:
    return f"row {_first(mask)}" if mask.ndim else "the value"


def check_non_negative(name: str, array: FloatArray) -> None:
    bad = array < 0
    if bad.any():
        raise ValueModelError(f"{name} must be >= 0; {_where(bad)} is {array.flat[_first(bad)]}")


def check_integer(name: str, array: FloatArray) -> None:
    bad = array != np.floor(array)
    if bad.any():
        value = array.flat[_first(bad)]
        raise ValueModelError(f"{name} must be a whole number; {_where(bad)} is {value}")


def same_length(**arrays: FloatArray) -> int:
    """The common length of 1-D arrays; a clear error naming them if they differ."""
    lengths = {name: array.size for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        text = ", ".join(f"{name}={n}" for name, n in lengths.items())
        raise ValueModelError(f"inputs must have the same length, got {text}")
    n = next(iter(lengths.values()))
    if n == 0:
        raise ValueModelError("inputs are empty: there is nothing to fit")
    return n


def check_rfm(frequency: FloatArray, recency: FloatArray, T: FloatArray) -> None:
    """The checks every (frequency, recency, T) input passes, naming the first bad row."""
    check_non_negative("frequency", frequency)
    check_integer("frequency", frequency)
    check_non_negative("recency", recency)
    check_non_negative("T", T)
    frequency, recency, T = np.broadcast_arrays(frequency, recency, T)
    bad = recency > T
    if bad.any():
        i = _first(bad)
        raise ValueModelError(
            f"recency must be <= T; {_where(bad)} has recency {recency.flat[i]} > T {T.flat[i]}"
        )
    bad = (frequency == 0) & (recency != 0)
    if bad.any():
        raise ValueModelError(
            f"recency must be 0 when frequency is 0; {_where(bad)} has recency "
            f"{recency.flat[_first(bad)]}"
        )


def rfm_inputs(
    frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, weights: ArrayLike | None
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Validated 1-D fitting inputs with weights (ones when not given)."""
    x = np.atleast_1d(as_float_array("frequency", frequency))
    tx = np.atleast_1d(as_float_array("recency", recency))
    big_t = np.atleast_1d(as_float_array("T", T))
    if weights is None:
        same_length(frequency=x, recency=tx, T=big_t)
        w = np.ones(x.size)
    else:
        w = np.atleast_1d(as_float_array("weights", weights))
        same_length(frequency=x, recency=tx, T=big_t, weights=w)
        check_non_negative("weights", w)
        if not w.sum() > 0:
            raise ValueModelError("weights sum to 0: there is nothing to fit")
    check_rfm(x, tx, big_t)
    return x, tx, big_t, w


@dataclass(frozen=True)
class RFMRows:
    """Unique (frequency, recency, T) rows and how many customers (or how much weight) each has."""

    frequency: FloatArray
    recency: FloatArray
    T: FloatArray
    weights: FloatArray

    @property
    def n_rows(self) -> int:
        return int(self.frequency.size)


def _codes(values: NDArray[Any]) -> tuple[IntArray, NDArray[Any]]:
    codes, uniques = pd.factorize(values, sort=False)
    return np.asarray(codes, dtype=np.int64), np.asarray(uniques)


def group_rows(*columns: NDArray[Any]) -> tuple[IntArray, IntArray]:
    """Codes of the distinct rows of ``columns`` and, per distinct row, one row holding it.

    Hash-based (``pandas.factorize``), so it is linear in the number of rows.
    """
    key, _ = _codes(columns[0])
    for column in columns[1:]:
        codes, uniques = _codes(column)
        key, _ = _codes(key * len(uniques) + codes)
    n_groups = int(key.max()) + 1 if key.size else 0
    first = np.empty(n_groups, dtype=np.int64)
    first[key[::-1]] = np.arange(key.size - 1, -1, -1)
    return key, first


def compress_rfm(
    frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, *, weights: ArrayLike | None = None
) -> RFMRows:
    """Compress customers into unique (frequency, recency, T) rows with summed weights.

    The likelihood of the purchase models depends on a customer only through these three
    numbers, so fitting on unique rows with counts as weights gives exactly the same
    estimates, and is much faster when the times are on a grid (days, weeks).

    Examples
    --------
    >>> rows = compress_rfm([0, 0, 2], [0.0, 0.0, 3.0], [5.0, 5.0, 5.0])
    >>> rows.frequency.tolist(), rows.weights.tolist()
    ([0.0, 2.0], [2.0, 1.0])
    """
    x, tx, big_t, w = rfm_inputs(frequency, recency, T, weights)
    first, summed = distinct_rows(w, x, tx, big_t)
    return RFMRows(x[first], tx[first], big_t[first], summed)


def distinct_rows(weights: FloatArray, *columns: NDArray[Any]) -> tuple[IntArray, FloatArray]:
    """One row holding each distinct row of ``columns``, and the summed ``weights`` of
    each, in the order of the values (first column first): a fixed order whatever the
    input's (a database returns rows in any order), so that the sums in a likelihood, and
    the fit to the last digit, do not depend on it."""
    key, first = group_rows(*columns)
    summed = np.bincount(key, weights=weights, minlength=first.size).astype(np.float64)
    order = np.lexsort(tuple(column[first] for column in reversed(columns)))
    return first[order], summed[order]


@dataclass(frozen=True)
class Pairs:
    """Distinct (frequency, time) pairs: many predictions depend on a customer only so."""

    x: FloatArray
    t: FloatArray
    inverse: IntArray


#: Largest (max frequency + 1) x (distinct times) for the dense pair table.
_DENSE_PAIRS = 1 << 24


def pairs(x: FloatArray, t: FloatArray) -> Pairs:
    """Distinct (x, t) pairs of whole-number ``x`` >= 0 and the pair of each row.

    Times are hashed once; the pair key ``x * n_times + time_code`` is then made unique
    with a dense table when it is small enough (the usual case), else hashed again.
    """
    if x.size == 0:
        return Pairs(x, t, np.zeros(0, dtype=np.int64))
    t_codes, t_uniques = _codes(t)
    n_times = len(t_uniques)
    x_max = int(x.max())
    if (x_max + 1) * n_times > _DENSE_PAIRS:
        key, first = group_rows(x, t)
        return Pairs(x[first], t[first], key)
    key = x.astype(np.int64) * n_times + t_codes
    seen = np.zeros((x_max + 1) * n_times, dtype=bool)
    seen[key] = True
    distinct = np.flatnonzero(seen)
    lookup = np.empty(seen.size, dtype=np.int64)
    lookup[distinct] = np.arange(distinct.size, dtype=np.int64)
    return Pairs(
        (distinct // n_times).astype(np.float64),
        np.asarray(t_uniques, dtype=np.float64)[distinct % n_times],
        lookup[key],
    )


def weighted_sums(weights: FloatArray, *columns: FloatArray) -> FloatArray:
    """``[sum(weights * c) for c in columns]`` without BLAS.

    A BLAS dot product may wake a pool of threads; on a busy machine that costs
    milliseconds per call, far more than the sum itself.
    """
    return np.array([float(np.sum(weights * column)) for column in columns])


def expm1_ratio(v: FloatArray) -> FloatArray:
    """``expm1(v) / v``, 1 at 0, without division by zero or overflow (v clipped to 700)."""
    v = np.minimum(v, 700.0)
    small = np.abs(v) < 1e-5
    safe = np.where(small, 1.0, v)
    return np.where(small, 1.0 + v / 2.0 + v * v / 6.0, np.expm1(safe) / safe)


def log1p_ratio(v: FloatArray) -> FloatArray:
    """``log1p(v) / v`` for v > -1, 1 at 0."""
    small = np.abs(v) < 1e-5
    safe = np.where(small, 1.0, v)
    return np.where(small, 1.0 - v / 2.0 + v * v / 3.0, np.log1p(safe) / safe)


# ---------------------------------------------------------------------------------------
# Maximum likelihood
# ---------------------------------------------------------------------------------------

#: (total negative log-likelihood, its gradient) as a function of the natural parameters.
Objective = Callable[[FloatArray], tuple[float, FloatArray]]


@dataclass(frozen=True)
class FitOutcome:
    params: FloatArray
    standard_errors: FloatArray
    log_likelihood: float
    converged: bool
    n_iter: int
    #: condition number of the Hessian in log-parameters (inf when singular)
    condition: float = math.nan


def maximize_likelihood(
    objective: Objective,
    start: FloatArray,
    *,
    n_customers: float,
    penalizer: float,
    tol: float,
    max_iter: int,
    model: str,
) -> FitOutcome:
    """Minimise ``NLL / n + penalizer * sum(log(params)**2)`` over the log-parameters.

    Dividing by the number of customers makes ``tol`` and ``penalizer`` mean the same
    thing whatever the size of the data. Raises :class:`ModelFitError` with scipy's
    ``OptimizeResult`` when the optimiser fails.
    """

    def scaled(theta: FloatArray) -> tuple[float, FloatArray]:
        params = np.exp(theta)
        nll, grad = objective(params)
        value = nll / n_customers + penalizer * float(np.sum(theta * theta))
        gradient = params * grad / n_customers + 2.0 * penalizer * theta
        if not np.isfinite(value) or not np.all(np.isfinite(gradient)):
            # let the line search back off instead of stopping on a non-finite value
            return math.inf, np.zeros_like(theta)
        return value, gradient

    def gradient_small(result: OptimizeResult, limit: float) -> bool:
        # the projected gradient: a parameter held at a bound it presses against is done
        jac = np.asarray(result.jac, dtype=np.float64).copy()
        jac[(result.x <= LOG_BOUNDS[0]) & (jac > 0)] = 0.0
        jac[(result.x >= LOG_BOUNDS[1]) & (jac < 0)] = 0.0
        finite = bool(np.isfinite(result.fun)) and bool(np.all(np.isfinite(jac)))
        return finite and float(np.max(np.abs(jac))) <= limit

    # flat likelihoods (a, b of BG/NBD near their bounds) leave gradient noise of about
    # 1e-5 per customer: accepted up to 1e-4, a negligible change in log-likelihood
    small = max(1000 * tol, 1e-6)
    theta = np.clip(np.log(start), *LOG_BOUNDS)
    best = math.inf
    stalled = False
    # A line search that fails near the optimum (ABNORMAL) is common on flat likelihoods,
    # e.g. when dropout vanishes and a and b run off to their bounds: a restart from where
    # it stopped, with a fresh curvature estimate, usually finishes the job.
    for _attempt in range(4):
        result = minimize(
            scaled,
            theta,
            jac=True,
            method="L-BFGS-B",
            bounds=[LOG_BOUNDS] * theta.size,
            options={"maxiter": max_iter, "gtol": tol, "ftol": tol * 1e-6, "maxcor": 20},
        )
        if result.success or gradient_small(result, small) or not np.all(np.isfinite(result.x)):
            break
        # A restart that cannot lower the objective at all stands on a ridge where the
        # likelihood's rounding noise is as large as any step's gain (Gamma-Gamma's p and
        # gamma running off together, p * gamma fixed): more restarts only repeat that.
        stalled = result.nit == 0 or not float(result.fun) < best
        if stalled:
            break
        best = float(result.fun)
        theta = result.x
    # On such a ridge a gradient up to 1e-3 per customer moves the log-likelihood by less
    # than its rounding noise; the fit's diagnostics then say the parameters are barely
    # determined (flat or ill-conditioned), which is what the caller needs to know.
    converged = (
        bool(result.success)
        or gradient_small(result, small)
        or (stalled and gradient_small(result, max(10 * small, 1e-3)))
    )
    if not converged:
        raise ModelFitError(
            f"{model} fit did not converge: {result.message}",
            result=result,
            hint="check the inputs' time unit, raise max_iter, or add a small penalizer",
        )
    params = np.exp(result.x)
    nll, _ = objective(params)
    errors, condition = _standard_errors(scaled, result.x, n_customers)
    return FitOutcome(params, errors, -nll, converged, int(result.nit), condition)


def _standard_errors(
    scaled: Callable[[FloatArray], tuple[float, FloatArray]], theta: FloatArray, n: float
) -> tuple[FloatArray, float]:
    """Standard errors of the natural parameters from the Hessian of the total NLL, and
    the condition number of the Hessian in log-parameters (inf when it is singular).

    The Hessian in log-space is taken by central differences of the analytic gradient and
    mapped to the natural parameters p = exp(theta):
    H_p = (H_theta - diag(g_theta)) / (p p^T).
    """
    k = theta.size
    step = 1e-4
    hess = np.empty((k, k))
    for j in range(k):
        up, down = theta.copy(), theta.copy()
        up[j] += step
        down[j] -= step
        hess[:, j] = (scaled(up)[1] - scaled(down)[1]) / (2 * step)
    hess = n * (hess + hess.T) / 2.0
    grad = n * scaled(theta)[1]
    params = np.exp(theta)
    natural = (hess - np.diag(grad)) / np.outer(params, params)
    nan = np.full(k, math.nan)
    if not np.all(np.isfinite(natural)):
        return nan, math.inf
    condition = _condition(hess)
    try:
        chol = np.linalg.cholesky(natural)
    except np.linalg.LinAlgError:
        return nan, math.inf
    inverse_chol = np.linalg.inv(chol)
    errors = np.asarray(np.sqrt(np.sum(inverse_chol**2, axis=0)), dtype=np.float64)
    return errors, condition


def _condition(hess: FloatArray) -> float:
    """Largest over smallest eigenvalue of a symmetric matrix; inf unless positive definite."""
    if not np.all(np.isfinite(hess)):
        return math.inf
    eigen = np.linalg.eigvalsh((hess + hess.T) / 2.0)
    if not eigen[0] > 0:
        return math.inf
    return float(eigen[-1] / eigen[0])


# ---------------------------------------------------------------------------------------
# The fitted-state contract shared by the three models
# ---------------------------------------------------------------------------------------


class ValueModel:
    """Base of the value models: hyper-parameters, fitted state and its JSON form.

    Parameters
    ----------
    penalizer:
        L2 penalty on the log-parameters, added to the average negative log-likelihood
        per customer. 0 (the default) is plain maximum likelihood.
    tol:
        Gradient tolerance of L-BFGS-B on the average negative log-likelihood.
    max_iter:
        Most iterations of the optimiser.
    """

    param_names: ClassVar[tuple[str, ...]] = ()
    #: The shape parameters (unit-free); the others are scales in time or money units.
    shape_params: ClassVar[frozenset[str]] = frozenset()

    params_: dict[str, float]
    standard_errors_: dict[str, float]
    confidence_intervals_: dict[str, tuple[float, float]]
    log_likelihood_: float
    n_customers_: float
    converged_: bool
    n_iter_: int
    fit_seconds_: float
    warnings_: list[FitWarning]

    def __init__(self, *, penalizer: float = 0.0, tol: float = 1e-7, max_iter: int = 500):
        self.penalizer = penalizer
        self.tol = tol
        self.max_iter = max_iter

    def _check_hyperparameters(self) -> None:
        name = type(self).__name__
        if not (isinstance(self.penalizer, int | float) and self.penalizer >= 0):
            raise ValueModelError(
                f"The 'penalizer' parameter of {name} must be a float >= 0. "
                f"Got {self.penalizer!r} instead."
            )
        if not (isinstance(self.tol, int | float) and self.tol > 0):
            raise ValueModelError(
                f"The 'tol' parameter of {name} must be a float > 0. Got {self.tol!r} instead."
            )
        if not (isinstance(self.max_iter, int) and self.max_iter >= 1):
            raise ValueModelError(
                f"The 'max_iter' parameter of {name} must be an int in the range [1, inf). "
                f"Got {self.max_iter!r} instead."
            )

    def _run_fit(
        self, objective: Objective, start: FloatArray, n_customers: float, started: float
    ) -> None:
        """Maximise the likelihood and store the fitted state; ``started`` is when fit began."""
        outcome = maximize_likelihood(
            objective,
            start,
            n_customers=n_customers,
            penalizer=float(self.penalizer),
            tol=float(self.tol),
            max_iter=self.max_iter,
            model=type(self).__name__,
        )
        self._store(outcome, n_customers, time.perf_counter() - started)

    def _store(self, outcome: FitOutcome, n_customers: float, seconds: float) -> None:
        names = self.param_names
        self.params_ = {n: float(v) for n, v in zip(names, outcome.params, strict=True)}
        self.standard_errors_ = {
            n: float(v) for n, v in zip(names, outcome.standard_errors, strict=True)
        }
        self.confidence_intervals_ = {
            n: _log_interval(self.params_[n], self.standard_errors_[n]) for n in names
        }
        self.log_likelihood_ = float(outcome.log_likelihood)
        self.n_customers_ = float(n_customers)
        self.converged_ = outcome.converged
        self.n_iter_ = outcome.n_iter
        self.fit_seconds_ = float(seconds)
        self.warnings_ = self._diagnose(outcome.condition)

    def _diagnose(self, condition: float, *, with_errors: bool = True) -> list[FitWarning]:
        """The fit's warnings (:mod:`microseg.value._diagnostics`); without ``with_errors``
        (a state that kept no curvature) only the parameters' values are checked."""
        return diagnose(
            type(self).__name__,
            self.params_,
            self.standard_errors_ if with_errors else {},
            condition=condition,
            shapes=self.shape_params,
            limits=self._limits(),
            meaning=self._edge_meaning,
        )

    def _limits(self) -> dict[str, str]:
        """Parameters at a limit of the model that no single bound shows (name -> edge)."""
        return {}

    def _edge_meaning(self, edges: Mapping[str, str]) -> list[str]:
        """What parameters at an edge ("high"/"low") say about customers, in words."""
        return [f"{name} is {edge}" for name, edge in edges.items()]

    def _params(self) -> tuple[float, ...]:
        if not hasattr(self, "params_"):
            raise ModelFitError(
                f"{type(self).__name__} is not fitted yet", hint="call fit() or from_dict() first"
            )
        return tuple(self.params_[n] for n in self.param_names)

    def __repr__(self) -> str:
        name = type(self).__name__
        if not hasattr(self, "params_"):
            return f"{name}(penalizer={self.penalizer}, tol={self.tol}, max_iter={self.max_iter})"
        fitted = ", ".join(f"{n}={v:.4g}" for n, v in self.params_.items())
        return f"<{name}: {fitted}>"

    def to_dict(self) -> dict[str, Any]:
        """The fitted model as plain JSON-serialisable values (NaN written as None)."""
        self._params()
        return {
            "model": type(self).__name__,
            "version": STATE_VERSION,
            "hyperparameters": {
                "penalizer": self.penalizer,
                "tol": self.tol,
                "max_iter": self.max_iter,
            },
            "params": dict(self.params_),
            "standard_errors": {n: _json_float(v) for n, v in self.standard_errors_.items()},
            "confidence_intervals": {
                n: [_json_float(lo), _json_float(hi)]
                for n, (lo, hi) in self.confidence_intervals_.items()
            },
            "log_likelihood": _json_float(self.log_likelihood_),
            "n_customers": self.n_customers_,
            "converged": self.converged_,
            "n_iter": self.n_iter_,
            "fit_seconds": self.fit_seconds_,
            "warnings": [w.to_dict() for w in self.warnings_],
            **self._extra_state(),
        }

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _restore_extra(self, state: Mapping[str, Any]) -> None:
        return None

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> Self:
        """A model from :meth:`to_dict`'s output; only ``model`` and ``params`` are required.

        ``{"model": "BGNBD", "params": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}}``
        is enough to score customers with published parameters.
        """
        if state.get("model") != cls.__name__:
            raise ValueModelError(
                f"state is for model {state.get('model')!r}, not {cls.__name__!r}"
            )
        params = state.get("params")
        if not isinstance(params, Mapping) or set(params) != set(cls.param_names):
            raise ValueModelError(
                f"state 'params' must have exactly the keys {list(cls.param_names)}"
            )
        for name in cls.param_names:
            value = params[name]
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueModelError(
                    f"parameter {name!r} must be a finite number > 0, got {value!r}"
                )
        model = cls(**dict(state.get("hyperparameters", {})))
        nan = math.nan
        names = cls.param_names
        model.params_ = {n: float(params[n]) for n in names}
        errors = state.get("standard_errors", {})
        model.standard_errors_ = {n: _from_json(errors.get(n)) for n in names}
        intervals = state.get("confidence_intervals", {})
        model.confidence_intervals_ = {
            n: (
                (_from_json(intervals[n][0]), _from_json(intervals[n][1]))
                if n in intervals
                else (nan, nan)
            )
            for n in names
        }
        model.log_likelihood_ = _from_json(state.get("log_likelihood"))
        model.n_customers_ = float(state.get("n_customers", 0.0))
        model.converged_ = bool(state.get("converged", True))
        model.n_iter_ = int(state.get("n_iter", 0))
        model.fit_seconds_ = float(state.get("fit_seconds", 0.0))
        warnings = state.get("warnings")
        # a fit stored before warnings existed is diagnosed again from what it kept
        model.warnings_ = (
            [FitWarning.from_dict(w) for w in warnings]
            if isinstance(warnings, list)
            else model._diagnose(math.nan, with_errors=False)
        )
        model._restore_extra(state)
        return model


def _log_interval(value: float, error: float) -> tuple[float, float]:
    """95% interval from a normal approximation on the log scale (never below 0)."""
    if not math.isfinite(error):
        return (math.nan, math.nan)
    spread = Z_95 * error / value
    return (value * math.exp(-spread), value * math.exp(spread))


def _json_float(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _from_json(value: object) -> float:
    return float(value) if isinstance(value, int | float) else math.nan
