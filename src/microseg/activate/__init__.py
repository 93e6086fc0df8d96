"""Activation: consent-aware audience exports, signed webhooks, campaigns with holdouts and
measured uplift (docs/activation.md). ``ws.activate`` is :class:`Activate`."""

from __future__ import annotations

from microseg.activate._consent import Audience, AudienceResult
from microseg.activate._export import FORMATS, ExportRecord
from microseg.activate._hashing import normalise_email, normalise_phone, sha256_hex
from microseg.activate.api import Activate

__all__ = [
    "FORMATS",
    "Activate",
    "Audience",
    "AudienceResult",
    "ExportRecord",
    "normalise_email",
    "normalise_phone",
    "sha256_hex",
]
