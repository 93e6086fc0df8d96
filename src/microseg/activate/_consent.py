"""Consent and reachability: who of a segment may be reached on a channel, and who may not.

A customer's consent to a channel at ``as_of`` is the latest word before that instant:

- the opt-in attribute (``email_opt_in``...) as of ``as_of``, dated from the version where
  it last took its value (a later version that repeats the value does not renew it);
- a withdrawing event (``unsubscribe``) or a restoring one (``resubscribe``) that names the
  channel (in the events' ``channel`` column, or where ``consent.event_channel`` says); a
  withdrawing event that names no channel withdraws every channel.

The later of the two wins (an event at the very instant of a version wins; of two events
at one instant, the withdrawal). A customer neither speaks for has the channel's
``default`` (false: not consented). Reachable means having one of the channel's identity
types (``email`` for e-mail, ``phone`` for SMS, either for ads). See docs/activation.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
from pydantic import Field

from microseg.config import ChannelConsent, ConsentSettings
from microseg.core.errors import ConfigError, ParameterError
from microseg.core.results import Instant, Result
from microseg.core.text import did_you_mean
from microseg.store import Store

__all__ = [
    "EXCLUSION_REASONS",
    "Audience",
    "AudienceResult",
    "channel_consent",
    "consent_of",
    "identifiers_of",
]

#: Why a member is left out of a channel's audience, in the order reasons are given.
EXCLUSION_REASONS = ("withdrawn", "no_consent", "unreachable")

#: Texts an opt-in attribute stored as text counts as "yes" (case and spaces ignored).
_YES = ("true", "yes", "y", "1", "t", "on", "opt-in", "opted-in", "subscribed")


class AudienceResult(Result):
    """What a front end shows of an audience (``--json``): sizes and who was left out."""

    segment: str
    version: str
    as_of: Instant
    channel: str | None
    members: int
    candidates: int
    excluded: dict[str, int]
    consent_ignored: bool
    #: members included although they had not consented (only with ``ignore_consent``)
    included_without_consent: int
    identifiers: list[str]
    warnings: list[str] = Field(default_factory=list)


@dataclass(frozen=True)
class Audience:
    """A segment's members at ``as_of`` who may be reached on ``channel``.

    ``members`` is an Arrow table: ``customer_id`` and one column per identity type of the
    channel (its first identifier), sorted by id. ``excluded`` counts those left out by
    reason: ``withdrawn`` (an unsubscribe event is their latest word), ``no_consent``
    (never opted in, opted out by the attribute, or no information and a false default),
    ``unreachable`` (consented but without the channel's identifier). Without a channel
    everyone in the segment is a member and nothing is excluded.
    """

    segment: str
    version: str
    as_of: datetime
    channel: str | None
    members: pa.Table
    candidates: int
    excluded: dict[str, int] = field(default_factory=dict)
    consent_ignored: bool = False
    included_without_consent: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return int(self.members.num_rows)

    @property
    def identifiers(self) -> list[str]:
        return [c for c in self.members.column_names if c != "customer_id"]

    def to_result(self) -> AudienceResult:
        return AudienceResult(
            segment=self.segment,
            version=self.version,
            as_of=self.as_of,
            channel=self.channel,
            members=self.size,
            candidates=self.candidates,
            excluded=dict(self.excluded),
            consent_ignored=self.consent_ignored,
            included_without_consent=self.included_without_consent,
            identifiers=self.identifiers,
            warnings=list(self.warnings),
        )

    def to_dict(self) -> dict[str, Any]:
        return self.to_result().to_dict()


def channel_consent(settings: ConsentSettings, channel: str) -> ChannelConsent:
    """The consent settings of ``channel``; a :class:`ParameterError` naming the known ones."""
    if channel not in settings.channels:
        known = list(settings.channels)
        raise ParameterError(
            f"unknown channel {channel!r}{did_you_mean(channel, known)}",
            where="--channel",
            hint="choose from " + ", ".join(known) + " (or declare it under consent.channels "
            "in microseg.yaml)",
        )
    return settings.channels[channel]


def _as_flag(column: ir.Value, kind: str) -> ir.BooleanValue:
    if kind == "boolean":
        return column.cast("boolean")
    if kind == "number":
        return column.cast("float64") != 0
    return column.cast("string").strip().lower().isin(list(_YES))


def _attribute_word(store: Store, name: str, kind: str, moment: datetime) -> ir.Table:
    """Per customer: the attribute's value as of ``moment`` (``attr_yes``) and when it
    took that value (``attr_at``)."""
    history = store.table("customer_history")
    known = history.filter((history.valid_from < moment) & history[name].notnull())
    flagged = known.select("customer_id", "valid_from", yes=_as_flag(known[name], kind))
    window = ibis.window(group_by="customer_id", order_by="valid_from")
    marked = flagged.mutate(before=flagged.yes.lag().over(window))
    changes = marked.filter(marked.before.isnull() | (marked.before != marked.yes))
    return changes.group_by("customer_id").aggregate(
        attr_yes=changes.yes.argmax(changes.valid_from), attr_at=changes.valid_from.max()
    )


def _event_channel(events: ir.Table, where: str) -> ir.StringValue:
    if where.startswith("properties."):
        key = where.removeprefix("properties.")
        return events.properties[key].unwrap_as("string")
    if where not in events.columns:
        raise ConfigError(
            f"consent.event_channel {where!r} is not an events column or properties.KEY"
            + did_you_mean(where, list(events.columns)),
            where="microseg.yaml: consent.event_channel",
            hint="name an events column (channel, campaign) or properties.KEY",
        )
    return events[where].cast("string")


def _event_word(
    store: Store, settings: ConsentSettings, channel: str, spec: ChannelConsent, moment: datetime
) -> ir.Table:
    """Per customer: the latest withdrawing or restoring event for ``channel`` before
    ``moment`` (``event_yes``: whether it restores) and its time (``event_at``)."""
    events = store.table("events")
    kinds = [*spec.withdrawn_by, *spec.restored_by]
    chosen = events.filter(
        events.type.isin(kinds) & (events.timestamp < moment) & events.customer_id.notnull()
    )
    named = _event_channel(chosen, settings.event_channel).strip().lower()
    unnamed = named.isnull() | (named == "")
    chosen = chosen.filter(
        (named == channel.lower()) | (unnamed & chosen.type.isin(spec.withdrawn_by))
    )
    words = chosen.select("customer_id", "timestamp", yes=chosen.type.isin(spec.restored_by))
    latest = words.group_by("customer_id").aggregate(event_at=words.timestamp.max())
    at_latest = words.join(latest, "customer_id").filter(lambda t: t.timestamp == t.event_at)
    # of two words at one instant the withdrawal wins: all() of "restores"
    return at_latest.group_by("customer_id").aggregate(
        event_at=at_latest.event_at.max(), event_yes=at_latest.yes.all()
    )


def consent_of(
    store: Store,
    members: ir.Table,
    settings: ConsentSettings,
    channel: str,
    moment: datetime,
) -> tuple[ir.Table, list[str]]:
    """``members`` (``customer_id``) with ``consented`` and ``withdrawn`` (the latest word
    is a withdrawing event) for ``channel`` at ``moment``; and warnings."""
    spec = channel_consent(settings, channel)
    warnings: list[str] = []
    table = members.select("customer_id")
    attr_yes: ir.BooleanValue | None = None
    attr_at: ir.Value | None = None
    stored = store.attribute_columns()
    if spec.attribute is not None and spec.attribute in stored:
        word = _attribute_word(store, spec.attribute, stored[spec.attribute], moment)
        word = word.rename(attr_id="customer_id")
        table = table.left_join(word, table.customer_id == word.attr_id).drop("attr_id")
        attr_yes, attr_at = table.attr_yes, table.attr_at
    elif spec.attribute is not None:
        warnings.append(
            f"the workspace has no attribute {spec.attribute!r}: {channel} consent comes "
            "from events and the default only"
        )
    event = _event_word(store, settings, channel, spec, moment).rename(ev_id="customer_id")
    table = table.left_join(event, table.customer_id == event.ev_id).drop("ev_id")
    has_event = table.event_at.notnull()
    if attr_yes is not None and attr_at is not None:
        event_wins = has_event & (attr_at.isnull() | (table.event_at >= attr_at))
        otherwise = ibis.ifelse(attr_yes.notnull(), attr_yes, ibis.literal(spec.default))
    else:
        event_wins = has_event
        otherwise = ibis.literal(spec.default)
    consented = ibis.ifelse(event_wins, table.event_yes, otherwise)
    withdrawn = event_wins & ~table.event_yes
    return (
        table.select("customer_id", consented=consented, withdrawn=withdrawn),
        warnings,
    )


def identifiers_of(store: Store, members: ir.Table, kinds: list[str]) -> ir.Table:
    """``members`` with one column per identity type: the customer's first identifier of
    that type (in value order), or null."""
    identities = store.table("identities")
    table = members
    for kind in kinds:
        if kind == "customer_id":
            continue
        of_kind = identities.filter(identities.id_type == kind)
        first = of_kind.group_by(of_kind.customer_id).aggregate(value=of_kind.id_value.min())
        first = first.rename(**{"ident_id": "customer_id", kind: "value"})
        table = table.left_join(first, table.customer_id == first.ident_id).drop("ident_id")
    return table
