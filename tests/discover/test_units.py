"""Fast checks of the pieces: estimators, merging, features, surrogate rules."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from sklearn.metrics import adjusted_rand_score

from microseg.discover import (
    BisectingKMeansClusters,
    DiscoveryError,
    GaussianMixtureClusters,
    HDBSCANClusters,
    KMeansClusters,
    build_features,
    merge_small,
    surrogate_rule,
)


def _blobs(seed: int = 0) -> np.ndarray:
    rng = np.random.RandomState(seed)
    return np.r_[
        rng.normal(0, 0.3, (60, 2)), rng.normal(5, 0.3, (60, 2)), rng.normal(10, 0.3, (60, 2))
    ]


@pytest.mark.parametrize(
    "model", [KMeansClusters, GaussianMixtureClusters, BisectingKMeansClusters]
)
def test_estimator_contract_and_k_choice(model: type[KMeansClusters]) -> None:
    estimator = model(min_clusters=2, max_clusters=6, random_state=3)
    assert estimator.fit(_blobs()) is estimator
    assert estimator.n_clusters_ == 3
    assert len(set(estimator.labels_.tolist())) == 3
    assert set(estimator.scores_) == {2, 3, 4, 5, 6}
    assert not hasattr(model(), "labels_")  # nothing learned before fit


def test_bad_parameter_message_comes_from_the_constraint() -> None:
    with pytest.raises(
        DiscoveryError,
        match=r"'max_clusters' parameter of KMeansClusters must be an int in the range "
        r"\[2, inf\)\. Got 1 instead",
    ):
        KMeansClusters(max_clusters=1).fit(_blobs())


def test_same_seed_same_labels() -> None:
    a = KMeansClusters(random_state=5).fit(_blobs()).labels_
    b = KMeansClusters(random_state=5).fit(_blobs()).labels_
    assert a.tolist() == b.tolist()


def _noisy_blobs() -> np.ndarray:
    rng = np.random.RandomState(1)
    return np.r_[_blobs(), rng.uniform([15, -15], [25, -5], (12, 2))]  # sparse, apart


def test_hdbscan_contract_noise_and_radii() -> None:
    X = _noisy_blobs()
    model = HDBSCANClusters(min_cluster_size=20, random_state=0)
    assert not hasattr(model, "labels_")
    assert model.fit(X) is model
    assert model.n_clusters_ == 3
    assert (model.labels_[:180] >= 0).mean() > 0.95  # the blobs
    assert (model.labels_[180:] == -1).all()  # too few and too sparse for a cluster
    assert model.cluster_centers_.shape == (3, 2)
    assert np.isfinite(model.radii_).all()
    assert model.predict(np.array([[100.0, 100.0]])).tolist() == [-1]
    with pytest.raises(DiscoveryError, match="'min_cluster_size' parameter of HDBSCANClusters"):
        HDBSCANClusters(min_cluster_size=1).fit(X)


def test_hdbscan_on_a_sample_labels_everyone_the_same_way_each_time() -> None:
    X = np.tile(_noisy_blobs(), (3, 1)) + np.random.RandomState(2).normal(0, 0.05, (576, 2))
    a = HDBSCANClusters(min_cluster_size=60, sample_size=200, random_state=4).fit(X)
    b = HDBSCANClusters(min_cluster_size=60, sample_size=200, random_state=4).fit(X)
    assert a.labels_.shape == (576,)
    assert a.n_clusters_ == 3
    assert a.labels_.tolist() == b.labels_.tolist()


def test_hdbscan_without_dense_region_is_one_cluster() -> None:
    X = np.random.RandomState(0).uniform(size=(30, 2))
    model = HDBSCANClusters(min_cluster_size=50).fit(X)
    assert model.n_clusters_ == 1
    assert set(model.labels_.tolist()) == {0}


def test_radius_reproduces_the_noise_it_was_fitted_on() -> None:
    from microseg.discover._cluster import fit_radii

    X = np.r_[np.zeros((1, 1)), np.arange(1, 11).reshape(-1, 1) / 10, [[3.0], [4.0]]]
    labels = np.r_[np.zeros(11, dtype=int), [-1, -1]]
    radii = fit_radii(X, labels, np.zeros((1, 1)))
    assert radii.tolist() == [1.0]  # the farthest member; both noise points beyond
    assert fit_radii(X, np.zeros(13, dtype=int), np.zeros((1, 1))).tolist() == [np.inf]


def test_small_clusters_merge_into_nearest_sibling() -> None:
    X = np.r_[np.zeros((100, 1)), np.full((10, 1), 1.0), np.full((80, 1), 9.0)]
    labels = np.r_[np.zeros(100), np.ones(10), np.full(80, 2)].astype(int)
    merged, count = merge_small(X, labels, 50)
    assert count == 1
    assert sorted(np.bincount(merged).tolist()) == [80, 110]
    assert len(set(merged[:110].tolist())) == 1  # the 10 joined the near cluster at 0


def _tables() -> tuple[pa.Table, pa.Table]:
    traits = pa.table(
        {
            "customer_id": ["a", "b", "c", "d"],
            "total_spend": [1.0, 2.0, None, 400.0],
            "flat": [1.0, 1.0, 1.0, 1.0],
            "twin": [2.0, 4.0, None, 800.0],
            "lifecycle_stage": ["new", "new", "active", "active"],
        }
    )
    customers = pa.table(
        {
            "customer_id": ["d", "c", "b", "a"],
            # c has an empty list (no interests); a missing list (None) is a missing value
            "interests": [["travel"], [], ["Travel", "anime"], ["anime"]],
            "religion": ["x", None, "y", "x"],
        }
    )
    return traits, customers


def test_features_note_constant_duplicate_and_imputed() -> None:
    traits, customers = _tables()
    m = build_features(
        traits,
        customers,
        trait_names=None,
        attribute_names=None,
        families={"psychographic": ["interests"], "demographic": ["religion"]},
        sensitive=["religion"],
    )
    names = [f.name for f in m.features]
    assert names == ["total_spend", "interests=anime", "interests=travel"]
    assert m.missing == {"total_spend": 1}
    assert any("flat: constant" in n for n in m.notes)
    assert any("twin: |corr|" in n for n in m.notes)
    assert m.raw[:, 2].tolist() == [0.0, 1.0, 0.0, 1.0]  # a, b, c, d; case ignored
    assert np.allclose(m.scaled.mean(axis=0), 0)


def test_sensitive_attribute_refused_unless_allowed() -> None:
    traits, customers = _tables()
    args = {
        "trait_names": ["total_spend"],
        "attribute_names": ["religion"],
        "families": {},
        "sensitive": ["religion"],
    }
    with pytest.raises(DiscoveryError, match="sensitive"):
        build_features(traits, customers, **args)  # type: ignore[arg-type]
    m = build_features(traits, customers, allow_sensitive=["religion"], **args)  # type: ignore[arg-type]
    assert m.sensitive_used == ["religion"]
    assert "religion=x" in [f.name for f in m.features]


def test_surrogate_rule_counts_match_the_rule_semantics() -> None:
    rng = np.random.RandomState(0)
    spend = rng.uniform(0, 100, 400)
    spend[:40] = np.nan  # missing: lte must also take them, as the tree did
    travel = (rng.uniform(size=400) < 0.5).astype(float)
    raw = np.c_[spend, travel]
    from microseg.discover import Feature

    features = [
        Feature("total_spend", "trait", "total_spend", "number"),
        Feature("interests=travel", "attribute", "interests", "contains", "travel"),
    ]
    target = (np.nan_to_num(spend, nan=0) <= 30) & (travel == 1)
    rule = surrogate_rule(raw, features, target, np.ones(400, dtype=bool), None, min_leaf=5)
    assert rule.precision == 1.0
    assert rule.recall == 1.0
    assert rule.members == int(target.sum())
    text = str(rule.rule)
    assert "'is_null': True" in text
    assert "'contains': 'travel'" in text


def test_rules_on_counts_use_whole_numbers() -> None:
    from microseg.discover import Feature

    rng = np.random.RandomState(1)
    purchases = rng.randint(0, 8, 500).astype(float)
    returns = rng.randint(0, 4, 500).astype(float)
    raw = np.c_[purchases, returns]
    features = [
        Feature("purchase_count", "trait", "purchase_count", "number"),
        Feature("return_count", "trait", "return_count", "number"),
    ]
    target = (purchases >= 3) & (returns <= 1)
    rule = surrogate_rule(raw, features, target, np.ones(500, dtype=bool), None, min_leaf=5)
    assert rule.precision == 1.0
    assert rule.recall == 1.0
    # > 2.5 and <= 1.5 on whole numbers read as >= 3 and <= 1
    assert {"trait": "purchase_count", "gte": 3} in rule.rule["all"]
    assert {"trait": "return_count", "lte": 1} in rule.rule["all"]


def test_missing_cells_are_skipped_by_the_distance() -> None:
    from microseg.discover._cluster import nearest_centroids

    centers = np.array([[0.0, 0.0], [5.0, 10.0]])
    row = np.array([[4.0, 0.0]])  # the 0.0 stands for a missing (imputed) value
    assert nearest_centroids(row, centers)[0].tolist() == [0]  # 16 against 1 + 100
    index, d2 = nearest_centroids(row, centers, None, np.array([[False, True]]))
    assert (index.tolist(), d2.tolist()) == ([1], [1.0])  # 16 against 1: feature 1 skipped
    index, d2 = nearest_centroids(row, centers, np.array([1.0, 0.125]))
    assert (index.tolist(), d2.tolist()) == ([1], [13.5])  # 16 against 1 + 100 / 8


def _structured(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three groups told apart by two features, hidden among eight of noise."""
    rng = np.random.RandomState(seed)
    truth = np.repeat([0, 1, 2], 150)
    signal = np.c_[(truth == 1) * 3.0, (truth == 2) * 3.0] + rng.normal(0, 0.3, (450, 2))
    noise = rng.standard_t(3, (450, 8)) * 1.5
    X = np.c_[signal, noise]
    return (X - X.mean(axis=0)) / X.std(axis=0), truth


