"""DuckDB's implementation of the language's dialect (microseg.lang's ``Dialect`` protocol).

The only place where the language's engine-specific functions are named: DuckDB's
``md5_number_lower`` and ``timezone``, its RE2 regular expressions and its JSON pointers.
Each is an Ibis expression; values from rules reach DuckDB as literals, never as SQL text.
"""

from __future__ import annotations

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

__all__ = ["DuckDBDialect"]

#: The inline flag DuckDB's RE2 reads: matching ignores case, as the other text operators do.
_CASE_INSENSITIVE = "(?i)"


@ibis.udf.scalar.builtin(name="md5_number_lower")  # type: ignore[untyped-decorator]
def _md5_low(value: str) -> dt.UInt64:
    """DuckDB's low 64 bits of md5, as in microseg.lang's ``bucket_of``."""


@ibis.udf.scalar.builtin(name="timezone")  # type: ignore[untyped-decorator]
def _utc_instant(zone: str, ts: dt.timestamp) -> dt.Timestamp(timezone="UTC"):  # type: ignore[valid-type]
    """DuckDB's timezone(): a naive timestamp read in ``zone``, as an instant."""


@ibis.udf.scalar.builtin(name="timezone")  # type: ignore[untyped-decorator]
def _instant_to_local(zone: str, ts: dt.Timestamp(timezone="UTC")) -> dt.timestamp:  # type: ignore[valid-type]
    """DuckDB's timezone(): an instant as local time in ``zone`` (naive)."""


def json_pointer(name: str) -> str:
    """The JSON pointer (RFC 6901) of the property ``name``: one key, whatever it contains.

    A JSON path (``$.a.b``) would read ``a.b`` as a path into ``a``, ``*`` as every key and
    ``[0]`` as an index, and quotes in a name would end the path; a pointer names exactly one
    key (``~`` and ``/`` escaped). It reaches DuckDB as a literal, never as SQL text.
    """
    return "/" + name.replace("~", "~0").replace("/", "~1")


class DuckDBDialect:
    """The language's engine functions in DuckDB (see microseg.lang's ``Dialect``)."""

    def bucket(self, customer_id: ir.StringValue, salt: str) -> ir.IntegerValue:
        key = ibis.literal(salt + ":").concat(customer_id)
        bucket: ir.IntegerValue = (_md5_low(key) % 100).cast("int64")
        return bucket

    def local_time(self, moment: ir.TimestampValue, zone: str) -> ir.TimestampValue:
        local: ir.TimestampValue = _instant_to_local(zone, _utc_instant("UTC", moment))
        return local

    def regex_search(self, text: ir.StringValue, pattern: str) -> ir.BooleanValue:
        return text.re_search(_CASE_INSENSITIVE + pattern)

    def json_property(self, properties: ir.JSONValue, name: str) -> ir.JSONValue:
        value: ir.JSONValue = properties[json_pointer(name)]
        return value

    def identity_holders(self, identities: ir.Table, id_type: str) -> ir.Table:
        chosen = identities.filter(identities.id_type == ibis.literal(id_type))
        return chosen.select("customer_id").distinct()

    # the two halves of local_time, for the value summaries' own local-time columns
    @staticmethod
    def utc_instant(zone: str, moment: ir.TimestampValue) -> ir.TimestampValue:
        """A naive timestamp read in ``zone``, as an instant (DuckDB's ``timezone``)."""
        instant: ir.TimestampValue = _utc_instant(zone, moment)
        return instant

    @staticmethod
    def instant_to_local(zone: str, moment: ir.TimestampValue) -> ir.TimestampValue:
        """An instant as naive local time in ``zone`` (DuckDB's ``timezone``)."""
        local: ir.TimestampValue = _instant_to_local(zone, moment)
        return local
