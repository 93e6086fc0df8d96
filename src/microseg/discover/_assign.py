"""Assigning customers to the micro-segments of a run, in batch or one at a time.

A :class:`ClusterAssigner` holds what a run learned, in plain numbers: each feature's
encoding (``log1p``, imputed value, mean and standard deviation, one-hot levels) and, per
macro segment, the final cluster centroids in the standardized space (with a radius for
density runs) and the feature weights of the distance. A customer's missing values are
skipped by the distance (assigners of format 1, from before weights, impute them). A run's
stored labels *are* its assigner's answers on the run's own data,
so a new customer is placed exactly as a customer of the run would have been.

The batch path (numpy over Arrow tables) and the per-profile path (plain Python on
mappings) do the same arithmetic in the same order, so they agree to the bit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any, Literal, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from microseg.discover._cluster import mask_rows, nearest_centroids
from microseg.discover._errors import DiscoveryError
from microseg.discover._features import Feature, FeatureMatrix

__all__ = [
    "MISSING",
    "UNCLUSTERED",
    "Centroid",
    "ClusterAssigner",
    "Encoder",
    "assign_rows",
    "label_rows",
    "squared_radii",
]

Array = np.ndarray[Any, Any]

#: The macro value of customers whose macro trait or attribute is missing.
MISSING = "(missing)"
#: Name of cluster 0: customers a density run leaves in no cluster.
UNCLUSTERED = "unclustered"

_FORMAT = 2
_FORMATS = (1, 2)  # format 1: no weights, missing values imputed
_KINDS = ("number", "flag", "contains", "equals")
_NUMBER, _FLAG, _CONTAINS, _EQUALS = range(4)
_BIG = 2.0**52  # from here on every float is a whole number: rounding leaves it alone


@dataclass(frozen=True)
class Centroid:
    """A cluster of one macro segment: its id, centre (standardized features) and radius.

    ``radius`` is ``None`` for runs without noise; otherwise customers farther than it
    from their nearest centroid are unclustered (cluster 0).
    """

    id: int
    center: tuple[float, ...]
    radius: float | None = None


@dataclass(frozen=True)
class Encoder:
    """Traits and attributes -> the standardized feature vector a run clustered on."""

    features: tuple[Feature, ...]
    fill: tuple[float, ...]
    center: tuple[float, ...]
    scale: tuple[float, ...]
    macro: tuple[Literal["trait", "attribute"], str] | None
    #: missing values come out as NaN (encode_one) or masked (encode_masked), for the
    #: distance to skip; otherwise (format 1) they are imputed with ``fill``
    skip_missing: bool = False

    @classmethod
    def from_matrix(
        cls, matrix: FeatureMatrix, macro: tuple[Literal["trait", "attribute"], str] | None
    ) -> Encoder:
        return cls(
            tuple(matrix.features),
            tuple(matrix.fill),
            tuple(matrix.center),
            tuple(matrix.scale),
            macro,
            skip_missing=True,
        )

    def reads(self, source: str) -> list[str]:
        """Trait or attribute names read (features' fields, then the macro's), each once."""
        names = [f.field for f in self.features if f.source == source]
        if self.macro is not None and self.macro[0] == source:
            names.append(self.macro[1])
        return list(dict.fromkeys(names))

    # -- batch ------------------------------------------------------------------------------

    def encode_masked(self, traits: pa.Table, customers: pa.Table) -> tuple[Array, Array | None]:
        """One standardized row per row of ``traits`` (attributes found by customer_id),
        missing values imputed; and, when :attr:`skip_missing`, the mask of the cells that
        were missing (the distance skips them). None otherwise."""
        n = traits.num_rows
        index = _customer_index(traits, customers)
        # column-major: written a feature at a time (see build_features)
        matrix = np.empty((n, len(self.features)), order="F")
        mask = np.zeros(matrix.shape, dtype=bool, order="F") if self.skip_missing else None
        attributes: dict[str, pa.ChunkedArray] = {}  # in traits' order, once per attribute
        for j, f in enumerate(self.features):
            if f.source == "trait":
                column = _column(traits, f.field, "trait")
            else:
                if f.field not in attributes:
                    attributes[f.field] = _column(customers, f.field, "attribute").take(index)
                column = attributes[f.field]
            values = _raw_column(f, column, n)
            if f.log:  # at or below -1 (never seen when fitted): missing, as in encode_one
                values = np.log1p(np.where(values > -1.0, values, np.nan))
            gaps = ~np.isfinite(values)
            values[gaps] = self.fill[j]
            if mask is not None:
                mask[:, j] = gaps
            matrix[:, j] = (values - self.center[j]) / self.scale[j]
        return matrix, mask

    def macro_table(self, traits: pa.Table, customers: pa.Table) -> Array:
        """Each row's macro value as text (``(missing)`` when missing; ``all`` without)."""
        if self.macro is None:
            return np.array(["all"] * traits.num_rows, dtype=object)
        source, name = self.macro
        if source == "trait":
            column = _column(traits, name, "trait")
        else:
            column = _column(customers, name, "attribute").take(_customer_index(traits, customers))
        return np.array(
            [MISSING if v is None else str(v) for v in column.to_pylist()], dtype=object
        )

    # -- one customer -----------------------------------------------------------------------

    def encode_one(self, traits: Mapping[str, Any], attributes: Mapping[str, Any]) -> list[float]:
        """The standardized vector of one customer (missing keys are missing values: NaN
        when :attr:`skip_missing`, else imputed)."""
        raw: list[float] = []
        append = raw.append
        sets: dict[str, set[str]] = {}
        for f, from_traits, kind in self._plan:
            value = (traits if from_traits else attributes).get(f.field)
            if value is None:  # missing, whatever the kind (as _raw_column reads it)
                append(math.nan)
                continue
            try:
                if kind == _NUMBER:  # numpy.round(value, 9), inlined: this loop is hot
                    scaled = float(value) * 1e9
                    if -_BIG < scaled < _BIG:
                        scaled = float(round(scaled))  # half to even, as numpy's rint
                    append(scaled / 1e9)
                elif kind == _FLAG:
                    append(float(value))
                elif kind == _EQUALS:
                    append(float(str(value) == f.value))
                else:
                    if f.field not in sets:
                        sets[f.field] = _lowered_set(value)
                    append(float(f.value in sets[f.field]))
            except (TypeError, ValueError):
                raise DiscoveryError(
                    f"{f.source} {f.field!r} is {value!r}, which the {f.kind} feature "
                    f"{f.name!r} cannot read",
                    where=f"{f.source}s.{f.field}",
                ) from None
        if self._logged:  # numpy's log1p, not math's: their last bits differ on some CPUs
            logs = np.log1p([raw[j] if raw[j] > -1.0 else math.nan for j in self._logged])
            for j, v in zip(self._logged, logs.tolist(), strict=True):
                raw[j] = v
        if self.skip_missing:
            return [
                (x - mean) / scale if -math.inf < x < math.inf else math.nan
                for x, mean, scale in zip(raw, self.center, self.scale, strict=True)
            ]
        return [
            ((x if -math.inf < x < math.inf else fill) - mean) / scale
            for x, fill, mean, scale in zip(raw, self.fill, self.center, self.scale, strict=True)
        ]

    @cached_property
    def _plan(self) -> tuple[tuple[Feature, bool, int], ...]:
        return tuple((f, f.source == "trait", _KINDS.index(f.kind)) for f in self.features)

    @cached_property
    def _logged(self) -> tuple[int, ...]:
        return tuple(j for j, f in enumerate(self.features) if f.log)

    def macro_one(self, traits: Mapping[str, Any], attributes: Mapping[str, Any]) -> str:
        if self.macro is None:
            return "all"
        source, name = self.macro
        value = (traits if source == "trait" else attributes).get(name)
        return MISSING if value is None else str(value)

    # -- storage ----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "macro": list(self.macro) if self.macro else None,
            "missing": "skip" if self.skip_missing else "impute",
            "features": [
                {
                    "name": f.name,
                    "source": f.source,
                    "field": f.field,
                    "kind": f.kind,
                    "value": f.value,
                    "log": f.log,
                    "fill": fill,
                    "mean": mean,
                    "std": scale,
                }
                for f, fill, mean, scale in zip(
                    self.features, self.fill, self.center, self.scale, strict=True
                )
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Encoder:
        items = list(data["features"])
        for item in items:
            if item["source"] not in ("trait", "attribute") or item["kind"] not in _KINDS:
                raise DiscoveryError(
                    f"feature {item['name']!r} has source {item['source']!r} and kind "
                    f"{item['kind']!r}, which no assigner writes",
                    where="assigner.features",
                )
        features = tuple(
            Feature(
                str(i["name"]),
                i["source"],
                str(i["field"]),
                i["kind"],
                None if i["value"] is None else str(i["value"]),
                bool(i["log"]),
            )
            for i in items
        )
        macro = data["macro"]
        if macro is not None and (len(macro) != 2 or macro[0] not in ("trait", "attribute")):
            raise DiscoveryError(f"bad macro {macro!r}", where="assigner.macro")
        return cls(
            features,
            tuple(float(i["fill"]) for i in items),
            tuple(float(i["mean"]) for i in items),
            tuple(float(i["std"]) for i in items),
            None if macro is None else (macro[0], str(macro[1])),
            skip_missing=data.get("missing", "impute") == "skip",
        )


class ClusterAssigner:
    """The micro-segment of new customers in a stored discovery run.

    A customer goes to their macro segment (the ``(missing)`` one when the macro value is
    missing; an unseen macro value is compared with every cluster of the run), then to the
    nearest centroid there, by the macro segment's weighted distance over the features
    the customer has; in density runs (``hdbscan``), beyond that cluster's radius to
    cluster 0, ``unclustered``. :meth:`assign_table` and :meth:`assign_one` agree row for
    row, and on the run's own traits and attributes at ``as_of`` they give exactly the
    run's stored assignments.

    Get one with :func:`load_assigner`; it is JSON-safe (:meth:`to_dict`,
    :meth:`from_dict`) and needs no database.

    Examples
    --------
    >>> assigner = load_assigner(ws.store, "q4-split")                       # doctest: +SKIP
    >>> assigner.assign_one({"total_spend": 120.0, "lifecycle_stage": "active"},
    ...                     {"interests": ["anime"]})                        # doctest: +SKIP
    8
    """

    run_id: int
    name: str
    as_of: datetime
    clusters: dict[int, str]
    traits: list[str]
    attributes: list[str]
    macro: tuple[str, str] | None

    def __init__(
        self,
        *,
        run_id: int,
        name: str,
        as_of: datetime,
        clusters: Mapping[int, str],
        encoder: Encoder,
        centroids: Mapping[str, Sequence[Centroid]],
        weights: Mapping[str, Sequence[float]] | None = None,
    ) -> None:
        width = len(encoder.features)
        given = {str(k): tuple(float(x) for x in v) for k, v in (weights or {}).items()}
        for value, vector in given.items():
            if value not in centroids or len(vector) != width:
                raise DiscoveryError(
                    f"the feature weights of macro {value!r} do not match the {width} "
                    f"features and the macro segments {sorted(centroids)}",
                    where="assigner.weights",
                )
        for value, group in centroids.items():
            for c in group:
                if len(c.center) != width or c.id not in clusters or c.id == 0:
                    raise DiscoveryError(
                        f"centroid of cluster {c.id} (macro {value!r}) does not match the "
                        f"{width} features and clusters {sorted(clusters)}",
                        where="assigner.centroids",
                    )
        if not any(centroids.values()):
            raise DiscoveryError("an assigner needs at least one centroid", where="assigner")
        self.run_id = run_id
        self.name = name
        self.as_of = as_of
        self.clusters = dict(clusters)
        self.encoder = encoder
        self.centroids = {str(k): tuple(v) for k, v in centroids.items()}
        ones = (1.0,) * width
        #: per macro value, the weight of each feature in the distance (format 1: ones)
        self.weights: dict[str, tuple[float, ...]] = {k: given.get(k, ones) for k in self.centroids}
        self.traits = encoder.reads("trait")
        self.attributes = encoder.reads("attribute")
        self.macro = encoder.macro
        weighted = {k: [(c, self.weights[k]) for c in v] for k, v in self.centroids.items() if v}
        everyone = [item for group in weighted.values() for item in group]
        self._arrays = {k: _arrays(v) for k, v in weighted.items()}
        self._everyone = _arrays(everyone)
        self._plain = {k: _plain(v) for k, v in weighted.items()}
        self._plain_everyone = _plain(everyone)

    def assign_table(self, traits: pa.Table, customers: pa.Table) -> Array:
        """The cluster id (int64) of every row of ``traits``.

        ``traits`` holds ``customer_id`` and the traits of :attr:`traits`; ``customers``
        holds ``customer_id`` and the attributes of :attr:`attributes` (any order; other
        columns and customers are ignored, a customer missing there has missing
        attributes).
        """
        matrix, missing = self.encoder.encode_masked(traits, customers)
        return self.assign_encoded(matrix, self.encoder.macro_table(traits, customers), missing)

    def assign_encoded(self, matrix: Array, macros: Array, missing: Array | None = None) -> Array:
        """:meth:`assign_table` for rows already encoded by :attr:`encoder`
        (``missing``: the mask of :meth:`Encoder.encode_masked`)."""
        return assign_rows(matrix, macros, self._arrays, self._everyone, missing)

    def assign_one(self, traits: Mapping[str, Any], attributes: Mapping[str, Any]) -> int:
        """The cluster id of one customer (plain Python: no database, no numpy per cluster)."""
        z = self.encoder.encode_one(traits, attributes)
        group = self._plain.get(self.encoder.macro_one(traits, attributes), self._plain_everyone)
        best_id, best_center, best_r2, best_weights = group[0]
        best = _squared_distance(z, best_center, best_weights)
        for cid, center, r2, weights in group[1:]:
            d = _squared_distance(z, center, weights)
            if d < best:
                best, best_id, best_r2 = d, cid, r2
        return 0 if best > best_r2 else best_id

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: floats round-trip exactly through JSON."""
        return {
            "format": _FORMAT,
            "run_id": self.run_id,
            "name": self.name,
            "as_of": self.as_of.isoformat(),
            "clusters": {str(k): v for k, v in sorted(self.clusters.items())},
            **self.encoder.to_dict(),
            "centroids": {
                value: [{"id": c.id, "center": list(c.center), "radius": c.radius} for c in group]
                for value, group in self.centroids.items()
            },
            "weights": {value: list(vector) for value, vector in self.weights.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClusterAssigner:
        """The assigner :meth:`to_dict` described (a :class:`DiscoveryError` if malformed)."""
        try:
            if data.get("format") not in _FORMATS:
                raise DiscoveryError(
                    f"assigner format {data.get('format')!r} is not one of {list(_FORMATS)}",
                    where="assigner",
                    hint="discover again with this version of microseg",
                )
            return cls(
                run_id=int(data["run_id"]),
                name=str(data["name"]),
                as_of=datetime.fromisoformat(str(data["as_of"])).replace(tzinfo=None),
                clusters={int(k): str(v) for k, v in data["clusters"].items()},
                encoder=Encoder.from_dict(data),
                centroids={
                    str(value): [
                        Centroid(
                            int(c["id"]),
                            tuple(float(x) for x in c["center"]),
                            None if c["radius"] is None else float(c["radius"]),
                        )
                        for c in group
                    ]
                    for value, group in data["centroids"].items()
                },
                weights=data.get("weights"),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, DiscoveryError):
                raise
            raise DiscoveryError(
                f"not a cluster assigner: {type(exc).__name__}: {exc}", where="assigner"
            ) from None

    def __repr__(self) -> str:
        return (
            f"ClusterAssigner(run_id={self.run_id}, name={self.name!r}, "
            f"clusters={len(self.clusters)}, features={len(self.encoder.features)})"
        )


Group = tuple[Array, Array, Array, Array]  # centres, ids, squared radii, weights (k x d)


def assign_rows(
    matrix: Array,
    macros: Array,
    groups: Mapping[str, Group],
    everyone: Group,
    missing: Array | None = None,
) -> Array:
    """Cluster ids of standardized rows, each among its macro value's centroids."""
    labels = np.zeros(matrix.shape[0], dtype=np.int64)
    codes = pa.array(macros.tolist(), pa.string()).dictionary_encode()
    indices = codes.indices.to_numpy()
    for code, value in enumerate(codes.dictionary.to_pylist()):
        rows = np.flatnonzero(indices == code)
        centers, ids, r2, weights = groups.get(value, everyone)
        skip = mask_rows(missing, rows)
        labels[rows] = label_rows(matrix[rows], centers, ids, r2, weights, skip)
    return labels


def label_rows(
    matrix: Array,
    centers: Array,
    ids: Array,
    r2: Array,
    weights: Array | None = None,
    missing: Array | None = None,
) -> Array:
    """The id of each row's nearest centre (weighted distance over the cells not
    ``missing``); 0 beyond that centre's squared radius ``r2``."""
    index, d2 = nearest_centroids(matrix, centers, weights, missing)
    labels = np.asarray(ids, dtype=np.int64)[index]
    labels[d2 > r2[index]] = 0
    return labels


def squared_radii(radii: Iterable[float | None]) -> Array:
    """``radius * radius`` per cluster, infinite without a radius (both paths use these)."""
    return np.array([math.inf if r is None else r * r for r in radii], dtype=float)


Weighted = Sequence[tuple[Centroid, tuple[float, ...]]]


def _arrays(group: Weighted) -> Group:
    return (
        np.array([c.center for c, _ in group], dtype=float),
        np.array([c.id for c, _ in group], dtype=np.int64),
        squared_radii(c.radius for c, _ in group),
        np.array([w for _, w in group], dtype=float),
    )


def _plain(
    group: Weighted,
) -> list[tuple[int, tuple[float, ...], float, tuple[float, ...]]]:
    r2 = squared_radii(c.radius for c, _ in group).tolist()
    return [(c.id, c.center, r, w) for (c, w), r in zip(group, r2, strict=True)]


def _squared_distance(
    z: list[float], center: tuple[float, ...], weights: tuple[float, ...]
) -> float:
    # in feature order, one rounding per operation: the same bits as nearest_centroids
    total = 0.0
    for a, b, w in zip(z, center, weights, strict=True):
        if a != a:  # missing (NaN): skipped, as nearest_centroids skips masked cells
            continue
        diff = a - b
        total += diff * diff * w
    return total


def _lowered_set(value: Any) -> set[str]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise TypeError("not a list")
    return {str(x).lower() for x in value if x is not None}


def _round9(value: float) -> float:
    """``numpy.round(value, 9)`` for one float (what build_features does to numbers)."""
    scaled = value * 1e9
    if math.isfinite(scaled) and abs(scaled) < _BIG:
        scaled = float(round(scaled))  # half to even, as numpy's rint
    return scaled / 1e9


def _customer_index(traits: pa.Table, customers: pa.Table) -> pa.Array:
    ids = _column(traits, "customer_id", "trait").cast(pa.string())
    known = _column(customers, "customer_id", "customer").cast(pa.string())
    return cast(pa.Array, pc.index_in(ids, value_set=known.combine_chunks()))


def _column(table: pa.Table, name: str, source: str) -> pa.ChunkedArray:
    if name not in table.column_names:
        raise DiscoveryError(
            f"the {source}s table has no column {name!r}",
            where=f"{source}s",
            hint="pass every trait and attribute the assigner lists in .traits and .attributes",
        )
    return table.column(name)


def _raw_column(feature: Feature, column: pa.ChunkedArray, n: int) -> Array:
    """A feature's raw values as build_features made them (NaN for missing numbers)."""
    try:
        if feature.kind in ("number", "flag"):
            values = np.asarray(
                column.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=float
            )
            if feature.kind == "flag":
                return values.copy()
            with np.errstate(over="ignore", invalid="ignore"):  # huge values: inf, then imputed
                return np.asarray(np.rint(values * 1e9) / 1e9)
        if feature.kind == "equals":
            # a missing text is missing (NaN), not "another value than this one"
            hits = pc.equal(column.cast(pa.string()), feature.value).cast(pa.float64())
            return np.asarray(hits.to_numpy(zero_copy_only=False), dtype=float)
        return _contains(column, str(feature.value), n)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise DiscoveryError(
            f"{feature.source} {feature.field!r} has type {column.type}, which the "
            f"{feature.kind} feature {feature.name!r} cannot read ({exc})",
            where=f"{feature.source}s",
        ) from None


def _contains(column: pa.ChunkedArray, level: str, n: int) -> Array:
    """1.0 where the list holds ``level`` (case ignored, as Python's ``str.lower``), NaN
    where there is no list."""
    lists = column.combine_chunks()
    if not (pa.types.is_list(lists.type) or pa.types.is_large_list(lists.type)):
        raise pa.ArrowTypeError("not a list")
    items = pc.list_flatten(lists).cast(pa.string())
    parents = np.asarray(pc.list_parent_indices(lists).to_numpy(zero_copy_only=False))
    distinct = pc.unique(items)
    match = np.array([v is not None and v.lower() == level for v in distinct.to_pylist()])
    found = pc.index_in(items, value_set=distinct).fill_null(0).to_numpy(zero_copy_only=False)
    result = np.zeros(n)
    if match.size:
        present = np.asarray(items.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        result[parents[match[found] & present]] = 1.0
    # a missing list is missing (NaN); an empty list is a list without the value (0)
    result[np.asarray(lists.is_null().to_numpy(zero_copy_only=False), dtype=bool)] = np.nan
    return result
