"""Hostile segment, trait and configuration files: refused with a located message, quickly.

A YAML bomb, a deeply nested rule, a file that is not UTF-8, references in cycles: each is
reported (file, line or field path, what to do) and never a traceback, an exhausted memory
or a rule that validates and then fails to evaluate.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import pytest
import yaml

from microseg import Workspace
from microseg.core.errors import ConfigError, MicrosegError
from microseg.lang import RuleError, parse_definition
from microseg.lang.profile import ProfileEvaluator
from microseg.segments import SegmentCatalog, evaluate_profile, evaluate_segments
from microseg.traits import TraitCatalog

BOMB = """\
name: bomb
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
rule: {any: *i}
"""


def _nested(depth: int) -> dict[str, Any]:
    rule: dict[str, Any] = {"bucket": {"salt": "a", "from": 0, "to": 60}}
    other = {"bucket": {"salt": "b", "from": 10, "to": 95}}
    for level in range(depth):
        rule = {"not": rule} if level % 2 else {"any": [rule, other]}
    return rule


def _nested_text(depth: int) -> str:
    """``_nested(depth)`` as YAML (flow style) text, written without recursion."""
    text = "{bucket: {salt: a, from: 0, to: 60}}"
    for level in range(depth):
        if level % 2:
            text = "{not: " + text + "}"
        else:
            text = "{any: [" + text + ", {bucket: {salt: b, from: 10, to: 95}}]}"
    return text


def _segment(ws: Workspace, name: str, rule: Any) -> Path:
    path = ws.path / "segments" / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "rule": rule}), encoding="utf-8")
    return path


def test_yaml_bomb_in_segments_is_refused_quickly(ws: Workspace) -> None:
    path = ws.path / "segments" / "bomb.yaml"
    path.write_text(BOMB, encoding="utf-8")
    tracemalloc.start()
    try:
        with pytest.raises(RuleError) as caught:
            ws.segments.validate()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50_000_000
    (problem,) = caught.value.problems
    assert problem.file == str(path)
    assert problem.line is not None
    assert "aliases" in problem.message


def test_yaml_bomb_as_configuration_is_refused(ws: Workspace) -> None:
    config = ws.path / "microseg.yaml"
    config.write_text(BOMB.replace("name: bomb\n", "").replace("rule:", "sensitive:"))
    with pytest.raises(ConfigError) as caught:
        Workspace.open(ws.path)
    assert str(config) in str(caught.value)
    assert "aliases" in str(caught.value)


def test_yaml_bomb_as_trait_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bomb.yaml").write_text(BOMB.replace("rule:", "value:"), encoding="utf-8")
    with pytest.raises(RuleError) as caught:
        TraitCatalog.load(tmp_path)
    assert caught.value.problems[0].file == str(tmp_path / "bomb.yaml")
    assert "aliases" in caught.value.problems[0].message


def test_a_few_aliases_are_still_fine(ws: Workspace) -> None:
    (ws.path / "segments" / "shared.yaml").write_text(
        "name: shared\n"
        "rule:\n"
        "  any:\n"
        "    - &half {bucket: {salt: s, from: 0, to: 50}}\n"
        "    - all: [*half, {not: *half}]\n",
        encoding="utf-8",
    )
    assert "shared" in ws.segments.validate().definitions


def test_recursive_alias_is_refused(ws: Workspace) -> None:
    (ws.path / "segments" / "loop.yaml").write_text(
        "name: loop\nrule: &r {all: [*r]}\n", encoding="utf-8"
    )
    with pytest.raises(RuleError, match="refers to the collection it is in"):
        ws.segments.validate()


def test_huge_file_is_refused(ws: Workspace) -> None:
    path = ws.path / "segments" / "huge.yaml"
    path.write_text(
        "name: huge\n# " + "x" * 2_000_000 + "\nrule: {bucket: {salt: a, from: 0, to: 5}}\n"
    )
    with pytest.raises(RuleError, match="larger than") as caught:
        ws.segments.validate()
    assert caught.value.problems[0].file == str(path)


@pytest.mark.parametrize("depth", [200, 1000])
def test_deep_nesting_is_refused_with_a_message(ws: Workspace, depth: int) -> None:
    path = ws.path / "segments" / "deep.yaml"
    path.write_text(f"name: deep\nrule: {_nested_text(depth)}\n", encoding="utf-8")
    with pytest.raises(RuleError) as caught:
        ws.segments.validate()
    (problem,) = caught.value.problems
    assert problem.file == str(path)
    assert "levels deep" in problem.message or "nested more than" in problem.message
    assert "flatten" in problem.message


@pytest.mark.parametrize("depth", [200, 1000])
def test_deep_nesting_from_python_is_refused(depth: int) -> None:
    with pytest.raises(RuleError, match="at most 50 can be evaluated"):
        parse_definition({"name": "deep", "rule": _nested(depth)})


def test_too_many_nodes_is_refused() -> None:
    rule = {"any": [{"attribute": "age", "eq": i} for i in range(3000)]}
    with pytest.raises(RuleError, match="more than 2000 nodes"):
        parse_definition({"name": "wide", "rule": rule})


def test_depth_through_segment_references_is_refused(ws: Workspace) -> None:
    _segment(ws, "s0", _nested(48))  # within the limit on its own
    _segment(ws, "s1", {"not": {"all": [{"segment": "s0"}]}})
    _segment(ws, "s2", {"all": [{"segment": "s1"}, _nested(3)]})
    with pytest.raises(RuleError) as caught:
        ws.segments.validate()
    assert [Path(p.file or "").stem for p in caught.value.problems] == ["s1", "s2"]
    for problem in caught.value.problems:
        assert "with the segments it refers to, nested more than 50 levels" in problem.message


def test_long_chain_of_references_is_refused_without_recursion(ws: Workspace) -> None:
    for i in range(400):
        _segment(ws, f"c{i:03d}", {"segment": f"c{i + 1:03d}"} if i < 399 else _nested(2))
    with pytest.raises(RuleError) as caught:
        ws.segments.validate()
    assert all("levels deep" in p.message for p in caught.value.problems)


def test_reasonable_depth_evaluates_both_ways(small_shop: Workspace) -> None:
    definition = parse_definition({"name": "twenty", "rule": _nested(20)})
    catalog = SegmentCatalog({"twenty": definition}, {})
    catalog.check(small_shop.traits.schema())
    clock = small_shop.context.clock("2026-10-31")
    run = evaluate_segments(
        small_shop.store,
        catalog,
        ["twenty"],
        small_shop.profile.batch(clock, "2026-10-31"),
        save=False,
        traits=small_shop.traits.list(),
        cuts={},
    )
    assert run is not None
    batch = {r["customer_id"]: r["twenty"] for r in run.result.to_pyarrow().to_pylist()}
    for customer_id, member in batch.items():
        profile = small_shop.profile.of(customer_id, as_of="2026-10-31")
        assert evaluate_profile(catalog, ["twenty"], profile, clock)["twenty"] == member
        assert ProfileEvaluator(profile, clock).holds(definition.rule) == member
    assert 0 < sum(batch.values()) < len(batch)


def test_non_utf8_file_is_named_and_the_others_still_checked(ws: Workspace) -> None:
    bad = ws.path / "segments" / "latin.yaml"
    bad.write_bytes("name: latin\nrule: {attribute: city, eq: Montréal}\n".encode("latin-1"))
    _segment(ws, "typo", {"attribute": "agee", "gt": 3})
    with pytest.raises(RuleError) as caught:
        ws.segments.validate()
    files = {p.file: p for p in caught.value.problems}
    assert str(bad) in files
    assert "UTF-8" in files[str(bad)].message
    assert files[str(bad)].line == 2
    assert str(ws.path / "segments" / "typo.yaml") in files  # the other file was checked


def test_every_cycle_is_reported(ws: Workspace) -> None:
    _segment(ws, "a", {"segment": "b"})
    _segment(ws, "b", {"segment": "a"})
    _segment(ws, "c", {"all": [{"segment": "d"}, {"bucket": {"salt": "c", "from": 0, "to": 5}}]})
    _segment(ws, "d", {"segment": "e"})
    _segment(ws, "e", {"segment": "c"})
    _segment(ws, "f", {"segment": "f"})
    with pytest.raises(RuleError) as caught:
        ws.segments.validate()
    # each segment of a cycle is reported (with its file), each cycle named once per member
    cycles = sorted({p.message for p in caught.value.problems if "cycle" in p.message})
    assert cycles == [
        "segments refer to each other in a cycle: a -> b -> a",
        "segments refer to each other in a cycle: c -> d -> e -> c",
        "segments refer to each other in a cycle: f -> f",
    ]


def test_every_error_is_a_microseg_error(ws: Workspace) -> None:
    (ws.path / "segments" / "tab.yaml").write_text("name: tab\nrule:\t{x: [\n", encoding="utf-8")
    with pytest.raises(MicrosegError):
        ws.segments.validate()
