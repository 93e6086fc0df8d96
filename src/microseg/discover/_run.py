"""A discovery run: features -> macro segments -> micro clusters -> names, rules, stability."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.metrics import adjusted_rand_score

from microseg._time import AsOf
from microseg.discover._cluster import make_model
from microseg.discover._describe import distinguishing, make_name
from microseg.discover._errors import DiscoveryError
from microseg.discover._features import FeatureMatrix, build_features
from microseg.discover._rules import surrogate_rule

if TYPE_CHECKING:
    from microseg.workspace import Workspace

__all__ = ["DiscoveryRun", "discover"]

Array = np.ndarray[Any, Any]
MISSING = "(missing)"


@dataclass
class DiscoveryRun:
    """The result of :func:`discover`: parameters, features, metrics, clusters, assignments."""

    as_of: datetime
    params: dict[str, Any]
    features: dict[str, Any]
    metrics: dict[str, Any]
    macros: list[dict[str, Any]]
    clusters: list[dict[str, Any]]
    customer_ids: Array
    labels: Array
    macro_labels: Array
    run_id: int | None = None
    created_at: datetime | None = None
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Everything but the assignments, JSON-ready."""
        return {
            "run_id": self.run_id,
            "as_of": self.as_of.isoformat() + "Z",
            "created_at": self.created_at.isoformat() + "Z" if self.created_at else None,
            "seconds": round(self.seconds, 2),
            "params": self.params,
            "features": self.features,
            "metrics": self.metrics,
            "macros": self.macros,
            "clusters": self.clusters,
        }


def discover(
    ws: Workspace,
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
    save: bool = True,
) -> DiscoveryRun:
    """Discover micro-segments: clusters inside each macro segment, named and ruled.

    Parameters
    ----------
    macro:
        A text trait or attribute giving the macro segments (default ``lifecycle_stage``);
        ``None`` clusters everyone in one level.
    traits, attributes:
        The features (default: numeric and boolean traits, psychographic attributes).
    allow_sensitive:
        Sensitive attributes (``sensitive`` in microseg.yaml) named in ``attributes`` on
        purpose; the request is recorded in the run.
    min_size:
        Clusters smaller than this are merged into their nearest sibling.
    save:
        Store the run and its assignments in the workspace (``discovery_runs``).

    Examples
    --------
    >>> run = discover(ws, as_of="2026-10-31", seed=1)                     # doctest: +SKIP
    >>> [(c["id"], c["name"], c["size"]) for c in run.clusters]          # doctest: +SKIP
    """
    started = time.perf_counter()
    if isinstance(min_size, bool) or not isinstance(min_size, int) or min_size < 1:
        raise DiscoveryError(f"min_size must be an int >= 1, got {min_size!r}", where="min_size")
    moment = ws.as_of(as_of)  # naive UTC, for the record; the store reads ``as_of`` itself
    ws.compute_traits(as_of=as_of, save=False)
    trait_table = ws.store.table("_trait_eval").to_pyarrow().sort_by("customer_id")
    customers = ws.customers(as_of=as_of).to_pyarrow()
    matrix = build_features(
        trait_table,
        customers,
        trait_names=traits,
        attribute_names=attributes,
        families={str(k): list(v) for k, v in ws.config.families.items()},
        sensitive=ws.config.sensitive,
        allow_sensitive=allow_sensitive,
        exclude=[macro] if macro else [],
    )
    macro_values = _macro_values(trait_table, customers, macro)
    params = {
        "method": method,
        "macro": macro,
        "traits": list(traits) if traits is not None else None,
        "attributes": list(attributes) if attributes is not None else None,
        "allow_sensitive": list(allow_sensitive),
        "n_clusters": n_clusters,
        "min_clusters": min_clusters,
        "max_clusters": max_clusters,
        "min_size": min_size,
        "seed": seed,
        "refits": refits,
    }
    labels = np.full(len(macro_values), -1)
    macros: list[dict[str, Any]] = []
    stability: list[tuple[float, int]] = []
    next_id = 1
    for value in _by_size(macro_values):
        rows = np.flatnonzero(macro_values == value)
        local, info = _cluster_macro(
            matrix.scaled[rows],
            method=method,
            n_clusters=n_clusters,
            min_clusters=min_clusters,
            max_clusters=max_clusters,
            min_size=min_size,
            seed=seed,
            refits=refits,
        )
        for cluster in _by_size(local):
            labels[rows[local == cluster]] = next_id
            next_id += 1
        if info.get("stability_ari") is not None:
            stability.append((info["stability_ari"], rows.size))
        macros.append({"macro": value, "size": int(rows.size), **info})
    clusters = _describe_clusters(matrix, trait_table, macro, macro_values, labels, seed)
    known = set(customers.column("customer_id").to_pylist())
    assigned = int(
        sum(
            1
            for cid, lab in zip(matrix.customer_ids, labels, strict=True)
            if lab > 0 and cid in known
        )
    )
    weight = sum(n for _, n in stability)
    metrics = {
        "customers": len(known),
        "assigned": assigned,
        "coverage": round(assigned / len(known), 4) if known else 1.0,
        "clusters": len(clusters),
        "stability_ari": round(sum(a * n for a, n in stability) / weight, 4) if weight else None,
        "smallest_cluster": min((c["size"] for c in clusters), default=0),
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
        created_at=ws.now(),
    )
    run.seconds = time.perf_counter() - started
    if save:
        from microseg.discover._storage import store_run

        run.run_id = store_run(ws, run)
    return run


