"""Activation: consent-aware audience exports, signed webhooks, campaigns with holdouts and
measured uplift (docs/activation.md). ``ws.activate`` is :class:`Activate`."""

from __future__ import annotations

from microseg.activate._campaigns import CampaignInfo, CampaignList, read_audience
from microseg.activate._measure import CampaignMeasurement, SliceMeasurement
from microseg.activate.api import Activate

__all__ = [
    "Activate",
    "CampaignInfo",
    "CampaignList",
    "CampaignMeasurement",
    "SliceMeasurement",
    "read_audience",
]
