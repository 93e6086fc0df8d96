"""What ``ws.activate``'s campaign methods do: gather inputs, call the pieces, return results."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

from microseg.activate._campaigns import (
    CampaignInfo,
    CampaignList,
    campaign_info,
    known_campaign,
    parse_share,
    store_campaign,
)
from microseg.activate._measure import (
    LEVEL,
    CampaignMeasurement,
    cells_of,
    measure_slice,
    outcomes,
    slice_by,
)
from microseg.context import Context
from microseg.core.duration import parse_duration
from microseg.core.errors import ParameterError
from microseg.core.text import did_you_mean
from microseg.core.time import AsOf
from microseg.segments.api import Segments
from microseg.store import CampaignRepository, Store

__all__ = ["CampaignRequest", "create_campaign", "list_campaigns", "measure_campaign"]


@dataclass(frozen=True)
class CampaignRequest:
    """The arguments of ``campaign_create``."""

    name: str
    segment: str | None
    audience: Sequence[str] | None
    holdout: float | str
    channel: str
    as_of: AsOf | None
    salt: str | None
    to: str | Path | None


def create_campaign(
    context: Context,
    segments: Segments,
    request: CampaignRequest,
    audience_of: Callable[..., Any] | None = None,
) -> CampaignInfo:
    """Split the audience, store the campaign, write the treatment group (``to``).

    With a segment, the audience is its members who consented to the campaign's channel
    and are reachable on it (``audience_of``: ``ws.activate.audience``); ids given are
    taken as they are."""
    if (request.segment is None) == (request.audience is None):
        raise ParameterError("give a segment or an audience (customer ids), not both or neither")
    holdout = parse_share(request.holdout)
    if not request.channel.strip():
        raise ParameterError("the channel cannot be empty, e.g. email, sms or ads")
    sent_at = context.instant(request.as_of)
    # the send time as an instant: a naive time given back would be read in the
    # workspace's zone (the audience of an hour or two before, in Paris)
    at = sent_at.replace(tzinfo=UTC)
    version: str | None = None
    description: str | None = None
    if request.segment is not None:
        run = segments.evaluate([request.segment], as_of=at, save=True)
        version = run.versions[request.segment]
        ids = [str(c) for c in run.members(request.segment).to_pyarrow().column(0).to_pylist()]
        if run.result is not None:
            run.result.drop()
        if audience_of is not None:
            reachable = audience_of(
                request.segment, channel=request.channel.strip(), as_of=at
            ).members.column("customer_id")
            allowed = {str(c) for c in reachable.to_pylist()}
            ids = [c for c in ids if c in allowed]
    else:
        ids = [str(c) for c in request.audience or ()]
        description = "customer ids given"
    row = {
        "name": request.name,
        "segment": request.segment,
        "version": version,
        "audience": description,
        "sent_at": sent_at,
        "holdout": holdout,
        "salt": request.salt if request.salt is not None else f"campaign:{request.name}",
        "channel": request.channel.strip(),
        "created_at": context.now(),
        "target": str(request.to) if request.to is not None else None,
    }
    to = Path(request.to) if request.to is not None else None
    return store_campaign(context.store, row, ids, to)


def list_campaigns(store: Store) -> CampaignList:
    return CampaignList(campaigns=[campaign_info(r) for r in CampaignRepository(store).all()])


def _window(text: str) -> timedelta:
    duration = parse_duration(text)
    if duration.unit in ("months", "years"):
        raise ParameterError(
            f"window {text!r}: give it in days, hours or weeks (a window is an exact length)"
        )
    return duration.approx_timedelta()


def measure_campaign(
    context: Context,
    segments: Segments,
    name: str,
    outcome: str,
    window: str,
    by: list[str],
    *,
    with_cuped: bool,
) -> CampaignMeasurement:
    """The campaign's figures, whole and for each part ``by`` asks for."""
    store = context.store
    row = known_campaign(CampaignRepository(store), name)
    length = _window(window)
    types = store.event_types()
    if outcome not in types:
        raise ParameterError(
            f"no events of type {outcome!r} in the workspace{did_you_mean(outcome, types)}",
            hint="the outcome is an event type, e.g. purchase, email_open or email_click",
        )
    sent_at = row["sent_at"]  # naive UTC, as stored
    at = sent_at.replace(tzinfo=UTC)  # as an instant for the evaluations (see create_campaign)
    data = outcomes(store, name, outcome, sent_at, length)
    slices = [measure_slice(data, name, "campaign", with_cuped=with_cuped)]
    known = set(segments.list().definitions)
    for segment in [b for b in by if b in known]:
        members = segments.members(segment, as_of=at).to_pyarrow().column(0).to_pylist()
        part = slice_by(data, {str(c) for c in members})
        slices.append(measure_slice(part, segment, "segment", with_cuped=with_cuped))
    dimensions = [b for b in by if b not in known]
    for item in dimensions:
        close = did_you_mean(item, known)
        if close:
            raise ParameterError(
                f"by {item!r}: no segment of that name{close}",
                hint="give a segment's name, or a grid dimension such as gender or age:25,45",
            )
    if dimensions:
        cells = segments.grid_cells(dimensions, as_of=at).to_pyarrow().to_pylist()
        lookup = {str(r["customer_id"]): str(r["cell"]) for r in cells}
        for cell, part in cells_of(data, lookup):
            slices.append(measure_slice(part, cell, "cell", with_cuped=with_cuped))
    end = sent_at + length
    complete = context.now() >= end
    notes = [] if complete else [f"the window is not over: outcomes may still arrive until {end}"]
    return CampaignMeasurement(
        name=name,
        outcome=outcome,
        window=str(parse_duration(window)),
        sent_at=sent_at,
        window_end=end,
        window_complete=complete,
        pre_period_start=sent_at - length,
        level=LEVEL,
        slices=slices,
        notes=notes,
    )
