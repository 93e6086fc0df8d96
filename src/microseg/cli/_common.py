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
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from typer.core import TyperGroup
from typer.exceptions import Abort, Exit, TyperException

from microseg.core.errors import MicrosegError

if TYPE_CHECKING:  # the analysis stack loads when a command runs, not for --help
    from microseg.workspace import Workspace

__all__ = [
    "AS_OF_HELP",
    "EX_SOFTWARE",
    "Group",
    "GuardedGroup",
    "PhaseProgress",
    "State",
    "console",
    "err_console",
    "fail",
    "fit_warning_lines",
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
        from microseg.workspace import Workspace

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


#: Commands that make a folder of their own instead of opening a workspace.
NO_WORKSPACE = frozenset({"init", "synth", "demo"})
WORKSPACE_AFTER_HELP = "Workspace folder, here or before the command (default: the current folder)."


def _workspace_after(ctx: typer.Context, value: Path | None) -> None:
    """``microseg status -w DIR``: the same as ``microseg -w DIR status``."""
    if value is not None:
        obj = ctx.find_root().obj
        if isinstance(obj, State):
            obj.workspace = value


def _workspace_option() -> Any:
    """A ``--workspace/-w`` option built by typer, for a command that did not declare one."""
    probe = typer.Typer()

    @probe.command()
    def _probe(
        workspace: Path = typer.Option(
            None,
            "--workspace",
            "-w",
            metavar="PATH",
            expose_value=False,
            callback=_workspace_after,
            help=WORKSPACE_AFTER_HELP,
        ),
    ) -> None: ...

    return typer.main.get_command(probe).params[0]


def _polish(command: Any, ctx: Any) -> None:
    """Help that reads like the command line: flags without a ``<bool>`` type, arguments in
    one style (``NAME``), and ``--workspace/-w`` after any command that opens one."""
    if getattr(command, "_microseg_polished", False):
        return
    command._microseg_polished = True
    for param in command.params:
        if getattr(param, "is_flag", False):
            param.metavar = ""
        elif param.param_type_name == "argument" and param.metavar is None:
            param.metavar = param.name.upper()
    help_option = command.get_help_option(ctx)
    if help_option is not None:
        help_option.metavar = ""
    opens_workspace = not isinstance(command, TyperGroup) and command.name not in NO_WORKSPACE
    if opens_workspace and not any(p.name == "workspace" for p in command.params):
        command.params.append(_workspace_option())


class Group(TyperGroup):
    """Every command group: its commands' help polished (see :func:`_polish`)."""

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _polish(command, ctx)
        return command

    def get_params(self, ctx: Any) -> Any:
        _polish(self, ctx)
        return super().get_params(ctx)


class GuardedGroup(Group):
    """The root command group: every error leaving a command ends here.

    A :class:`MicrosegError` raised outside a ``handled()`` block is still one line; any
    other exception is an internal error (see :func:`internal_error`).
    """

    def invoke(self, ctx: Any) -> Any:  # typer's own click Context
        try:
            return super().invoke(ctx)
        except (Exit, Abort, TyperException, BrokenPipeError):  # typer's own; `| head`
            raise
        except MicrosegError as exc:
            raise fail(str(exc), exc.exit_code) from None
        except Exception as exc:
            raise internal_error(exc, debug=debugging(ctx)) from None


class PhaseProgress:
    """Progress by phase, on stderr.

    A phase is a message's text before ``": "`` (``"loading events: writing x"`` belongs to
    ``"loading events"``); it lasts from the end of the previous phase (or the start) to the
    first message of the next one. On a terminal a live bar shows the current step with the phase's
    own timer, which a refresh thread keeps ticking while a long step runs; each finished
    phase leaves a line with its duration. Elsewhere (a log, a pipe) only those lines are
    written, one per phase.
    """

    def __init__(self, console: Console) -> None:
        self._console = console
        self._phase: str | None = None
        self._started = time.monotonic()
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        if console.is_terminal:
            self._bar = Progress(
                TextColumn("{task.description:<45}"),
                BarColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            self._task = self._bar.add_task("starting", total=1)

    def __enter__(self) -> PhaseProgress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self._finish()
        if self._bar is not None:
            self._bar.stop()

    def __call__(self, message: str, done: int, total: int) -> None:
        phase = message.partition(": ")[0]
        if message == "done":  # a load's last word: its phase is over
            self._finish()
            return
        if phase != self._phase:
            self._finish()
            self._phase = phase
            if self._bar is not None and self._task is not None:
                self._bar.reset(self._task)
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, description=message, completed=done, total=max(total, 1))

    def elapsed(self) -> float:
        """Seconds shown by the live timer: the current phase's, never frozen."""
        if self._bar is None or self._task is None:
            return 0.0 if self._phase is None else time.monotonic() - self._started
        task = self._bar.tasks[0]
        return (task.finished_time if task.finished else task.elapsed) or 0.0

    def _finish(self) -> None:
        if self._phase is None:
            return
        now = time.monotonic()
        line = f"{self._phase} ({now - self._started:.2f} s)"
        self._console.print(line, highlight=False, markup=False, soft_wrap=True)
        self._phase, self._started = None, now


@contextmanager
def progress_bar(enabled: bool) -> Iterator[PhaseProgress | None]:
    """Progress by phase on stderr (see :class:`PhaseProgress`), or nothing when quiet."""
    if not enabled:
        yield None
        return
    with PhaseProgress(err_console) as progress:
        yield progress


def fit_warning_lines(traits: list[str], warnings: list[Any]) -> list[str]:
    """What the value-fit warnings mean for the traits shown: one line per warning, and the
    advice they share once (each warning's ``hint``), rather than the advice per warning."""
    if not traits or not warnings:
        return []
    named = ", ".join(traits)
    lines = [f"{named} come from a value fit with a warning: {w.message}" for w in warnings]
    hints = dict.fromkeys(w.hint for w in warnings if w.hint)
    return lines + [f"what to try: {hint}" for hint in hints]
