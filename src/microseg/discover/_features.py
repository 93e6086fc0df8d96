"""Feature preparation: traits and attributes -> one numeric matrix, with notes.

Every feature keeps its *source* (a trait or an attribute, and for encoded values the
value tested), so that a split on it can be written back as a node of the rule language.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.stats import skew

from microseg.discover._errors import DiscoveryError
from microseg.discover._notes import DiscoveryNote

__all__ = ["DEFAULT_ATTRIBUTE_FAMILIES", "Feature", "FeatureMatrix", "build_features"]

#: Attribute families used by default (list attributes such as interests are encoded).
DEFAULT_ATTRIBUTE_FAMILIES: tuple[str, ...] = ("psychographic",)

#: Numeric traits left out by default: scores and groupings of other traits, cyclic values.
_SKIPPED_TRAITS = ("rfm_recency", "rfm_frequency", "rfm_monetary", "peak_purchase_month")
#: and the line and channel counts, near-copies of purchase_count and omnichannel
_SKIPPED_COUNTS = ("purchase_line_count", "purchase_channel_count")

_MAX_LEVELS = 12  # one-hot columns per text or list attribute, most common values first
_DUPLICATE_CORR = 0.98
_CORR_SAMPLE = 200_000

Source = Literal["trait", "attribute"]


@dataclass(frozen=True)
class Feature:
    """One column: where it comes from and how it was encoded.

    ``kind`` is ``number`` (raw value, optionally ``log1p`` for clustering), ``flag`` (a
    boolean trait or attribute), ``contains`` (a list holds ``value``) or ``equals`` (a text
    equals ``value``).
    """

    name: str
    source: Source
    field: str
    kind: Literal["number", "flag", "contains", "equals"]
    value: str | None = None
    log: bool = False

    def label(self) -> str:
        """Words for names and tables, e.g. ``total spend`` or ``interests: travel``."""
        base = self.field.replace("_", " ")
        return f"{base}: {self.value}" if self.value is not None else base


@dataclass
class FeatureMatrix:
    """Customers x features: raw values (NaN for missing) and the standardized matrix.

    ``fill``, ``center`` and ``scale`` hold, per feature, the imputed value (after
    ``log1p`` where used), the mean and the standard deviation that standardized it: what a
    :class:`~microseg.discover.ClusterAssigner` needs to encode a new customer the same way.
    """

    customer_ids: np.ndarray[Any, Any]
    features: list[Feature]
    raw: np.ndarray[Any, Any]
    scaled: np.ndarray[Any, Any]
    missing: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    sensitive_used: list[str] = field(default_factory=list)
    #: typed notes for the run (an attribute without values...)
    run_notes: list[DiscoveryNote] = field(default_factory=list)
    fill: list[float] = field(default_factory=list)
    center: list[float] = field(default_factory=list)
    scale: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "features": [f.name for f in self.features],
            "log1p": [f.name for f in self.features if f.log],
            "imputed": self.missing,
            "notes": self.notes,
            "sensitive_used": self.sensitive_used,
        }


def build_features(
    traits: pa.Table,
    customers: pa.Table,
    *,
    trait_names: Sequence[str] | None,
    attribute_names: Sequence[str] | None,
    families: Mapping[str, Sequence[str]],
    sensitive: Sequence[str],
    allow_sensitive: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> FeatureMatrix:
    """Encode the chosen traits and attributes of every customer (``traits`` order).

    Default traits: every numeric or boolean trait but scores and ``exclude``; default
    attributes: those of :data:`DEFAULT_ATTRIBUTE_FAMILIES`. Sensitive attributes are
    refused unless listed in ``allow_sensitive``.
    """
    ids = traits.column("customer_id").to_numpy(zero_copy_only=False)
    order = pc.index_in(
        traits.column("customer_id").cast(pa.string()),
        value_set=customers.column("customer_id").cast(pa.string()).combine_chunks(),
    )
    notes: list[str] = []
    sensitive_used = _check_sensitive(attribute_names, sensitive, allow_sensitive)
    if attribute_names is None:
        attribute_names = [
            name
            for family in DEFAULT_ATTRIBUTE_FAMILIES
            for name in families.get(family, [])
            if name in customers.column_names and name not in sensitive
        ]
    columns: list[tuple[Feature, np.ndarray[Any, Any]]] = []
    run_notes: list[DiscoveryNote] = []
    empty: list[str] = []
    for name in _chosen_traits(traits, trait_names, exclude):
        columns.extend(_encode(traits.column(name), "trait", name, None))
    for name in attribute_names:
        if name not in customers.column_names:
            raise DiscoveryError(f"unknown attribute {name!r}", where="attributes")
        column = customers.column(name).take(order)
        if column.null_count == len(column):
            empty.append(name)
            continue
        columns.extend(_encode(column, "attribute", name, None))
    if empty:
        run_notes.append(
            DiscoveryNote(
                code="attribute_without_values",
                message="no customer has a value at this as_of for the attribute(s) "
                + ", ".join(empty)
                + ": left out of the features",
                hint="check the attribute's name and its history (`microseg explain`), "
                "or discover at a later --as-of",
            )
        )
    if not columns:
        raise DiscoveryError(
            "no usable features: "
            + (
                f"the attribute(s) {', '.join(empty)} have no values"
                if empty
                else "no trait or attribute to cluster on"
            ),
            hint="name traits (--trait) or attributes (--attribute) that have values",
        )
    matrix = _finish(ids, columns, notes, sensitive_used)
    matrix.run_notes[:0] = run_notes
    return matrix


def _check_sensitive(
    attributes: Sequence[str] | None, sensitive: Sequence[str], allowed: Sequence[str]
) -> list[str]:
    named = [a for a in attributes or () if a in sensitive]
    refused = [a for a in named if a not in allowed]
    if refused:
        raise DiscoveryError(
            f"{refused[0]!r} is a sensitive attribute (microseg.yaml `sensitive`)",
            where="attributes",
            hint=f"pass allow_sensitive=[{refused[0]!r}] (--allow-sensitive) to use it on purpose",
        )
    return named


def _chosen_traits(
    traits: pa.Table, names: Sequence[str] | None, exclude: Sequence[str]
) -> list[str]:
    if names is not None:
        missing = [n for n in names if n not in traits.column_names]
        if missing:
            raise DiscoveryError(f"unknown or non-computed trait {missing[0]!r}", where="traits")
        return list(names)
    chosen = []
    for name in traits.column_names:
        kind = traits.schema.field(name).type
        numeric = pa.types.is_integer(kind) or pa.types.is_floating(kind)
        if (numeric or pa.types.is_boolean(kind)) and name not in (
            *_SKIPPED_TRAITS,
            *_SKIPPED_COUNTS,
            *exclude,
        ):
            chosen.append(name)
    return chosen


def _encode(
    column: pa.ChunkedArray, source: Source, name: str, index: pa.Array | None
) -> list[tuple[Feature, np.ndarray[Any, Any]]]:
    """A trait or attribute as feature columns, in Arrow and numpy (no Python loop per row).

    The raw values are made by the assigner's own functions, so that a run's features and
    its assigner's encoding of the same data are the same numbers.
    """
    from microseg.discover._assign import _contains, _raw_column

    if index is not None:  # attributes, in the traits' order (null where not found)
        column = column.take(index)
    n = len(column)
    kind = column.type
    if pa.types.is_boolean(kind):
        feature = Feature(name, source, name, "flag")
        return [(feature, _raw_column(feature, column, n))]
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        # 9 decimals: trait sums recomputed by the store differ in their last bits, and
        # discovery must not (determinism with a seed)
        feature = Feature(name, source, name, "number")
        return [(feature, _raw_column(feature, column, n))]
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return [
            (Feature(f"{name}={lvl}", source, name, "contains", lvl), _contains(column, lvl, n))
            for lvl in _list_levels(column)
        ]
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        counts = pc.value_counts(column.drop_null().combine_chunks()).to_pylist()
        ranked = sorted(counts, key=lambda c: (-c["counts"], c["values"]))
        encoded = []
        for level in [c["values"] for c in ranked[:_MAX_LEVELS]]:
            feature = Feature(f"{name}={level}", source, name, "equals", level)
            encoded.append((feature, _raw_column(feature, column, n)))
        return encoded
    raise DiscoveryError(
        f"{source} {name!r} has type {kind}, which discovery cannot encode",
        where=f"{source}s",
        hint="use number, boolean, text or list values",
    )


def _list_levels(column: pa.ChunkedArray) -> list[str]:
    """The most common values of a list column (lower case), by how many rows hold them."""
    lists = column.combine_chunks()
    items = pc.list_flatten(lists).cast(pa.string())
    parents = np.asarray(pc.list_parent_indices(lists).to_numpy(zero_copy_only=False))
    distinct = pc.unique(items).to_pylist()
    lowered = sorted({str(v).lower() for v in distinct if v is not None})
    if not lowered:
        return []
    position = {v: i for i, v in enumerate(lowered)}
    code_of = np.array([-1 if v is None else position[str(v).lower()] for v in distinct])
    found = pc.index_in(items, value_set=pa.array(distinct, pa.string()))
    codes = code_of[np.asarray(found.fill_null(0).to_numpy(zero_copy_only=False))]
    present = np.asarray(items.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    keep = present & (codes >= 0)
    held = np.zeros((len(lists), len(lowered)), dtype=bool)  # a row counts a value once
    held[parents[keep], codes[keep]] = True
    counts = held.sum(axis=0)
    ranked = sorted(range(len(lowered)), key=lambda i: (-counts[i], lowered[i]))
    return [lowered[i] for i in ranked[:_MAX_LEVELS] if counts[i] > 0]


def _finish(
    ids: np.ndarray[Any, Any],
    columns: list[tuple[Feature, np.ndarray[Any, Any]]],
    notes: list[str],
    sensitive_used: list[str],
) -> FeatureMatrix:
    kept: list[tuple[Feature, np.ndarray[Any, Any]]] = []
    missing: dict[str, int] = {}
    empty: list[str] = []
    constant: list[str] = []
    for feature, raw in columns:
        present = raw[~np.isnan(raw)]
        if present.size == 0:
            notes.append(f"dropped {feature.name}: no values")
            empty.append(feature.name)
            continue
        if np.ptp(present) == 0:
            value = _plain(float(present[0]))
            notes.append(f"dropped {feature.name}: constant ({value} for every customer)")
            constant.append(f"{feature.name} = {value}")
            continue
        gaps = int(raw.size - present.size)
        if gaps:
            missing[feature.name] = gaps
        log = bool(
            feature.kind == "number"
            and present.min() >= 0
            and present.size > 2
            and float(skew(present)) > 1.0
        )
        if log:
            feature = Feature(feature.name, feature.source, feature.field, feature.kind, None, True)
        kept.append((feature, raw))
    if not kept:
        raise DiscoveryError(
            "no usable features: every feature has no values or is constant (the same "
            "value for every customer), so nothing tells customers apart; "
            + "; ".join(
                f"{why}: {', '.join(names)}"
                for why, names in (("no values", empty), ("constant", constant))
                if names
            ),
            hint="ingest events (behaviour traits need them), or name attributes that vary "
            "with --attribute (e.g. --attribute income)",
        )
    transformed = [_transform(f, raw) for f, raw in kept]
    keep = _drop_duplicates([f for f, _ in kept], [t for t, _ in transformed], notes)
    features = [kept[i][0] for i in keep]
    missing = {f.name: missing[f.name] for f in features if f.name in missing}
    # column-major (customers x features, each feature contiguous): built and read a
    # feature at a time, several times faster than row-major at 1M customers
    raw_matrix = np.array([kept[i][1] for i in keep]).T
    by_feature = np.array([transformed[i][0] for i in keep])
    fills = [transformed[i][1] for i in keep]
    del transformed
    center = by_feature.mean(axis=1)
    std = by_feature.std(axis=1)
    scale = np.where(std > 0, std, 1.0)
    by_feature -= center[:, None]  # in place: at 1M customers each copy is half a GiB
    by_feature /= scale[:, None]
    scaled = by_feature.T
    if missing:
        notes.append(
            "missing values (skipped by distances; the median where a method needs one): "
            + ", ".join(f"{k} ({v})" for k, v in missing.items())
        )
    return FeatureMatrix(
        ids,
        features,
        raw_matrix,
        scaled,
        missing,
        notes,
        sensitive_used,
        fill=fills,
        center=center.tolist(),
        scale=scale.tolist(),
    )


def _plain(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.4g}"


def _transform(feature: Feature, raw: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], float]:
    """The column as clustered (``log1p`` where chosen, gaps imputed) and the imputed value."""
    values = np.log1p(raw) if feature.log else raw.copy()
    gaps = np.isnan(values)
    fill = float(np.median(values[~gaps]))
    if gaps.any():
        values[gaps] = fill
    return values, fill


def _drop_duplicates(
    features: list[Feature], columns: list[np.ndarray[Any, Any]], notes: list[str]
) -> list[int]:
    if len(columns) < 2:
        return list(range(len(columns)))
    rows = columns[0].size
    # near-duplicates are plain to see on a sample: 200,000 rows at most, always the same
    chosen = (
        np.sort(np.random.default_rng(0).choice(rows, _CORR_SAMPLE, replace=False))
        if rows > _CORR_SAMPLE
        else slice(None)
    )
    corr = np.corrcoef(np.column_stack([c[chosen] for c in columns]), rowvar=False)
    keep: list[int] = []
    for i in range(len(columns)):
        twin = next((j for j in keep if abs(corr[i, j]) > _DUPLICATE_CORR), None)
        if twin is None:
            keep.append(i)
        else:
            notes.append(
                f"dropped {features[i].name}: |corr| {abs(corr[i, twin]):.3f} "
                f"with {features[twin].name}"
            )
    return keep
