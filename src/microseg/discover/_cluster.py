"""Clustering estimators behind one interface, with the number of clusters chosen.

Both follow the scikit-learn estimator contract: ``__init__`` only stores keyword
parameters, ``fit`` checks them and returns ``self``, fitted state ends in ``_``.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import silhouette_score
from sklearn.mixture import GaussianMixture

from microseg.discover._errors import DiscoveryError

__all__ = ["METHODS", "ClusterModel", "GaussianMixtureClusters", "KMeansClusters", "make_model"]

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


METHODS: dict[str, type[KMeansClusters] | type[GaussianMixtureClusters]] = {
    "kmeans": KMeansClusters,
    "gmm": GaussianMixtureClusters,
}


def make_model(
    method: str, *, n_clusters: int | None, min_clusters: int, max_clusters: int, seed: int
) -> KMeansClusters | GaussianMixtureClusters:
    """The estimator named ``method`` (``kmeans`` or ``gmm``)."""
    if method not in METHODS:
        raise DiscoveryError(
            f"unknown method {method!r}", where="method", hint=f"use one of {sorted(METHODS)}"
        )
    return METHODS[method](
        n_clusters=n_clusters,
        min_clusters=min_clusters,
        max_clusters=max_clusters,
        random_state=seed,
    )
