"""A discovery run: features -> macro segments -> micro clusters -> names, rules, stability."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyarrow as pa
from pydantic import Field
from sklearn.metrics import adjusted_rand_score

from microseg.core.results import Instant, Result
from microseg.core.time import AsOf
from microseg.discover._assign import (
    MISSING,
    UNCLUSTERED,
    Centroid,
    ClusterAssigner,
    Encoder,
    label_rows,
    squared_radii,
)
from microseg.discover._cluster import (
    METHODS,
    ClusterModel,
    fit_radii,
    make_model,
    mask_rows,
    masked_means,
)
from microseg.discover._describe import (
    cluster_means,
    distinguishing,
    make_name,
    overall_means,
)
from microseg.discover._errors import DiscoveryError
from microseg.discover._features import FeatureMatrix, build_features
from microseg.discover._notes import DiscoveryNote
from microseg.discover._rules import surrogate_rule
from microseg.traits import TraitRun

if TYPE_CHECKING:
    from microseg.context import Context
    from microseg.profile import ProfileAssembler
    from microseg.traits.api import Traits
    from microseg.value.api import Value

__all__ = ["DiscoveryRun", "DiscoveryRunResult", "discover", "merge_small"]

Array = np.ndarray[Any, Any]
MacroSource = tuple[Literal["trait", "attribute"], str]


@dataclass
class DiscoveryRun:
    """The result of :func:`discover`: parameters, features, metrics, clusters, assignments.

    ``labels`` holds each customer's cluster (0: unclustered, in density runs) and
    ``assigner`` places new customers the same way (:class:`ClusterAssigner`).
    """

    as_of: datetime
    params: dict[str, Any]
    features: dict[str, Any]
    metrics: dict[str, Any]
    macros: list[dict[str, Any]]
    clusters: list[dict[str, Any]]
    customer_ids: Array
    labels: Array
    macro_labels: Array
    assigner: ClusterAssigner
    run_id: int | None = None
    name: str | None = None
    created_at: datetime | None = None
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    #: what the user should know about the run (docs/discovery.md, "Notes")
    notes: list[DiscoveryNote] = field(default_factory=list)

    def to_result(self) -> DiscoveryRunResult:
        """What a front end shows of the run: everything but the assignments and the assigner."""
        return DiscoveryRunResult(
            run_id=self.run_id,
            name=self.name,
            as_of=self.as_of,
            created_at=self.created_at,
            seconds=round(self.seconds, 2),
            params=self.params,
            features=self.features,
            metrics=self.metrics,
            macros=self.macros,
            clusters=self.clusters,
            notes=self.notes,
        )

    def to_dict(self) -> dict[str, Any]:
        """Everything but the assignments and the assigner, JSON-ready."""
        return self.to_result().to_dict()


class DiscoveryRunResult(Result):
    """A discovery run as shown (``microseg discover run --json``, and as stored)."""

    run_id: int | None
    name: str | None
    as_of: Instant
    created_at: Instant | None
    seconds: float
    params: dict[str, Any]
    features: dict[str, Any]
    metrics: dict[str, Any]
    macros: list[dict[str, Any]]
    clusters: list[dict[str, Any]]
    notes: list[DiscoveryNote] = Field(default_factory=list)


def discover(  # noqa: PLR0913 - the documented options of a run (docs/discovery.md), keyword-only
    context: Context,
    profile: ProfileAssembler,
    traits_api: Traits,
    value_api: Value,
    *,
    as_of: AsOf | None = None,
    method: str = "kmeans",
    macro: str | None = "lifecycle_stage",
    traits: Sequence[str] | None = None,
    attributes: Sequence[str] | None = None,
    allow_sensitive: Sequence[str] = (),
    n_clusters: int | None = None,
    min_clusters: int = 2,
    max_clusters: int = 8,
    min_size: int = 50,
    seed: int = 0,
    refits: int = 3,
    name: str | None = None,
    save: bool = True,
) -> DiscoveryRun:
    """Discover micro-segments: clusters inside each macro segment, named and ruled.

    Parameters
    ----------
    method:
        ``kmeans``, ``gmm``, ``bisecting`` or ``hdbscan`` (density: finds k itself and
        leaves customers in no dense region in cluster 0, ``unclustered``).
    macro:
        A text trait or attribute giving the macro segments (default ``lifecycle_stage``);
        ``None`` clusters everyone in one level.
    traits, attributes:
        The features (default: numeric and boolean traits but scores and value-model
        outputs, psychographic attributes).
    allow_sensitive:
        Sensitive attributes (``sensitive`` in microseg.yaml) named in ``attributes`` on
        purpose; the request is recorded in the run.
    min_size:
        Clusters smaller than this are merged into their nearest sibling.
    refits:
        Refits on 80% subsamples that measure stability; k-means makes that many
        restarts and keeps their consensus (0: one fit, no stability).
    name:
        The run's name, a slug unique in the workspace (default ``run-<id>``).
    save:
        Store the run, its assignments and its assigner in the workspace.

    Examples
    --------
    >>> run = ws.discover.run(as_of="2026-10-31", seed=1, name="q4")        # doctest: +SKIP
    >>> [(c["id"], c["name"], c["size"]) for c in run.clusters]          # doctest: +SKIP
    """
    from microseg.discover._storage import check_name, store_run

    started = time.perf_counter()
    if isinstance(min_size, bool) or not isinstance(min_size, int) or min_size < 1:
        raise DiscoveryError(f"min_size must be an int >= 1, got {min_size!r}", where="min_size")
    if n_clusters is not None:
        if isinstance(n_clusters, bool) or not isinstance(n_clusters, int) or n_clusters < 1:
            raise DiscoveryError(
                f"n_clusters must be an int >= 1, got {n_clusters!r}", where="n_clusters"
            )
        # an explicit k wins over the range searched without one
        max_clusters = max(max_clusters, n_clusters)
        min_clusters = min(min_clusters, n_clusters)
    if method not in METHODS:
        raise DiscoveryError(
            f"unknown method {method!r}", where="method", hint=f"use one of {sorted(METHODS)}"
        )
    if name is not None:
        check_name(context.store, name, stored=save)
    moment = context.instant(as_of)  # naive UTC, for the record; the store reads ``as_of`` itself
    clock = _Phases()
    value_traits, computed = _compute_traits(traits_api, value_api, as_of)
    clock.done("traits")
    assert computed.result is not None
    trait_table = computed.result.to_pyarrow().sort_by("customer_id")
    computed.result.drop()
    customers = profile.attributes(as_of=as_of).to_pyarrow()
    macro_source = _macro_source(trait_table, customers, macro)
    matrix = build_features(
        trait_table,
        customers,
        trait_names=traits,
        attribute_names=attributes,
        families={str(k): list(v) for k, v in context.config.families.items()},
        sensitive=context.config.sensitive,
        allow_sensitive=allow_sensitive,
        exclude=[*([macro] if macro else []), *value_traits],
    )
    encoder = Encoder.from_matrix(matrix, macro_source)
    encoded, missing = encoder.encode_masked(trait_table, customers)
    # the same numbers as ``matrix.scaled``, made as the assigner makes them: one copy is
    # kept (at 1M customers x 60 features, each is half a GiB)
    matrix.scaled = encoded
    macro_values = encoder.macro_table(trait_table, customers)
    clock.done("features")
    options = _Options(method, n_clusters, min_clusters, max_clusters, min_size, seed, refits)
    params = {
        "method": method,
        "macro": macro,
        "traits": list(traits) if traits is not None else None,
        "attributes": list(attributes) if attributes is not None else None,
        "allow_sensitive": list(allow_sensitive),
        **{k: v for k, v in asdict(options).items() if k != "method"},
    }
    centroids, weights, macros, stability = _micro_clusters(encoded, missing, macro_values, options)
    notes = [*matrix.run_notes, *cluster_notes(macros, options)]
    if _value_columns(trait_table) is not None:  # p_alive and clv_12m describe the clusters
        notes += [
            DiscoveryNote(
                code="value_fit_warning",
                message=f"the clusters' p_alive and clv_12m come from a value fit with a "
                f"warning: {w.message}",
                hint=w.hint,
            )
            for w in value_api.fit_warnings(as_of=as_of)
        ]
    for entry in macros:
        entry["top_weights"] = _top_weights(matrix, weights[entry["macro"]])
    clock.done("clustering")
    placeholder = {c.id: "" for group in centroids.values() for c in group}
    draft = ClusterAssigner(
        run_id=0,
        name=name or "",
        as_of=moment,
        clusters=placeholder | {0: UNCLUSTERED},
        encoder=encoder,
        centroids=centroids,
        weights=weights,
    )
    # the stored labels are the assigner's answers (docs/discovery.md, step 4)
    labels = draft.assign_encoded(encoded, macro_values, missing)
    clock.done("assignment")
    clusters = _describe_clusters(matrix, trait_table, macro_source, macro_values, labels, seed)
    clock.done("descriptions and rules")
    assigner = ClusterAssigner(
        run_id=0,
        name=name or "",
        as_of=moment,
        clusters={c["id"]: c["name"] for c in clusters},
        encoder=encoder,
        centroids=centroids,
        weights=weights,
    )
    known = set(customers.column("customer_id").to_pylist())
    assigned = sum(1 for cid in matrix.customer_ids.tolist() if cid in known)
    real = [c for c in clusters if c["id"] != 0]
    metrics = {
        "customers": len(known),
        "assigned": assigned,
        "coverage": round(assigned / len(known), 4) if known else 1.0,
        "clusters": len(real),
        "unclustered": int((labels == 0).sum()),
        "stability_ari": stability,
        "smallest_cluster": min((c["size"] for c in real), default=0),
    }
    run = DiscoveryRun(
        as_of=moment,
        params=params,
        features=matrix.summary(),
        metrics=metrics,
        macros=macros,
        clusters=clusters,
        customer_ids=matrix.customer_ids,
        labels=labels,
        macro_labels=macro_values,
        assigner=assigner,
        name=name,
        created_at=context.now(),
        notes=notes,
    )
    if save:
        run.seconds = time.perf_counter() - started  # stored with the run: all but storing
        store_run(context.store, run)
        clock.done("storing")
    run.seconds = time.perf_counter() - started
    run.extra["seconds_by_phase"] = clock.seconds
    return run


class _Phases:
    """Seconds spent in each phase of a run, for ``extra['seconds_by_phase']``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def done(self, phase: str) -> None:
        now = time.perf_counter()
        self.seconds[phase] = round(now - self._last, 3)
        self._last = now


