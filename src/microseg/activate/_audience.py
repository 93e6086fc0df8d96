"""A segment's audience on a channel: members who consented and can be reached."""

from __future__ import annotations

from datetime import datetime

import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc

from microseg.activate._consent import (
    Audience,
    channel_consent,
    consent_of,
    identifiers_of,
)
from microseg.config import ConsentSettings
from microseg.store import Store

__all__ = ["build_audience"]


def build_audience(
    store: Store,
    settings: ConsentSettings,
    members: ir.Table,
    *,
    segment: str,
    version: str,
    moment: datetime,
    channel: str | None,
    ignore_consent: bool = False,
) -> Audience:
    """The :class:`Audience` of ``members`` (a ``customer_id`` table) on ``channel``.

    Without a channel every member is kept (nothing to consent to, nothing to reach).
    With ``ignore_consent`` consent is not applied (members without it are counted in
    ``included_without_consent``), but reachability still is: a message needs an address.
    """
    if channel is None:
        table = members.select("customer_id").order_by("customer_id").to_pyarrow()
        return Audience(segment, version, moment, None, table, int(table.num_rows))
    spec = channel_consent(settings, channel)
    consent, warnings = consent_of(store, members, settings, channel, moment)
    kinds = [k for k in spec.identities if k != "customer_id"]
    joined = identifiers_of(store, consent, kinds).order_by("customer_id").to_pyarrow()
    reachable = _any_present(joined, kinds) if kinds else pa.array([True] * joined.num_rows)
    consented = pc.fill_null(joined.column("consented"), False)
    withdrawn = pc.fill_null(joined.column("withdrawn"), False)
    if ignore_consent:
        keep = reachable
        excluded = {
            "withdrawn": 0,
            "no_consent": 0,
            "unreachable": _count(pc.invert(reachable)),
        }
        without = _count(pc.and_(reachable, pc.invert(consented)))
    else:
        keep = pc.and_(consented, reachable)
        excluded = {
            "withdrawn": _count(withdrawn),
            "no_consent": _count(pc.and_(pc.invert(consented), pc.invert(withdrawn))),
            "unreachable": _count(pc.and_(consented, pc.invert(reachable))),
        }
        without = 0
    table = joined.filter(keep).select(["customer_id", *kinds])
    return Audience(
        segment,
        version,
        moment,
        channel,
        table,
        int(joined.num_rows),
        excluded=excluded,
        consent_ignored=ignore_consent,
        included_without_consent=without,
        warnings=warnings,
    )


def _any_present(table: pa.Table, kinds: list[str]) -> pa.ChunkedArray:
    present = pc.is_valid(table.column(kinds[0]))
    for kind in kinds[1:]:
        present = pc.or_(present, pc.is_valid(table.column(kind)))
    return present


def _count(mask: pa.ChunkedArray | pa.Array) -> int:
    return int(pc.sum(pc.cast(mask, pa.int64())).as_py() or 0)
