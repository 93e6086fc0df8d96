"""What every command shares: the global options, output, and error handling."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from microseg.core.errors import MicrosegError
from microseg.workspace import Workspace

__all__ = [
    "AS_OF_HELP",
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

console = Console()
err_console = Console(stderr=True)
T = TypeVar("T")


@dataclass
class State:
    workspace: Path | None = None
    json: bool = False

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
    """Turn microseg errors into one plain line and an exit code; no traceback."""
    try:
        yield
    except MicrosegError as exc:
        raise fail(str(exc)) from None
    except ValueError as exc:  # argument parsing (dates, durations) at the edge
        raise fail(str(exc), 2) from None


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
