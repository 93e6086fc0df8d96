"""How the command line shows errors: a user's mistake is one line, a bug is said to be one."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from microseg import Workspace
from microseg.cli import app
from microseg.cli._common import EX_SOFTWARE
from microseg.core.errors import (
    DurationError,
    MicrosegError,
    ParameterError,
    TimeInputError,
    ValueModelError,
)


@pytest.fixture
def workspace(tmp_path: Path) -> str:
    root = str(tmp_path / "ws")
    assert CliRunner().invoke(app, ["init", root]).exit_code == 0
    return root


def _lines(text: str) -> list[str]:
    return [line for line in text.strip().splitlines() if line]


def _broken_status(exc: BaseException) -> object:
    def status(self: Workspace) -> object:
        raise exc

    return status


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyError("boom")])
def test_an_unexpected_exception_is_an_internal_error(
    workspace: str, monkeypatch: pytest.MonkeyPatch, exc: Exception
) -> None:
    monkeypatch.delenv("MICROSEG_DEBUG", raising=False)
    monkeypatch.setattr(Workspace, "status", _broken_status(exc))
    result = CliRunner().invoke(app, ["-w", workspace, "status"])
    assert result.exit_code == EX_SOFTWARE == 70
    assert isinstance(result.exception, SystemExit)  # a message, not a traceback
    lines = _lines(result.stderr)
    assert lines[0] == f"internal error: {type(exc).__name__}: {exc}"
    assert lines[1] == "this is a bug in microseg; run again with --debug and report the traceback"
    assert len(lines) == 2
    assert "Traceback" not in result.output


def test_debug_shows_the_traceback(workspace: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MICROSEG_DEBUG", raising=False)
    monkeypatch.setattr(Workspace, "status", _broken_status(RuntimeError("boom")))
    result = CliRunner().invoke(app, ["--debug", "-w", workspace, "status"])
    assert result.exit_code == EX_SOFTWARE
    assert "Traceback (most recent call last)" in result.stderr
    assert "raise exc" in result.stderr  # the frame that raised
    assert "internal error: RuntimeError: boom" in result.stderr


def test_the_environment_asks_for_debugging_too(
    workspace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MICROSEG_DEBUG", "1")
    monkeypatch.setattr(Workspace, "status", _broken_status(KeyError("k")))
    result = CliRunner().invoke(app, ["-w", workspace, "status"])
    assert result.exit_code == EX_SOFTWARE
    assert "Traceback (most recent call last)" in result.stderr
    assert "internal error: KeyError: 'k'" in result.stderr


def test_a_user_mistake_is_one_line(workspace: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MICROSEG_DEBUG", raising=False)
    result = CliRunner().invoke(
        app, ["-w", workspace, "segment", "evaluate", "--as-of", "2026-13-45"]
    )
    assert result.exit_code == TimeInputError.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    lines = _lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: '2026-13-45' is not a valid date or time (write one of: ")
    assert "internal error" not in result.output
    assert "Traceback" not in result.output


def test_a_microseg_error_anywhere_keeps_its_exit_code(
    workspace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # raised outside the commands' own error handling, it is still a message
    monkeypatch.setattr(
        Workspace, "status", _broken_status(ParameterError("too big", where="x", hint="smaller"))
    )
    result = CliRunner().invoke(app, ["--debug", "-w", workspace, "status"])
    assert result.exit_code == 2
    assert _lines(result.stderr) == ["error: x: too big (smaller)"]


def test_exit_codes_of_the_hierarchy() -> None:
    assert MicrosegError.exit_code == 1
    assert TimeInputError.exit_code == 1
    for usage in (ParameterError, DurationError, ValueModelError):
        assert usage.exit_code == 2
        assert issubclass(usage, ValueError)  # `except ValueError` callers keep working


def test_usage_errors_of_typer_are_left_alone(workspace: str) -> None:
    result = CliRunner().invoke(app, ["-w", workspace, "segment", "grid", "--min-size", "x"])
    assert result.exit_code == 2
    assert "internal error" not in result.output


def test_a_bad_horizon_is_a_usage_error() -> None:
    from microseg.value.api import prediction_outputs

    with pytest.raises(DurationError, match="'3 parsecs' is not a duration"):
        prediction_outputs("3 parsecs")
    assert len(prediction_outputs("3 months")) == 6