def _macro_values(traits: Any, customers: Any, macro: str | None) -> Array:
    n = traits.num_rows
    if macro is None:
        return np.array(["all"] * n, dtype=object)
    if macro in traits.column_names:
        values = traits.column(macro).to_pylist()
    elif macro in customers.column_names:
        lookup = dict(
            zip(
                customers.column("customer_id").to_pylist(),
                customers.column(macro).to_pylist(),
                strict=True,
            )
        )
        values = [lookup.get(cid) for cid in traits.column("customer_id").to_pylist()]
    else:
        raise DiscoveryError(
            f"unknown macro trait or attribute {macro!r}",
            where="macro",
            hint="use a text trait such as lifecycle_stage or rfm_group, or none",
        )
    return np.array([MISSING if v is None else str(v) for v in values], dtype=object)


def _by_size(values: Array) -> list[Any]:
    """Distinct values, largest group first (ties by value, so the order is stable)."""
    unique, counts = np.unique(values, return_counts=True)
    return [u for _, u in sorted(zip(-counts, unique.tolist(), strict=True))]


def _cluster_macro(
    X: Array,
    *,
    method: str,
    n_clusters: int | None,
    min_clusters: int,
    max_clusters: int,
    min_size: int,
    seed: int,
    refits: int,
) -> tuple[Array, dict[str, Any]]:
    """Micro clusters of one macro segment, small ones merged; with stability."""
    fits = X.shape[0] // min_size
    if fits < 2 or n_clusters == 1:
        return np.zeros(X.shape[0], dtype=int), {
            "k": 1,
            "scores": {},
            "merged": 0,
            "stability_ari": None,
        }
    k_max = max(1, min(max_clusters, fits))
    model = make_model(
        method,
        n_clusters=min(n_clusters, k_max) if n_clusters else None,
        min_clusters=min(min_clusters, k_max),
        max_clusters=k_max,
        seed=seed,
    ).fit(X)
    labels, merged = merge_small(X, model.labels_, min_size)
    return labels, {
        "k": int(model.n_clusters_),
        "scores": {str(k): round(v, 4) for k, v in model.scores_.items()},
        "merged": merged,
        "stability_ari": _stability(X, model.labels_, method, model.n_clusters_, seed, refits),
    }


def merge_small(X: Array, labels: Array, min_size: int) -> tuple[Array, int]:
    """Merge clusters below ``min_size`` into the nearest sibling (by centroid), smallest
    first; returns labels 0..m-1 and the number of merges."""
    labels = np.unique(labels, return_inverse=True)[1]
    merged = 0
    while True:
        ids, counts = np.unique(labels, return_counts=True)
        if ids.size < 2 or counts.min() >= min_size:
            break
        small = ids[np.argmin(counts)]
        centers = {i: X[labels == i].mean(axis=0) for i in ids}
        nearest = min(
            (i for i in ids if i != small),
            key=lambda i: (float(np.sum((centers[i] - centers[small]) ** 2)), i),
        )
        labels[labels == small] = nearest
        labels = np.unique(labels, return_inverse=True)[1]
        merged += 1
    return labels, merged


def _stability(
    X: Array, labels: Array, method: str, k: int, seed: int, refits: int
) -> float | None:
    """Mean adjusted Rand index between the fit and refits on 80% subsamples."""
    if refits < 1 or k < 2:
        return None
    scores = []
    for r in range(refits):
        rng = np.random.RandomState(seed + 1 + r)
        rows = rng.choice(X.shape[0], int(X.shape[0] * 0.8), replace=False)
        refit = make_model(
            method, n_clusters=k, min_clusters=1, max_clusters=k, seed=seed + 1 + r
        ).fit(X[rows])
        scores.append(adjusted_rand_score(labels, refit.predict(X)))
    return round(float(np.mean(scores)), 4)


def _describe_clusters(
    matrix: FeatureMatrix,
    traits: Any,
    macro: str | None,
    macro_values: Array,
    labels: Array,
    seed: int,
) -> list[dict[str, Any]]:
    spend = (
        np.nan_to_num(traits.column("total_spend").to_numpy(zero_copy_only=False).astype(float))
        if "total_spend" in traits.column_names
        else np.zeros(labels.size)
    )
    macro_source = "trait" if macro and macro in traits.column_names else "attribute"
    total_revenue = float(spend.sum())
    clusters = []
    for cluster in sorted(set(labels.tolist())):
        rows = labels == cluster
        value = macro_values[rows][0]
        scope = macro_values == value
        scope_rule = None
        if macro is not None:
            scope_rule = (
                {macro_source: macro, "is_null": True}
                if value == MISSING
                else {macro_source: macro, "eq": value}
            )
        top = distinguishing(matrix.scaled, matrix.raw, matrix.features, rows)
        rule = surrogate_rule(
            matrix.raw,
            matrix.features,
            rows,
            scope,
            scope_rule,
            min_leaf=max(5, int(rows.sum()) // 20),
            seed=seed,
        )
        name = make_name(matrix.features, top)
        revenue = float(spend[rows].sum())
        clusters.append(
            {
                "id": cluster,
                "macro": value,
                "name": f"{value}: {name}" if macro else name,
                "size": int(rows.sum()),
                "share": round(float(rows.mean()), 4),
                "revenue": round(revenue, 2),
                "revenue_share": round(revenue / total_revenue, 4) if total_revenue else None,
                "top_features": top,
                **rule.to_dict(),
            }
        )
    return clusters
