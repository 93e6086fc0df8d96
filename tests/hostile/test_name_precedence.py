"""Attributes and traits share one namespace: a bare name means the trait (definitions win
over data), ``attribute:NAME`` the attribute, and every collision is reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from microseg import Workspace
from tests.hostile._trait_shop import cli_json, make_shop, write

STAGES = ["gold", "gold", "silver", "silver", "bronze"]


@pytest.fixture
def shop(tmp_path: Path) -> Workspace:
    ws = make_shop(
        tmp_path / "ws",
        [("A", "toys", 10.0), ("B", "toys", 20.0)],
        attributes={"lifecycle_stage": STAGES},
    )
    write(
        ws.path / "segments" / "by-trait.yaml",
        "name: by-trait\nrule: {trait: lifecycle_stage, in: [new, active]}",
    )
    write(
        ws.path / "segments" / "by-attr.yaml",
        "name: by-attr\nrule: {attribute: lifecycle_stage, eq: gold}",
    )
    return ws


def _collision(warnings: list[str]) -> bool:
    return any("lifecycle_stage" in w and "attribute:lifecycle_stage" in w for w in warnings)


AS_OF = "2025-07-15"


def _stages(ws: Workspace) -> dict[str, str]:
    """The built-in lifecycle_stage trait of each customer, per profile."""
    return {c: ws.traits.of(c, as_of=AS_OF)["lifecycle_stage"] for c in "ABCDE"}


def test_a_bare_grid_dimension_means_the_trait(shop: Workspace) -> None:
    grid = shop.segments.grid(["lifecycle_stage"], as_of=AS_OF, min_size=1)
    values = {cell.values["lifecycle_stage"] for cell in grid.cells}
    assert values == set(_stages(shop).values())  # the built-in trait, not gold/silver/bronze
    assert not values & set(STAGES)
    assert grid.dimensions[0].source == "trait"
    assert _collision(grid.warnings)
    assert _collision(grid.to_dict()["warnings"])
    shop.close()


def test_attribute_prefix_picks_the_attribute(shop: Workspace) -> None:
    dims = ["attribute:lifecycle_stage", "trait:lifecycle_stage"]
    grid = shop.segments.grid(dims, as_of=AS_OF, min_size=1)
    assert {c.values[dims[0]] for c in grid.cells} == set(STAGES)
    cell = next(c for c in grid.cells if c.values[dims[0]] == "gold")
    rule = cell.rule(grid.dimensions)
    assert {"attribute": "lifecycle_stage", "eq": "gold"} in rule["all"]
    assert {"trait": "lifecycle_stage", "eq": _stages(shop)["A"]} in rule["all"]
    assert not grid.warnings  # both named explicitly
    shop.close()


def test_both_evaluators_and_explain_read_what_the_rule_names(shop: Workspace) -> None:
    stages = _stages(shop)
    assert stages["A"] in ("new", "active")
    assert stages["C"] == "prospect"
    run = shop.segments.evaluate(as_of=AS_OF, save=False)
    assert run.sizes == {"by-attr": 2, "by-trait": 2}
    assert _collision(run.warnings)
    assert _collision(run.to_dict()["warnings"])
    expected = {"A": {"by-attr", "by-trait"}, "B": {"by-attr", "by-trait"}, "C": set()}
    for customer, inside in expected.items():
        got = shop.segments.of(customer, as_of=AS_OF)
        assert {n for n, yes in got.items() if yes} == inside
    why = shop.segments.explain("by-trait", "A", as_of=AS_OF)
    assert why.holds
    assert stages["A"] in why.text
    shop.close()


@pytest.mark.slow
def test_validate_evaluate_and_profile_warn(shop: Workspace) -> None:
    assert _collision(list(shop.traits.collisions().values()))
    shop.close()
    for args in (
        ("segment", "validate"),
        ("segment", "evaluate", "--as-of", AS_OF),
        ("profile", "A"),
        ("traits", "list"),
        ("grid", "lifecycle_stage", "--min-size", "1"),
    ):
        if args[0] == "grid":
            args = ("segment", *args)
        code, data = cli_json(shop.path, *args)
        assert code == 0, args
        assert _collision(data["warnings"]), args  # type: ignore[arg-type]
