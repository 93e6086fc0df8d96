"""Group commit of loads: requests that arrive while a load runs are loaded together.

A load costs about the same for one record as for a few hundred (it is a few dozen
statements: staging, validation, identity stitching, the write). So when requests come
faster than one load, each waits for the load in progress to end, and the next load takes
every record that queued meanwhile (up to :data:`MAX_RECORDS`, of one kind): one thread,
the leader, runs it for all, then hands over to the first request still waiting. Every
request is answered once its own records are stored, with the rows of its own records
that were rejected.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MAX_RECORDS", "Batcher", "Slot"]

MAX_RECORDS = 50_000


@dataclass
class Slot:
    """One request's records, and what their load did."""

    kind: str
    records: list[dict[str, Any]]
    #: set when the records are loaded (``result`` or ``error``) or the slot must lead
    wake: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    #: index of the slot's first record in its load, and the load's outcome
    offset: int = 0
    result: Any = None
    error: BaseException | None = None
    batched: int = 1


#: loads the records of the slots (in order, concatenated) and returns the outcome
Load = Callable[[str, list[Slot]], Any]


class Batcher:
    """Runs loads one at a time, each for every request queued (module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[Slot] = []
        self._leading = False
        self.loads = 0
        self.requests = 0

    def submit(self, kind: str, records: list[dict[str, Any]], load: Load) -> Slot:
        """Queue the records and return once they are loaded (or their load failed)."""
        slot = Slot(kind, records)
        with self._lock:
            self._queue.append(slot)
            self.requests += 1
            lead = not self._leading
            self._leading = True
        if not lead:
            slot.wake.wait()
            if not slot.lead:
                return slot
        while True:
            batch = self._take()
            self._run(batch, load)
            with self._lock:
                if slot.wake.is_set() and not slot.lead:  # ours is done: hand over
                    if self._queue:
                        follower = self._queue[0]
                        follower.lead = True
                        follower.wake.set()
                    else:
                        self._leading = False
                    return slot
            # ours is still queued (another kind, or beyond the limit): lead on

    def _take(self) -> list[Slot]:
        with self._lock:
            kind = self._queue[0].kind
            batch: list[Slot] = []
            total = 0
            for queued in list(self._queue):
                if queued.kind != kind:
                    continue
                if batch and total + len(queued.records) > MAX_RECORDS:
                    break
                batch.append(queued)
                total += len(queued.records)
                self._queue.remove(queued)
            return batch

    def _run(self, batch: list[Slot], load: Load) -> None:
        offset = 0
        for slot in batch:
            slot.offset = offset
            slot.batched = len(batch)
            offset += len(slot.records)
        try:
            outcome = load(batch[0].kind, batch)
        except BaseException as exc:  # every request of the load gets the same error
            for slot in batch:
                slot.error = exc
        else:
            for slot in batch:
                slot.result = outcome
        self.loads += 1
        for slot in batch:
            slot.lead = False
            slot.wake.set()
