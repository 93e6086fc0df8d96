"""Random segment files through validation: a located problem or success, never a crash.

Hypothesis writes random YAML documents into a workspace's ``segments/`` folder: nested
mappings and lists made of the rule language's keywords and junk, odd scalars, anchors and
aliases, deep nesting, bytes that are not text. ``ws.segments.validate`` (what ``microseg
segment validate`` calls) must either accept them or raise a :class:`MicrosegError`.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from microseg import Workspace
from microseg.cli import app
from microseg.core.errors import MicrosegError
from microseg.lang._definitions import RULE_FIELDS

_FIELDS = [*RULE_FIELDS, "run", "name", "rule", "parent", "tags"]
_ODD_TEXT = [
    "30 days ago",
    "99999999 years",
    "99999999 years ago",
    "2026-02-30",
    "(?!x)",
    "^(a+)+$",
    r"(a)\1",
    "a.b",
    "it's",
    'say "hi"',
    "*",
    "$x",
    "[0]",
    "purchase",
    "age",
    "x" * 300,
    "",
    "\x00",
    "\u202e",
]
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(_ODD_TEXT),
    st.text(max_size=12),
)
_KEYS = st.one_of(st.sampled_from(_FIELDS), st.text(max_size=6))
_TREES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_KEYS, inner, max_size=4)),
    max_leaves=25,
)


def _document(name: str, rule: Any, whole: bool) -> str:
    data = rule if whole else {"name": name, "rule": rule}
    return yaml.safe_dump(data, allow_unicode=True)


def _aliases(levels: int, width: int) -> str:
    lines = ["name: aliased", "a0: &a0 [{bucket: {salt: s, from: 0, to: 5}}]"]
    for i in range(1, levels + 1):
        items = ", ".join([f"{{any: *a{i - 1}}}"] * width)
        lines.append(f"a{i}: &a{i} [{items}]")
    lines.append(f"rule: {{any: *a{levels}}}")
    return "\n".join(lines) + "\n"


def _deep(depth: int, kind: str) -> str:
    text = "{bucket: {salt: s, from: 0, to: 5}}"
    for _ in range(depth):
        text = "{not: " + text + "}" if kind == "not" else "{" + kind + ": [" + text + "]}"
    return f"name: deep\nrule: {text}\n"


_TEXTS = st.one_of(
    st.builds(_document, st.sampled_from(["fuzz", "Fuzz!", ""]), _TREES, st.booleans()),
    st.builds(_aliases, st.integers(1, 12), st.integers(1, 12)),
    st.builds(_deep, st.integers(0, 1500), st.sampled_from(["not", "all", "any", "x"])),
    st.text(max_size=200),
)
_FILES = st.lists(st.one_of(_TEXTS, st.binary(max_size=60)), min_size=1, max_size=3)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    root: Path = tmp_path_factory.mktemp("fuzz")
    ws = Workspace.init(root / "ws", clock=lambda: datetime(2026, 1, 15, tzinfo=UTC))
    yield ws
    ws.close()


def _write(ws: Workspace, files: list[str | bytes]) -> None:
    folder = ws.path / "segments"
    shutil.rmtree(folder)
    folder.mkdir()
    for i, content in enumerate(files):
        path = folder / f"fuzz-{i}.yaml"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", errors="surrogatepass")


@settings(
    max_examples=150,
    deadline=5000,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(files=_FILES)
def test_validation_never_crashes(workspace: Workspace, files: list[str | bytes]) -> None:
    _write(workspace, files)
    with contextlib.suppress(MicrosegError):  # anything else fails the test
        workspace.segments.validate()


def test_the_command_reports_hostile_files_cleanly(workspace: Workspace) -> None:
    _write(
        workspace,
        [_aliases(9, 9), _deep(1000, "all"), b"\xff\xfe name: x", "rule: {matches: '(?!'}"],
    )
    result = CliRunner().invoke(app, ["-w", str(workspace.path), "segment", "validate"])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    for name in ("fuzz-0.yaml", "fuzz-1.yaml", "fuzz-2.yaml", "fuzz-3.yaml"):
        assert name in result.output
