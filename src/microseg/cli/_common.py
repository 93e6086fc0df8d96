"""What every command shares: the global options, output, and error handling.

Errors meet the user here, and only here: a :class:`MicrosegError` (a mistake in the
input, a file, an option) is one plain line and its exit code; anything else is a bug in
microseg, said to be one, with exit code 70 (``EX_SOFTWARE``) and the traceback behind
``--debug`` (or ``MICROSEG_DEBUG=1``).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from typer.core import TyperGroup
from typer.exceptions import Abort, Exit, TyperException

from microseg.core.errors import MicrosegError
from microseg.workspace import Workspace

__all__ = [
    "AS_OF_HELP",
    "EX_SOFTWARE",
    "GuardedGroup",
    "State",
    "console",
    "err_console",
    "fail",
    "open_workspace",
    "progress_bar",
    "report",
    "state",
]

AS_OF_HELP = "ISO date (the end of that day) or timestamp, e.g. 2026-01-01T00:00:00Z."

#: The exit code of an internal error (sysexits.h's EX_SOFTWARE).
EX_SOFTWARE = 70
#: What an internal error asks the user to do.
REPORT_HINT = "this is a bug in microseg; run again with --debug and report the traceback"

console = Console()
err_console = Console(stderr=True)
T = TypeVar("T")


@dataclass
class State:
    workspace: Path | None = None
    json: bool = False
    debug: bool = False

    def open(self) -> Workspace:
        return Workspace.open(self.workspace)


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    assert isinstance(obj, State)
    return obj


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def report(warnings: list[str], problems: list[Any]) -> None:
    """Warnings, then each problem on its own line (a problem carries its file and reason)."""
    for warning in warnings:
        err_console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    for problem in problems:
        err_console.print(f"[red]✗[/] {problem}", highlight=False, soft_wrap=True)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


@contextmanager
def open_workspace(ctx: typer.Context) -> Iterator[Workspace]:
    """The workspace named by the global options, closed when the block ends."""
    ws = state(ctx).open()
    try:
        yield ws
    finally:
        ws.close()


@contextmanager
def handled() -> Iterator[None]:
    """Turn microseg errors into one plain line and their exit code; no traceback."""
    try:
        yield
    except MicrosegError as exc:
        raise fail(str(exc), exc.exit_code) from None


def debugging(ctx: typer.Context | None) -> bool:
    """Whether --debug (or MICROSEG_DEBUG=1) asks for tracebacks."""
    obj = ctx.find_root().obj if ctx is not None else None
    if isinstance(obj, State) and obj.debug:
        return True
    return os.environ.get("MICROSEG_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")


def internal_error(exc: BaseException, *, debug: bool) -> typer.Exit:
    """An unexpected exception: said to be a bug, exit code 70, the traceback if debugging."""
    if debug:
        text = "".join(traceback.format_exception(exc))
        err_console.print(text, markup=False, highlight=False, soft_wrap=True, end="")
    name = type(exc).__qualname__
    err_console.print(
        f"[bold red]internal error:[/] {escape(name)}: {escape(str(exc))}",
        highlight=False,
        soft_wrap=True,
    )
    hint = "this is a bug in microseg; please report it with the traceback above"
    err_console.print(REPORT_HINT if not debug else hint, highlight=False, soft_wrap=True)
    return typer.Exit(EX_SOFTWARE)


class GuardedGroup(TyperGroup):
    """The root command group: every error leaving a command ends here.

    A :class:`MicrosegError` raised outside a ``handled()`` block is still one line; any
    other exception is an internal error (see :func:`internal_error`).
    """

    def invoke(self, ctx: Any) -> Any:  # typer's own click Context
        try:
            return super().invoke(ctx)
        except (Exit, Abort, TyperException):  # exits, usage errors: typer's own
            raise
        except MicrosegError as exc:
            raise fail(str(exc), exc.exit_code) from None
        except Exception as exc:
            raise internal_error(exc, debug=debugging(ctx)) from None


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Callable[[str, int, int], None] | None]:
    """A rich progress bar on stderr, or nothing when quiet (--json) or not a terminal."""
    if not enabled or not err_console.is_terminal:
        yield None
        return
    with Progress(
        TextColumn("{task.description:<45}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task("starting", total=1)

        def update(message: str, done: int, total: int) -> None:
            bar.update(task, description=message, completed=done, total=max(total, 1))

        yield update
