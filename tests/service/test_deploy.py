"""The container recipe (deploy/Containerfile) cannot be built on a machine without a
registry; what it runs can be checked: the commands exist with the options given, the
wheel it copies is this project's, and its health check is Python that compiles."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

from typer.testing import CliRunner

from microseg.cli import app

ROOT = Path(__file__).parents[2]
RECIPE = (ROOT / "deploy" / "Containerfile").read_text(encoding="utf-8")


def _instruction(name: str) -> str:
    """The text of the recipe's instruction ``name`` (continuation lines joined)."""
    text = RECIPE.replace("\\\n", " ")
    found = re.search(rf"^{name} (.+)$", text, flags=re.MULTILINE)
    assert found, f"no {name} in the Containerfile"
    return found.group(1)


def _accepts(argv: list[str]) -> None:
    """``argv`` (without ``microseg``) parses: its options exist (checked with --help
    appended, which runs nothing)."""
    reply = CliRunner().invoke(app, [*argv, "--help"])
    assert reply.exit_code == 0, reply.output
    for option in (a for a in argv if a.startswith("-")):
        assert option in reply.output, f"{option} is not an option of {argv[0]}"


def test_the_command_it_runs_exists_with_its_options() -> None:
    command = json.loads(_instruction("CMD"))
    assert command[0] == "microseg"
    _accepts(command[1:])
    assert "8000" in _instruction("EXPOSE")


def test_the_docs_commands_exist_with_their_options() -> None:
    _accepts(["keys", "create", "crm", "--scope", "write", "-w", "/srv/shop"])


def test_it_installs_this_projects_wheel_and_checks_health() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert f"dist/{project['name']}-*.whl" in RECIPE
    check = json.loads(_instruction("HEALTHCHECK").split("CMD", 1)[1])
    assert check[:2] == ["python", "-c"]
    compile(check[2], "healthcheck", "exec")
    assert "/health" in check[2]
    assert "/srv/shop" in _instruction("VOLUME")
