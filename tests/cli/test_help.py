"""Every help screen, walked: flags read as flags, an example, help on every option, one
argument style, --workspace after the command, groups that list their commands, --json
everywhere; and ``microseg --help`` without the analysis stack."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from microseg.cli import app

runner = CliRunner()
#: commands that make a folder of their own rather than open a workspace
MAKERS = {("init",), ("synth",), ("demo",)}


def _walk(
    command: Any, ctx: Any, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    if hasattr(command, "list_commands"):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            yield from _walk(sub, ctx, (*path, name))


def _commands() -> list[tuple[tuple[str, ...], Any]]:
    root = typer.main.get_command(app)
    ctx = root.make_context("microseg", ["--help"], resilient_parsing=True)
    return list(_walk(root, ctx))


COMMANDS = _commands()
LEAVES = [path for path, command in COMMANDS if not hasattr(command, "list_commands")]
GROUPS = [(path, command) for path, command in COMMANDS if hasattr(command, "list_commands")]


def _help(path: tuple[str, ...]) -> str:
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    return result.output


def test_the_walk_finds_every_command() -> None:
    assert len(LEAVES) >= 25
    assert ("segment", "members") in LEAVES
    assert ("discover", "save") in LEAVES


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=lambda p: " ".join(p) or "root")
def test_help_screen(path: tuple[str, ...]) -> None:
    text = _help(path)
    assert "<bool>" not in text, "a flag is shown with a value type"
    assert re.search(r"Examples?:", text), "no example"
    example = "microseg " + " ".join(path)
    assert example.strip() in text, f"no example of {example!r}"


@pytest.mark.parametrize("path", LEAVES, ids=" ".join)
def test_options_have_help_and_arguments_one_style(path: tuple[str, ...]) -> None:
    command = dict(COMMANDS)[path]
    for param in command.params:
        if param.param_type_name == "option":
            assert (param.help or "").strip(), f"{'/'.join(param.opts)} has no help text"
        else:
            assert param.metavar
            assert re.fullmatch(r"[A-Z][A-Z_]*", param.metavar), param.metavar
            assert (getattr(param, "help", "") or "").strip(), f"{param.name} has no help text"
    text = _help(path)
    assert "--json" in text, "every command has --json"
    if path not in MAKERS:
        assert "--workspace" in text
        assert "-w" in text


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: " ".join(g[0]) or "root")
def test_group_summaries_list_all_their_commands(group: tuple[tuple[str, ...], Any]) -> None:
    path, command = group
    if not path:
        return  # the root lists the groups in its command table
    summary = command.help or ""
    ctx = command.make_context(path[-1], ["--help"], resilient_parsing=True)
    for name in command.list_commands(ctx):
        assert re.search(rf"\b{re.escape(name)}\b", summary), f"{name} missing from {summary!r}"


def test_workspace_after_the_command(tmp_path: Path) -> None:
    made = runner.invoke(app, ["init", str(tmp_path / "shop")])
    assert made.exit_code == 0, made.output
    after = runner.invoke(app, ["status", "-w", str(tmp_path / "shop"), "--json"])
    assert after.exit_code == 0, after.output
    assert '"name": "shop"' in after.stdout
    nested = runner.invoke(app, ["attributes", "list", "--workspace", str(tmp_path / "shop")])
    assert nested.exit_code == 0, nested.output
    assert "No attributes yet" in nested.stdout


def test_help_does_not_import_the_analysis_stack() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from microseg.cli import app\n"
        "for args in (['--help'], ['segment', '--help'], ['status', '--help']):\n"
        "    assert CliRunner().invoke(app, args).exit_code == 0\n"
        "heavy = ('ibis', 'sklearn', 'scipy', 'pandas', 'duckdb', 'pyarrow')\n"
        "print(','.join(sorted(m for m in heavy if m in sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
