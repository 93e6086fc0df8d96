"""Clustering estimators behind one interface, with the number of clusters chosen.

All follow the scikit-learn estimator contract: ``__init__`` only stores keyword
parameters, ``fit`` checks them and returns ``self``, fitted state ends in ``_``. k-means,
bisecting k-means and the mixture choose k; HDBSCAN finds it from the density and labels
the points of no cluster ``-1`` (noise).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from sklearn.cluster import HDBSCAN, BisectingKMeans, KMeans, MiniBatchKMeans
from sklearn.metrics import silhouette_score
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
    "nearest_centroids",
]

Array = np.ndarray[Any, Any]


class ClusterModel(Protocol):
    """What discovery needs of a clustering estimator."""

    labels_: Array
    n_clusters_: int
    scores_: dict[int, float]

    def fit(self, X: Array) -> ClusterModel: ...

    def predict(self, X: Array) -> Array: ...


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

    def fit(self, X: Array) -> Any:
        """Choose the number of clusters (unless given), fit, and label every row."""
        self._validate()
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[0] == 0:
            raise DiscoveryError(f"expected a non-empty 2-d matrix, got shape {X.shape}")
        rng = np.random.RandomState(self.random_state)
        sample = (
            X
            if X.shape[0] <= self.sample_size
            else X[rng.choice(X.shape[0], self.sample_size, replace=False)]
        )
        self.scores_: dict[int, float] = {}
        if self.n_clusters is not None:
            k = min(self.n_clusters, X.shape[0])
        else:
            k = self._choose_k(sample)
        self.n_clusters_ = k
        self.estimator_ = self._fit_k(X, k)
        self.labels_: Array = np.asarray(self.estimator_.predict(X))
        return self

    def predict(self, X: Array) -> Array:
        return np.asarray(self.estimator_.predict(np.asarray(X, dtype=float)))

    def _choose_k(self, sample: Array) -> int:
        high = min(self.max_clusters, sample.shape[0] - 1)
        low = min(self.min_clusters, high)
        if high < 2:
            return 1
        for k in range(max(low, 2), high + 1):
            self.scores_[k] = self._score(sample, k)
        if low <= 1:
            self.scores_[1] = self._score(sample, 1)
        return self._best(self.scores_)

    def _score(self, sample: Array, k: int) -> float:
        raise NotImplementedError

    def _best(self, scores: dict[int, float]) -> int:
        raise NotImplementedError

    def _fit_k(self, X: Array, k: int) -> Any:
        raise NotImplementedError


class KMeansClusters(_Base):
    """k-means; MiniBatchKMeans above ``minibatch_above`` rows; k by silhouette on a sample.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.r_[np.zeros((20, 2)), np.ones((20, 2)) * 5]
    >>> KMeansClusters(max_clusters=4, random_state=0).fit(X).n_clusters_
    2
    """

    def __init__(
        self,
        *,
        n_clusters: int | None = None,
        min_clusters: int = 2,
        max_clusters: int = 8,
        sample_size: int = 2000,
        minibatch_above: int = 50_000,
        random_state: int = 0,
    ) -> None:
        super().__init__(
            n_clusters=n_clusters,
            min_clusters=min_clusters,
            max_clusters=max_clusters,
            sample_size=sample_size,
            random_state=random_state,
        )
        self.minibatch_above = minibatch_above

    def _score(self, sample: Array, k: int) -> float:
        if k == 1:
            return 0.0  # silhouette is undefined for one cluster; any real structure beats 0
        labels = KMeans(k, n_init=2, random_state=self.random_state).fit_predict(sample)
        if len(set(labels.tolist())) < 2:
            return -1.0
        return float(silhouette_score(sample, labels, random_state=self.random_state))

    def _best(self, scores: dict[int, float]) -> int:
        return max(scores, key=lambda k: (scores[k], -k))

    def _fit_k(self, X: Array, k: int) -> Any:
        if X.shape[0] > self.minibatch_above:
            return MiniBatchKMeans(
                k, n_init=3, batch_size=4096, random_state=self.random_state
            ).fit(X)
        return KMeans(k, n_init=4, random_state=self.random_state).fit(X)

    def fit(self, X: Array) -> KMeansClusters:
        _check_int(type(self).__name__, "minibatch_above", self.minibatch_above, 1)
        super().fit(X)
        self.cluster_centers_: Array = np.asarray(self.estimator_.cluster_centers_)
        return self


class GaussianMixtureClusters(_Base):
    """A Gaussian mixture (diagonal covariances); k by the lowest BIC on a sample."""

    def _score(self, sample: Array, k: int) -> float:
        return float(self._mixture(k).fit(sample).bic(sample))

    def _best(self, scores: dict[int, float]) -> int:
        return min(scores, key=lambda k: (scores[k], k))

    def _mixture(self, k: int) -> GaussianMixture:
        return GaussianMixture(
            k, covariance_type="diag", reg_covar=1e-4, n_init=1, random_state=self.random_state
        )

    def _fit_k(self, X: Array, k: int) -> Any:
        return self._mixture(k).fit(X)

    def fit(self, X: Array) -> GaussianMixtureClusters:
        super().fit(X)
        self.cluster_centers_: Array = np.asarray(self.estimator_.means_)
        return self


class BisectingKMeansClusters(_Base):
    """Bisecting k-means (the cluster of largest inertia split in two until k); k by
    silhouette on a sample, as :class:`KMeansClusters`. Its clusters nest: k + 1 splits one
    cluster of k, which keeps the clusters of neighbouring k comparable."""

    def _model(self, k: int) -> BisectingKMeans:
        return BisectingKMeans(k, n_init=2, random_state=self.random_state)

    def _score(self, sample: Array, k: int) -> float:
        if k == 1:
            return 0.0
        labels = self._model(k).fit_predict(sample)
        if len(set(labels.tolist())) < 2:
            return -1.0
        return float(silhouette_score(sample, labels, random_state=self.random_state))

    def _best(self, scores: dict[int, float]) -> int:
        return max(scores, key=lambda k: (scores[k], -k))

    def _fit_k(self, X: Array, k: int) -> Any:
        return self._model(k).fit(X)

    def fit(self, X: Array) -> BisectingKMeansClusters:
        super().fit(X)
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

    def fit(self, X: Array) -> HDBSCANClusters:
        """Fit HDBSCAN on a sample, then label every row (``-1``: noise)."""
        owner = type(self).__name__
        _check_int(owner, "min_cluster_size", self.min_cluster_size, 2)
        if self.min_samples is not None:
            _check_int(owner, "min_samples", self.min_samples, 1)
        _check_int(owner, "sample_size", self.sample_size, 10)
        _check_int(owner, "random_state", self.random_state, 0)
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[0] == 0:
            raise DiscoveryError(f"expected a non-empty 2-d matrix, got shape {X.shape}")
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
        self.cluster_centers_: Array = np.array(
            [X[rows[sample_labels == c]].mean(axis=0) for c in range(k)]
        )
        self.radii_: Array = fit_radii(X[rows], sample_labels, self.cluster_centers_)
        self.labels_: Array = self.predict(X)
        self.labels_[rows] = sample_labels
        return self

    def predict(self, X: Array) -> Array:
        """The nearest centroid's cluster, or ``-1`` beyond its radius."""
        X = np.asarray(X, dtype=float)
        labels, d2 = nearest_centroids(X, self.cluster_centers_)
        labels[d2 > self.radii_[labels] ** 2] = -1
        return labels


