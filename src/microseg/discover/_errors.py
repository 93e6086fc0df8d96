"""The error discovery raises on bad parameters or data it cannot cluster."""

from __future__ import annotations

from microseg.core.errors import MicrosegError, NotFoundError

__all__ = ["DiscoveryError", "UnknownRunError"]


class DiscoveryError(MicrosegError, ValueError):
    """A discovery parameter is invalid, or the data leaves nothing to cluster."""


class UnknownRunError(DiscoveryError, NotFoundError):
    """No stored discovery run has that name or id."""