@dataclass(frozen=True)
class _Options:
    """How each macro segment is clustered: the run's parameters of that name."""

    method: str
    n_clusters: int | None
    min_clusters: int
    max_clusters: int
    min_size: int
    seed: int
    refits: int


def _micro_clusters(
    encoded: Array, missing: Array | None, macro_values: Array, options: _Options
) -> tuple[dict[str, list[Centroid]], dict[str, list[float]], list[dict[str, Any]], float | None]:
    """Final centroids and feature weights per macro value (ids from 1, largest macro
    segment and cluster first), what happened in each macro segment, and the size-weighted
    stability."""
    centroids: dict[str, list[Centroid]] = {}
    weights: dict[str, list[float]] = {}
    macros: list[dict[str, Any]] = []
    stability: list[tuple[float, int]] = []
    next_id = 1
    for value in _by_size(macro_values):
        rows = np.flatnonzero(macro_values == value)
        X, skip = encoded[rows], mask_rows(missing, rows)
        local, info, w = _cluster_macro(X, skip, options)
        centers, radii, dropped, sizes = _settle(X, skip, local, options.min_size, w)
        ids = np.arange(1, len(centers) + 1)
        group = []
        for i in sorted(ids.tolist(), key=lambda i: (-sizes[i], i)):
            group.append(Centroid(next_id, tuple(centers[i - 1].tolist()), radii[i - 1]))
            next_id += 1
        centroids[value] = group
        weights[value] = w.tolist()
        if info["stability_ari"] is not None:
            stability.append((info["stability_ari"], rows.size))
        info["merged"] += dropped
        macros.append(
            {
                "macro": value,
                "size": int(rows.size),
                **info,
                "clusters": len(group),
                "unclustered": int(sizes[0]),
            }
        )
    weight = sum(n for _, n in stability)
    mean = round(sum(a * n for a, n in stability) / weight, 4) if weight else None
    return centroids, weights, macros, mean


