"""Getting data in: readers, mapping, validation, rejects, identity stitching."""

from microseg.ingest._fast import EventScreen, mixed_kinds, oversized_integer, records_table
from microseg.ingest._ingest import KINDS, Kind, ingest, store_screened
from microseg.ingest._load import LoadReport, Progress, missing_column
from microseg.ingest._unmerge import IdentityNamespace, UnmergeResult

__all__ = [
    "KINDS",
    "EventScreen",
    "IdentityNamespace",
    "Kind",
    "LoadReport",
    "Progress",
    "UnmergeResult",
    "ingest",
    "missing_column",
    "mixed_kinds",
    "oversized_integer",
    "records_table",
    "store_screened",
]
