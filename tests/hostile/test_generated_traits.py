"""Traits generated from the data (``spend_share_<category>``) never break user files or
segments: safe, stable names; every category kept (or those declared in microseg.yaml);
a segment on a category trait that is gone gets its own clear problem."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from tests.hostile._trait_shop import cli, cli_json, make_shop, write

NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _generated(ws: object) -> dict[str, str]:
    """Generated trait name -> its category."""
    return dict(ws.traits.list().categories)  # type: ignore[attr-defined]


def test_a_category_named_like_a_user_trait_leaves_the_user_file_valid(tmp_path: Path) -> None:
    """One purchase in ``Gifts!`` used to make ``traits/spend_share_gifts.yaml`` a
    duplicate of a built-in, so every segment command failed."""
    ws = make_shop(tmp_path / "ws", [("A", "Gifts!", 30.0), ("B", "sports", 10.0)])
    user = write(
        ws.path / "traits" / "spend_share_gifts.yaml",
        "name: spend_share_gifts\nvalue: {trait: gross_spend}\n",
    )
    write(ws.path / "segments" / "big.yaml", "name: big\nrule: {trait: spend_share_gifts, gt: 20}")
    catalog = ws.traits.validate()  # no error
    assert catalog.files["spend_share_gifts"] == str(user)
    generated = _generated(ws)
    gifts = [name for name, category in generated.items() if category == "Gifts!"]
    assert len(gifts) == 1
    assert gifts[0] != "spend_share_gifts"
    assert any("spend_share_gifts" in w for w in catalog.warnings)
    run = ws.segments.evaluate(as_of="2026-01-01")
    assert run.sizes == {"big": 1}
    assert not run.problems
    ws.close()
    assert cli(ws.path, "segment", "evaluate", "--as-of", "2026-01-01").returncode == 0


def test_colliding_categories_get_distinct_names_and_none_is_dropped(tmp_path: Path) -> None:
    ws = make_shop(
        tmp_path / "ws",
        [("A", "Gifts!", 30.0), ("A", "gifts", 10.0), ("B", "GIFTS", 5.0), ("C", "sports", 1.0)],
    )
    generated = _generated(ws)
    assert sorted(generated.values()) == ["GIFTS", "Gifts!", "gifts", "sports"]
    assert all(NAME.match(n) for n in generated)
    run = ws.traits.compute(list(generated), as_of="2026-01-01", save=False)
    batch = {r["customer_id"]: r for r in run.result.to_pyarrow().to_pylist()}
    one = ws.traits.of("A", as_of="2026-01-01")
    for row in (batch["A"], one):
        shares = {generated[n]: row[n] for n in generated}
        assert math.isclose(shares["Gifts!"], 0.75)
        assert math.isclose(shares["gifts"], 0.25)
        assert shares["GIFTS"] == 0.0
    ws.close()


def test_a_name_never_moves_to_another_category(tmp_path: Path) -> None:
    """Names are stable: a category keeps its name when others appear, or loses it (and
    then segments say so); it never silently means another category."""
    alone = make_shop(tmp_path / "one", [("A", "Gifts!", 30.0), ("B", "Sports", 3.0)])
    before = _generated(alone)
    alone.close()
    both = make_shop(
        tmp_path / "two",
        [("A", "Gifts!", 30.0), ("B", "Sports", 3.0), ("C", "gifts", 1.0), ("C", "sports", 1.0)],
    )
    after = _generated(both)
    both.close()
    for name, category in before.items():
        assert after.get(name, category) == category, name


def test_hostile_category_text_gives_valid_distinct_names(tmp_path: Path) -> None:
    hostile = [
        "",
        "   ",
        "!!!",
        "Ünïcödé Café",
        "x" * 300,
        "x" * 301,
        "x'; DROP TABLE events; --",
        "spend share",
        "123",
        "{trait: gross_spend}",
    ]
    ws = make_shop(tmp_path / "ws", [("A", c, 1.0 + i) for i, c in enumerate(hostile)])
    generated = _generated(ws)
    stored = ws.store.purchase_categories(limit=100)
    assert len(stored) >= len(hostile) - 2  # the loader may read blank text as missing
    assert sorted(generated.values()) == sorted(stored)
    assert all(NAME.match(n) and len(n) <= 64 for n in generated), generated
    ws.traits.compute(as_of="2026-01-01", save=True)
    row = ws.traits.of("A", as_of="2026-01-01")
    spent = {c: 1.0 + i for i, c in enumerate(hostile)}
    expected = sum(spent[c] for c in stored) / sum(spent.values())
    assert math.isclose(sum(row[n] for n in generated), expected)
    assert ws.store.scalar("SELECT count(*) FROM events") == len(hostile)
    ws.close()


def test_a_category_outside_the_top_20_keeps_its_trait(tmp_path: Path) -> None:
    """Every purchased category has its trait (up to a cap): a segment on a rare category
    does not become "unknown trait" when 20 others are bought more often."""
    many = [(c, f"cat{i:02d}", 1.0) for i in range(22) for c in ("A", "B")]
    ws = make_shop(tmp_path / "ws", [*many, ("C", "rare", 5.0)])
    write(ws.path / "segments" / "rare.yaml", "name: rare\nrule: {trait: spend_share_rare, gt: 0}")
    assert "spend_share_rare" in _generated(ws)
    run = ws.segments.evaluate(as_of="2026-01-01")
    assert run.sizes == {"rare": 1}
    ws.close()


@pytest.mark.slow
def test_the_cap_is_reported_when_it_cuts_categories(tmp_path: Path) -> None:
    ws = make_shop(
        tmp_path / "ws",
        [("A", "a", 1.0), ("A", "a", 1.0), ("B", "b", 1.0), ("B", "b", 1.0), ("C", "c", 1.0)],
        config="\ntraits:\n  spend_share_limit: 2\n",
    )
    catalog = ws.traits.list()
    assert sorted(catalog.categories.values()) == ["a", "b"]
    [warning] = [w for w in catalog.warnings if "spend_share_limit" in w]
    assert "3 purchase categories" in warning
    assert "2" in warning
    ws.close()
    code, listed = cli_json(ws.path, "traits", "list")
    assert code == 0
    assert any("spend_share_limit" in w for w in listed["warnings"])
    assert "spend_share_a" in {t["name"] for t in listed["traits"]}  # type: ignore[attr-defined]
    code, computed = cli_json(ws.path, "traits", "compute", "--as-of", "2026-01-01")
    assert code == 0
    assert any("spend_share_limit" in w for w in computed["warnings"])
    plain = cli(ws.path, "traits", "compute", "--as-of", "2026-01-01")
    assert "spend_share_limit" in plain.stdout + plain.stderr


def test_declared_categories_are_exactly_the_generated_ones(tmp_path: Path) -> None:
    ws = make_shop(
        tmp_path / "ws",
        [("A", "toys", 1.0), ("A", "toys", 1.0), ("B", "sports", 1.0)],
        config="\ntraits:\n  spend_share_categories: [sports, 'Gifts!']\n",
    )
    assert sorted(ws.traits.list().categories.values()) == ["Gifts!", "sports"]
    assert not ws.traits.list().warnings
    ws.close()


def test_a_segment_on_a_category_trait_that_is_gone_gets_a_clear_problem(tmp_path: Path) -> None:
    ws = make_shop(
        tmp_path / "ws",
        [("A", "toys", 1.0), ("B", "sports", 1.0)],
        config="\ntraits:\n  spend_share_categories: [sports]\n",
    )
    toys = write(
        ws.path / "segments" / "toys.yaml", "name: toys\nrule: {trait: spend_share_toys, gt: 0}"
    )
    write(
        ws.path / "segments" / "sporty.yaml",
        "name: sporty\nrule: {trait: spend_share_sports, gt: 0}",
    )
    run = ws.segments.evaluate(as_of="2026-01-01")
    assert run.sizes == {"sporty": 1}
    [problem] = run.problems
    assert problem.file == str(toys)
    assert "spend_share_toys" in problem.message
    assert "spend_share_categories" in problem.message
    ws.close()


def test_names_keep_accented_and_other_letters_readable(tmp_path: Path) -> None:
    """``Beauté`` gives ``spend_share_beaute`` (it gave a hashed ``spend_share_beaute_...``),
    other scripts are transliterated, and a category that transliterates like another
    still gets a name of its own."""
    ws = make_shop(
        tmp_path / "ws",
        [
            ("A", "Beauté", 30.0),
            ("A", "Électroménager", 10.0),
            ("B", "Книги", 5.0),
            ("B", "Straße", 1.0),
            ("C", "Déco", 2.0),
            ("C", "deco", 2.0),
        ],
    )
    generated = {category: name for name, category in _generated(ws).items()}
    assert generated["Beauté"] == "spend_share_beaute"
    assert generated["Électroménager"] == "spend_share_electromenager"
    assert generated["Книги"] == "spend_share_knigi"
    assert generated["Straße"] == "spend_share_strasse"
    # two categories, one slug: both suffixed, distinct, and neither takes the bare name
    assert generated["Déco"] != generated["deco"]
    assert generated["Déco"].startswith("spend_share_deco_")
    assert generated["deco"].startswith("spend_share_deco_")
    assert all(NAME.match(n) for n in generated.values())
    row = ws.traits.of("A", as_of="2026-01-01")
    assert math.isclose(row["spend_share_beaute"], 0.75)
    ws.close()
