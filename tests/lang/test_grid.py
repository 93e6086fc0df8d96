"""The layering grid: cells, sizes, hidden small cells, and cells saved as segments."""

from __future__ import annotations

import pytest

from microseg import Workspace
from microseg.lang import RuleError
from tests.lang.test_agreement import shop  # noqa: F401  (fixture)


def test_cells_add_up_and_small_ones_are_hidden(shop: Workspace) -> None:  # noqa: F811
    grid = shop.segments.grid(["gender", "age:25,35,50"], as_of="2026-10-31", min_size=20)
    customers = int(shop.customers().count().to_pyarrow().as_py())
    assert grid.customers == customers
    assert sum(c.size for c in grid.cells) + grid.hidden_customers == customers
    assert all(c.size >= 20 for c in grid.cells)
    assert grid.hidden_cells > 0  # e.g. nonbinary customers in narrow bands
    sizes = [c.size for c in grid.cells]
    assert sizes == sorted(sizes, reverse=True)
    assert {c.values["age:25,35,50"] for c in grid.cells} <= {"< 25", "25-35", "35-50", ">= 50"}


def test_a_saved_cell_has_exactly_the_cell_members(shop: Workspace) -> None:  # noqa: F811
    grid = shop.segments.grid(
        ["gender", "interests=travel", "age:30"], as_of="2026-10-31", min_size=1
    )
    for index in (0, len(grid.cells) - 1):
        cell = grid.cells[index]
        definition = grid.definition(index, f"cell-{index}")
        path = shop.segments.save(definition)
        try:
            run = shop.segments.evaluate([definition.name], as_of="2026-10-31", save=False)
            assert run.sizes[definition.name] == cell.size
        finally:
            path.unlink()


def test_dimension_errors(shop: Workspace) -> None:  # noqa: F811
    with pytest.raises(RuleError, match="did you mean 'age'"):
        shop.segments.grid(["agee"])
    with pytest.raises(RuleError, match="give bands"):
        shop.segments.grid(["age"])
    with pytest.raises(RuleError, match="pick a value"):
        shop.segments.grid(["interests"])


def test_trait_dimensions_and_saved_cells(shop: Workspace) -> None:  # noqa: F811
    grid = shop.segments.grid(
        ["lifecycle_stage", "purchase_count:2,5", "omnichannel"], as_of="2026-10-31", min_size=1
    )
    stages = {c.values["lifecycle_stage"] for c in grid.cells}
    assert {"active", "lapsed", "prospect"} <= stages
    for index in (0, len(grid.cells) // 2):
        cell = grid.cells[index]
        definition = grid.definition(index, f"trait-cell-{index}")
        assert "trait" in definition.to_yaml()
        path = shop.segments.save(definition)
        try:
            run = shop.segments.evaluate([definition.name], as_of="2026-10-31", save=False)
            assert run.sizes[definition.name] == cell.size
        finally:
            path.unlink()
