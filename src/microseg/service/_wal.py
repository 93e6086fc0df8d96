"""The service's write-ahead file: what a client sent is on disk before it is answered.

``POST /api/events`` and ``/api/customers`` append the records to ``service-wal.jsonl`` in
the workspace and fsync it before loading them into the store; a line ``{"done": seq}``
follows once the store has them. If the process dies in between, the next start loads
again every record without its ``done`` line (loads are idempotent on ``event_id``), then
starts a fresh file. Appenders share fsyncs (group commit): one writer thread writes every
batch queued while it was busy, fsyncs once, and only then tells each appender its number.
A request's records are written as its body came when that body is their JSON (no second
encoding of a 10,000-event batch, about 12 ms of the interpreter's time), else encoded.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["WAL_FILE", "Pending", "WriteAheadLog"]

WAL_FILE = "service-wal.jsonl"
#: a file this large starts afresh once nothing is in flight
ROTATE_BYTES = 4_000_000


@dataclass(frozen=True)
class Pending:
    """A batch written ahead and not yet marked done: its number, kind and records."""

    seq: int
    kind: str
    records: list[dict[str, Any]]


class WriteAheadLog:
    """An append-only JSON-lines file with group commit (module docstring)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / WAL_FILE
        self._write_lock = threading.Lock()
        self.fsyncs = 0
        self._inflight: set[int] = set()
        pending = self.pending()
        self._seq = max((p.seq for p in pending), default=0)
        self._file = self.path.open("ab")
        #: batches waiting for the writer thread, and what to call once they are on disk
        self._commit = threading.Condition()
        self._waiting: list[
            tuple[str, list[dict[str, Any]], bytes | None, Callable[[int], Any]]
        ] = []
        self._closing = False
        self._writer = threading.Thread(target=self._write, name="microseg-wal", daemon=True)
        self._writer.start()

    def pending(self) -> list[Pending]:
        """Batches written and not marked done, in order (a torn last line is ignored:
        its writer had not been answered)."""
        found: dict[int, Pending] = {}
        for line in _lines(self.path):
            if "done" in line:
                found.pop(int(line["done"]), None)
            else:
                seq = int(line["seq"])
                found[seq] = Pending(seq, str(line["kind"]), list(line["records"]))
        return [found[k] for k in sorted(found)]

    def append(self, kind: str, records: list[dict[str, Any]], *, body: bytes | None = None) -> int:
        """Write a batch and return once it is on disk; its number. ``body``: the JSON
        text the records were read from (one object or a list), written as it is when it
        can be (:func:`_records_text`)."""
        written = threading.Event()
        found: list[int] = []

        def on_disk(seq: int) -> None:
            found.append(seq)
            written.set()

        self.submit(kind, records, on_disk, body=body)
        written.wait()
        return found[0]

    async def append_async(
        self, kind: str, records: list[dict[str, Any]], *, body: bytes | None = None
    ) -> int:
        """:meth:`append` for a coroutine: the event loop goes on meanwhile."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        self.submit(
            kind,
            records,
            lambda seq: loop.call_soon_threadsafe(future.set_result, seq),
            body=body,
        )
        return await future

    def submit(
        self,
        kind: str,
        records: list[dict[str, Any]],
        on_disk: Callable[[int], Any],
        *,
        body: bytes | None = None,
    ) -> None:
        """Queue a batch for the writer thread, which calls ``on_disk(seq)`` once the
        batch is on disk (one write and one fsync for every batch queued meanwhile)."""
        with self._commit:
            self._waiting.append((kind, records, body, on_disk))
            self._commit.notify()

    def _write(self) -> None:
        while True:
            with self._commit:
                while not self._waiting and not self._closing:
                    self._commit.wait()
                if not self._waiting:
                    return
                waiting, self._waiting = self._waiting, []
            lines = []
            with self._write_lock:
                for kind, records, body, _ in waiting:
                    self._seq += 1
                    text = _records_text(body) or json.dumps(records, default=str).encode()
                    head = b'{"seq":%d,"kind":%s,"records":' % (
                        self._seq,
                        json.dumps(kind).encode(),
                    )
                    lines.append(head + text + b"}\n")
                    self._inflight.add(self._seq)
                first = self._seq - len(waiting) + 1
                self._file.write(b"".join(lines))
                self._file.flush()
                os.fsync(self._file.fileno())
                self.fsyncs += 1
            for offset, (*_, on_disk) in enumerate(waiting):
                on_disk(first + offset)

    def done(self, *seqs: int) -> None:
        """Mark batches as in the store, in one write (no fsync: replaying them again is
        harmless; a load of 3,000 single events wrote and flushed 3,000 lines one by one,
        each a system call that let go of the interpreter lock); start a fresh file when
        nothing is in flight and this one passed :data:`ROTATE_BYTES`."""
        if not seqs:
            return
        lines = b"".join(b'{"done":%d}\n' % seq for seq in seqs)
        with self._write_lock:
            self._file.write(lines)
            self._file.flush()
            self._inflight.difference_update(seqs)
            rotate = not self._inflight and self._file.tell() > ROTATE_BYTES
        if rotate:
            self.restart()

    def restart(self) -> None:
        """Start an empty file (everything written so far is in the store)."""
        with self._write_lock:
            if self._inflight:
                return  # a batch is on its way to the store: keep the file
            self._file.close()
            temporary = self.path.with_name(f".{WAL_FILE}.tmp")
            temporary.write_bytes(b"")
            os.replace(temporary, self.path)
            self._file = self.path.open("ab")
            self._seq = 0

    def close(self) -> None:
        with self._commit:
            self._closing = True
            self._commit.notify()
        self._writer.join(timeout=30)
        with self._write_lock:
            self._file.close()


def _records_text(body: bytes | None) -> bytes | None:
    """A request's JSON body as the text of its list of records, on one line; None when it
    cannot be written as it came. It was read by ``json.loads`` already, so it is valid
    JSON, and a line break in it can only be space between values (strict JSON has none
    inside strings): it becomes a space. A body starting otherwise than with ``{`` or
    ``[`` (a byte-order mark), or holding a NUL (UTF-16 or UTF-32, which ``json.loads``
    also reads) is encoded again instead."""
    if body is None:
        return None
    text = body.strip(b" \t\r\n")
    if text[:1] not in (b"{", b"[") or b"\x00" in text:
        return None
    text = text.replace(b"\r", b" ").replace(b"\n", b" ")
    return b"[" + text + b"]" if text[:1] == b"{" else text


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return
    for line in raw.split(b"\n"):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except ValueError:
            return  # a torn last line: never acknowledged
