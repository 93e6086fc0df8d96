"""Audience exports: the file (atomically), its stamp, and the record in the workspace.

Formats: ``csv``, ``parquet``, ``jsonl`` (clear values), and the ad-platform formats
``google-ads`` and ``meta-ads`` (CSV of hashed identifiers only, see
:mod:`microseg.activate._hashing`). Every file is stamped with the segment, its definition
version and ``as_of``: in the Parquet file's metadata (key ``microseg``), or in a sidecar
``FILE.microseg.json`` for the text formats. The file and its sidecar are written to
temporary names in the destination folder and renamed into place inside the transaction
that records the export: a failure leaves no half file and no record.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from microseg.activate._consent import Audience
from microseg.activate._hashing import AD_FORMATS, hashed
from microseg.core.errors import OutputError, ParameterError
from microseg.core.results import Instant, Result
from microseg.core.text import did_you_mean
from microseg.store import Store

__all__ = [
    "FORMATS",
    "ExportPlan",
    "ExportRecord",
    "ad_table",
    "destination_of",
    "format_for",
    "members_sha256",
    "sidecar_path",
    "write_export",
]

#: Every export format.
FORMATS = ("csv", "parquet", "jsonl", *AD_FORMATS)

_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl"}


class ExportRecord(Result):
    """One export as recorded in the workspace (``microseg export --list``)."""

    export_id: int
    segment: str
    version: str
    as_of: Instant
    destination: str
    format: str
    channel: str | None
    #: rows written to the file (for a delta: those who entered and those who left)
    rows: int
    #: members of the segment before consent and reachability
    candidates: int
    excluded: dict[str, int]
    #: the audience's size (the full list recorded, also for a delta)
    members: int
    #: SHA-256 of the sorted member ids, one per line (each ending with a newline)
    members_sha256: str
    consent_ignored: bool
    included_without_consent: int
    delta: bool
    entered: int | None
    exited: int | None
    columns: list[str]
    created_at: Instant
    #: where the stamp is: "parquet metadata" (key ``microseg``) or the sidecar's path
    stamp: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ExportRecord:
        excluded = {
            "withdrawn": int(row["excluded_withdrawn"] or 0),
            "no_consent": int(row["excluded_no_consent"] or 0),
            "unreachable": int(row["excluded_unreachable"] or 0),
        }
        fields = {k: v for k, v in row.items() if not k.startswith("excluded_")}
        fields["columns"] = list(row["columns"] or [])
        return cls(**fields, excluded=excluded)


def format_for(path: Path, chosen: str | None) -> str:
    """The format asked for, or the one the file's suffix names (csv by default)."""
    if chosen is None:
        return _SUFFIXES.get(path.suffix.lower(), "csv")
    if chosen not in FORMATS:
        raise ParameterError(
            f"unknown export format {chosen!r}{did_you_mean(chosen, list(FORMATS))}",
            where="--format",
            hint="choose from " + ", ".join(FORMATS),
        )
    return chosen


def members_sha256(ids: list[str]) -> str:
    """SHA-256 (hex) of the sorted ids, each followed by a newline, in UTF-8."""
    digest = hashlib.sha256()
    for member in sorted(ids):
        digest.update(member.encode("utf-8") + b"\n")
    return digest.hexdigest()


def sidecar_path(path: Path) -> Path:
    """Where a text-format export's stamp is written: ``FILE.microseg.json``."""
    return path.with_name(path.name + ".microseg.json")


def destination_of(to: str | Path) -> Path:
    """The absolute destination; an :class:`OutputError` when it cannot be written."""
    path = Path(to).expanduser()
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise OutputError(
            "the destination is a folder", where=str(to), hint="give a file name: --to out.csv"
        )
    if folder.exists() and not folder.is_dir():
        raise OutputError(
            "the destination's folder is a file",
            where=str(to),
            hint="choose a --to inside a folder",
        )
    if not folder.is_dir():
        raise OutputError(
            "the destination's folder does not exist",
            where=str(to),
            hint=f"create {folder} first, or choose another --to",
        )
    if not os.access(folder, os.W_OK):
        raise OutputError(
            "the destination's folder is not writable",
            where=str(to),
            hint="choose a folder you can write to with --to",
        )
    return folder.resolve() / path.name


class ExportPlan:
    """What one export writes: the rows, and how they are stamped and recorded."""

    def __init__(
        self,
        audience: Audience,
        table: pa.Table,
        *,
        path: Path,
        fmt: str,
        delta: bool,
        changes: tuple[int, int] | None,
        columns: list[str],
    ) -> None:
        self.audience = audience
        self.table = table
        self.path = path
        self.fmt = fmt
        self.delta = delta
        self.changes = changes
        self.columns = columns


