"""Explain (why in or out, node by node) and diff (who enters and leaves on an edit)."""

from __future__ import annotations

from pathlib import Path

from microseg import Workspace
from microseg.lang import parse_definition
from tests.lang.test_rules import AS_OF, tiny  # noqa: F401  (fixture)


def _save(ws: Workspace, name: str, text: str) -> None:
    (ws.path / "segments" / f"{name}.yaml").write_text(text)


def test_explain_names_the_deciding_values(tiny: Workspace) -> None:  # noqa: F811
    _save(
        tiny,
        "young-buyers",
        "name: young-buyers\nrule:\n  all:\n"
        "    - attribute: age\n      between: [20, 30]\n    - event: purchase\n",
    )
    # at the end of 2026-01-14 C's purchase counts: only the age keeps C out
    outside = tiny.segments.explain("young-buyers", "C", as_of="2026-01-14")
    assert outside.holds is False
    leaves = {leaf.path: leaf.text for leaf in outside.decisive()}
    assert leaves == {"rule.all[0]": "age = 41 is not between 20 and 30"}
    inside = tiny.segments.explain("young-buyers", "A", as_of=AS_OF)
    assert inside.holds is True
    assert "count of purchase events = 1 is gte 1" in inside.lines()[-1]
    missing = tiny.segments.explain("young-buyers", "B", as_of=AS_OF)
    assert "age is missing (never loaded for this customer), so between 20 and 30 is false" in (
        " ".join(missing.lines())
    )


def test_explain_agrees_with_batch_membership(tiny: Workspace) -> None:  # noqa: F811
    _save(tiny, "carts", "name: carts\nrule:\n  event: cart_add\n  window: {last: 2 days}\n")
    _save(
        tiny,
        "recent-carts-young",
        "name: recent-carts-young\nparent: carts\nrule:\n  attribute: age\n  lt: 30\n",
    )
    run = tiny.segments.evaluate(["recent-carts-young"], as_of=AS_OF)
    members = {
        r["customer_id"]
        for r in tiny.segments.members("recent-carts-young", as_of=AS_OF).to_pyarrow().to_pylist()
    }
    assert run.sizes["recent-carts-young"] == len(members)
    for customer in ("A", "B", "C"):
        result = tiny.segments.explain("recent-carts-young", customer, as_of=AS_OF)
        assert result.holds == (customer in members)
        assert [c.path for c in result.children] == ["parent", "rule"]


def test_diff_before_saving(tiny: Workspace, tmp_path: Path) -> None:  # noqa: F811
    _save(tiny, "older", "name: older\nrule:\n  attribute: age\n  gt: 30\n")
    edited = parse_definition({"name": "older", "rule": {"attribute": "age", "gt": 20}})
    result = tiny.segments.diff(edited, as_of=AS_OF)
    assert (result.before, result.after) == (1, 2)
    assert (result.entering, result.leaving) == (1, 0)
    assert result.entering_sample == ["A"]
    narrower = parse_definition({"name": "older", "rule": {"attribute": "age", "gt": 50}})
    result = tiny.segments.diff(narrower, as_of=AS_OF)
    assert (result.entering, result.leaving, result.leaving_sample) == (0, 1, ["C"])
    # nothing was saved: the file and the stored memberships are untouched
    assert "gt: 30" in (tiny.path / "segments" / "older.yaml").read_text()
    assert tiny.store.scalar("SELECT count(*) FROM memberships") == 0
    brand_new = parse_definition({"name": "fresh", "rule": {"event": "purchase"}})
    result = tiny.segments.diff(brand_new, as_of=AS_OF)
    assert (result.before, result.after, result.entering) == (None, 1, 1)
