"""Warnings about a fit the optimiser accepted but a user should not trust blindly.

A maximum-likelihood fit can "converge" and still say little: a parameter runs off towards
the edge of its range (the model degenerates, e.g. BG/NBD with no drop-out heterogeneity),
the curvature of the likelihood at the estimate is singular (no standard errors), badly
conditioned, or so flat that a parameter's 95% interval spans orders of magnitude. Each of
these becomes a :class:`FitWarning` with a code, what it means in plain words and what to
try; the fit carries them (``warnings_``), the store keeps them with the fit, and every
front end that shows the fit or a trait computed from it shows them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FIT_WARNING_CODES",
    "FLAT_LOG_ERROR",
    "ILL_CONDITIONED",
    "SAME_RATE",
    "FitWarning",
    "diagnose",
    "edge_of",
    "plain",
]

#: What a purchase model's rate shape (r) or scale (alpha) at its edge means.
SAME_RATE = (
    "every customer is taken to buy at the same rate (no spread between frequent and rare buyers)"
)

#: Every code a :class:`FitWarning` can have.
FIT_WARNING_CODES = ("near_bound", "no_standard_errors", "ill_conditioned", "flat_likelihood")

#: Shape parameters beyond [1e-4, 1e4] (a coefficient of variation under 1%, or a
#: distribution piled at 0) and scale parameters beyond [1e-6, 1e6] (within a factor 100 of
#: the optimiser's hard bounds [1e-8, 1e8]) are "near a bound".
SHAPE_EDGE = 1e4
SCALE_EDGE = 1e6
#: Condition number of the Hessian of the log-likelihood (in log-parameters) above which
#: the standard errors are not to be trusted.
ILL_CONDITIONED = 1e10
#: Standard error of log(parameter) above which the likelihood is called flat along that
#: parameter: the 95% interval then spans a factor of more than e^(2 * 1.96 * 2) ~ 2,500.
FLAT_LOG_ERROR = 2.0

#: The other purchase model, suggested when one fits badly.
_OTHER = {"BGNBD": "pareto-nbd", "ParetoNBD": "bgnbd"}


def _hint(model: str) -> str:
    other = _OTHER.get(model)
    return (
        (f"fit the other purchase model (`microseg clv fit --model {other}`), " if other else "")
        + "calibrate over a longer period (a later --as-of, so that more customers have had "
        "time to lapse or come back), or add a small penalty (`value.penalizer: 0.01` in "
        "microseg.yaml); compare the fits with `microseg clv backtest`"
    )


@dataclass(frozen=True)
class FitWarning:
    """One reason to doubt a fit: a code, what it means, what to try, the parameters."""

    code: str
    message: str
    hint: str
    params: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        return f"{self.message}; {self.hint}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
            "params": list(self.params),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FitWarning:
        return cls(
            code=str(data["code"]),
            message=str(data["message"]),
            hint=str(data.get("hint", "")),
            params=tuple(str(p) for p in data.get("params", ())),
        )


def plain(value: float) -> str:
    """A number in plain digits (never e-notation), 4 significant digits or the integer."""
    if not math.isfinite(value):
        return str(value)
    size = abs(value)
    if size >= 1000:
        return f"{value:,.0f}"
    if size >= 1e-3 or size == 0:
        return f"{value:.4g}"
    return f"{value:.{3 - math.floor(math.log10(size))}f}"


def edge_of(name: str, value: float, shapes: frozenset[str]) -> str | None:
    """ "high" or "low" when ``value`` of parameter ``name`` is near a bound, else None."""
    edge = SHAPE_EDGE if name in shapes else SCALE_EDGE
    if value >= edge:
        return "high"
    if value <= 1.0 / edge:
        return "low"
    return None


def diagnose(
    model: str,
    params: Mapping[str, float],
    standard_errors: Mapping[str, float],
    *,
    condition: float,
    shapes: frozenset[str],
    limits: Mapping[str, str],
    meaning: Callable[[Mapping[str, str]], list[str]],
) -> list[FitWarning]:
    """The warnings of a fit, most serious first.

    ``condition`` is the condition number of the Hessian in log-parameters (NaN when not
    known, e.g. a fit read back from an older store); ``limits`` are the parameters the
    model itself finds at a limit (e.g. Pareto/NBD's mean drop-out rate s/beta near 0);
    ``meaning`` turns the parameters at an edge (name -> "high" or "low") into sentences
    about customers.
    """
    found: list[FitWarning] = []
    hint = _hint(model)
    edges = {n: e for n, v in params.items() if (e := edge_of(n, float(v), shapes)) is not None}
    edges = {**edges, **{n: e for n, e in limits.items() if n not in edges}}
    if edges:
        values = ", ".join(f"{n} {plain(params[n])}" for n in edges)
        sentences = meaning(edges)
        found.append(
            FitWarning(
                "near_bound",
                f"{model} fit is at the edge of what the model can express ({values}): "
                + ("; ".join(sentences) if sentences else "the model degenerates")
                + ". P(alive), churn risk, expected purchases and clv from this fit rest on "
                "that; check them before relying on them",
                hint,
                tuple(edges),
            )
        )
    missing = [n for n, e in standard_errors.items() if not math.isfinite(e)]
    if missing:
        found.append(
            FitWarning(
                "no_standard_errors",
                f"{model} fit has no standard errors: the likelihood's curvature at the "
                "estimate is singular, so the data do not pin down " + ", ".join(missing),
                hint,
                tuple(missing),
            )
        )
    elif math.isfinite(condition) and condition > ILL_CONDITIONED:
        found.append(
            FitWarning(
                "ill_conditioned",
                f"{model} fit is ill-conditioned (condition number {plain(condition)}): some "
                "combination of parameters is barely determined by the data, and the "
                "standard errors are unreliable",
                hint,
                tuple(params),
            )
        )
    flat = [
        n
        for n, e in standard_errors.items()
        if math.isfinite(e) and params[n] > 0 and e / params[n] > FLAT_LOG_ERROR
    ]
    if flat:
        spans = ", ".join(f"{n} {plain(params[n])} +/- {plain(standard_errors[n])}" for n in flat)
        found.append(
            FitWarning(
                "flat_likelihood",
                f"{model} likelihood is nearly flat ({spans}): the data say little about "
                "these parameters and predictions may change a lot with more data",
                hint,
                tuple(flat),
            )
        )
    return found