def write_export(store: Store, plan: ExportPlan, *, created_at: datetime) -> ExportRecord:
    """Write ``plan``'s file (and stamp), record it, and return the record."""
    audience = plan.audience
    ids = [str(i) for i in audience.members.column("customer_id").to_pylist()]
    with store.transaction():
        export_id = store.exports.next_id()
        entered, exited = plan.changes if plan.changes is not None else (None, None)
        row: dict[str, Any] = {
            "export_id": export_id,
            "segment": audience.segment,
            "version": audience.version,
            "as_of": audience.as_of,
            "destination": str(plan.path),
            "format": plan.fmt,
            "channel": audience.channel,
            "rows": int(plan.table.num_rows),
            "candidates": audience.candidates,
            "excluded_withdrawn": audience.excluded.get("withdrawn", 0),
            "excluded_no_consent": audience.excluded.get("no_consent", 0),
            "excluded_unreachable": audience.excluded.get("unreachable", 0),
            "members": len(ids),
            "members_sha256": members_sha256(ids),
            "consent_ignored": audience.consent_ignored,
            "included_without_consent": audience.included_without_consent,
            "delta": plan.delta,
            "entered": entered,
            "exited": exited,
            "columns": plan.columns,
            "created_at": created_at,
        }
        stamp = _stamp(row)
        with _staged(plan.path) as staged:
            in_file = _write(plan.table, staged, plan.fmt, stamp)
            stamped_at = "parquet metadata" if in_file else str(sidecar_path(plan.path))
            store.exports.insert(row, audience.members)
        record = ExportRecord.from_row(row)
    return record.model_copy(update={"stamp": stamped_at})


def _stamp(row: dict[str, Any]) -> dict[str, Any]:
    record = ExportRecord.from_row(row).to_dict()
    keep = ("export_id", "segment", "version", "as_of", "channel", "format", "rows")
    more = ("members", "members_sha256", "consent_ignored", "delta", "entered", "exited")
    return {k: record[k] for k in (*keep, *more, "created_at")}


@contextmanager
def _staged(path: Path) -> Iterator[dict[str, Path]]:
    """Temporary names beside ``path`` (the file, its sidecar), renamed into place when
    the block ends without an error, removed otherwise."""
    token = uuid.uuid4().hex[:12]
    staged = {
        "file": path.with_name(f".{path.name}.{token}.tmp"),
        "sidecar": path.with_name(f".{path.name}.{token}.json.tmp"),
    }
    try:
        yield staged
        if staged["sidecar"].exists():
            os.replace(staged["sidecar"], sidecar_path(path))
        os.replace(staged["file"], path)
    except OSError as exc:
        raise OutputError(
            f"cannot write the export: {exc.strerror or exc}",
            where=str(path),
            hint="check the folder's permissions and free space",
        ) from None
    finally:
        for temp in staged.values():
            temp.unlink(missing_ok=True)


def _write(table: pa.Table, staged: dict[str, Path], fmt: str, stamp: dict[str, Any]) -> bool:
    """Write the file (and the sidecar of a text format); whether the stamp is inside."""
    stamp_text = json.dumps(stamp, indent=2) + "\n"
    if fmt == "parquet":
        metadata = {**(table.schema.metadata or {}), b"microseg": stamp_text.encode("utf-8")}
        pq.write_table(table.replace_schema_metadata(metadata), staged["file"])
        return True
    if fmt == "jsonl":
        with staged["file"].open("w", encoding="utf-8") as out:
            for record in table.to_pylist():
                out.write(json.dumps(record, default=str, ensure_ascii=False) + "\n")
    else:
        pcsv.write_csv(_flat(table), staged["file"])
    staged["sidecar"].write_text(stamp_text, encoding="utf-8")
    return False


def _flat(table: pa.Table) -> pa.Table:
    """List columns as the "|"-separated text ``ingest`` reads back (CSV has no lists)."""
    columns = []
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
            column = pc.binary_join(column, "|")
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def ad_table(table: pa.Table, fmt: str, kinds: list[str]) -> pa.Table:
    """The hashed identifiers of ``table`` in the platform's columns; no clear value."""
    names = AD_FORMATS[fmt]
    columns = {}
    for kind in kinds:
        if kind not in names:
            continue
        values = table.column(kind).to_pylist() if kind in table.column_names else []
        columns[names[kind]] = pa.array([hashed(kind, v, fmt) for v in values], pa.string())
    return pa.table(columns) if columns else pa.table({})
