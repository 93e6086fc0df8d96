"""``matches`` runs RE2 in both evaluators: linear time, one syntax, the same flags."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from microseg import Workspace
from microseg.lang import RuleError, parse_definition
from microseg.lang._when import Clock
from microseg.lang.profile import Profile, ProfileEvaluator

CLOCK = Clock(datetime(2026, 1, 1), "UTC")


def _holds(pattern: str, city: str) -> bool:
    definition = parse_definition({"name": "r", "rule": {"attribute": "city", "matches": pattern}})
    profile = Profile("c1", attributes={"city": city}, attribute_types={"city": "text"})
    return ProfileEvaluator(profile, CLOCK).holds(definition.rule)


def test_catastrophic_backtracking_pattern_is_linear() -> None:
    # Python's backtracking engine takes minutes (doubling with each "a") on this text
    assert not _holds("^(a+)+$", "a" * 60 + "b")
    assert _holds("^(a+)+$", "a" * 60)


@pytest.mark.parametrize(
    ("pattern", "construct"),
    [("(?!b)", "(?!"), ("(?<=a)b", "(?<"), (r"(a)\1", r"\1"), ("a{2000}", "{2000}")],
)
def test_patterns_re2_cannot_run_are_refused(pattern: str, construct: str) -> None:
    with pytest.raises(RuleError) as caught:
        parse_definition({"name": "r", "rule": {"attribute": "city", "matches": pattern}})
    (problem,) = caught.value.problems
    assert problem.path == "rule"
    assert construct in problem.message
    assert "RE2" in problem.message


def test_refused_pattern_is_located_in_its_file(ws: Workspace) -> None:
    path: Path = ws.path / "segments" / "look.yaml"
    path.write_text(
        "name: look\nrule:\n  any:\n    - {bucket: {salt: a, from: 0, to: 5}}\n"
        "    - {attribute: city, matches: 'par(?!is)'}\n",
        encoding="utf-8",
    )
    with pytest.raises(RuleError) as caught:
        ws.segments.validate()
    (problem,) = caught.value.problems
    assert (problem.file, problem.line, problem.path) == (str(path), 5, "rule.any[1]")
    assert "invalid perl operator: (?!" in problem.message


def test_long_pattern_is_refused() -> None:
    with pytest.raises(RuleError, match="at most 1000"):
        parse_definition({"name": "r", "rule": {"attribute": "city", "matches": "a" * 1001}})


@pytest.mark.parametrize(
    ("pattern", "city", "expected"),
    [
        ("PAR", "paris", True),  # case-insensitive, as the other text operators
        ("ari", "Paris", True),  # a search, not a full match
        ("^ari", "Paris", False),
        ("é", "CAFÉ", True),  # unicode case folding
        (r"\bnew\b", "New York", True),
        ("[[:alpha:]]+ [[:alpha:]]+", "Los Angeles", True),  # POSIX classes: RE2, not Python
        (r"\pL+", "Zürich", True),
        ("a.b", "a\nb", False),  # . does not match a newline
        ("^b", "a\nb", False),  # ^ and $ at the ends of the text only
    ],
)
def test_flags_are_the_batch_ones(pattern: str, city: str, expected: bool) -> None:
    assert _holds(pattern, city) is expected
