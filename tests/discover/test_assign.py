"""The assigner on hand-made runs: encoding, macro groups, radii, batch == one, JSON."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import microseg.discover
from microseg.discover import ClusterAssigner, DiscoveryError, Feature
from microseg.discover._assign import Centroid, Encoder, _round9

AS_OF = datetime(2026, 10, 31, 23)


def _encoder(macro: Any = ("trait", "stage"), skip_missing: bool = False) -> Encoder:
    features = (
        Feature("spend", "trait", "spend", "number", log=True),
        Feature("vip", "trait", "vip", "flag"),
        Feature("interests=anime", "attribute", "interests", "contains", "anime"),
        Feature("city=Paris", "attribute", "city", "equals", "Paris"),
    )
    return Encoder(
        features,
        (3.0, 0.0, 0.0, 0.0),
        (3.5, 0.2, 0.3, 0.4),
        (1.5, 0.4, 0.46, 0.49),
        macro,
        skip_missing=skip_missing,
    )


#: feature weights of a weighted run (the format-2 assigners discovery writes)
WEIGHTS = {"a": (2.0, 0.5, 1.25, 0.25), "b": (0.4, 1.6, 1.0, 1.0)}


def _assigner(
    radius: float | None = None, macro: Any = ("trait", "stage"), weighted: bool = False
) -> ClusterAssigner:
    return ClusterAssigner(
        run_id=4,
        name="hand-made",
        as_of=AS_OF,
        clusters={0: "unclustered", 1: "a: big", 2: "a: small", 3: "b: all"},
        encoder=_encoder(macro, skip_missing=weighted),
        weights=WEIGHTS if weighted else None,
        centroids={
            "a": [
                Centroid(1, (1.0, 0.0, 1.0, 0.0), radius),
                Centroid(2, (-1.0, 0.0, -0.6, 0.0), radius),
            ],
            "b": [Centroid(3, (0.0, 2.0, 0.0, 1.2), radius)],
        },
    )


def _tables(rows: int = 300, seed: int = 0) -> tuple[pa.Table, pa.Table]:
    rng = np.random.RandomState(seed)
    spend = [None if rng.rand() < 0.1 else float(rng.lognormal(3, 1.5)) for _ in range(rows)]
    spend[:3] = [-1.0, -7.5, 0.0]  # below what log1p takes: missing, in both paths
    ids = [f"c{i:04d}" for i in range(rows)]
    traits = pa.table(
        {
            "customer_id": ids,
            "spend": spend,
            "vip": [None if rng.rand() < 0.1 else bool(rng.rand() < 0.2) for _ in range(rows)],
            "stage": [["a", "b", "zz", None][rng.randint(4)] for _ in range(rows)],
            "extra": list(range(rows)),
        }
    )
    pool = [["Anime", "books"], ["anime"], [], None, ["books", None]]
    kept = [i for i in range(rows) if rng.rand() > 0.1]  # some customers have no attributes
    kept = list(rng.permutation(kept))  # any order
    customers = pa.table(
        {
            "city": [["Paris", "Lyon", None][rng.randint(3)] for _ in kept],
            "customer_id": [ids[i] for i in kept],
            "interests": [pool[rng.randint(len(pool))] for _ in kept],
        }
    )
    return traits, customers


def _one_by_one(assigner: ClusterAssigner, traits: pa.Table, customers: pa.Table) -> list[int]:
    people = {c["customer_id"]: c for c in customers.to_pylist()}
    return [
        assigner.assign_one(row, people.get(row["customer_id"], {})) for row in traits.to_pylist()
    ]


def test_public_surface() -> None:
    assert "ClusterAssigner" in microseg.discover.__all__
    assert "load_assigner" in microseg.discover.__all__
    assert {"BisectingKMeansClusters", "HDBSCANClusters"} <= set(microseg.discover.__all__)


def test_attributes_of_the_contract() -> None:
    a = _assigner()
    assert (a.run_id, a.name, a.as_of) == (4, "hand-made", AS_OF)
    assert a.traits == ["spend", "vip", "stage"]  # the features', then the macro's
    assert a.attributes == ["interests", "city"]
    assert a.macro == ("trait", "stage")
    assert a.clusters[0] == "unclustered"


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("radius", [None, 1.2])
def test_assign_one_equals_assign_table(radius: float | None, weighted: bool) -> None:
    a = _assigner(radius, weighted=weighted)
    traits, customers = _tables()
    table = a.assign_table(traits, customers)
    assert table.dtype == np.int64
    assert _one_by_one(a, traits, customers) == table.tolist()
    assert set(table.tolist()) <= set(a.clusters)
    assert (0 in table.tolist()) == (radius is not None)


def test_macro_groups_missing_and_unseen_values() -> None:
    a = _assigner()
    near_b = {"spend": None, "vip": True}
    assert a.assign_one({**near_b, "stage": "a"}, {}) in (1, 2)  # only a's clusters
    assert a.assign_one({**near_b, "stage": "b"}, {}) == 3
    # unseen and missing macro values (no "(missing)" group here): every cluster
    assert a.assign_one({**near_b, "stage": "zz"}, {"city": "Paris"}) == 3
    assert a.assign_one(near_b, {"city": "Paris"}) == 3


def test_encoding_follows_the_run() -> None:
    a = _assigner()
    e = a.encoder
    z = e.encode_one({"spend": 19.0, "vip": None}, {"interests": ["ANIME"], "city": "paris"})
    assert z == pytest.approx(
        [(np.log1p(19.0) - 3.5) / 1.5, (0.0 - 0.2) / 0.4, (1.0 - 0.3) / 0.46, (0.0 - 0.4) / 0.49]
    )
    # missing everything: imputed values for numbers and flags, 0 for encoded values
    assert e.encode_one({}, {}) == pytest.approx(
        [(3.0 - 3.5) / 1.5, -0.5, -0.3 / 0.46, -0.4 / 0.49]
    )


def test_radius_sends_far_customers_to_unclustered() -> None:
    a = _assigner(radius=0.7)  # the first is 0.65 from cluster 3
    assert a.assign_one({"stage": "b", "vip": True, "spend": np.expm1(3.5)}, {"city": "Paris"}) == 3
    assert a.assign_one({"stage": "b", "vip": False, "spend": 1e6}, {}) == 0


def test_weights_and_skipped_values_decide_the_nearest_centroid() -> None:
    # in macro a, cluster 1 sits at spend +1 and anime +1, cluster 2 at -1 and -0.6
    customer = {"stage": "a", "spend": float(np.expm1(3.5 + 1.5 * 0.5)), "vip": False}
    plain, weighted = _assigner(), _assigner(weighted=True)
    # spend 0.5 and anime -0.65: 0.25 + 2.73 against 2.25 + 0.003 (+ the same vip and city)
    assert plain.assign_one(customer, {"interests": []}) == 2
    # spend weighs 2.0 and anime 1.25 in macro a: 0.5 + 3.41 against 4.5 + 0.003
    assert weighted.assign_one(customer, {"interests": []}) == 1
    # unknown numbers, flags, lists and texts come out as NaN, and the distance skips
    # them (issue 12: a missing text or list is missing, not "not <level>")
    unknown = weighted.encoder.encode_one({"vip": None}, {})
    assert np.isnan(unknown).all()
    # an empty list is a list without the value: encoded, not missing
    listed = weighted.encoder.encode_one({"vip": None}, {"interests": []})
    assert not np.isnan(listed[2])
    assert weighted.assign_one({**customer, "spend": None}, {"interests": []}) == 2
    assert weighted.assign_one({"stage": "a"}, {"interests": ["anime"]}) == 1


def test_format_1_assigners_still_load_and_impute() -> None:
    data = _assigner().to_dict()
    assert (data["format"], data["missing"]) == (2, "impute")
    old = {k: v for k, v in data.items() if k not in ("weights", "missing")}
    b = ClusterAssigner.from_dict({**old, "format": 1})
    assert not b.encoder.skip_missing
    assert b.weights == {"a": (1.0,) * 4, "b": (1.0,) * 4}
    traits, customers = _tables(seed=5)
    assert (
        b.assign_table(traits, customers).tolist()
        == _assigner().assign_table(traits, customers).tolist()
    )


def test_round_trip_through_json() -> None:
    a = _assigner(radius=1.1, macro=("attribute", "city"), weighted=True)
    text = json.dumps(a.to_dict())
    b = ClusterAssigner.from_dict(json.loads(text))
    assert b.to_dict() == a.to_dict()
    assert (b.run_id, b.name, b.as_of, b.clusters, b.macro) == (
        a.run_id,
        a.name,
        a.as_of,
        a.clusters,
        a.macro,
    )
    traits, customers = _tables(seed=3)
    assert b.assign_table(traits, customers).tolist() == a.assign_table(traits, customers).tolist()


def test_malformed_assigner_is_a_discovery_error() -> None:
    data = _assigner().to_dict()
    with pytest.raises(DiscoveryError, match="not a cluster assigner"):
        ClusterAssigner.from_dict({k: v for k, v in data.items() if k != "centroids"})
    with pytest.raises(DiscoveryError, match="format"):
        ClusterAssigner.from_dict({**data, "format": 99})
    with pytest.raises(DiscoveryError, match="feature weights of macro 'a'"):
        ClusterAssigner.from_dict({**data, "weights": {"a": [1.0, 2.0]}})
    with pytest.raises(DiscoveryError, match="feature weights of macro 'c'"):
        ClusterAssigner.from_dict({**data, "weights": {"c": [1.0] * 4}})
    data["centroids"]["a"][0]["center"] = [1.0]
    with pytest.raises(DiscoveryError, match="does not match"):
        ClusterAssigner.from_dict(data)


def test_missing_columns_and_bad_values_are_reported() -> None:
    a = _assigner()
    traits, customers = _tables()
    with pytest.raises(DiscoveryError, match="no column 'vip'"):
        a.assign_table(traits.drop_columns(["vip"]), customers)
    with pytest.raises(DiscoveryError, match="cannot read"):
        a.assign_one({"spend": "a lot"}, {})
    with pytest.raises(DiscoveryError, match="cannot read"):
        a.assign_table(traits.set_column(1, "spend", pa.array(["x"] * traits.num_rows)), customers)


def test_rounding_matches_numpy() -> None:
    rng = np.random.RandomState(0)
    values = rng.lognormal(2, 4, 5000) * rng.choice([-1, 1], 5000)
    values = np.r_[values, 0.1234567895, 2.5e-9, 1e300, -0.0]
    with np.errstate(over="ignore"):  # 1e300 * 1e9: numpy's rounding overflows to inf too
        expected = np.round(values, 9).tolist()
    assert [_round9(v) for v in values.tolist()] == expected
