"""One broken segment or trait does not stop the others: they are evaluated and stored,
each broken one is reported with its file and reason, and the command exits non-zero."""

from __future__ import annotations

from pathlib import Path

import pytest

from microseg import Workspace
from microseg.lang import RuleError
from tests.hostile._trait_shop import cli, cli_json, make_shop, write


@pytest.fixture
def shop(tmp_path: Path) -> Workspace:
    ws = make_shop(tmp_path / "ws", [("A", "toys", 10.0), ("B", "toys", 20.0), ("C", "art", 5.0)])
    seg = ws.path / "segments"
    write(seg / "buyers.yaml", "name: buyers\nrule: {trait: purchase_count, gte: 1}")
    write(seg / "typo.yaml", "name: typo\nrule: {attribute: agee, gte: 3}")
    write(seg / "garbage.yaml", "name: garbage\nrule: {all: [}")
    write(seg / "child.yaml", "name: child\nparent: typo\nrule: {trait: purchase_count, gte: 1}")
    write(seg / "uses-bad-trait.yaml", "name: uses-bad-trait\nrule: {trait: bad_trait, gt: 1}")
    write(ws.path / "traits" / "bad_trait.yaml", "name: bad_trait\nvalue: {attribute: nope}")
    write(ws.path / "traits" / "good_trait.yaml", "name: good_trait\nvalue: {trait: gross_spend}")
    return ws


def test_evaluate_returns_results_and_problems(shop: Workspace) -> None:
    run = shop.segments.evaluate(as_of="2026-01-01")
    assert run.sizes == {"buyers": 3}
    files = {Path(p.file or "").name for p in run.problems}
    assert files == {"typo.yaml", "garbage.yaml", "child.yaml", "uses-bad-trait.yaml"}
    by_file = {Path(p.file or "").name: p.message for p in run.problems}
    assert "agee" in by_file["typo.yaml"]
    assert "typo" in by_file["child.yaml"]
    assert "bad_trait" in by_file["uses-bad-trait.yaml"]
    assert "nope" in by_file["uses-bad-trait.yaml"]
    stored = shop.store.scalar("SELECT count(DISTINCT segment) FROM memberships")
    assert stored == 1
    assert run.to_dict()["problems"][0]["file"]
    shop.close()


def test_an_explicit_single_segment_still_raises(shop: Workspace) -> None:
    with pytest.raises(RuleError, match="agee"):
        shop.segments.evaluate(["typo"], as_of="2026-01-01")
    with pytest.raises(RuleError, match="typo"):
        shop.segments.members("child", as_of="2026-01-01")
    assert shop.segments.evaluate(["buyers"], as_of="2026-01-01").sizes == {"buyers": 3}
    shop.close()


def test_compute_traits_reports_the_broken_one_and_stores_the_rest(shop: Workspace) -> None:
    run = shop.traits.compute(as_of="2026-01-01")
    assert "good_trait" in run.summary
    assert "bad_trait" not in run.summary
    [problem] = run.problems
    assert problem.file is not None
    assert problem.file.endswith("bad_trait.yaml")
    assert "nope" in problem.message
    stored = shop.store.scalar("SELECT count(*) FROM trait_values WHERE trait = 'good_trait'")
    assert stored == 5
    with pytest.raises(RuleError, match="nope"):
        shop.traits.compute(["bad_trait"], as_of="2026-01-01")
    shop.close()


@pytest.mark.slow
def test_the_commands_report_each_problem_and_exit_non_zero(shop: Workspace) -> None:
    shop.close()
    plain = cli(shop.path, "segment", "evaluate", "--as-of", "2026-01-01")
    assert plain.returncode == 1
    out = plain.stdout + plain.stderr
    assert "buyers" in out
    for name in ("typo.yaml", "garbage.yaml", "child.yaml", "uses-bad-trait.yaml"):
        assert name in out, name
    code, data = cli_json(shop.path, "segment", "evaluate", "--as-of", "2026-01-01")
    assert code == 1
    assert [s["name"] for s in data["segments"]] == ["buyers"]  # type: ignore[index]
    assert len(data["problems"]) == 4  # type: ignore[arg-type]
    traits = cli(shop.path, "traits", "compute", "--as-of", "2026-01-01")
    assert traits.returncode == 1
    assert "bad_trait.yaml" in traits.stdout + traits.stderr
    code, data = cli_json(shop.path, "traits", "compute", "--as-of", "2026-01-01")
    assert code == 1
    assert "good_trait" in data["traits"]


def test_profile_shows_the_good_segments_and_reports_the_broken(shop: Workspace) -> None:
    """`microseg profile` on a workspace with broken segment files: the customer's other
    segments are shown, each broken file is reported, and the exit code says so."""
    problems: list[object] = []
    inside = shop.segments.of("A", as_of="2026-01-01", problems=problems)  # type: ignore[arg-type]
    assert inside == {"buyers": True}
    assert len(problems) == 4
    with pytest.raises(RuleError):
        shop.segments.of("A", as_of="2026-01-01")  # without a list: all or nothing, as before
    shop.close()
    result = cli(shop.path, "profile", "A", "--as-of", "2026-01-01")
    assert result.returncode == 1
    assert "segments: buyers" in result.stdout
    assert "typo.yaml" in result.stderr
