"""Association between segment membership and a sensitive attribute: Cramér's V, mutual
information, a seeded permutation test, and what conditioning on a rule's attribute leaves.

Everything works on integer codes (``codes_of``) so that a permutation costs one
``bincount``. Missing values of the sensitive attribute are left out of every statistic
(they are counted and reported apart by the audit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "Association",
    "association",
    "codes_of",
    "conditional_v",
    "cramers_v",
    "strata_of",
]

Codes = npt.NDArray[np.int64]
Flags = npt.NDArray[np.bool_]


def codes_of(values: list[Any]) -> tuple[Codes, list[str]]:
    """Integer codes of categorical values (None: -1) and the category names, sorted."""
    names = sorted({str(v) for v in values if v is not None})
    index = {name: i for i, name in enumerate(names)}
    codes = np.array([-1 if v is None else index[str(v)] for v in values], dtype=np.int64)
    return codes, names


def strata_of(values: list[Any], *, bins: int = 5) -> Codes:
    """Strata of a rule's attribute or trait: numbers in (at most ``bins``) quantile bins,
    anything else by its text; a missing value is a stratum of its own."""
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if numbers and len(numbers) == sum(v is not None for v in values):
        array = np.array([math.nan if v is None else float(v) for v in values])
        present = array[~np.isnan(array)]
        edges = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1]))
        strata = np.searchsorted(edges, array, side="right").astype(np.int64)
        strata[np.isnan(array)] = len(edges) + 1
        return strata
    codes, names = codes_of([None if v is None else str(v) for v in values])
    codes[codes < 0] = len(names)
    return codes


def _chi2(counts: npt.NDArray[np.float64]) -> float:
    """Pearson's chi-squared of a contingency table (cells with no expectation add 0)."""
    n = counts.sum()
    if n == 0:
        return 0.0
    expected = np.outer(counts.sum(axis=1), counts.sum(axis=0)) / n
    mask = expected > 0
    return float((((counts - expected) ** 2)[mask] / expected[mask]).sum())


def _table(member: Flags, codes: Codes, k: int) -> npt.NDArray[np.float64]:
    """The 2 x k table of membership (rows) by sensitive group (columns)."""
    cells = np.bincount(member.astype(np.int64) * k + codes, minlength=2 * k)
    return cells.reshape(2, k).astype(np.float64)


def cramers_v(member: Flags, codes: Codes, k: int) -> float:
    """Cramér's V of membership and a sensitive attribute with ``k`` groups (codes >= 0):
    sqrt(chi2 / n) for a two-row table; 0 when either side does not vary."""
    table = _table(member, codes, k)
    table = table[:, table.sum(axis=0) > 0]
    n = table.sum()
    if n == 0 or table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0
    return math.sqrt(_chi2(table) / n)


def _mutual_information_bits(member: Flags, codes: Codes, k: int) -> float:
    from sklearn.metrics import mutual_info_score

    return float(mutual_info_score(member.astype(np.int64), codes)) / math.log(2) if k else 0.0


@dataclass(frozen=True)
class Association:
    """Membership against one sensitive attribute (its known values only)."""

    cramers_v: float
    mutual_information_bits: float
    p_value: float
    permutations: int
    customers: int


def association(
    member: Flags, codes: Codes, k: int, *, permutations: int, seed: int
) -> Association:
    """Cramér's V and mutual information of membership and the sensitive groups, with a
    permutation p-value: the share of ``permutations`` shuffles of the groups (seeded) whose
    V is at least the observed one, counting the observed table once
    ((1 + hits) / (1 + permutations)), so p is never 0."""
    known = codes >= 0
    member, codes = member[known], codes[known]
    observed = cramers_v(member, codes, k)
    rng = np.random.default_rng(seed)
    hits = sum(
        cramers_v(member, rng.permutation(codes), k) >= observed - 1e-12
        for _ in range(permutations)
    )
    return Association(
        cramers_v=observed,
        mutual_information_bits=_mutual_information_bits(member, codes, k),
        p_value=(1 + hits) / (1 + permutations),
        permutations=permutations,
        customers=int(known.sum()),
    )


def conditional_v(member: Flags, codes: Codes, k: int, strata: Codes) -> float:
    """Cramér's V of membership and the sensitive groups *within* the strata of one of the
    rule's attributes: sqrt(sum of each stratum's chi2 / n). When the attribute carries the
    association (membership is a function of it), no stratum has any left: 0."""
    known = codes >= 0
    member, codes, strata = member[known], codes[known], strata[known]
    n = len(codes)
    if n == 0:
        return 0.0
    total = 0.0
    for stratum in np.unique(strata):
        inside = strata == stratum
        table = _table(member[inside], codes[inside], k)
        table = table[:, table.sum(axis=0) > 0]
        if table.shape[1] >= 2 and (table.sum(axis=1) > 0).all():
            total += _chi2(table)
    return math.sqrt(total / n)
