"""Deterministic synthetic shop: customers, products, events and planted micro-segments.

Use :func:`generate_shop` to write a shop for demos, tests and benchmarks; the planted
segments (:data:`PLANTED_SEGMENTS`) and ``ground_truth.parquet`` say what a segmentation
should recover.
"""

from ._badrows import BAD_KINDS
from ._btyd import BTYDParams, generate_btyd_events
from ._segments import BACKGROUND_SEGMENT, PLANTED_SEGMENTS, SEGMENT_SHARES, PlantedSegment
from ._vocab import EVENT_TYPES
from ._writer import EVENTS_PER_FILE, SynthError, SynthResult, generate_shop

__all__ = [
    "BACKGROUND_SEGMENT",
    "BAD_KINDS",
    "EVENTS_PER_FILE",
    "EVENT_TYPES",
    "PLANTED_SEGMENTS",
    "SEGMENT_SHARES",
    "BTYDParams",
    "PlantedSegment",
    "SynthError",
    "SynthResult",
    "generate_btyd_events",
    "generate_shop",
]