def cluster_notes(macros: list[dict[str, Any]], options: _Options) -> list[DiscoveryNote]:
    """Notes on macro segments too small to split, and on a ``--k`` not reached."""
    notes: list[DiscoveryNote] = []
    floor = 2 * options.min_size
    small = [m for m in macros if m["size"] < floor and options.n_clusters != 1]
    listed = ", ".join(f"{str(m['macro']).replace('_', ' ')} ({m['size']:,})" for m in small)
    suggestion = max(2, max((m["size"] for m in small), default=4) // 4)
    hint = (
        f"lower --min-size (now {options.min_size}; e.g. --min-size {suggestion}), or "
        "cluster everyone at one level with --macro none"
    )
    if small and len(small) == len(macros):
        notes.append(
            DiscoveryNote(
                code="nothing_split",
                message="nothing was split into micro-segments: a macro segment needs at "
                f"least 2 x --min-size = {floor} customers to split, and every one has "
                f"fewer ({listed}); the clusters are the macro segments themselves",
                hint=hint,
            )
        )
    elif small:
        notes.append(
            DiscoveryNote(
                code="macro_not_split",
                message=f"not split (fewer than 2 x --min-size = {floor} customers): {listed}",
                hint=hint,
            )
        )
    wanted = options.n_clusters
    if wanted is not None and wanted > 1:
        short = [m for m in macros if m["clusters"] < wanted and m["size"] >= floor]
        for m in short:
            where = "" if m["macro"] == "all" else f"in {str(m['macro']).replace('_', ' ')}, "
            notes.append(
                DiscoveryNote(
                    code="k_not_reached",
                    message=f"{where}--k {wanted} gave {m['clusters']} clusters: "
                    f"{m['size']:,} customers hold at most {m['size'] // options.min_size} "
                    f"clusters of --min-size {options.min_size}, and clusters left smaller "
                    "are merged",
                    hint="lower --min-size to allow smaller clusters",
                )
            )
    return notes


def _top_weights(matrix: FeatureMatrix, weights: Sequence[float], top: int = 8) -> dict[str, float]:
    """The features that weigh most in a macro segment's distance (1: a feature without
    cluster structure), for ``discover show``."""
    order = sorted(range(len(weights)), key=lambda j: (-weights[j], j))[:top]
    return {matrix.features[j].name: round(float(weights[j]), 2) for j in order}


def _compute_traits(
    traits_api: Traits, value_api: Value, as_of: AsOf | None
) -> tuple[list[str], TraitRun]:
    """Compute the traits at ``as_of``; return the value-model ones and the run.

    Value-model traits (``p_alive``, ``clv_12m``...) exist once a value model is fitted;
    they are computed only when a fit calibrated at or before ``as_of`` exists. They
    describe clusters (docs/discovery.md) and are not features unless named.
    """
    from microseg.lang import ModelExpr
    from microseg.traits import walk_expr

    catalog = traits_api.list()
    modelled = [
        n
        for n, d in catalog.definitions.items()
        if any(isinstance(node, ModelExpr) for node in walk_expr(d.value))
    ]
    if modelled and value_api.latest_fit(as_of=as_of) is None:
        run = traits_api.compute(
            [n for n in catalog.definitions if n not in modelled], as_of=as_of, save=False
        )
    else:
        run = traits_api.compute(as_of=as_of, save=False)
    return modelled, run


def _macro_source(traits: pa.Table, customers: pa.Table, macro: str | None) -> MacroSource | None:
    if macro is None:
        return None
    if macro in traits.column_names:
        return ("trait", macro)
    if macro in customers.column_names:
        return ("attribute", macro)
    raise DiscoveryError(
        f"unknown macro trait or attribute {macro!r}",
        where="macro",
        hint="use a text trait such as lifecycle_stage or rfm_group, or none",
    )


def _by_size(values: Array) -> list[Any]:
    """Distinct values, largest group first (ties by value, so the order is stable)."""
    unique, counts = np.unique(values, return_counts=True)
    return [u for _, u in sorted(zip(-counts, unique.tolist(), strict=True))]


def _cluster_macro(
    X: Array, missing: Array | None, options: _Options
) -> tuple[Array, dict[str, Any], Array]:
    """Micro clusters of one macro segment (``-1``: noise), small ones merged; stability;
    the feature weights of the distance."""
    min_size, n_clusters = options.min_size, options.n_clusters
    fits = X.shape[0] // min_size
    if fits < 2 or n_clusters == 1:
        info = {"k": 1, "scores": {}, "merged": 0, "stability_ari": None, "close_call": None}
        return np.zeros(X.shape[0], dtype=int), info, np.ones(X.shape[1])
    # at most X.shape[0] // min_size clusters of min_size customers fit in a macro segment
    k_max = max(1, min(options.max_clusters, fits))
    model = make_model(
        options.method,
        n_clusters=min(n_clusters, k_max) if n_clusters else None,
        min_clusters=min(options.min_clusters, k_max),
        max_clusters=k_max,
        min_size=min_size,
        seed=options.seed,
        refits=options.refits,
    ).fit(X, missing)
    weights = np.asarray(model.feature_weights_, dtype=float)
    labels = np.asarray(model.labels_).copy()
    clustered = labels >= 0
    merged_labels, merged = merge_small(
        X[clustered],
        labels[clustered],
        min_size,
        weights,
        mask_rows(missing, clustered),
    )
    labels[clustered] = merged_labels
    info = {
        "k": int(model.n_clusters_),
        "scores": {str(k): round(v, 4) for k, v in model.scores_.items()},
        "merged": merged,
        "stability_ari": getattr(model, "stability_", None)
        if options.method == "kmeans"
        else _stability(X, missing, model, options),
        "close_call": close_call(model.scores_, options.method),
    }
    return labels, info, weights


#: Silhouettes closer than this to the best are a close call (sampling noise is about as
#: large on the 2,000-row samples the scores come from)
CLOSE_SILHOUETTE = 0.005


def close_call(scores: dict[int, float], method: str) -> dict[str, Any] | None:
    """The runner-up k when its silhouette is within :data:`CLOSE_SILHOUETTE` of the
    chosen one's (k-means and bisecting k-means; None otherwise): a second cut worth a
    look, with ``n_clusters``."""
    if method not in ("kmeans", "bisecting") or len(scores) < 2:
        return None
    ranked = sorted(scores, key=lambda k: (-scores[k], k))
    best, second = ranked[0], ranked[1]
    margin = scores[best] - scores[second]
    if margin >= CLOSE_SILHOUETTE:
        return None
    return {"k": int(second), "margin": round(float(margin), 4)}


def _settle(
    X: Array, missing: Array | None, labels: Array, min_size: int, weights: Array
) -> tuple[Array, list[float | None], int, Array]:
    """Final centroids of one macro segment, their radii, how many were dropped, and the
    customers of each (index 0: unclustered).

    Centroids are the means of the (merged) clusters over their present cells; rows then
    go to the nearest one (and beyond its radius to noise, when the method found noise). A
    cluster left under ``min_size`` by that reassignment loses its centroid, smallest
    first, and the rows are placed again.
    """
    ids = np.unique(labels[labels >= 0])
    local = np.searchsorted(ids, labels)
    local[labels < 0] = -1
    centers = masked_means(X, missing, local, ids.size)
    found = fit_radii(X, local, centers, weights, missing)
    radii = [None if np.isinf(r) else float(r) for r in found]
    dropped = 0
    while True:
        final = label_rows(
            X, centers, np.arange(1, len(centers) + 1), squared_radii(radii), weights, missing
        )
        sizes = np.bincount(final, minlength=len(centers) + 1)[1:]
        if len(centers) > 1 and sizes.min() < min_size:
            drop = int(np.argmin(sizes))
            centers = np.delete(centers, drop, axis=0)
            radii = radii[:drop] + radii[drop + 1 :]
            dropped += 1
        elif any(r is not None for r in radii) and sizes.sum() in (0, X.shape[0]):
            # noise nowhere, or everyone beyond the radius: no unclustered group here
            radii = [None] * len(centers)
        else:
            return centers, radii, dropped, np.bincount(final, minlength=len(centers) + 1)


def merge_small(
    X: Array,
    labels: Array,
    min_size: int,
    weights: Array | None = None,
    missing: Array | None = None,
) -> tuple[Array, int]:
    """Merge clusters below ``min_size`` into the nearest sibling (by centroid, in the
    weighted distance; means over present cells), smallest first; returns labels 0..m-1
    and the number of merges."""
    labels = np.unique(labels, return_inverse=True)[1]
    w = np.ones(X.shape[1]) if weights is None else np.asarray(weights, dtype=float)
    merged = 0
    while True:
        ids, counts = np.unique(labels, return_counts=True)
        if ids.size < 2 or counts.min() >= min_size:
            break
        small = ids[np.argmin(counts)]
        centers = masked_means(X, missing, labels, int(ids.max()) + 1)
        nearest = min(
            (i for i in ids if i != small),
            key=lambda i: (float(np.sum(w * (centers[i] - centers[small]) ** 2)), i),
        )
        labels[labels == small] = nearest
        labels = np.unique(labels, return_inverse=True)[1]
        merged += 1
    return labels, merged


def _stability(
    X: Array, missing: Array | None, model: ClusterModel, options: _Options
) -> float | None:
    """Mean adjusted Rand index between the fit and refits on 80% subsamples (at most
    100,000 rows; noise, in density runs, counts as one more label), over at most 100,000
    rows. (k-means measures its own, across its restarts: ``KMeansClusters.stability_``.)"""
    k, labels = model.n_clusters_, model.labels_
    if options.refits < 1 or k < 2:
        return None
    scores = []
    size = min(int(X.shape[0] * 0.8), 100_000)
    check = (
        np.sort(np.random.RandomState(options.seed).choice(X.shape[0], 100_000, replace=False))
        if X.shape[0] > 100_000
        else np.arange(X.shape[0])
    )
    for r in range(options.refits):
        seed = options.seed + 1 + r
        rows = np.random.RandomState(seed).choice(X.shape[0], size, replace=False)
        refit = make_model(
            options.method,
            n_clusters=k,
            min_clusters=1,
            max_clusters=k,
            min_size=max(2, int(options.min_size * 0.8)),
            seed=seed,
        ).fit(X[rows], mask_rows(missing, rows))
        found = refit.predict(X[check], mask_rows(missing, check))
        scores.append(adjusted_rand_score(labels[check], found))
    return round(float(np.mean(scores)), 4)


def _describe_clusters(
    matrix: FeatureMatrix,
    traits: pa.Table,
    macro: MacroSource | None,
    macro_values: Array,
    labels: Array,
    seed: int,
) -> list[dict[str, Any]]:
    """Size, revenue, value, top features, name and rule of every cluster (0 first)."""
    spend = _numbers(traits, "total_spend")
    spend = np.zeros(labels.size) if spend is None else np.nan_to_num(spend)
    counts = _numbers(traits, "purchase_count")
    bought = None if counts is None else np.nan_to_num(counts) > 0
    value = _value_columns(traits)
    total_revenue = float(spend.sum())
    clusters = []
    # column by column from here on (means, thresholds, rule masks): contiguous columns
    raw = np.asfortranarray(matrix.raw)
    overall = overall_means(raw)
    means = cluster_means(matrix.scaled, raw, labels)
    scopes: dict[str, Array] = {}
    for cluster in sorted(set(labels.tolist())):
        rows = labels == cluster
        ranked = distinguishing(
            matrix.scaled,
            raw,
            matrix.features,
            rows,
            top=12,
            overall=overall,
            means=means[cluster],
        )
        top = ranked[:5]
        revenue = float(spend[rows].sum())
        entry: dict[str, Any] = {
            "id": cluster,
            "macro": None,
            "name": UNCLUSTERED,
            "size": int(rows.sum()),
            "share": round(float(rows.mean()), 4),
            "revenue": round(revenue, 2),
            "revenue_share": round(revenue / total_revenue, 4) if total_revenue else None,
            **_value_summary(value, rows),
            "top_features": top,
        }
        if cluster == 0:  # no rule: select it with a `cluster` node of the rule language
            entry.update(
                rule=None,
                members=None,
                true_positives=None,
                cluster_size=entry["size"],
                precision=None,
                recall=None,
            )
            clusters.append(entry)
            continue
        group = macro_values[rows][0]
        if group not in scopes:  # comparing a million texts once per macro segment
            scopes[group] = macro_values == group
        scope = scopes[group]
        scope_rule = None
        if macro is not None:
            source, field_name = macro
            scope_rule = (
                {source: field_name, "is_null": True}
                if group == MISSING
                else {source: field_name, "eq": group}
            )
        rule = surrogate_rule(
            raw,
            matrix.features,
            rows,
            scope,
            scope_rule,
            min_leaf=max(5, int(rows.sum()) // 20),
            seed=seed,
        )
        buyers = 1.0 if bought is None else float(bought[rows].mean())
        if group == "prospect":
            buyers = 0.0
        name = make_name(
            matrix.features, ranked, macro=str(group) if macro else None, buyers=buyers
        )
        entry.update(macro=group, name=name, **rule.to_dict())
        clusters.append(entry)
    return clusters


def _numbers(traits: pa.Table, name: str) -> Array | None:
    if name not in traits.column_names:
        return None
    column = traits.column(name).cast(pa.float64())
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=float)


def _value_columns(traits: pa.Table) -> tuple[Array, Array] | None:
    """``p_alive`` and ``clv_12m`` when a value model was fitted (else None)."""
    p_alive, clv = _numbers(traits, "p_alive"), _numbers(traits, "clv_12m")
    return None if p_alive is None or clv is None else (p_alive, clv)


def _value_summary(value: tuple[Array, Array] | None, rows: Array) -> dict[str, Any]:
    """Mean p_alive, mean and total 12-month CLV of the rows (buyers: others have none)."""
    if value is None:
        return {}
    p_alive, clv = value[0][rows], value[1][rows]
    p_alive, clv = p_alive[~np.isnan(p_alive)], clv[~np.isnan(clv)]
    return {
        "p_alive_mean": round(float(p_alive.mean()), 4) if p_alive.size else None,
        "clv_12m_mean": round(float(clv.mean()), 2) if clv.size else None,
        "clv_12m_total": round(float(clv.sum()), 2),
        "valued": int(clv.size),
    }
