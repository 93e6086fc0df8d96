"""The real-time path's evaluations in processes of their own.

Every event costs the service its HTTP work, its write-ahead record, its storing and the
evaluation of the segments it concerns; in one process they share one interpreter lock,
and the evaluation is the largest part (bench/bench_service.py). :class:`ForkedEvaluators`
are copies of the prepared state made by ``fork``: each shares the parent's memory until
either writes to a page, needs no store (the population values it uses are taken before
the copy), and answers "which of these segments is this customer in", with when each
customer's next window runs out, for its share of the customers, over a pipe, while the
parent's threads go on.

The copies hold while the parent's prepared state changes only by events absorbed, which
they are sent with each question (in order: one pipe each). Any other change (a load,
new customers read, definitions, a refit: :attr:`PreparedSegments.version`) makes them
stale: the parent makes new ones. When copies cannot be made, fail, or do not answer in
time, the parent evaluates itself: the answers are the same, only slower.

A copy closes every file the parent had open but its pipes (a socket it kept would keep
a client's connection open), and ends when its pipe closes, the parent's death included.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import struct
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from microseg.lang import Clock

if TYPE_CHECKING:
    from microseg.segments.api import PreparedSegments

__all__ = ["ForkedEvaluators", "can_fork"]

_SIZE = struct.Struct("!I")
#: seconds a copy may take to answer before it is given up (its share is evaluated in
#: the service instead, and new copies are made)
PATIENCE = 30.0
#: seconds to wait before trying again to make copies that could not be made
RETRY_SECONDS = 60.0


def can_fork() -> bool:
    """Whether this platform makes copies by ``fork`` (not Windows)."""
    return hasattr(os, "fork")


class ForkedEvaluators:
    """``count`` forked copies of ``prepared`` (module docstring), each evaluating its
    share of the customers: a question's customers are shared out, every copy works on
    its share at once, and the answers are put back in order."""

    def __init__(
        self,
        prepared: PreparedSegments,
        timer: Callable[[str, datetime], datetime | None],
        count: int = 1,
    ) -> None:
        self.version = prepared.version
        self.absorbed = prepared.absorbed
        prepared.evaluate_ready()  # the population values, taken before the copies
        self.copies: list[_Copy] = []
        try:
            for _ in range(max(1, count)):
                self.copies.append(_Copy(prepared, timer))
        except BaseException:
            self.close()
            raise

    @property
    def pids(self) -> list[int]:
        return [copy.pid for copy in self.copies]

    def holds(self, prepared: PreparedSegments, rows: int) -> bool:
        """Whether the copies are still ``prepared`` once sent the last ``rows`` absorbed."""
        return prepared.version == self.version and prepared.absorbed == self.absorbed + rows

    def evaluate(
        self,
        rows: list[dict[str, Any]],
        asks: Sequence[tuple[str, Sequence[str] | None]],
        clock: Clock,
        timed: list[str],
        after: datetime,
    ) -> tuple[list[dict[str, bool]], list[datetime | None]]:
        """Give the copies the events absorbed since (``rows``), then each (customer,
        segments) of ``asks`` at ``clock``, and ``timer(customer, after)`` of each
        customer of ``timed`` (each customer once): the answers and the instants, in
        order."""
        count = len(self.copies)
        shares: list[tuple[list[Any], list[Any], list[str]]] = [([], [], []) for _ in range(count)]

        def share(customer: str) -> int:  # the copies are forked: one hash seed
            return hash(customer) % count if count > 1 else 0

        for row in rows:
            shares[share(str(row["customer_id"]))][0].append(row)
        for ask in asks:
            shares[share(ask[0])][1].append(ask)
        for customer in timed:
            shares[share(customer)][2].append(customer)
        busy = [i for i, (r, a, t) in enumerate(shares) if r or a or t]
        for i in busy:
            mine, asked, timers = shares[i]
            self.copies[i].send((mine, asked, clock, timers, after))
        self.absorbed += len(rows)
        held: dict[str, dict[str, bool]] = {}
        moments: dict[str, datetime | None] = {}
        for i in busy:
            answers, instants = self.copies[i].receive()
            held.update(zip((c for c, _ in shares[i][1]), answers, strict=True))
            moments.update(zip(shares[i][2], instants, strict=True))
        return [held[c] for c, _ in asks], [moments[c] for c in timed]

    def close(self) -> None:
        """End the copies (each ends when its pipe closes) and wait for them."""
        for copy in self.copies:
            copy.close()


class _Copy:
    """One forked copy, and the pipes to it."""

    def __init__(
        self,
        prepared: PreparedSegments,
        timer: Callable[[str, datetime], datetime | None],
    ) -> None:
        asked, ask = os.pipe()  # questions: written here, read by the copy
        answered, answer = os.pipe()  # answers: written by the copy, read here
        pid = os.fork()
        if pid == 0:  # the copy: it never returns
            os.close(ask)
            os.close(answered)
            _serve(prepared, timer, asked, answer)
        os.close(asked)
        os.close(answer)
        self.pid = pid
        self._to = os.fdopen(ask, "wb", buffering=0)
        self._from = os.fdopen(answered, "rb", buffering=0)

    def send(self, question: tuple[Any, ...]) -> None:
        _write(self._to, question)

    def receive(self) -> Any:
        """The copy's answer; :class:`TimeoutError` when it takes over :data:`PATIENCE`
        seconds (a copy stuck must not stop the real-time path)."""
        found = _read(self._from, time.monotonic() + PATIENCE)
        if isinstance(found, BaseException):
            raise found
        return found

    def close(self) -> None:
        """End the copy (it ends when its pipe closes; one that does not answer is
        killed) and wait for it."""
        if self.pid <= 0:
            return
        pid, self.pid = self.pid, 0
        for handle in (self._to, self._from):
            handle.close()
        with contextlib.suppress(ChildProcessError):  # already waited for
            deadline = time.monotonic() + 5.0
            while os.waitpid(pid, os.WNOHANG) == (0, 0):
                if time.monotonic() > deadline:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    break
                time.sleep(0.005)


def _serve(
    prepared: PreparedSegments,
    timer: Callable[[str, datetime], datetime | None],
    questions: int,
    answers: int,
) -> None:
    """The copy's loop: questions in, answers out, until the pipe closes; then exit at
    once (the parent's threads, files and exit handlers are not the copy's)."""
    code = 0
    try:
        # the parent's handlers are not the copy's: a terminal's Ctrl-C is the parent's
        # to act on (the copy ends when it closes the pipe), a kill ends the copy
        with contextlib.suppress(OSError):  # named for ps and top (Linux)
            Path("/proc/self/comm").write_text("microseg-eval", encoding="ascii")
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        low, high = sorted((questions, answers))
        os.closerange(3, low)
        os.closerange(low + 1, high)
        os.closerange(high + 1, os.sysconf("SC_OPEN_MAX"))
        # a copy only evaluates the prepared segments: it reads of each customer only
        # what they read (a customer's first read costs a Python row per event)
        reads = prepared.reads
        prepared.snapshot.narrow(events=reads.events, attributes=reads.attributes)
        reader = os.fdopen(questions, "rb", buffering=0)
        writer = os.fdopen(answers, "wb", buffering=0)
        while True:
            try:
                rows, asks, clock, timed, after = _read(reader)
            except EOFError:
                break
            try:
                if rows:
                    prepared.snapshot.add_events(rows)
                held = [
                    prepared.evaluate(customer, clock, current=True, held=True, names=names)
                    for customer, names in asks
                ]
                found: Any = (held, [timer(customer, after) for customer in timed])
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


def _read(handle: Any, deadline: float | None = None) -> Any:
    head = _exactly(handle, _SIZE.size, deadline)
    size = _SIZE.unpack(head)[0]
    return pickle.loads(_exactly(handle, size, deadline))  # our own copy's answers


def _exactly(handle: Any, size: int, deadline: float | None = None) -> bytes:
    """``size`` bytes from a pipe; by ``deadline`` (monotonic), if given."""
    chunks, left = [], size
    while left:
        if deadline is not None:
            ready, _, _ = select.select([handle], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError("the evaluator process did not answer in time")
        chunk = handle.read(left)
        if not chunk:
            raise EOFError("the pipe closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
