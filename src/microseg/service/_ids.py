"""The event ids the store may hold, in memory, for the fast lane's loads.

The store keeps the first event of an id (``microseg ingest`` counts the others as
duplicates). The fast lane's screen knows each customer's events, so it leaves out the ids
a customer already has; an id stored under another customer it cannot see, and each load
of the fast lane had the store look for its ids among all stored ones: a pass over every
stored event id (about 40 ms a load at 1.4 million events, on both cores, growing with
the store), every second. :class:`StoredIds` answers "is any of these ids possibly
stored?" from DuckDB's 64-bit hash of every stored id (8 bytes an event,
:meth:`microseg.store.Store.event_id_hashes`): no means certainly not, and the load skips
the pass; yes (a stored id, or two ids of one hash) leaves it to the store. The storer is
its only user: it fills it from the store once (after the write-ahead file's replay) and
adds the ids of everything it stores after.
"""

from __future__ import annotations

import numpy as np

__all__ = ["StoredIds"]

#: hashes added since the last merge are kept in a set; this many are merged into the
#: sorted array at once
MERGE_AT = 200_000


class StoredIds:
    """Hashes of every event id stored: a sorted array, and a set of the latest."""

    def __init__(self, merge_at: int = MERGE_AT) -> None:
        self._sorted = np.empty(0, dtype=np.uint64)
        self._recent: set[int] = set()
        self._merge_at = merge_at
        #: False until :meth:`fill`: every answer is "possibly stored" meanwhile
        self.ready = False

    def __len__(self) -> int:
        return len(self._sorted) + len(self._recent)

    def fill(self, hashes: np.ndarray) -> None:
        """The hashes of every stored id."""
        self._sorted = np.unique(hashes.astype(np.uint64))
        self._recent.clear()
        self.ready = True

    def none_of(self, hashes: np.ndarray) -> bool:
        """Whether no id of these hashes can be stored (False: some may be, or not
        filled yet)."""
        if not self.ready:
            return False
        if self._recent and not self._recent.isdisjoint(hashes.tolist()):
            return False
        if not len(self._sorted) or not len(hashes):
            return True
        at = np.minimum(np.searchsorted(self._sorted, hashes), len(self._sorted) - 1)
        return not bool(np.any(self._sorted[at] == hashes))

    def add(self, hashes: np.ndarray) -> None:
        """The hashes of ids just stored (or possibly: more is safe, one left out is not)."""
        self._recent.update(hashes.tolist())
        if len(self._recent) >= self._merge_at:
            merged = np.fromiter(self._recent, dtype=np.uint64, count=len(self._recent))
            self._sorted = np.union1d(self._sorted, merged)
            self._recent.clear()
