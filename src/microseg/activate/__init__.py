"""Activation: consent-aware audience exports, signed webhooks, campaigns with holdouts and
measured uplift (docs/activation.md). ``ws.activate`` is :class:`Activate`.

Receivers of webhooks check each post with :func:`verify_signature` (headers
:data:`TIMESTAMP_HEADER`, :data:`SIGNATURE_HEADER` and :data:`IDEMPOTENCY_HEADER`).
"""

from __future__ import annotations

from microseg.activate._campaigns import CampaignInfo, CampaignList, read_audience
from microseg.activate._consent import Audience, AudienceResult
from microseg.activate._export import FORMATS, ExportRecord
from microseg.activate._hashing import normalise_email, normalise_phone, sha256_hex
from microseg.activate._measure import CampaignMeasurement, SliceMeasurement
from microseg.activate._signing import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
    verify_signature,
)
from microseg.activate._webhook_results import (
    ActivationStatus,
    DeadBatch,
    DeliveryReport,
    DestinationDelivery,
    DestinationStatus,
    PushResult,
    ResendResult,
)
from microseg.activate.api import Activate

__all__ = [
    "FORMATS",
    "IDEMPOTENCY_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "Activate",
    "ActivationStatus",
    "Audience",
    "AudienceResult",
    "CampaignInfo",
    "CampaignList",
    "CampaignMeasurement",
    "DeadBatch",
    "DeliveryReport",
    "DestinationDelivery",
    "DestinationStatus",
    "ExportRecord",
    "PushResult",
    "ResendResult",
    "SliceMeasurement",
    "normalise_email",
    "normalise_phone",
    "read_audience",
    "sha256_hex",
    "sign",
    "verify_signature",
]
