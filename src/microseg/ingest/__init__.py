"""Getting data in: readers, mapping, validation, rejects, identity stitching."""

from microseg.ingest._ingest import KINDS, Kind, ingest
from microseg.ingest._load import LoadReport, Progress

__all__ = ["KINDS", "Kind", "LoadReport", "Progress", "ingest"]