def test_kmeans_weights_the_features_that_separate_clusters() -> None:
    X, truth = _structured()
    model = KMeansClusters(n_clusters=3, random_state=0).fit(X)
    weights = model.feature_weights_
    assert weights.shape == (10,)
    assert weights[:2].min() > 1.5 * weights[2:].max()  # the signal counts more
    assert weights.mean() == pytest.approx(1.0)
    plain = KMeansClusters(n_clusters=3, weighting=False, random_state=0).fit(X)
    assert plain.feature_weights_.tolist() == [1.0] * 10
    assert adjusted_rand_score(truth, model.labels_) > 0.9
    assert adjusted_rand_score(truth, model.labels_) >= adjusted_rand_score(truth, plain.labels_)


def test_kmeans_places_rows_with_missing_cells_by_what_they_have() -> None:
    # three groups, each told apart by 2 "attributes" and high on 3 of 9 "behaviours";
    # 40% of the rows, in every group, have no behaviour (say, never bought): imputed
    rng = np.random.RandomState(2)
    truth = np.repeat([0, 1, 2], 150)
    behaviour = np.zeros((450, 9))
    for group in range(3):
        behaviour[truth == group, 3 * group : 3 * group + 3] = 3.0
    attributes = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]])[truth]
    X = np.c_[attributes, behaviour] + rng.normal(0, 0.3, (450, 11))
    missing = np.zeros(X.shape, dtype=bool)
    missing[rng.rand(450) < 0.4, 2:] = True
    X[missing] = np.median(X, axis=0)[np.nonzero(missing)[1]]
    model = KMeansClusters(n_clusters=3, random_state=0).fit(X, missing)
    assert adjusted_rand_score(truth, model.labels_) > 0.95
    assert model.predict(X, missing).tolist() == model.labels_.tolist()
    # imputed as if known, the rows without behaviour make a cluster of their own
    imputed = KMeansClusters(n_clusters=3, random_state=0).fit(X)
    assert adjusted_rand_score(truth, imputed.labels_) < 0.5


