"""Segments: definitions on disk, evaluation in batch and per profile, memberships."""

from microseg.segments._catalog import SegmentCatalog, Triage, definition_version
from microseg.segments._diff import SegmentDiff, segment_diff
from microseg.segments._evaluate import SegmentRun, evaluate_profile, evaluate_segments
from microseg.segments._grid import Dimension, Grid, GridCell, build_grid, parse_dimension

__all__ = [
    "Dimension",
    "Grid",
    "GridCell",
    "SegmentCatalog",
    "SegmentDiff",
    "SegmentRun",
    "Triage",
    "build_grid",
    "definition_version",
    "evaluate_profile",
    "evaluate_segments",
    "parse_dimension",
    "segment_diff",
]
