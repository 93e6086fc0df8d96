"""The engine seam of the language: the functions whose spelling differs between engines.

The batch compiler lowers rules to Ibis, which runs on any backend, except for a few
functions Ibis does not spell the same everywhere: the bucket hash of ``bucket:``, the
conversion of an event's time to the workspace zone (``month``, ``hour``...), the regular
expressions of ``matches``, the reading of one JSON property and the customers that hold
an identity of a type (``has:``). They sit behind
:class:`Dialect`; DuckDB's implementation is :class:`microseg.store.DuckDBDialect`, and a
Spark backend is one more. The per-profile interpreter runs their Python twins, defined
here beside the protocol so that the two are read (and changed) together.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

import ibis.expr.types as ir

from microseg.lang._regex import search

__all__ = ["Dialect", "bucket_of", "has_identity", "local_time", "regex_search"]


class Dialect(Protocol):
    """What the batch compiler asks of an engine; each method returns an Ibis expression."""

    def bucket(self, customer_id: ir.StringValue, salt: str) -> ir.IntegerValue:
        """The customer's bucket in [0, 100): as :func:`bucket_of`, bit for bit."""
        ...

    def local_time(self, moment: ir.TimestampValue, zone: str) -> ir.TimestampValue:
        """A naive UTC timestamp as naive wall-clock time in ``zone`` (:func:`local_time`)."""
        ...

    def regex_search(self, text: ir.StringValue, pattern: str) -> ir.BooleanValue:
        """Whether ``pattern`` occurs in ``text``, ignoring case (:func:`regex_search`)."""
        ...

    def json_property(self, properties: ir.JSONValue, name: str) -> ir.JSONValue:
        """The value of the key ``name`` of a JSON object, whatever characters it holds."""
        ...

    def identity_holders(self, identities: ir.Table, id_type: str) -> ir.Table:
        """The customers holding an identity of ``id_type``: one row per ``customer_id``
        of the identities table (:func:`has_identity`)."""
        ...


# -- the Python twins (the per-profile interpreter) ------------------------------------------


def bucket_of(customer_id: str, salt: str) -> int:
    """Deterministic bucket in [0, 100): the low 64 bits of md5(salt:customer_id), mod 100."""
    digest = hashlib.md5(f"{salt}:{customer_id}".encode(), usedforsecurity=False).digest()
    return int.from_bytes(digest[8:], "little") % 100


def local_time(moment: datetime, zone: str) -> datetime:
    """A naive UTC instant as (aware) wall-clock time in ``zone``."""
    return moment.replace(tzinfo=UTC).astimezone(ZoneInfo(zone))


def has_identity(identity_types: Collection[str], id_type: str) -> bool:
    """Whether a customer whose identities are of ``identity_types`` holds an ``id_type``."""
    return id_type in identity_types


def regex_search(text: str, pattern: str) -> bool:
    """Whether ``pattern`` occurs in ``text``, ignoring case (RE2)."""
    return search(pattern, text)
