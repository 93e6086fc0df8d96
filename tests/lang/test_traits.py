"""Traits: built-ins and user traits agree between batch and per-profile, and feed rules."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from microseg import Workspace
from microseg.lang import RuleError, parse_definition
from microseg.profile import BatchInputs
from microseg.segments import SegmentCatalog, evaluate_profile
from microseg.traits import TraitCatalog, profile_traits
from tests.lang.test_agreement import _profiles, shop  # noqa: F401  (fixture)

BUILTIN_NAMES = [
    "days_since_last_purchase",
    "purchase_count",
    "repeat_purchase_count",
    "total_spend",
    "avg_order_value",
    "tenure_days",
    "mean_days_between_purchases",
    "return_rate",
    "cart_abandonment_rate",
    "view_to_purchase_rate",
    "email_open_rate_90d",
    "email_click_rate_90d",
    "days_since_last_email_open",
    "discount_share",
    "omnichannel",
    "spend_trend_90d",
    "lifecycle_stage",
    "rfm_recency",
    "rfm_frequency",
    "rfm_monetary",
    "rfm_group",
    "top_category",
    "peak_purchase_month",
    "occasion_share",
]


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    return bool(a == b)


def test_builtin_names_are_there() -> None:
    assert set(BUILTIN_NAMES) <= set(TraitCatalog.load().definitions)


@pytest.mark.parametrize("as_of", ["2026-10-31", "2026-02-01T08:00:00Z"])
def test_every_trait_agrees_for_every_customer(shop: Workspace, as_of: str) -> None:  # noqa: F811
    run = shop.traits.compute(as_of=as_of, save=False)
    batch = {r["customer_id"]: r for r in run.result.to_pyarrow().to_pylist()}
    catalog = shop.traits.list()
    names = list(catalog.definitions)
    clock = shop.context.clock(as_of)
    for profile in _profiles(shop, as_of):
        # one profile is scored with the population's cut points, as stored by batch
        single = profile_traits(catalog, names, profile, clock, cuts=run.cuts)
        for name in names:
            assert _same(single[name], batch[profile.customer_id][name]), (
                f"{name} for {profile.customer_id} at {as_of}: "
                f"{single[name]!r} vs {batch[profile.customer_id][name]!r}"
            )
    stages = run.summary["lifecycle_stage"]["top"]
    assert len(stages) >= 4, stages  # the stages really split the shop
    groups = run.summary["rfm_group"]["top"]
    assert len(groups) >= 5, groups
    assert len(run.cuts) == 3
    assert all(len(c) == 4 for c in run.cuts.values())


def test_traits_in_rules_agree(shop: Workspace) -> None:  # noqa: F811
    rules = {
        "champions": {
            "all": [{"trait": "purchase_count", "gte": 5}, {"trait": "return_rate", "lt": 0.2}]
        },
        "at-risk": {"trait": "lifecycle_stage", "in": ["at_risk", "lapsed"]},
        "omni": {"trait": "omnichannel", "eq": True},
        "unknown-open": {"trait": "email_open_rate_90d", "is_null": True},
        "rfm-champions": {"trait": "rfm_group", "eq": "Champions"},
        "rfm-top-spend": {"trait": "rfm_monetary", "eq": 5},
    }
    catalog = SegmentCatalog(
        {n: parse_definition({"name": n, "rule": r}) for n, r in rules.items()}, {}
    )
    catalog.check(shop.traits.schema())
    from microseg.segments import evaluate_segments

    as_of = "2026-10-31"
    clock = shop.context.clock(as_of)
    traits = shop.traits.list()
    cuts = shop.traits.cuts(clock)
    run = evaluate_segments(
        shop.store,
        catalog,
        list(rules),
        BatchInputs(
            customers=shop.customers(as_of=as_of),
            events=shop.events(),
            clock=clock,
            attribute_types=shop.traits.schema().attributes,
        ),
        save=False,
        traits=traits,
        cuts=cuts,
    )
    batch = {r["customer_id"]: r for r in run.result.to_pyarrow().to_pylist()}
    sizes = dict.fromkeys(rules, 0)
    for profile in _profiles(shop, as_of):
        one = evaluate_profile(catalog, list(rules), profile, clock, traits=traits, cuts=cuts)
        for name in rules:
            assert one[name] == batch[profile.customer_id][name], (name, profile.customer_id)
            sizes[name] += one[name]
    assert all(0 < s < len(batch) for s in sizes.values()), sizes


def test_user_trait_file_and_errors(shop: Workspace) -> None:  # noqa: F811
    folder: Path = shop.path / "traits"
    path = folder / "big_basket.yaml"
    path.write_text(
        "name: big_basket\ntype: boolean\nvalue:\n  case:\n"
        "    - when: {trait: avg_order_value, gte: 100}\n      then: {value: true}\n"
        "  else: {value: false}\n"
    )
    bad = folder / "broken.yaml"
    bad.write_text("name: broken\nvalue:\n  div: [{trait: purchse_count}, {value: 2}]\n")
    try:
        with pytest.raises(
            RuleError, match="unknown trait 'purchse_count'; did you mean 'purchase_count'"
        ):
            shop.traits.validate()
        bad.unlink()
        run = shop.traits.compute(["big_basket"], as_of="2026-10-31", save=True)
        top = run.summary["big_basket"]["top"]
        assert set(top) == {"true", "false"}
        stored = shop.store.scalar("SELECT count(*) FROM trait_values WHERE trait = 'big_basket'")
        assert stored == run.customers
    finally:
        path.unlink(missing_ok=True)
        bad.unlink(missing_ok=True)


def test_lifecycle_thresholds_come_from_the_config(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    import pandas as pd

    def stage(new_days: int) -> str:
        root = tmp_path / f"ws{new_days}"
        ws = Workspace.init(root, clock=lambda: datetime(2026, 1, 15, tzinfo=UTC))
        config = root / "microseg.yaml"
        config.write_text(config.read_text().replace("new_days: 30", f"new_days: {new_days}"))
        ws.close()
        ws = Workspace.open(root, clock=lambda: datetime(2026, 1, 15, tzinfo=UTC))
        ws.ingest(
            "events",
            pd.DataFrame(
                {
                    "customer_id": ["A"],
                    "timestamp": ["2026-01-11T09:00:00Z"],
                    "type": ["purchase"],
                    "amount": [30.0],
                }
            ),
        )
        value = ws.traits.of("A", as_of="2026-01-14")["lifecycle_stage"]
        batch = ws.traits.compute(["lifecycle_stage"], as_of="2026-01-14", save=False)
        ws.close()
        assert batch.summary["lifecycle_stage"]["top"] == {value: 1}
        return str(value)

    assert stage(30) == "new"
    assert stage(2) == "active"


def test_trait_file_errors(tmp_path: Path) -> None:
    folder = tmp_path / "traits"
    folder.mkdir()
    (folder / "dup.yaml").write_text("name: purchase_count\nvalue: {value: 1}\n")
    (folder / "bad.yaml").write_text("name: bad\nvalue: {aggregat: count, event: purchase}\n")
    (folder / "loop_a.yaml").write_text("name: loop_a\nvalue: {trait: loop_b}\n")
    (folder / "loop_b.yaml").write_text("name: loop_b\nvalue: {trait: loop_a}\n")
    with pytest.raises(RuleError) as info:
        TraitCatalog.load(folder)
    text = str(info.value)
    assert "trait 'purchase_count' is already defined (built-in)" in text
    assert "bad.yaml" in text
    (folder / "dup.yaml").unlink()
    (folder / "bad.yaml").unlink()
    from microseg.lang import Schema

    with pytest.raises(RuleError, match="cycle: loop_a -> loop_b -> loop_a"):
        TraitCatalog.load(folder).check(Schema())


def test_category_spend_shares(shop: Workspace) -> None:  # noqa: F811
    """One spend_share_<category> per purchased category; a buyer's shares sum to 1."""
    categories = shop.store.purchase_categories()
    names = [n for n in shop.traits.list().definitions if n.startswith("spend_share_")]
    assert len(names) == len(categories) >= 5
    run = shop.traits.compute(names, as_of="2026-10-31", save=False)
    rows = run.result.to_pyarrow().to_pylist()
    buyers = [r for r in rows if r[names[0]] is not None]
    assert len(buyers) > 100
    for row in buyers:
        assert math.isclose(sum(row[n] for n in names), 1.0, rel_tol=1e-9)
    assert set(run.summary) == set(names)
