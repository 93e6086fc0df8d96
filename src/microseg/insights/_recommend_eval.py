"""Offline evaluation of next-best products with a time split.

Train on everything before ``T`` (the recommender's ``as_of``), test on the purchases of
the next weeks. A customer is tested when they bought before ``T`` and bought in the test
window at least one *relevant* product: a candidate (bought by someone before ``T``) that
their recommendations could contain (not returned, not an owned one-off). For each method,
over the tested customers:

``precision@k``  hits in the top ``k`` divided by ``k``;
``recall@k``     hits divided by the number of relevant products;
``NDCG@k``       the discounted hits (1 / log2(rank + 1)) over the best possible;
``coverage``     distinct products in all the top-``k`` lists over the candidates.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime

import numpy as np
import pyarrow as pa
from scipy import sparse

from microseg.core.results import Instant, Result
from microseg.insights._recommend import (
    METHODS,
    PreparedRecommender,
    _index,
    _strings,
    check_method,
)

__all__ = [
    "MethodScore",
    "RecommendationEvaluation",
    "coverage",
    "evaluate",
    "ndcg_at_k",
    "precision_at_k",
    "recall_at_k",
]

_CHUNK = 4096


def precision_at_k(recommended: Sequence[str], relevant: Iterable[str], k: int) -> float:
    """Share of the first ``k`` recommendations that are relevant (divided by ``k``)."""
    wanted = set(relevant)
    return sum(1 for item in recommended[:k] if item in wanted) / k


def recall_at_k(recommended: Sequence[str], relevant: Iterable[str], k: int) -> float:
    """Share of the relevant products found in the first ``k`` recommendations."""
    wanted = set(relevant)
    if not wanted:
        return 0.0
    return sum(1 for item in recommended[:k] if item in wanted) / len(wanted)


def ndcg_at_k(recommended: Sequence[str], relevant: Iterable[str], k: int) -> float:
    """Normalised discounted cumulative gain: a hit at rank r adds 1 / log2(r + 1), divided
    by the gain of the best ranking (all relevant products first)."""
    wanted = set(relevant)
    gain = sum(
        1.0 / math.log2(rank + 2) for rank, item in enumerate(recommended[:k]) if item in wanted
    )
    best = sum(1.0 / math.log2(rank + 2) for rank in range(min(len(wanted), k)))
    return gain / best if best else 0.0


def coverage(lists: Iterable[Sequence[str]], candidates: int) -> float:
    """Distinct products recommended to anyone, over the number of candidate products."""
    seen = {item for items in lists for item in items}
    return len(seen) / candidates if candidates else 0.0


class MethodScore(Result):
    """One method's figures; ``vs_popular``: its precision over global popularity's."""

    method: str
    precision: float
    recall: float
    ndcg: float
    coverage: float
    vs_popular: float | None


class RecommendationEvaluation(Result):
    """Offline evaluation of the methods on one time split."""

    trained_until: Instant
    tested_until: Instant
    k: int
    customers: int
    candidates: int
    test_purchases: int
    group: str | None
    methods: list[MethodScore]


def evaluate(
    recommender: PreparedRecommender,
    test_pairs: pa.Table,
    *,
    until: datetime,
    k: int = 10,
    methods: Sequence[str] = METHODS,
) -> RecommendationEvaluation:
    """Score ``methods`` against the (customer, product) purchases of ``test_pairs``."""
    for method in methods:
        check_method(method, k)
    rec = recommender
    rows = _index(_strings(test_pairs.column("customer_id")), pa.array(rec.customers, pa.string()))
    cols = _index(_strings(test_pairs.column("product_id")), pa.array(rec.products, pa.string()))
    known = (rows >= 0) & (cols >= 0)
    shape = (len(rec.customers), len(rec.products))
    relevant = sparse.csr_matrix(
        (np.ones(int(known.sum())), (rows[known], cols[known])), shape=shape
    )
    relevant.data[:] = 1.0
    relevant = relevant - relevant.multiply(rec.blocked)
    relevant.eliminate_zeros()
    has_history = np.diff(rec.bought.indptr) > 0
    tested = np.flatnonzero((np.diff(relevant.indptr) > 0) & has_history)
    scores = [_score(rec, relevant, tested, method, k) for method in methods]
    base = next((s for s in scores if s.method == "popular"), None)
    final = [
        s.model_copy(
            update={
                "vs_popular": round(s.precision / base.precision, 3)
                if base is not None and base.precision > 0
                else None
            }
        )
        for s in scores
    ]
    return RecommendationEvaluation(
        trained_until=rec.as_of,
        tested_until=until,
        k=k,
        customers=len(tested),
        candidates=len(rec.products),
        test_purchases=int(relevant[tested].nnz),
        group=rec.groups.label if rec.groups else None,
        methods=final,
    )


def _score(
    rec: PreparedRecommender, relevant: sparse.csr_matrix, tested: np.ndarray, method: str, k: int
) -> MethodScore:
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discount)
    totals = np.zeros(3)
    seen = np.zeros(len(rec.products), bool)
    for start in range(0, len(tested), _CHUNK):
        chunk = tested[start : start + _CHUNK]
        top = rec.rank(rec.scores(chunk, method), chunk, k)
        wanted = np.asarray(relevant[chunk].todense(), dtype=bool)
        hit = np.take_along_axis(wanted, np.maximum(top, 0), axis=1) & (top >= 0)
        n_relevant = wanted.sum(axis=1)
        hits = hit.sum(axis=1)
        totals += (
            (hits / k).sum(),
            (hits / n_relevant).sum(),
            ((hit * discount).sum(axis=1) / ideal[np.minimum(n_relevant, k) - 1]).sum(),
        )
        seen[top[top >= 0]] = True
    n = max(len(tested), 1)
    return MethodScore(
        method=method,
        precision=round(float(totals[0] / n), 5),
        recall=round(float(totals[1] / n), 5),
        ndcg=round(float(totals[2] / n), 5),
        coverage=round(float(seen.sum() / max(len(rec.products), 1)), 5),
        vs_popular=None,
    )
