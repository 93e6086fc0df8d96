"""The narrow context every namespace is built from: where, what config, which store, what time.

:class:`Context` is frozen: a namespace never changes it, and two namespaces built from
the same context see the same workspace. It holds no analysis state; the composition root
(:mod:`microseg.workspace`) makes it and hands it down. Nothing here reads the system clock
except through the injected ``time_source``, so tests move time by passing their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from microseg.config import WorkspaceConfig
from microseg.core.time import AsOf, to_store_time
from microseg.lang import Clock
from microseg.store import Store

__all__ = ["Context", "TimeSource", "system_clock"]

TimeSource = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Context:
    """The workspace folder, its configuration, its store and its clock."""

    path: Path
    config: WorkspaceConfig
    store: Store
    time_source: TimeSource = system_clock

    @property
    def segments_dir(self) -> Path:
        return self.path / "segments"

    @property
    def traits_dir(self) -> Path:
        return self.path / "traits"

    def now(self) -> datetime:
        """The current instant from the workspace clock, as the store keeps it (naive UTC)."""
        return to_store_time(self.time_source(), self.config.timezone)

    def instant(self, value: AsOf | None) -> datetime:
        """Resolve an ``as_of`` (None: now; a bare date: the end of that day), naive UTC."""
        return self.now() if value is None else to_store_time(value, self.config.timezone)

    def clock(self, as_of: AsOf | None = None) -> Clock:
        """The evaluation clock at ``as_of``, in the workspace time zone."""
        return Clock(self.instant(as_of), self.config.timezone)