def nearest_centroids(X: Array, centers: Array) -> tuple[Array, Array]:
    """Index of each row's nearest centre and the squared distance to it.

    The squared distance is summed feature by feature in order, the way
    :meth:`ClusterAssigner.assign_one` sums it in plain Python, so that both give the same
    bits and the same nearest centre (ties: the first).
    """
    labels = np.empty(X.shape[0], dtype=int)
    best = np.empty(X.shape[0])
    for start in range(0, X.shape[0], 65_536):
        block = X[start : start + 65_536]
        d2 = np.zeros((block.shape[0], centers.shape[0]))
        for j in range(centers.shape[1]):
            diff = block[:, j : j + 1] - centers[:, j]
            d2 += diff * diff
        index = d2.argmin(axis=1)
        labels[start : start + block.shape[0]] = index
        best[start : start + block.shape[0]] = d2[np.arange(block.shape[0]), index]
    return labels, best


def fit_radii(X: Array, labels: Array, centers: Array) -> Array:
    """Per cluster, the distance from its centroid within which rows are members.

    Among the rows nearest to a centroid, the radius keeps the most members of its cluster
    inside and the most noise rows (label ``-1``) outside (ties: the larger radius). With
    no noise, every radius is infinite.
    """
    radii = np.full(centers.shape[0], np.inf)
    if not (labels < 0).any():
        return radii
    near, d2 = nearest_centroids(X, centers)
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
) -> ClusterModel:
    """The estimator named ``method``. HDBSCAN takes ``min_size`` as its minimum cluster
    size and finds k itself: the k parameters do not apply to it."""
    if method == "hdbscan":
        return HDBSCANClusters(min_cluster_size=max(2, min_size), random_state=seed)
    if method not in _CHOOSING_K:
        raise DiscoveryError(
            f"unknown method {method!r}", where="method", hint=f"use one of {sorted(METHODS)}"
        )
    model: ClusterModel = _CHOOSING_K[method](
        n_clusters=n_clusters,
        min_clusters=min_clusters,
        max_clusters=max_clusters,
        random_state=seed,
    )
    return model