def test_kmeans_parameters_are_checked() -> None:
    with pytest.raises(DiscoveryError, match="'floor' parameter of KMeansClusters"):
        KMeansClusters(floor=0).fit(_blobs())
    with pytest.raises(DiscoveryError, match="'rounds' parameter of KMeansClusters"):
        KMeansClusters(rounds=0).fit(_blobs())
    with pytest.raises(DiscoveryError, match="mask has shape"):
        KMeansClusters().fit(_blobs(), np.zeros((3, 2), dtype=bool))


def test_merging_uses_the_weighted_distance() -> None:
    # the small cluster (at 1, 2) is nearer the first (0, 0) unweighted, nearer the second
    # (4, 3) once feature 0 weighs a tenth
    X = np.r_[
        np.tile([0.0, 0.0], (100, 1)), np.tile([1.0, 2.0], (10, 1)), np.tile([4.0, 3.0], (80, 1))
    ]
    labels = np.r_[np.zeros(100), np.ones(10), np.full(80, 2)].astype(int)
    plain, _ = merge_small(X, labels, 50)
    assert plain[100] == plain[0]  # 1 + 4 against 9 + 1
    weighted, _ = merge_small(X, labels, 50, np.array([0.1, 1.0]))
    assert weighted[100] == weighted[150]  # 0.1 + 4 against 0.9 + 1


def test_a_runner_up_k_within_sampling_noise_is_reported() -> None:
    from microseg.discover._run import close_call

    scores = {2: 0.09, 7: 0.1735, 8: 0.1728}  # the bench shop: 7 kept, 8 a close second
    assert close_call(scores, "kmeans") == {"k": 8, "margin": 0.0007}
    assert close_call({2: 0.09, 7: 0.19, 8: 0.17}, "kmeans") is None  # 0.02 apart: clear
    assert close_call(scores, "gmm") is None  # BIC, not silhouette
    assert close_call({3: 0.2}, "kmeans") is None
