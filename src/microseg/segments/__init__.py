"""Segments: definitions on disk, evaluation in batch and per profile, memberships."""

from microseg.segments._catalog import SegmentCatalog, Triage, definition_version
from microseg.segments._diff import SegmentDiff, segment_diff
from microseg.segments._evaluate import (
    ProfileResult,
    SegmentRun,
    SegmentRunResult,
    SegmentSize,
    evaluate_profile,
    evaluate_segments,
)
from microseg.segments._grid import (
    Dimension,
    Grid,
    GridCell,
    GridResult,
    build_grid,
    parse_dimension,
)

__all__ = [
    "Dimension",
    "Grid",
    "GridCell",
    "GridResult",
    "ProfileResult",
    "SegmentCatalog",
    "SegmentDiff",
    "SegmentRun",
    "SegmentRunResult",
    "SegmentSize",
    "Triage",
    "build_grid",
    "definition_version",
    "evaluate_profile",
    "evaluate_segments",
    "parse_dimension",
    "segment_diff",
]
