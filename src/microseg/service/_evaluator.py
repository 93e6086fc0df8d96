"""The real-time path's evaluations in a process of its own.

Every event costs the service its HTTP work, its write-ahead record, its storing and the
evaluation of the segments it concerns; in one process they share one interpreter lock,
and the evaluation is the largest part (bench/bench_service.py). A
:class:`ForkedEvaluator` is a copy of the prepared state made by ``fork``: it shares the
parent's memory until either writes to it, needs no store (the population values it uses
are taken before the copy) and answers "which of these segments is this customer in"
over a pipe, while the parent's threads go on.

The copy holds while the parent's prepared state changes only by events absorbed, which
it is sent with each question (in order: one pipe). Any other change (a load, new
customers read, definitions, a refit: :attr:`PreparedSegments.version`) makes it stale:
the parent makes a new one. When a copy cannot be made or fails, the parent evaluates
itself: the answers are the same, only slower.

The copy closes every file the parent had open but its pipe (a socket it kept would keep
a client's connection open), and ends when the pipe closes, the parent's death included.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import struct
from typing import TYPE_CHECKING, Any

from microseg.lang import Clock

if TYPE_CHECKING:
    from microseg.segments._prepared import PreparedSegments

__all__ = ["ForkedEvaluator", "can_fork"]

_SIZE = struct.Struct("!I")


def can_fork() -> bool:
    """Whether this platform makes copies by ``fork`` (not Windows)."""
    return hasattr(os, "fork")


class ForkedEvaluator:
    """A forked copy of ``prepared`` that evaluates customers (module docstring)."""

    def __init__(self, prepared: PreparedSegments) -> None:
        self.version = prepared.version
        self.absorbed = prepared.absorbed
        clock = prepared.clock()
        prepared.evaluate_ready(clock)  # the population values, taken before the copy
        asked, ask = os.pipe()  # questions: written here, read by the copy
        answered, answer = os.pipe()  # answers: written by the copy, read here
        pid = os.fork()
        if pid == 0:  # the copy: it never returns
            os.close(ask)
            os.close(answered)
            _serve(prepared, asked, answer)
        os.close(asked)
        os.close(answer)
        self.pid = pid
        self._to = os.fdopen(ask, "wb", buffering=0)
        self._from = os.fdopen(answered, "rb", buffering=0)
        self.questions = 0

    def holds(self, prepared: PreparedSegments, rows: int) -> bool:
        """Whether the copy is still ``prepared`` once sent the last ``rows`` absorbed."""
        return (
            self.pid > 0
            and prepared.version == self.version
            and prepared.absorbed == self.absorbed + rows
        )

    def evaluate(
        self, rows: list[dict[str, Any]], asks: list[tuple[str, list[str] | None]], clock: Clock
    ) -> list[dict[str, bool]]:
        """Give the copy the events absorbed since (``rows``), then each (customer,
        segments) of ``asks`` at ``clock``: the answers, in order."""
        _write(self._to, (rows, asks, clock))
        self.absorbed += len(rows)
        self.questions += len(asks)
        found = _read(self._from)
        if isinstance(found, BaseException):
            raise found
        answers: list[dict[str, bool]] = found
        return answers

    def close(self) -> None:
        """End the copy (it ends when its pipe closes) and wait for it."""
        if self.pid <= 0:
            return
        pid, self.pid = self.pid, 0
        for handle in (self._to, self._from):
            handle.close()
        with contextlib.suppress(ChildProcessError):  # already waited for
            os.waitpid(pid, 0)


def _serve(prepared: PreparedSegments, questions: int, answers: int) -> None:
    """The copy's loop: questions in, answers out, until the pipe closes; then exit at
    once (the parent's threads, files and exit handlers are not the copy's)."""
    code = 0
    try:
        # the parent's handlers are not the copy's: a terminal's Ctrl-C is the parent's
        # to act on (the copy ends when it closes the pipe), a kill ends the copy
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        low, high = sorted((questions, answers))
        os.closerange(3, low)
        os.closerange(low + 1, high)
        os.closerange(high + 1, os.sysconf("SC_OPEN_MAX"))
        reader = os.fdopen(questions, "rb", buffering=0)
        writer = os.fdopen(answers, "wb", buffering=0)
        while True:
            try:
                rows, asks, clock = _read(reader)
            except EOFError:
                break
            try:
                if rows:
                    prepared.snapshot.add_events(rows)
                found: Any = [
                    prepared.evaluate(customer, clock, current=True, held=True, names=names)
                    for customer, names in asks
                ]
            except Exception as exc:  # the parent evaluates itself, and says why
                found = RuntimeError(f"the evaluator process failed: {exc!r}")
            _write(writer, found)
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _write(handle: Any, value: Any) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    handle.write(_SIZE.pack(len(data)) + data)


def _read(handle: Any) -> Any:
    head = _exactly(handle, _SIZE.size)
    return pickle.loads(_exactly(handle, _SIZE.unpack(head)[0]))  # our own copy's answers


def _exactly(handle: Any, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = handle.read(left)
        if not chunk:
            raise EOFError("the pipe closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
