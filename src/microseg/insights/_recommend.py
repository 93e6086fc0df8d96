"""Next-best products: per customer, ranked products the customer has not bought.

Four methods score every product bought at least once before ``as_of`` (the candidates):

``popular``
    buyers of the product (distinct customers), over the whole shop;
``segment``
    buyers of the product among the customer's micro-segment: the members of a segment, or
    the customer's cluster of a discovery run (the newest run stored as of ``as_of``);
``itemknn``
    item-item collaborative filtering: the cosine similarity of products over who bought
    them, keeping each product's ``NEIGHBOURS`` nearest (``implicit``'s item-item
    k-nearest-neighbours, as its ``CosineRecommender``); a customer's score for a
    product is the sum of its similarities to the products the customer bought;
``blend``
    ``BLEND_WEIGHTS`` of the three above, each first divided by its largest score for that
    customer (so each lies in [0, 1]).

A product the customer returned is never recommended, nor one the customer bought, unless
the product is bought again by its buyers (``repeatable``: at least ``REPEAT_MIN_BUYERS``
buyers and a share ``REPEAT_SHARE`` of them bought it at two or more instants). Ties are
broken by global popularity, then by product id, so every ranking is deterministic.

:class:`PreparedRecommender` holds the item vectors and every customer's purchase set in
memory: one customer's recommendations then take a sparse row product and a sort.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from scipy import sparse

from microseg.core.errors import ParameterError
from microseg.core.results import Instant, Result

__all__ = [
    "BLEND_WEIGHTS",
    "METHODS",
    "NEIGHBOURS",
    "REPEAT_MIN_BUYERS",
    "REPEAT_SHARE",
    "Groups",
    "PreparedRecommender",
    "Recommendations",
    "RecommendedProduct",
    "build_recommender",
    "purchase_pairs",
]

METHODS = ("popular", "segment", "itemknn", "blend")
#: weights of the blend, each method's scores first scaled to [0, 1] per customer
BLEND_WEIGHTS: dict[str, float] = {"itemknn": 0.6, "segment": 0.25, "popular": 0.15}
NEIGHBOURS = 50
REPEAT_SHARE = 0.2
REPEAT_MIN_BUYERS = 10
_CHUNK = 4096

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


class RecommendedProduct(Result):
    """One recommended product: its rank, score (the method's) and catalogue entry."""

    rank: int
    product_id: str
    score: float
    category: str | None = None
    brand: str | None = None


class Recommendations(Result):
    """Ranked next-best products for one customer, or to push to one segment.

    ``group`` names the micro-segment the ``segment`` method read (None: the customer is
    in none, and that method fell back to global popularity). For a segment, ``score`` is
    the share of its members who have the product among their own top ``k``.
    """

    customer_id: str | None
    segment: str | None
    group: str | None
    method: str
    as_of: Instant
    k: int
    excluded: int
    products: list[RecommendedProduct]


def check_method(method: str, k: int) -> None:
    if method not in METHODS:
        raise ParameterError(
            f"The 'method' parameter of recommend must be one of {', '.join(METHODS)}. "
            f"Got {method!r} instead."
        )
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ParameterError(
            f"The 'k' parameter of recommend must be an int >= 1. Got {k!r} instead."
        )


def purchase_pairs(events: ir.Table, *, purchase: str, returned: str) -> tuple[pa.Table, pa.Table]:
    """(customer, product, times bought at distinct instants) and (customer, product)
    returned, from ``events`` (already cut at ``as_of``)."""
    known = events.filter(events.product_id.notnull() & events.customer_id.notnull())
    bought = known.filter(known.type == ibis.literal(purchase))
    pairs = bought.group_by(["customer_id", "product_id"]).aggregate(
        times=bought.timestamp.nunique()
    )
    back = known.filter(known.type == ibis.literal(returned))
    back = back.select("customer_id", "product_id").distinct()
    return pairs.to_pyarrow(), back.to_pyarrow()


@dataclass(frozen=True)
class Groups:
    """Micro-segments for the ``segment`` method: each customer's group name (at most one)
    and what the groups are (``label``: e.g. "segments vip, lapsed", "discovery run q4")."""

    label: str
    of_customer: Mapping[str, str]


def _strings(column: pa.ChunkedArray) -> pa.Array:
    return column.combine_chunks().cast(pa.string())


def _index(values: pa.Array, universe: pa.Array) -> Ints:
    return np.asarray(pc.index_in(values, value_set=universe).to_numpy(zero_copy_only=False))


def build_recommender(
    pairs: pa.Table,
    returned: pa.Table,
    *,
    as_of: datetime,
    catalog: Mapping[str, tuple[str | None, str | None]] | None = None,
    groups: Groups | None = None,
    neighbours: int = NEIGHBOURS,
) -> PreparedRecommender:
    """The prepared state from purchase pairs (see :func:`purchase_pairs`)."""
    from implicit.nearest_neighbours import ItemItemRecommender

    group_ids = pa.array(list(groups.of_customer) if groups else [], pa.string())
    pair_customers = _strings(pairs.column("customer_id"))
    back_customers = _strings(returned.column("customer_id"))
    customers = pc.unique(pa.concat_arrays([pair_customers, back_customers, group_ids]))
    products = pc.unique(_strings(pairs.column("product_id")))
    products = products.take(pc.sort_indices(products))
    n_c, n_p = len(customers), len(products)
    rows = _index(pair_customers, customers)
    cols = _index(_strings(pairs.column("product_id")), products)
    times = np.asarray(pairs.column("times").to_numpy(), dtype=np.float64)
    bought = sparse.csr_matrix(
        (np.ones(len(rows), np.float32), (rows, cols)), shape=(n_c, n_p), dtype=np.float32
    )
    buyers = np.bincount(cols, minlength=n_p).astype(np.float64)
    repeaters = np.bincount(cols, weights=(times >= 2).astype(np.float64), minlength=n_p)
    repeatable = (buyers >= REPEAT_MIN_BUYERS) & (repeaters >= REPEAT_SHARE * np.maximum(buyers, 1))
    r_rows = _index(back_customers, customers)
    r_cols = _index(_strings(returned.column("product_id")), products)
    keep = r_cols >= 0
    owned = ~repeatable[cols]
    block_rows = np.concatenate([rows[owned], r_rows[keep]])
    block_cols = np.concatenate([cols[owned], r_cols[keep]])
    blocked = sparse.csr_matrix(
        (np.ones(len(block_rows), np.float32), (block_rows, block_cols)), shape=(n_c, n_p)
    )
    blocked.data[:] = 1.0  # a product both bought and returned counts once
    # the cosine is the dot product of unit item vectors: implicit's CosineRecommender
    # normalises the same way but hands its k-NN a COO matrix (and warns); give it CSR
    norms = np.sqrt(np.asarray(bought.multiply(bought).sum(axis=0)).ravel())
    unit = (bought @ sparse.diags(1.0 / np.maximum(norms, 1e-12))).tocsr().astype(np.float64)
    model = ItemItemRecommender(K=neighbours)
    model.fit(unit, show_progress=False)
    similarity = sparse.csr_matrix(model.similarity, dtype=np.float64)
    similarity.setdiag(0.0)
    similarity.eliminate_zeros()
    return PreparedRecommender(
        as_of=as_of,
        customers=customers.to_pylist(),
        products=products.to_pylist(),
        bought=bought,
        blocked=blocked,
        popularity=buyers,
        repeatable=repeatable,
        similarity=similarity,
        catalog=dict(catalog or {}),
        groups=groups,
    )


@dataclass(eq=False)
class PreparedRecommender:
    """Everything one customer's recommendations need, in memory (item vectors, purchase
    and exclusion sets, popularity overall and per micro-segment)."""

    as_of: datetime
    customers: list[str]
    products: list[str]
    bought: Any  # customers x products, 1 where bought (scipy CSR)
    blocked: Any  # customers x products, 1 where never to recommend
    popularity: Floats  # buyers per product
    repeatable: npt.NDArray[np.bool_]  # bought again by its buyers: owning it does not block
    similarity: Any  # products x products, the K nearest cosine neighbours
    catalog: dict[str, tuple[str | None, str | None]]
    groups: Groups | None

    def __post_init__(self) -> None:
        self.row_of = {c: i for i, c in enumerate(self.customers)}
        popularity = self.popularity
        # popularity order, ties by product id (products are sorted by id): the tie-break
        self._order = np.lexsort((np.arange(len(self.products)), -popularity))
        self._position = np.argsort(self._order)  # product index -> place in that order
        self._popular = popularity / max(float(popularity.max(initial=0.0)), 1.0)
        self._group_names: list[str] = []
        self._group_of = np.full(len(self.customers), -1, np.int64)
        self._group_popularity = np.zeros((0, len(self.products)))
        if self.groups is not None:
            self._set_groups(self.groups)

    def _set_groups(self, groups: Groups) -> None:
        self._group_names = sorted(set(groups.of_customer.values()))
        number = {name: i for i, name in enumerate(self._group_names)}
        for customer, name in groups.of_customer.items():
            self._group_of[self.row_of[customer]] = number[name]
        member = np.flatnonzero(self._group_of >= 0)
        indicator = sparse.csr_matrix(
            (np.ones(len(member)), (self._group_of[member], member)),
            shape=(len(self._group_names), len(self.customers)),
        )
        counts = np.asarray((indicator @ self.bought).todense(), dtype=np.float64)
        top = np.maximum(counts.max(axis=1, keepdims=True), 1.0)
        self._group_popularity = counts / top

    # -- one customer -------------------------------------------------------------------------

    def group_of(self, customer_id: str) -> str | None:
        row = self.row_of.get(customer_id)
        if row is None or self._group_of[row] < 0:
            return None
        return self._group_names[int(self._group_of[row])]

    def recommend(self, customer_id: str, *, method: str = "blend", k: int = 10) -> Recommendations:
        """Ranked next-best products of one customer (a customer without purchases before
        ``as_of`` gets the products popular in their group, or overall)."""
        check_method(method, k)
        row = self.row_of.get(customer_id)
        if row is None:
            ranked = self._order[:k]
            scores = (
                self._popular if method in ("popular", "blend") else np.zeros(len(self.products))
            )
            excluded = 0
        else:
            scores = self._one_scores(row, method)
            blocked = self.blocked.indices[self.blocked.indptr[row] : self.blocked.indptr[row + 1]]
            ranked, excluded = self._rank_one(scores, blocked, k), len(blocked)
        return Recommendations(
            customer_id=customer_id,
            segment=None,
            group=self.group_of(customer_id),
            method=method,
            as_of=self.as_of,
            k=k,
            excluded=excluded,
            products=self._items(ranked, scores),
        )

    def for_members(
        self, members: Sequence[str], *, segment: str, method: str = "blend", k: int = 10
    ) -> Recommendations:
        """The products most members of a segment have among their own top ``k``."""
        check_method(method, k)
        rows = np.array([self.row_of[m] for m in members if m in self.row_of], np.int64)
        counts = np.zeros(len(self.products))
        for start in range(0, len(rows), _CHUNK):
            chunk = rows[start : start + _CHUNK]
            top = self.rank(self.scores(chunk, method), chunk, k)
            valid = top[top >= 0]
            counts += np.bincount(valid, minlength=len(self.products))
        newcomers = len(members) - len(rows)  # no purchases yet: the popular products
        counts[self._order[:k]] += newcomers
        share = counts / max(len(members), 1)
        ranked = np.lexsort((self._position, -share))[:k]
        ranked = ranked[share[ranked] > 0]
        return Recommendations(
            customer_id=None,
            segment=segment,
            group=segment,
            method=method,
            as_of=self.as_of,
            k=k,
            excluded=0,
            products=self._items(ranked, share),
        )

    def _one_scores(self, row: int, method: str) -> Floats:
        """:meth:`scores` of one customer, with plain array slices (the real-time path)."""
        if method == "popular":
            return self._popular
        group = int(self._group_of[row])
        segment = self._group_popularity[group] if group >= 0 else np.zeros(len(self.products))
        if method == "segment":
            return segment
        sim, start, stop = self.similarity, self.bought.indptr[row], self.bought.indptr[row + 1]
        spans = [(sim.indptr[i], sim.indptr[i + 1]) for i in self.bought.indices[start:stop]]
        knn: Floats = np.bincount(
            np.concatenate([sim.indices[a:b] for a, b in spans] or [np.zeros(0, np.int32)]),
            weights=np.concatenate([sim.data[a:b] for a, b in spans] or [np.zeros(0)]),
            minlength=len(self.products),
        ).astype(np.float64)
        top = knn.max(initial=0.0)
        knn = knn / top if top > 0 else knn
        if method == "itemknn":
            return knn
        return (
            BLEND_WEIGHTS["itemknn"] * knn
            + BLEND_WEIGHTS["segment"] * segment
            + BLEND_WEIGHTS["popular"] * self._popular
        )

    def _rank_one(self, scores: Floats, blocked: Ints, k: int) -> Ints:
        ordered = scores[self._order]
        ordered[self._position[blocked]] = -np.inf
        position = np.argsort(-ordered, kind="stable")[:k]
        position = position[ordered[position] > -np.inf]
        result: Ints = self._order[position]
        return result

    def _items(self, ranked: Ints, scores: Floats) -> list[RecommendedProduct]:
        items = []
        for rank, index in enumerate(int(i) for i in ranked if i >= 0):
            product = self.products[index]
            category, brand = self.catalog.get(product, (None, None))
            items.append(
                RecommendedProduct(
                    rank=rank + 1,
                    product_id=product,
                    score=round(float(scores[index]), 6),
                    category=category,
                    brand=brand,
                )
            )
        return items

    # -- many customers -----------------------------------------------------------------------

    def scores(self, rows: Ints, method: str) -> Floats:
        """Scores of every product for customers ``rows`` (one row each)."""
        if method == "popular":
            return np.broadcast_to(self._popular, (len(rows), len(self.products))).copy()
        if method == "segment":
            return self._segment_scores(rows)
        if method == "itemknn":
            return self._knn_scores(rows)
        return (
            BLEND_WEIGHTS["itemknn"] * self._knn_scores(rows)
            + BLEND_WEIGHTS["segment"] * self._segment_scores(rows)
            + BLEND_WEIGHTS["popular"] * self._popular
        )

    def _segment_scores(self, rows: Ints) -> Floats:
        groups = self._group_of[rows]
        out = np.zeros((len(rows), len(self.products)))
        inside = groups >= 0
        if inside.any():
            out[inside] = self._group_popularity[groups[inside]]
        return out

    def _knn_scores(self, rows: Ints) -> Floats:
        raw = np.asarray((self.bought[rows] @ self.similarity).todense(), dtype=np.float64)
        top = raw.max(axis=1, keepdims=True)
        scaled: Floats = np.divide(raw, top, out=np.zeros_like(raw), where=top > 0)
        return scaled

    def rank(self, scores: Floats, rows: Ints, k: int) -> Ints:
        """The top ``k`` product indexes per row (-1 where fewer candidates remain):
        highest score first, ties by global popularity then product id."""
        ordered = scores[:, self._order]  # columns in the tie-break order
        blocked = np.asarray(self.blocked[rows].todense(), dtype=bool)[:, self._order]
        ordered[blocked] = -np.inf
        position = np.argsort(-ordered, axis=1, kind="stable")[:, :k]
        top = self._order[position]
        top[np.take_along_axis(ordered, position, axis=1) == -np.inf] = -1
        result: Ints = np.asarray(top, np.int64)
        return result
