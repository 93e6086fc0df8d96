"""Segments: definitions on disk, evaluation in batch and per profile, memberships."""

from microseg.segments._catalog import SegmentCatalog, definition_version
from microseg.segments._diff import SegmentDiff, segment_diff
from microseg.segments._evaluate import SegmentRun, evaluate_profile, evaluate_segments

__all__ = [
    "SegmentCatalog",
    "SegmentDiff",
    "SegmentRun",
    "definition_version",
    "evaluate_profile",
    "evaluate_segments",
    "segment_diff",
]
