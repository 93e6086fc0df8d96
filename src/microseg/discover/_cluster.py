"""Clustering estimators behind one interface, with the number of clusters chosen.

All follow the scikit-learn estimator contract: ``__init__`` only stores keyword
parameters, ``fit`` checks them and returns ``self``, fitted state ends in ``_``. k-means,
bisecting k-means and the mixture choose k; HDBSCAN finds it from the density and labels
the points of no cluster ``-1`` (noise).

``fit`` and ``predict`` take the standardized matrix with missing values imputed, and
optionally ``missing``, a boolean matrix of the same shape marking the imputed cells.
Distances to centroids skip those cells (a customer who never bought has no basket mix:
it should not count as an average one), and are weighted per feature by
``feature_weights_`` (all ones but for k-means, which learns them).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from sklearn.cluster import HDBSCAN, BisectingKMeans, KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.mixture import GaussianMixture

from microseg.discover._errors import DiscoveryError

__all__ = [
    "METHODS",
    "BisectingKMeansClusters",
    "ClusterModel",
    "GaussianMixtureClusters",
    "HDBSCANClusters",
    "KMeansClusters",
    "make_model",
    "mask_rows",
    "masked_means",
    "nearest_centroids",
]

Array = np.ndarray[Any, Any]


class ClusterModel(Protocol):
    """What discovery needs of a clustering estimator."""

    labels_: Array
    n_clusters_: int
    scores_: dict[int, float]

    feature_weights_: Array

    def fit(self, X: Array, missing: Array | None = None) -> ClusterModel: ...

    def predict(self, X: Array, missing: Array | None = None) -> Array: ...


def _check_int(owner: str, name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise DiscoveryError(
            f"The {name!r} parameter of {owner} must be an int in the range [{low}, inf). "
            f"Got {value!r} instead."
        )


class _Base:
    def __init__(
        self,
        *,
        n_clusters: int | None = None,
        min_clusters: int = 2,
        max_clusters: int = 8,
        sample_size: int = 2000,
        random_state: int = 0,
    ) -> None:
        self.n_clusters = n_clusters
        self.min_clusters = min_clusters
        self.max_clusters = max_clusters
        self.sample_size = sample_size
        self.random_state = random_state

    def _validate(self) -> None:
        owner = type(self).__name__
        if self.n_clusters is not None:
            _check_int(owner, "n_clusters", self.n_clusters, 1)
        _check_int(owner, "min_clusters", self.min_clusters, 1)
        _check_int(owner, "max_clusters", self.max_clusters, self.min_clusters)
        _check_int(owner, "sample_size", self.sample_size, 10)
        _check_int(owner, "random_state", self.random_state, 0)

    def fit(self, X: Array, missing: Array | None = None) -> Any:
        """Choose the number of clusters (unless given), fit, and label every row."""
        self._validate()
        X, missing = _check_matrix(X, missing)
        rng = np.random.RandomState(self.random_state)
        rows = (
            slice(None)
            if X.shape[0] <= self.sample_size
            else rng.choice(X.shape[0], self.sample_size, replace=False)
        )
        self.scores_: dict[int, float] = {}
        if self.n_clusters is not None:
            k = min(self.n_clusters, X.shape[0])
        else:
            k = self._choose_k(X[rows], mask_rows(missing, rows))
        self.n_clusters_ = k
        self.feature_weights_: Array = np.ones(X.shape[1])
        self._fit_k(X, missing, k)
        self.labels_: Array = self.predict(X, missing)
        return self

    estimator_: Any  # the fitted scikit-learn model, where a subclass keeps one

    def predict(self, X: Array, missing: Array | None = None) -> Array:
        return np.asarray(self.estimator_.predict(np.asarray(X, dtype=float)))

    def _choose_k(self, sample: Array, missing: Array | None) -> int:
        high = min(self.max_clusters, sample.shape[0] - 1)
        low = min(self.min_clusters, high)
        if high < 2:
            return 1
        for k in range(max(low, 2), high + 1):
            self.scores_[k] = self._score(sample, missing, k)
        if low <= 1:
            self.scores_[1] = self._score(sample, missing, 1)
        return self._best(self.scores_)

    def _score(self, sample: Array, missing: Array | None, k: int) -> float:
        raise NotImplementedError

    def _best(self, scores: dict[int, float]) -> int:
        raise NotImplementedError

    def _fit_k(self, X: Array, missing: Array | None, k: int) -> None:
        raise NotImplementedError


class KMeansClusters(_Base):
    """k-means with missing cells skipped and features weighted; k by silhouette.

    Three things set it apart from plain k-means on the standardized matrix:

    * **Missing cells are skipped** (k-POD): a row's distance to a centroid sums over the
      features it has, and while fitting, its missing cells take the values of its
      centroid, refitted ``refills`` times.
    * **Features are weighted by how well the clusters separate them.** After each of
      ``rounds`` fits, a feature's weight becomes ``1 / max(W, floor) ** power``, where
      ``W`` is its variance within clusters (the mean over clusters, so that one broad
      cluster does not decide for all), relative to the feature's overall variance; the
      weights are then scaled to a mean of 1. A feature the clusters pin down counts up
      to ``floor ** -power`` (2.2 by default) times as much as one without structure.
      ``weighting=False`` keeps every weight at 1.
    * **It keeps the most typical of ``restarts`` fits.** The weighting can settle on
      different partitions from different starts; each restart runs it from its own seed
      on its own 80% subsample, and the fit whose labels agree best with the others'
      (highest mean adjusted Rand index) is kept: a consensus, not the lowest inertia,
      which different weights make incomparable. That agreement is ``stability_``: the
      subsample stability of the run.
    * **It is fitted on a sample** of at most ``fit_size`` rows; every row then goes to its
      nearest centroid.

    k is the best silhouette on a ``sample_size``-row sample, each k fitted and weighted
    there on its own and scored in its own weighted space.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.r_[np.zeros((20, 2)), np.ones((20, 2)) * 5]
    >>> KMeansClusters(max_clusters=4, random_state=0).fit(X).n_clusters_
    2
    """

    def __init__(  # noqa: PLR0913 - scikit-learn's estimator contract: every hyperparameter in __init__, keyword-only
        self,
        *,
        n_clusters: int | None = None,
        min_clusters: int = 2,
        max_clusters: int = 8,
        sample_size: int = 2000,
        fit_size: int = 20_000,
        weighting: bool = True,
        rounds: int = 3,
        refills: int = 1,
        restarts: int = 3,
        power: float = 1.0,
        floor: float = 0.45,
        random_state: int = 0,
    ) -> None:
        super().__init__(
            n_clusters=n_clusters,
            min_clusters=min_clusters,
            max_clusters=max_clusters,
            sample_size=sample_size,
            random_state=random_state,
        )
        self.fit_size = fit_size
        self.weighting = weighting
        self.rounds = rounds
        self.refills = refills
        self.restarts = restarts
        self.power = power
        self.floor = floor

    def _validate(self) -> None:
        super()._validate()
        owner = type(self).__name__
        _check_int(owner, "fit_size", self.fit_size, 10)
        _check_int(owner, "rounds", self.rounds, 1)
        _check_int(owner, "refills", self.refills, 0)
        _check_int(owner, "restarts", self.restarts, 1)
        for name, value in (("power", self.power), ("floor", self.floor)):
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise DiscoveryError(
                    f"The {name!r} parameter of {owner} must be a number in the range "
                    f"(0, inf). Got {value!r} instead."
                )

    def fit(self, X: Array, missing: Array | None = None) -> KMeansClusters:
        super().fit(X, missing)
        return self

    def _fit_k(self, X: Array, missing: Array | None, k: int) -> None:
        if X.shape[0] > self.fit_size:
            rng = np.random.RandomState(self.random_state)
            rows = np.sort(rng.choice(X.shape[0], self.fit_size, replace=False))
            X, missing = X[rows], mask_rows(missing, rows)
        self.stability_: float | None = None
        if self.restarts == 1:
            centers, weights = self._weighted_kmeans(X, missing, k, n_init=4)
        else:
            fits = []
            for r in range(self.restarts):
                seed = self.random_state + r
                rows = np.random.RandomState(seed).rand(X.shape[0]) < 0.8
                part = mask_rows(missing, rows)
                fits.append(self._weighted_kmeans(X[rows], part, k, n_init=3, seed=seed))
            best, self.stability_ = _consensus(X, missing, fits)
            centers, weights = fits[best]
        self.cluster_centers_: Array = centers
        self.feature_weights_ = weights

    def predict(self, X: Array, missing: Array | None = None) -> Array:
        X, missing = _check_matrix(X, missing)
        return nearest_fast(X, self.cluster_centers_, self.feature_weights_, missing)

    def _choose_k(self, sample: Array, missing: Array | None) -> int:
        # every k is scored in one space: the weights learned at the largest k. Weights
        # learned at each k would flatter the small ones (at k = 2 they single out the
        # features of the one split, and the silhouette soars)
        high = max(2, min(self.max_clusters, sample.shape[0] - 1))
        self._scoring_weights = self._weighted_kmeans(sample, missing, high, n_init=2)[1]
        return int(super()._choose_k(sample, missing))

    def _score(self, sample: Array, missing: Array | None, k: int) -> float:
        if k == 1:
            return 0.0  # silhouette is undefined for one cluster; any real structure beats 0
        weights = self._scoring_weights
        centers, _ = self._weighted_kmeans(sample, missing, k, n_init=2, fixed=weights)
        labels = nearest_fast(sample, centers, weights, missing)
        if len(set(labels.tolist())) < 2:
            return -1.0
        filled = sample if missing is None else np.where(missing, centers[labels], sample)
        space = filled * np.sqrt(weights)
        return float(silhouette_score(space, labels, random_state=self.random_state))

    def _best(self, scores: dict[int, float]) -> int:
        return max(scores, key=lambda k: (scores[k], -k))

    def _weighted_kmeans(
        self,
        X: Array,
        missing: Array | None,
        k: int,
        *,
        n_init: int,
        fixed: Any = None,
        seed: int | None = None,
    ) -> tuple[Array, Array]:
        """Centroids (standardized space) and feature weights, by alternating k-means with
        missing cells refilled from the centroids and the weights recomputed (one round,
        with the weights ``fixed``: the k search's common space)."""
        k = min(k, X.shape[0])
        skip = missing if missing is not None and missing.any() else None
        weights = np.ones(X.shape[1]) if fixed is None else np.asarray(fixed, dtype=float)
        rounds = self.rounds if self.weighting and fixed is None else 1
        init: Any = "k-means++"
        for r in range(rounds):
            root = np.sqrt(weights)
            space = X * root
            model = KMeans(
                k,
                init=init,
                n_init=n_init if r == 0 else 1,
                random_state=self.random_state if seed is None else seed,
            ).fit(space)
            centers = model.cluster_centers_
            if skip is not None:
                for _ in range(self.refills):
                    labels = nearest_fast(space, centers, None, skip)
                    filled = np.where(skip, centers[labels], space)
                    centers = KMeans(k, init=centers, n_init=1).fit(filled).cluster_centers_
            centers = centers / root
            if r == rounds - 1:
                break
            labels = nearest_fast(X, centers, weights, skip)
            weights = _separation_weights(X, skip, labels, k, self.power, self.floor)
            init = centers * np.sqrt(weights)
        return centers, weights


def _consensus(
    X: Array, missing: Array | None, fits: list[tuple[Array, Array]]
) -> tuple[int, float]:
    """Index of the fit whose labels of ``X`` agree best with the others' (mean adjusted
    Rand index; ties: the first), and that mean."""
    labels = [nearest_fast(X, centers, weights, missing) for centers, weights in fits]
    agreement = [
        float(np.mean([adjusted_rand_score(a, b) for j, b in enumerate(labels) if j != i]))
        for i, a in enumerate(labels)
    ]
    best = int(np.argmax(agreement))
    return best, round(agreement[best], 4)


def _separation_weights(
    X: Array, missing: Array | None, labels: Array, k: int, power: float, floor: float
) -> Array:
    """Per feature, ``1 / max(W, floor) ** power`` scaled to mean 1, where ``W`` is the
    mean over clusters of the within-cluster variance (observed cells only) relative to
    the overall variance."""
    present = np.ones(X.shape, dtype=bool) if missing is None else ~missing
    overall = _masked_variance(X, present)
    within = []
    for c in range(k):
        rows = labels == c
        if rows.sum() >= 2:
            within.append(_masked_variance(X[rows], present[rows]))
    if not within:
        return np.ones(X.shape[1])
    ratio = np.mean(within, axis=0) / np.where(overall > 0, overall, 1.0)
    weights = 1.0 / np.maximum(ratio, floor) ** power
    return np.asarray(weights / weights.mean())


def _masked_variance(X: Array, present: Array) -> Array:
    """Variance of each column over its present cells (1 where fewer than two)."""
    count = present.sum(axis=0)
    total = np.where(present, X, 0.0).sum(axis=0)
    mean = total / np.maximum(count, 1)
    squares = np.where(present, (X - mean) ** 2, 0.0).sum(axis=0)
    return np.where(count >= 2, squares / np.maximum(count, 1), 1.0)


def _check_matrix(X: Array, missing: Array | None) -> tuple[Array, Array | None]:
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[0] == 0:
        raise DiscoveryError(f"expected a non-empty 2-d matrix, got shape {X.shape}")
    if missing is not None:
        missing = np.asarray(missing, dtype=bool)
        if missing.shape != X.shape:
            raise DiscoveryError(
                f"the missing-cell mask has shape {missing.shape}, the matrix {X.shape}"
            )
    return X, missing


class GaussianMixtureClusters(_Base):
    """A Gaussian mixture (diagonal covariances); k by the lowest BIC on a sample."""

    def _score(self, sample: Array, missing: Array | None, k: int) -> float:
        return float(self._mixture(k).fit(sample).bic(sample))

    def _best(self, scores: dict[int, float]) -> int:
        return min(scores, key=lambda k: (scores[k], k))

    def _mixture(self, k: int) -> GaussianMixture:
        return GaussianMixture(
            k, covariance_type="diag", reg_covar=1e-4, n_init=1, random_state=self.random_state
        )

    def _fit_k(self, X: Array, missing: Array | None, k: int) -> None:
        self.estimator_ = self._mixture(k).fit(X)

    def fit(self, X: Array, missing: Array | None = None) -> GaussianMixtureClusters:
        super().fit(X, missing)
        self.cluster_centers_: Array = np.asarray(self.estimator_.means_)
        return self


class BisectingKMeansClusters(_Base):
    """Bisecting k-means (the cluster of largest inertia split in two until k); k by
    silhouette on a sample, as :class:`KMeansClusters`. Its clusters nest: k + 1 splits one
    cluster of k, which keeps the clusters of neighbouring k comparable."""

    def _model(self, k: int) -> BisectingKMeans:
        return BisectingKMeans(k, n_init=2, random_state=self.random_state)

    def _score(self, sample: Array, missing: Array | None, k: int) -> float:
        if k == 1:
            return 0.0
        labels = self._model(k).fit_predict(sample)
        if len(set(labels.tolist())) < 2:
            return -1.0
        return float(silhouette_score(sample, labels, random_state=self.random_state))

    def _best(self, scores: dict[int, float]) -> int:
        return max(scores, key=lambda k: (scores[k], -k))

    def _fit_k(self, X: Array, missing: Array | None, k: int) -> None:
        self.estimator_ = self._model(k).fit(X)

    def fit(self, X: Array, missing: Array | None = None) -> BisectingKMeansClusters:
        super().fit(X, missing)
        self.cluster_centers_: Array = np.asarray(self.estimator_.cluster_centers_)
        return self


class HDBSCANClusters:
    """HDBSCAN on a sample, the other rows given to the nearest cluster centroid.

    The density decides the number of clusters; rows in no dense region are noise
    (label ``-1``). HDBSCAN's cost grows faster than linearly, so it is fitted on at most
    ``sample_size`` rows; ``min_cluster_size`` is meant for all of ``X`` and scaled down to
    the sample. Every cluster gets a radius around its centroid, chosen to reproduce
    HDBSCAN's own noise decisions on the sample as well as a threshold can; rows farther
    than that from their nearest centroid are noise. With no cluster found, everyone is one
    cluster.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.RandomState(0)
    >>> X = np.r_[rng.normal(0, 0.2, (60, 2)), rng.normal(5, 0.2, (60, 2)), [[20.0, 20.0]]]
    >>> model = HDBSCANClusters(min_cluster_size=20).fit(X)
    >>> model.n_clusters_, int(model.labels_[-1])
    (2, -1)
    """

    def __init__(
        self,
        *,
        min_cluster_size: int = 50,
        min_samples: int | None = None,
        sample_size: int = 20_000,
        random_state: int = 0,
    ) -> None:
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.sample_size = sample_size
        self.random_state = random_state

    def fit(self, X: Array, missing: Array | None = None) -> HDBSCANClusters:
        """Fit HDBSCAN on a sample, then label every row (``-1``: noise).

        HDBSCAN sees the imputed values; ``missing`` cells are skipped when rows are
        placed, as by the other methods."""
        owner = type(self).__name__
        _check_int(owner, "min_cluster_size", self.min_cluster_size, 2)
        if self.min_samples is not None:
            _check_int(owner, "min_samples", self.min_samples, 1)
        _check_int(owner, "sample_size", self.sample_size, 10)
        _check_int(owner, "random_state", self.random_state, 0)
        X, missing = _check_matrix(X, missing)
        n = X.shape[0]
        rows = np.arange(n)
        if n > self.sample_size:
            rng = np.random.RandomState(self.random_state)
            rows = np.sort(rng.choice(n, self.sample_size, replace=False))
        size = max(2, round(self.min_cluster_size * rows.size / n))
        samples = self.min_samples if self.min_samples is not None else max(2, size // 5)
        self.scores_: dict[int, float] = {}
        sample_labels = np.full(rows.size, -1)
        if rows.size > size:
            sample_labels = HDBSCAN(
                min_cluster_size=size, min_samples=min(samples, rows.size - 1), copy=True
            ).fit_predict(X[rows])
        k = int(sample_labels.max()) + 1
        if k == 0:  # no dense region: one cluster of everyone, no noise
            sample_labels = np.zeros(rows.size, dtype=int)
            k = 1
        self.n_clusters_ = k
        self.feature_weights_: Array = np.ones(X.shape[1])
        self.cluster_centers_: Array = np.array(
            [X[rows[sample_labels == c]].mean(axis=0) for c in range(k)]
        )
        self.radii_: Array = fit_radii(
            X[rows], sample_labels, self.cluster_centers_, None, mask_rows(missing, rows)
        )
        self.labels_: Array = self.predict(X, missing)
        self.labels_[rows] = sample_labels
        return self

    def predict(self, X: Array, missing: Array | None = None) -> Array:
        """The nearest centroid's cluster, or ``-1`` beyond its radius."""
        X, missing = _check_matrix(X, missing)
        labels, d2 = nearest_centroids(X, self.cluster_centers_, None, missing)
        labels[d2 > self.radii_[labels] ** 2] = -1
        return labels


def nearest_centroids(
    X: Array, centers: Array, weights: Array | None = None, missing: Array | None = None
) -> tuple[Array, Array]:
    """Index of each row's nearest centre and the squared distance to it.

    The distance is ``sum(w_j * (x_j - c_j) ** 2)`` over the features, skipping a row's
    ``missing`` cells. ``weights`` holds one weight per feature, or a row of them per
    centre (all ones when None). It is summed feature by feature
    in order, the way :meth:`ClusterAssigner.assign_one` sums it in plain Python, so that
    both give the same bits and the same nearest centre (ties: the first).
    """
    labels = np.empty(X.shape[0], dtype=int)
    best = np.empty(X.shape[0])
    for start in range(0, X.shape[0], 65_536):
        block = X[start : start + 65_536]
        skip = mask_rows(missing, slice(start, start + 65_536))
        d2 = np.zeros((block.shape[0], centers.shape[0]))
        for j in range(centers.shape[1]):
            diff = block[:, j : j + 1] - centers[:, j]
            if skip is not None:
                diff[skip[:, j]] = 0.0
            square = diff * diff
            if weights is not None:  # one per feature, or one row per centre
                square *= weights[j] if weights.ndim == 1 else weights[:, j]
            d2 += square
        index = d2.argmin(axis=1)
        labels[start : start + block.shape[0]] = index
        best[start : start + block.shape[0]] = d2[np.arange(block.shape[0]), index]
    return labels, best


def nearest_fast(
    X: Array, centers: Array, weights: Array | None = None, missing: Array | None = None
) -> Array:
    """:func:`nearest_centroids`' indices by three matrix products: much faster on many
    rows, and equal to it but for ties and the last bits of the distances. For fitting
    only; a run's labels come from :func:`nearest_centroids`."""
    w = np.ones(X.shape[1]) if weights is None else weights
    present = None if missing is None else ~missing
    labels = np.empty(X.shape[0], dtype=int)
    for start in range(0, X.shape[0], 262_144):
        block = X[start : start + 262_144]
        if present is None:
            rows = (block * block) @ w
            d2 = rows[:, None] - 2.0 * block @ (centers * w).T + ((centers * centers) @ w)[None]
        else:
            have = present[start : start + 262_144]
            known = np.where(have, block, 0.0)
            rows = (known * known) @ w
            d2 = rows[:, None] - 2.0 * known @ (centers * w).T + have @ (centers * centers * w).T
        labels[start : start + block.shape[0]] = d2.argmin(axis=1)
    return labels


def masked_means(X: Array, missing: Array | None, labels: Array, k: int) -> Array:
    """Per label 0..k-1, the mean of each feature over the rows' present cells (0, the
    overall mean of a standardized feature, where a cluster has none)."""
    centers = np.zeros((k, X.shape[1]))
    for c in range(k):
        rows = labels == c
        if not rows.any():
            continue
        if missing is None:
            centers[c] = X[rows].mean(axis=0)
            continue
        present = ~missing[rows]
        count = present.sum(axis=0)
        total = np.where(present, X[rows], 0.0).sum(axis=0)
        centers[c] = np.where(count > 0, total / np.maximum(count, 1), 0.0)
    return centers


def mask_rows(missing: Array | None, rows: Any) -> Array | None:
    """``missing[rows]``, or None without a mask (no cell missing)."""
    return None if missing is None else missing[rows]


def fit_radii(
    X: Array,
    labels: Array,
    centers: Array,
    weights: Array | None = None,
    missing: Array | None = None,
) -> Array:
    """Per cluster, the distance from its centroid within which rows are members.

    Among the rows nearest to a centroid, the radius keeps the most members of its cluster
    inside and the most noise rows (label ``-1``) outside (ties: the larger radius). With
    no noise, every radius is infinite.
    """
    radii = np.full(centers.shape[0], np.inf)
    if not (labels < 0).any():
        return radii
    near, d2 = nearest_centroids(X, centers, weights, missing)
    for c in range(centers.shape[0]):
        mine = (near == c) & ((labels == c) | (labels < 0))
        if not mine.any():
            continue
        order = np.argsort(d2[mine], kind="stable")
        dist = d2[mine][order]
        member = (labels[mine] == c)[order]
        # threshold after the i-th closest row: members inside + noise outside
        inside = np.cumsum(member)
        outside = (~member).sum() - np.cumsum(~member)
        score = np.r_[(~member).sum(), inside + outside]
        best = score.size - 1 - int(np.argmax(score[::-1]))
        radii[c] = 0.0 if best == 0 else float(np.sqrt(dist[best - 1]))
    return radii


Estimator = KMeansClusters | BisectingKMeansClusters | GaussianMixtureClusters | HDBSCANClusters

#: Method names (``--method``) -> estimator classes.
METHODS: dict[str, type[Estimator]] = {
    "kmeans": KMeansClusters,
    "gmm": GaussianMixtureClusters,
    "bisecting": BisectingKMeansClusters,
    "hdbscan": HDBSCANClusters,
}
#: The methods that choose k within bounds (all but the density method).
_CHOOSING_K: dict[str, type[_Base]] = {
    name: cls for name, cls in METHODS.items() if issubclass(cls, _Base)
}


def make_model(
    method: str,
    *,
    n_clusters: int | None,
    min_clusters: int,
    max_clusters: int,
    min_size: int,
    seed: int,
    refits: int = 0,
) -> ClusterModel:
    """The estimator named ``method``. HDBSCAN takes ``min_size`` as its minimum cluster
    size and finds k itself: the k parameters do not apply to it. k-means makes ``refits``
    restarts (at least one), whose agreement is its stability."""
    if method == "hdbscan":
        return HDBSCANClusters(min_cluster_size=max(2, min_size), random_state=seed)
    if method not in _CHOOSING_K:
        raise DiscoveryError(
            f"unknown method {method!r}", where="method", hint=f"use one of {sorted(METHODS)}"
        )
    if method == "kmeans":
        return KMeansClusters(
            n_clusters=n_clusters,
            min_clusters=min_clusters,
            max_clusters=max_clusters,
            restarts=max(1, refits),
            random_state=seed,
        )
    model: ClusterModel = _CHOOSING_K[method](
        n_clusters=n_clusters,
        min_clusters=min_clusters,
        max_clusters=max_clusters,
        random_state=seed,
    )
    return model
