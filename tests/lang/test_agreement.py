"""The batch compiler and the per-profile interpreter agree, customer by customer."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from microseg import Workspace
from microseg.lang import ClusterRule, SegmentDefinition, children, parse_definition
from microseg.lang.profile import Profile
from microseg.segments import SegmentCatalog, evaluate_profile, evaluate_segments
from microseg.synth import generate_shop

AS_OFS = ["2026-10-31", "2026-03-15T12:00:00Z", "2025-11-30"]

RULES: dict[str, Any] = {
    "young": {"attribute": "age", "between": [20, 30]},
    "women-travel": {
        "all": [
            {"attribute": "gender", "eq": "female"},
            {"attribute": "interests", "contains": "TRAVEL"},
        ]
    },
    "not-married": {"not": {"attribute": "marital_status", "eq": "married"}},
    "no-religion": {"attribute": "religion", "is_null": True},
    "cities": {"attribute": "city", "in": ["Paris", "Lyon", "Berlin", "Madrid"]},
    "not-cities": {"attribute": "city", "not_in": ["Paris", "Lyon"]},
    "city-text": {
        "any": [
            {"attribute": "city", "starts_with": "pa"},
            {"attribute": "city", "ends_with": "ON"},
            {"attribute": "city", "matches": "^(ber|mad)"},
            {"attribute": "city", "contains_any": ["ill", "xyz"]},
        ]
    },
    "tags-all": {"attribute": "lifestyle", "contains_all": ["sporty", "traveler"]},
    "tags-any": {"attribute": "values", "contains_any": ["price", "novelty"]},
    "old-signup": {"attribute": "signup_date", "lt": "12 months ago"},
    "recent-signup": {"attribute": "signup_date", "gte": "2026-01-01"},
    "household": {"attribute": "household_size", "gt": 2},
    "buyers": {"event": "purchase"},
    "never-bought": {"event": "purchase", "count": {"eq": 0}},
    "anime": {"event": "purchase", "where": [{"property": "category", "eq": "anime"}]},
    "big-spenders-90d": {
        "event": "purchase",
        "window": {"last": "90 days"},
        "sum": {"property": "amount", "gt": 150},
    },
    "avg-basket": {"event": "purchase", "avg": {"property": "amount", "gte": 40}},
    "max-discount": {"event": "purchase", "max": {"property": "discount", "gt": 0.3}},
    "min-amount": {"event": "purchase", "min": {"property": "amount", "lt": 10}},
    "recent-activity": {"event": "any", "max": {"property": "timestamp", "gte": "30 days ago"}},
    "many-categories": {
        "event": "purchase",
        "distinct": {"property": "category", "gte": 3},
    },
    "character-search": {
        "event": "search",
        "where": [{"property": "query", "contains": "character"}],
        "window": {"from": "6 months ago", "to": "4 months ago"},
    },
    "mobile-views": {
        "event": "view",
        "where": [{"property": "device", "eq": "mobile"}],
        "window": {"since": "2026-06-01"},
        "count": {"gte": 3},
    },
    "device-distinct": {"event": "any", "distinct": {"property": "device", "gte": 2}},
    "openers": {"event": "email_open", "window": {"last": "3 months"}},
    "never-open": {
        "all": [{"event": "email_sent"}, {"not": {"event": "email_open"}}],
    },
    "abandoned": {
        "sequence": {
            "steps": [
                {"event": "cart_add"},
                {"event": "purchase", "within": "2 days", "absent": True},
            ],
            "window": {"last": "60 days"},
        }
    },
    "repeat-30d": {
        "sequence": {"steps": [{"event": "purchase"}, {"event": "purchase", "within": "30 days"}]}
    },
    "view-cart-buy": {
        "sequence": {
            "steps": [
                {"event": "view"},
                {"event": "cart_add", "within": "1 day"},
                {"event": "purchase", "within": "3 days"},
            ]
        }
    },
    "holdout": {"bucket": {"salt": "spring", "from": 0, "to": 10}},
    "december-weekend": {
        "event": "purchase",
        "where": [{"property": "month", "eq": 12}, {"property": "weekday", "gte": 6}],
    },
    "night-owls": {"event": "view", "where": [{"property": "hour", "lt": 6}], "count": {"gte": 2}},
    "anime-young": {"all": [{"segment": "anime"}, {"segment": "young"}]},
    # matches: RE2 both ways, case-insensitive search
    "regex-case": {"attribute": "city", "matches": "PAR|lyon|^MAD"},
    "regex-anchors": {"attribute": "city", "matches": "^[b-m][a-z]+n$"},
    "regex-classes": {"attribute": "city", "matches": r"^[[:alpha:]]+\s[[:upper:]]\w+$"},
    "regex-backtrack": {"attribute": "city", "matches": "^(a+)+$"},
    "regex-query": {
        "event": "search",
        "where": [{"property": "query", "matches": r"\bnaruto\b.*(figure|shoes)$"}],
    },
    "regex-unicode": {
        "event": "tag",
        "where": [{"property": "é ü", "matches": r"^stra(ß|ss)e|\pL+É"}],
    },
}

#: Property names that are data, not paths: events of type ``tag`` carry them (``_tags``).
ODD_NAMES = ["a.b", "it's", 'say "hi"', "*", "$x", "[0]", "é ü", "a b", "Größe"]
_TAG_VALUES = ["blue", "Straße", "STRASSE", "naïve CAFÉ", "x'y", 'q"uote', "红色", "ÉCOLE"]
for _i, _name in enumerate(ODD_NAMES):
    RULES[f"prop-{_i}"] = {
        "any": [
            {"event": "tag", "where": [{"property": _name, "eq": "blue"}]},
            {"event": "tag", "where": [{"property": _name, "gt": 50}], "count": {"gte": 2}},
            {"event": "tag", "distinct": {"property": _name, "gte": 3}},
        ]
    }


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    root: Path = tmp_path_factory.mktemp("agree")
    data = generate_shop(root / "data", customers=600, seed=11)
    ws = Workspace.init(
        root / "ws",
        timezone="Europe/Paris",
        clock=lambda: datetime(2026, 11, 1, tzinfo=UTC),
    )
    ws.ingest("customers", data.paths["customers"], valid_from="signup_date")
    ws.ingest("customers", data.paths["customer_updates"])
    ws.ingest("events", list(data.event_files))
    ws.ingest("events", _tags(root, ws))
    # a stored discovery run, for `cluster:` leaves: customers are assigned at each as_of
    ws.discover.run(as_of="2026-10-31", seed=1, name="agree", refits=0)
    yield ws
    ws.close()


def _tags(root: Path, ws: Workspace) -> Path:
    """Events of type ``tag`` whose properties have the :data:`ODD_NAMES`, as JSON Lines."""
    ids = sorted(r["customer_id"] for r in ws.customers().to_pyarrow().to_pylist())
    rows = []
    for n, customer_id in enumerate(ids[::2]):
        for k in range(n % 4):
            name = ODD_NAMES[(n + k) % len(ODD_NAMES)]
            value: Any = _TAG_VALUES[(n * 3 + k) % len(_TAG_VALUES)] if k % 2 == 0 else n + k
            day = 1 + (n * 7 + k) % 28
            rows.append(
                {
                    "customer_id": customer_id,
                    "type": "tag",
                    "timestamp": f"2025-{1 + (n + k) % 12:02d}-{day:02d}T10:00:00Z",
                    name: value,
                    ODD_NAMES[(n + k + 1) % len(ODD_NAMES)]: "blue",
                }
            )
    path = root / "tags.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _profiles(ws: Workspace, as_of: str) -> list[Profile]:
    clock = ws.context.clock(as_of)
    attributes = ws.customers(as_of=as_of).to_pyarrow().to_pylist()
    events = ws.events(as_of=as_of).drop("load_id").to_pyarrow().to_pylist()
    by_customer: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_customer[event["customer_id"]].append(event)
    types = ws.traits.schema().attributes
    assert clock.as_of > datetime(2025, 1, 1)
    return [
        Profile(
            customer_id=row["customer_id"],
            attributes={k: v for k, v in row.items() if k != "customer_id"},
            events=by_customer.get(row["customer_id"], []),
            attribute_types=types,
        )
        for row in attributes
    ]


def _nodes(rule: Any) -> Iterator[Any]:
    yield rule
    for child in children(rule):
        yield from _nodes(child)


def _catalog(rules: dict[str, Any]) -> SegmentCatalog:
    definitions = {
        name: parse_definition({"name": name, "rule": rule}) for name, rule in rules.items()
    }
    return SegmentCatalog(definitions, {})


def _compare(ws: Workspace, catalog: SegmentCatalog, as_of: str) -> dict[str, int]:
    """Every segment of ``catalog`` for every customer, both ways; they must agree.

    Trait nodes read the built-in traits (RFM cut points included) and cluster nodes the
    fixture's discovery run, in both evaluators.
    """
    clock = ws.context.clock(as_of)
    names = sorted(catalog.definitions)
    catalog.check(ws.traits.schema(), names)
    traits = ws.traits.list()
    cuts = ws.traits.cuts(clock)
    runs = {
        node.cluster.run
        for name in names
        for node in _nodes(catalog.full_rule(name))
        if isinstance(node, ClusterRule)
    }
    run = evaluate_segments(
        ws.store,
        catalog,
        names,
        ws.profile.batch(clock, as_of, runs=runs),
        save=False,
        traits=traits,
        cuts=cuts,
    )
    batch = {row["customer_id"]: row for row in run.result.to_pyarrow().to_pylist()}
    sizes = dict.fromkeys(names, 0)
    lookup = ws.profile.clusters()
    for profile in _profiles(ws, as_of):
        one = evaluate_profile(
            catalog, names, profile, clock, traits=traits, cuts=cuts, clusters=lookup
        )
        for name in names:
            assert one[name] == batch[profile.customer_id][name], (
                f"{name} disagrees for {profile.customer_id} at {as_of}"
            )
            sizes[name] += one[name]
    return sizes


@pytest.mark.parametrize("as_of", AS_OFS)
def test_batch_and_profile_agree_on_every_customer(shop: Workspace, as_of: str) -> None:
    sizes = _compare(shop, _catalog(RULES), as_of)
    # the segments are not trivially empty or full (a test that could not fail proves little)
    customers = int(shop.customers().count().to_pyarrow().as_py())
    interesting = [n for n, s in sizes.items() if 0 < s < customers]
    assert len(interesting) >= len(RULES) - 6, sizes


# -- random trees --------------------------------------------------------------------------

_LEAVES = [
    {"attribute": "age", "gt": 40},
    {"attribute": "age", "is_null": False},
    {"attribute": "gender", "ne": "male"},
    {"attribute": "city", "contains": "a"},
    {"attribute": "interests", "contains_any": ["anime", "music"]},
    {"attribute": "income_band", "in": ["high", "upper_middle"]},
    {"attribute": "birth_date", "lte": "40 years ago"},
    {"event": "purchase", "count": {"gte": 3}},
    {"event": "return", "window": {"last": "6 months"}},
    {"event": "view", "where": [{"property": "page_type", "eq": "product"}], "count": {"gt": 2}},
    {
        "event": "purchase",
        "where": [{"property": "discount", "gt": 0}],
        "sum": {"property": "amount", "lt": 50},
    },
    {"event": "email_click", "window": {"from": "1 year ago", "to": "3 months ago"}},
    {"event": "any", "distinct": {"property": "channel", "gte": 2}},
    {"event": "search", "where": [{"property": "query", "is_null": True}], "count": {"eq": 0}},
    {
        "sequence": {
            "steps": [{"event": "view"}, {"event": "purchase", "within": "7 days", "absent": True}]
        }
    },
    {"bucket": {"salt": "x", "from": 20, "to": 70}},
    {"trait": "purchase_count", "gte": 3},
    {"trait": "lifecycle_stage", "in": ["active", "at_risk"]},
    {"trait": "rfm_group", "eq": "Champions"},
    {"trait": "avg_order_value", "is_null": True},
    {"segment": "buyers"},
    {"cluster": {"run": "agree", "in": [1, 3]}},
    {"attribute": "city", "matches": "^(a+)+$|O.*N$"},
    {"event": "search", "where": [{"property": "query", "matches": "^[^ ]+ (box|set)"}]},
    {"event": "tag", "where": [{"property": "a.b", "eq": "blue"}]},
    {"event": "tag", "where": [{"property": "it's", "is_null": False}], "count": {"gte": 1}},
    {"event": "tag", "where": [{"property": "*", "matches": "É"}]},
    {"event": "tag", "distinct": {"property": 'say "hi"', "gte": 1}},
]


def _trees() -> st.SearchStrategy[dict[str, Any]]:
    leaves = st.sampled_from(_LEAVES)
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, min_size=1, max_size=3).map(lambda xs: {"all": xs}),
            st.lists(inner, min_size=1, max_size=3).map(lambda xs: {"any": xs}),
            inner.map(lambda x: {"not": x}),
        ),
        max_leaves=6,
    )


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(tree=_trees(), as_of=st.sampled_from(AS_OFS))
def test_random_trees_agree(shop: Workspace, tree: dict[str, Any], as_of: str) -> None:
    _compare(shop, _catalog({"random": tree, "buyers": {"event": "purchase"}}), as_of)


def test_definition_round_trips_through_yaml() -> None:
    import yaml

    for name, rule in RULES.items():
        definition = parse_definition({"name": name, "rule": rule})
        again = parse_definition(yaml.safe_load(definition.to_yaml()))
        assert again == definition
        assert isinstance(again, SegmentDefinition)
