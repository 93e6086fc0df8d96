"""The service's write-ahead file: what a client sent is on disk before it is answered.

``POST /api/events`` and ``/api/customers`` append the records to ``service-wal.jsonl`` in
the workspace and fsync it before loading them into the store; a line ``{"done": seq}``
follows once the store has them. If the process dies in between, the next start loads
again every record without its ``done`` line (loads are idempotent on ``event_id``), then
starts a fresh file. Appenders share fsyncs (group commit): a writer whose line another
writer's fsync already covered does not fsync again.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
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
        self._write = threading.Lock()
        self._sync = threading.Lock()
        self._written = 0  # the last seq written
        self._synced = 0  # the last seq on disk
        self.fsyncs = 0
        self._inflight: set[int] = set()
        pending = self.pending()
        self._seq = max((p.seq for p in pending), default=0)
        self._file = self.path.open("ab")

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

    def append(self, kind: str, records: list[dict[str, Any]]) -> int:
        """Write a batch and return once it is on disk; its number."""
        with self._write:
            self._seq += 1
            seq = self._seq
            text = json.dumps({"seq": seq, "kind": kind, "records": records}, default=str)
            self._file.write(text.encode("utf-8") + b"\n")
            self._file.flush()
            self._written = seq
            self._inflight.add(seq)
        with self._sync:
            if self._synced < seq:  # nobody's fsync covered this line yet: ours covers all
                covered = self._written
                os.fsync(self._file.fileno())
                self.fsyncs += 1
                self._synced = covered
        return seq

    def done(self, seq: int) -> None:
        """Mark a batch as in the store (no fsync: replaying it again is harmless); start
        a fresh file when nothing is in flight and this one passed :data:`ROTATE_BYTES`."""
        with self._write:
            self._file.write(json.dumps({"done": seq}).encode("utf-8") + b"\n")
            self._file.flush()
            self._inflight.discard(seq)
            rotate = not self._inflight and self._file.tell() > ROTATE_BYTES
        if rotate:
            self.restart()

    def restart(self) -> None:
        """Start an empty file (everything written so far is in the store)."""
        with self._write, self._sync:
            if self._inflight:
                return  # a batch is on its way to the store: keep the file
            self._file.close()
            temporary = self.path.with_name(f".{WAL_FILE}.tmp")
            temporary.write_bytes(b"")
            os.replace(temporary, self.path)
            self._file = self.path.open("ab")
            self._seq = self._written = self._synced = 0

    def close(self) -> None:
        with self._write:
            self._file.close()


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
