"""The API's routes, one router per namespace, each calling the same ``Workspace``
namespaces the CLI calls: a route reads its parameters, calls one method and returns its
typed result. Business logic in a route is a bug (docs/architecture.md)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, StreamingResponse

from microseg.core.errors import NotFoundError, ParameterError, WorkspaceError
from microseg.core.results import instant_text, plain
from microseg.lang import SegmentDefinition, parse_definition
from microseg.service._guard import allowed, needs, still_valid
from microseg.service._problems import problem_response
from microseg.workspace import Workspace

__all__ = ["routers"]

AsOfQuery = Annotated[
    str | None, Query(description="Evaluate at this instant (ISO date or time; default: now).")
]
MAX_PAGE = 10_000
MAX_EVENTS = 50_000
#: snapshots one history request may ask: each is an evaluation at its date (about 0.2 to
#: 0.4 s on the demo shop; 316 monthly snapshots took two minutes)
MAX_SNAPSHOTS = 60
#: the folder of the workspace where exports made through the API are written
EXPORTS_FOLDER = "exports"


@contextmanager
def _opened(request: Request) -> Iterator[Workspace]:
    """A request's own session of the workspace (its own cursor and result tables), once
    the records acknowledged before are stored (a read after a write sees it)."""
    request.app.state.pipeline.drain()
    with request.app.state.workspace.session() as session:
        yield session


def _session(request: Request) -> Iterator[Workspace]:
    with _opened(request) as session:
        yield session


Session = Annotated[Workspace, Depends(_session)]


def _definition(ws: Workspace, name: str) -> SegmentDefinition:
    catalog = ws.segments.list()
    if name not in catalog.definitions:
        raise NotFoundError(f"no segment named {name!r}", hint="GET /api/segments lists them")
    return catalog.definitions[name]


def _known(ws: Workspace, names: list[str] | None) -> None:
    """404 for a segment named that does not exist (rather than the evaluator's 422)."""
    for name in names or ():
        _definition(ws, name)


# -- segments ---------------------------------------------------------------------------------

segments = APIRouter(prefix="/api/segments", tags=["segments"])


@segments.get("", dependencies=[needs("read")])
def list_segments(ws: Session) -> list[dict[str, Any]]:
    """Every segment of the workspace: name, title, description, tags, parent."""
    catalog = ws.segments.list()
    return [
        {"name": d.name, "title": d.title, "description": d.description, "tags": d.tags,
         "parent": d.parent}
        for d in catalog.definitions.values()
    ]  # fmt: skip


@segments.get("/{name}", dependencies=[needs("read")])
def read_segment(name: str, ws: Session) -> dict[str, Any]:
    """One segment's definition, as its YAML file holds it."""
    definition = _definition(ws, name)
    return definition.model_dump(mode="json", by_alias=True, exclude_none=True)


@segments.put("/{name}", dependencies=[needs("write")])
def write_segment(
    name: str,
    request: Request,
    ws: Session,
    definition: Annotated[dict[str, Any], Body(description="The segment: title, rule...")],
    dry_run: bool = False,
    as_of: AsOfQuery = None,
) -> dict[str, Any]:
    """Create or replace a segment: validated, with who would enter and leave (the diff
    preview); ``dry_run=true`` only previews."""
    given = definition.get("name", name)
    if given != name:  # the path names the segment: a body naming another was ignored
        raise ParameterError(
            f"the body names the segment {given!r}, the path {name!r}",
            where="name",
            hint=f"leave name out of the body, or PUT /api/segments/{given}",
        )
    parsed = parse_definition({**definition, "name": name})  # the CLI's messages and paths
    ws.segments.validate([name] if name in ws.segments.list().definitions else [], extra=parsed)
    preview = ws.segments.diff(parsed, as_of=as_of)
    if dry_run:
        return {"saved": False, "diff": preview.to_dict()}
    with request.app.state.write_lock:
        ws.segments.save(parsed, overwrite=True)
    return {"saved": True, "diff": preview.to_dict(), **_followed(request, ws)}


@segments.delete("/{name}", dependencies=[needs("write")])
def delete_segment(name: str, request: Request, ws: Session) -> dict[str, Any]:
    """Delete a segment's definition (refused while other segments refer to it)."""
    _definition(ws, name)
    with request.app.state.write_lock:
        ws.segments.delete(name)
    return {"deleted": name, **_followed(request, ws)}


def _followed(request: Request, ws: Workspace) -> dict[str, Any]:
    """The real-time state follows a definition just written: its entries and exits
    (trigger ``definition``) are on the stream and in the membership log before the
    answer."""
    changes = request.app.state.pipeline.follow_definitions(ws, force=True)
    entered = sum(c.change == "entered" for c in changes)
    return {"realtime_changes": {"entered": entered, "left": len(changes) - entered}}


@segments.get("/{name}/changes", dependencies=[needs("read")])
def segment_changes(
    name: str,
    ws: Session,
    after: Annotated[str | None, Query(description="Only changes after this instant.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> dict[str, Any]:
    """Entries and exits of the segment the real-time path logged, newest first (those of
    a segment since deleted too; 404 for a name neither defined nor logged)."""
    found = ws.segments.changes(segment=name, after=after, limit=limit)
    if not found:
        _definition(ws, name)  # 404 for a name never defined (a typo answered [] before)
    return {"segment": name, "changes": [change.to_dict() for change in found]}


@segments.get("/{name}/size", dependencies=[needs("read")])
def segment_size(name: str, ws: Session, as_of: AsOfQuery = None) -> dict[str, Any]:
    """How many customers the segment holds at ``as_of`` (evaluated, not stored)."""
    _definition(ws, name)
    run = ws.segments.evaluate([name], as_of=as_of, save=False)
    if run.result is not None:
        run.result.drop()
    return run.to_result().to_dict()


@segments.get("/{name}/members", dependencies=[needs("read")])
def segment_members(
    name: str,
    ws: Session,
    as_of: AsOfQuery = None,
    after: Annotated[
        str | None, Query(description="The cursor: the last id of the page before.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1000,
) -> dict[str, Any]:
    """The segment's members in id order, a page at a time: pass ``next`` as ``after``."""
    _definition(ws, name)
    page, more = _page(ws.segments.members(name, as_of=as_of), after, limit)
    return {"segment": name, "members": page, "next": page[-1] if more else None}


def _page(table: Any, after: str | None, limit: int) -> tuple[list[str], bool]:
    """A page of ``customer_id`` in id order after the cursor, and whether more follow."""
    if after is not None:
        table = table.filter(table.customer_id > after)
    ids = [str(v) for v in table.order_by("customer_id").limit(limit + 1).to_pyarrow()
           .column("customer_id").to_pylist()]  # fmt: skip
    return ids[:limit], len(ids) > limit


@segments.post("/evaluate", dependencies=[needs("read")])
def evaluate(
    request: Request,
    ws: Session,
    names: Annotated[list[str] | None, Body(embed=True)] = None,
    as_of: Annotated[str | None, Body(embed=True)] = None,
    save: Annotated[bool, Body(embed=True)] = False,
) -> dict[str, Any]:
    """Evaluate segments (all by default) at ``as_of``; ``save`` stores the snapshot and
    needs the ``write`` scope."""
    if save:  # the route needs read; saving needs write (the request was counted once)
        allowed(request, "write", limit=False)
    _known(ws, names)
    with request.app.state.write_lock if save else nullcontext():
        run = ws.segments.evaluate(names or None, as_of=as_of, save=save)
    if run.result is not None:
        run.result.drop()
    return run.to_result().to_dict()


# -- profiles ---------------------------------------------------------------------------------

profiles = APIRouter(prefix="/api/profiles", tags=["profiles"])


@profiles.get("/{customer_id}", dependencies=[needs("read")])
def read_profile(customer_id: str, request: Request, as_of: AsOfQuery = None) -> dict[str, Any]:
    """One customer: attributes at ``as_of``, event counts, traits and segments. Now (no
    ``as_of``) it is answered from the real-time state, in memory."""
    engine = request.app.state.realtime
    if as_of is None and engine is not None:
        request.app.state.pipeline.wait_applied()  # what was acknowledged before is in it
    if as_of is None and engine is not None and engine.knows(customer_id):
        one, traits, inside = engine.profile(customer_id)
        problems = list(engine.prepared.problems)
    else:
        with _opened(request) as ws:
            one = ws.profile.of(customer_id, as_of=as_of)
            problems = []
            held = ws.segments.of(customer_id, as_of=as_of, problems=problems)
            inside = frozenset(n for n, found in held.items() if found)
            traits = ws.traits.of(customer_id, as_of=as_of)
    return {
        "customer_id": customer_id,
        "attributes": _plain(dict(one.attributes)),
        "events": one.event_counts(),
        "traits": _plain(traits),
        "segments": sorted(inside),
        "problems": [{"path": p.path, "message": p.message} for p in problems],
    }


@profiles.get("/{customer_id}/explain/{segment}", dependencies=[needs("read")])
def explain(customer_id: str, segment: str, ws: Session, as_of: AsOfQuery = None) -> dict[str, Any]:
    """Why the customer is in or out of the segment, node by node."""
    _definition(ws, segment)
    result = ws.segments.explain(segment, customer_id, as_of=as_of)
    return {"segment": segment, "customer_id": customer_id, **result.to_dict()}


@profiles.get("/{customer_id}/recommendations", dependencies=[needs("read")])
def recommendations(
    customer_id: str,
    ws: Session,
    method: str = "blend",
    k: Annotated[int, Query(ge=1, le=100)] = 10,
    as_of: AsOfQuery = None,
) -> dict[str, Any]:
    """The products to suggest to the customer next (docs/insights.md)."""
    ws.profile.of(customer_id, as_of=as_of)  # 404 for an unknown customer
    found = ws.insights.recommend(customer_id, method=method, k=k, as_of=as_of)
    return found.to_dict()


@profiles.get("/{customer_id}/history", dependencies=[needs("read")])
def profile_history(
    customer_id: str,
    ws: Session,
    start: Annotated[
        str | None, Query(alias="from", description="First snapshot (default: a year ago).")
    ] = None,
    end: Annotated[
        str | None, Query(alias="to", description="Last snapshot (default: now).")
    ] = None,
    every: Annotated[str, Query(description="`month` or `week`.")] = "month",
    segments: Annotated[list[str] | None, Query(description="Only these segments.")] = None,
) -> dict[str, Any]:
    """The customer's segments at each snapshot and the entries and exits between them
    (``microseg profile --history``); at most ``MAX_SNAPSHOTS`` snapshots a request."""
    ws.profile.of(customer_id)  # 404 for an unknown customer
    found: dict[str, Any] = ws.insights.history(
        customer_id,
        start=start,
        end=end,
        every=every,
        segments=segments or None,
        max_snapshots=MAX_SNAPSHOTS,
    ).to_dict()
    return found


@profiles.get("/{customer_id}/changes", dependencies=[needs("read")])
def profile_changes(
    customer_id: str,
    ws: Session,
    after: Annotated[str | None, Query(description="Only changes after this instant.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> dict[str, Any]:
    """The customer's entries and exits the real-time path logged, newest first, each
    with its instant and trigger (404 for an unknown customer with none logged)."""
    found = ws.segments.changes(customer_id=customer_id, after=after, limit=limit)
    if not found:
        ws.profile.of(customer_id)  # 404 for an unknown customer (a typo answered [] before)
    return {"customer_id": customer_id, "changes": [change.to_dict() for change in found]}


@profiles.get("/{customer_id}/identifiers", dependencies=[needs("admin")])
def identifiers(customer_id: str, ws: Session) -> dict[str, Any]:
    """The customer's e-mails, phones and other identifiers (``admin`` keys only)."""
    ws.profile.of(customer_id)  # 404 for an unknown customer
    table = ws.store.table("identities")
    rows = table.filter(table.customer_id == customer_id).to_pyarrow().to_pylist()
    return {
        "customer_id": customer_id,
        "identifiers": [{"type": r["id_type"], "value": r["id_value"]} for r in rows],
    }


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: plain(v) for k, v in values.items()}


# -- data in ----------------------------------------------------------------------------------

data = APIRouter(prefix="/api", tags=["data"])

Rows = Annotated[
    dict[str, Any] | list[dict[str, Any]],
    Body(description="One record or a list of them, with the columns `microseg ingest` reads."),
]


def accepted(kind: str, job: Any) -> dict[str, Any]:
    """The ``202`` answer of records taken by the fast lane (``job``: their pipeline job)."""
    return {"kind": kind, "accepted": len(job.rows), "duplicates": job.duplicates,
            "rejected": 0, "stored": False}  # fmt: skip


async def _load(request: Request, kind: str, rows: Any, wait: bool) -> JSONResponse:
    records = rows if isinstance(rows, list) else [rows]
    if not records:
        raise ParameterError("no records: send one object or a non-empty list")
    if len(records) > MAX_EVENTS:
        raise ParameterError(f"{len(records):,} records: send at most {MAX_EVENTS:,} at once")
    job = await request.app.state.pipeline.submit(kind, records, wait=wait)
    if job.report is None:  # the fast lane: written ahead, in the real-time state
        return JSONResponse(accepted(kind, job), status_code=202)
    report = job.report
    body = {**report.to_dict(), "stored": True, "batched_requests": job.batched}
    if job.fast is not None:  # a split request: the fast part's records are counted too
        assert job.fast.rows is not None
        body["accepted"] += len(job.fast.rows)
        body["duplicates"] += job.fast.duplicates
        body["rows_read"] = len(records)
        body["fast_lane"] = {"accepted": len(job.fast.rows), "duplicates": job.fast.duplicates}
    size = len(job.records)
    mine = [r for r in job.rejected if job.offset < int(r.get("row") or 0) <= job.offset + size]
    if not mine:
        return JSONResponse(body)
    where = job.index or list(range(size))  # position in the request of each record loaded
    problems = [
        {"path": f"[{where[int(r['row']) - 1 - job.offset]}].{r['column']}",
         "message": str(r["reason"])}
        for r in mine
    ]  # fmt: skip
    return problem_response(
        422,
        "invalid data",
        f"{len(mine):,} of {len(records):,} record(s) rejected; "
        f"{len(records) - len(mine):,} accepted",
        problems=problems,
        hint="the rejected records are kept: `microseg rejects --load "
        f"{report.load_id}` (or GET /api/rejects)",
        extra={"report": body},
    )


WaitQuery = Annotated[
    bool,
    Query(
        description="Answer once the records are in the store, with the load's report "
        "(default: events the loader will certainly accept are answered 202 once written "
        "ahead and in the real-time state)."
    ),
]


@data.post("/events", dependencies=[needs("write")])
async def ingest_events(rows: Rows, request: Request, wait: WaitQuery = False) -> JSONResponse:
    """Ingest events (one or a batch), validated as `microseg ingest events` validates;
    ``202`` when written ahead and applied in real time, to be stored a moment later
    (docs/service.md, "Events in"), ``200`` with the load's report once stored."""
    return await _load(request, "events", rows, wait)


@data.post("/customers", dependencies=[needs("write")])
async def ingest_customers(rows: Rows, request: Request) -> JSONResponse:
    """Ingest customer profiles or profile updates (one or a batch); answered once stored."""
    return await _load(request, "customers", rows, True)


@data.get("/rejects", dependencies=[needs("read")])
def rejects(
    ws: Session,
    load_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> list[dict[str, Any]]:
    """Rejected rows, newest load first, with the reason."""
    rows = ws.rejects(load_id=load_id, limit=limit).to_pyarrow().to_pylist()
    return [_plain(r) for r in rows]


@data.get("/status", dependencies=[needs("read")])
def status(ws: Session) -> dict[str, Any]:
    """What the workspace holds: tables, dates, rejects, the last load."""
    return ws.status().to_dict()


# -- insights ---------------------------------------------------------------------------------

insights = APIRouter(prefix="/api/insights", tags=["insights"])


@insights.get("/value", dependencies=[needs("read")])
def value(
    ws: Session,
    segments: Annotated[list[str] | None, Query()] = None,
    as_of: AsOfQuery = None,
    by: str = "clv_total",
) -> dict[str, Any]:
    """Segments ranked by value, with market potential (docs/insights.md)."""
    _known(ws, segments)
    return ws.insights.value(segments or None, as_of=as_of, by=by).to_dict()


# -- discovery, governance, activation (read) -------------------------------------------------

reports = APIRouter(prefix="/api", tags=["discovery, governance, activation"])


@reports.get("/discover/runs", dependencies=[needs("read")])
def discovery_runs(ws: Session) -> list[dict[str, Any]]:
    """The stored discovery runs, newest first (``microseg discover list``); instants in
    UTC with ``Z``, as in one run's answer."""
    return [
        {k: instant_text(v) if isinstance(v, datetime) else v for k, v in plain(run).items()}
        for run in ws.discover.list()
    ]


@reports.get("/discover/runs/{run}", dependencies=[needs("read")])
def discovery_run(run: str, ws: Session) -> dict[str, Any]:
    """One discovery run: its clusters, their sizes and the rules that describe them."""
    shown: dict[str, Any] = plain(ws.discover.show(run))  # a name, or an id in digits
    return shown


@reports.post("/discover/runs/{run}/clusters/{cluster}/save", dependencies=[needs("write")])
def save_cluster(
    run: str,
    cluster: int,
    request: Request,
    ws: Session,
    name: Annotated[str, Body(embed=True, description="The new segment's name.")],
    overwrite: Annotated[bool, Body(embed=True)] = False,
) -> dict[str, Any]:
    """Save a micro-segment's rule as a segment (``microseg discover save``), checked
    against the workspace; the real-time state follows it at once."""
    with request.app.state.write_lock:
        ws.discover.save(run, cluster, name=name, overwrite=overwrite)
    definition = _definition(ws, name).model_dump(mode="json", by_alias=True, exclude_none=True)
    return {"saved": name, "definition": definition, **_followed(request, ws)}


@reports.get("/audit", dependencies=[needs("read")])
def audit(
    ws: Session,
    segments: Annotated[list[str] | None, Query()] = None,
    as_of: AsOfQuery = None,
) -> dict[str, Any]:
    """Coverage, selection-rate ratios and proxies of the segments (docs/governance.md)."""
    _known(ws, segments)
    found: dict[str, Any] = ws.govern.audit(segments or None, as_of=as_of).to_dict()
    return found


@reports.get("/quality", dependencies=[needs("read")])
def quality(ws: Session) -> dict[str, Any]:
    """The data quality report (``microseg quality``)."""
    found: dict[str, Any] = ws.govern.quality().to_dict()
    return found


@reports.get("/exports", dependencies=[needs("read")])
def exports(ws: Session, segment: str | None = None) -> list[dict[str, Any]]:
    """The exports log, newest first (of ``segment`` when given)."""
    return [record.to_dict() for record in ws.activate.exports(segment)]


_FILE_HELP = (
    "A file name, written in the workspace's `exports/` folder (letters, digits, `.`, `_`, `-`)."
)
_FORMAT_HELP = "csv, parquet, jsonl, google-ads or meta-ads (default: from the file's suffix)."


@reports.post("/exports", dependencies=[needs("write")], status_code=201)
def create_export(  # noqa: PLR0913 - the documented options of an export
    request: Request,
    ws: Session,
    segment: Annotated[str, Body(embed=True)],
    file: Annotated[
        str,
        Body(embed=True, description=_FILE_HELP),
    ],
    format: Annotated[str | None, Body(embed=True, description=_FORMAT_HELP)] = None,
    columns: Annotated[list[str] | None, Body(embed=True)] = None,
    channel: Annotated[str | None, Body(embed=True)] = None,
    as_of: Annotated[str | None, Body(embed=True)] = None,
    delta: Annotated[bool, Body(embed=True)] = False,
    ignore_consent: Annotated[
        bool, Body(embed=True, description="Needs an `admin` key (and is recorded).")
    ] = False,
    overwrite: Annotated[
        bool, Body(embed=True, description="Replace a file of that name (a delta always does).")
    ] = False,
) -> dict[str, Any]:
    """Export a segment's audience to a file in the workspace's ``exports/`` folder
    (``microseg export``): consent-aware, stamped, recorded in the exports log; an
    ``admin`` key downloads it from ``/api/exports/{export_id}/file``."""
    if ignore_consent:
        allowed(request, "admin", limit=False)
    _known(ws, [segment])
    path = _export_path(ws, file)
    if path.exists() and not (overwrite or delta):
        raise WorkspaceError(
            f"exports/{file} exists already",
            where="file",
            hint='choose another name, or send "overwrite": true to replace it',
        )
    with request.app.state.write_lock:
        done = ws.activate.export(
            segment, to=path, format=format, columns=columns, channel=channel, as_of=as_of,
            delta=delta, ignore_consent=ignore_consent,
        )  # fmt: skip
    return done.to_dict()


#: an export's file name through the API: no folder, no hidden file, bounded
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,119}")
#: the ending of an export's stamp, written beside it
_STAMP = ".microseg.json"


def _export_path(ws: Workspace, name: str) -> Path:
    if not _FILE_NAME.fullmatch(name) or ".." in name or name.endswith(_STAMP):
        raise ParameterError(
            f"{name[:130]!r} is not a file name the service writes",
            where="file",
            hint="a name such as vip.csv: letters, digits, '.', '_' and '-', at most 120, "
            f"not ending in {_STAMP} (an export's stamp); written in the workspace's exports/ "
            "folder",
        )
    folder = ws.path / EXPORTS_FOLDER
    folder.mkdir(exist_ok=True)
    return folder / name


@reports.get("/exports/{export_id}/file", dependencies=[needs("admin")])
def export_file(export_id: int, ws: Session) -> FileResponse:
    """The file of an export made through the API (``admin`` keys only: it may hold
    identifiers); not one a later export to the same name replaced."""
    path, record = ws.activate.export_file(export_id, within=ws.path / EXPORTS_FOLDER)
    kind = _MEDIA.get(record.format, "application/octet-stream")
    return FileResponse(path, filename=path.name, media_type=kind)


#: what an export's file is, by its format
_MEDIA = {"csv": "text/csv", "jsonl": "application/x-ndjson",
          "parquet": "application/vnd.apache.parquet", "google-ads": "text/csv",
          "meta-ads": "text/csv"}  # fmt: skip


@reports.get("/campaigns", dependencies=[needs("read")])
def campaigns(ws: Session) -> dict[str, Any]:
    """Every stored campaign, the latest sent first."""
    found: dict[str, Any] = ws.activate.campaigns().to_dict()
    return found


@reports.post("/campaigns", dependencies=[needs("write")], status_code=201)
def create_campaign(  # noqa: PLR0913 - the documented options of a campaign
    request: Request,
    ws: Session,
    name: Annotated[str, Body(embed=True)],
    segment: Annotated[str | None, Body(embed=True)] = None,
    audience: Annotated[
        list[str] | None, Body(embed=True, description="Customer ids (instead of a segment).")
    ] = None,
    holdout: Annotated[
        float | str, Body(embed=True, description="The control group: 0.1 or `10%`.")
    ] = 0.1,
    channel: Annotated[str, Body(embed=True)] = "email",
    as_of: Annotated[str | None, Body(embed=True)] = None,
    salt: Annotated[str | None, Body(embed=True)] = None,
) -> dict[str, Any]:
    """Store a campaign with a deterministic control group (``microseg campaign
    create``); the treatment group, those to send to, is at
    ``/api/campaigns/{name}/members``."""
    _known(ws, [segment] if segment is not None else None)
    with request.app.state.write_lock:
        info = ws.activate.campaign_create(
            name, segment=segment, audience=audience, holdout=holdout, channel=channel,
            as_of=as_of, salt=salt,
        )  # fmt: skip
    found: dict[str, Any] = info.to_dict()
    return found


@reports.get("/campaigns/{name}/members", dependencies=[needs("read")])
def campaign_members(
    name: str,
    ws: Session,
    group: Annotated[str, Query(description="`treatment` (to send to) or `control`.")] = (
        "treatment"
    ),
    after: Annotated[
        str | None, Query(description="The cursor: the last id of the page before.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1000,
) -> dict[str, Any]:
    """A campaign's treatment (or control) group in id order, a page at a time."""
    page, more = _page(ws.activate.campaign_members(name, group=group), after, limit)
    return {"campaign": name, "group": group, "members": page, "next": page[-1] if more else None}


@reports.get("/campaigns/{name}/measure", dependencies=[needs("read")])
def campaign_measure(
    name: str, ws: Session, outcome: str = "email_open", window: str = "14 days"
) -> dict[str, Any]:
    """A campaign's uplift on ``outcome`` events within ``window`` after the send, with
    its intervals (docs/activation.md)."""
    found: dict[str, Any] = ws.activate.campaign_measure(
        name, outcome=outcome, window=window
    ).to_dict()
    return found


# -- operations -------------------------------------------------------------------------------

operations = APIRouter(tags=["operations"])


@operations.get("/health")
def health() -> dict[str, str]:
    """Liveness: the process answers (no key needed)."""
    return {"status": "ok"}


@operations.get("/ready", dependencies=[needs("read")])
def ready(request: Request) -> dict[str, Any]:
    """Readiness: the store is open and answers."""
    ws: Workspace = request.app.state.workspace
    with ws.session() as session:  # the workspace's own cursor is not for requests
        session.store.table_names()
    return {
        "ready": True,
        "store": "open",
        "workspace": ws.config.name,
        "replayed": request.app.state.replayed,
    }


@operations.get("/metrics", dependencies=[needs("read")], response_class=PlainTextResponse)
def metrics(request: Request) -> PlainTextResponse:
    """Prometheus text format: requests by route and status, latency, events."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return PlainTextResponse(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )


# -- real time --------------------------------------------------------------------------------

realtime = APIRouter(prefix="/api", tags=["real time"])


@realtime.get("/stream/memberships", dependencies=[needs("read")])
async def stream(
    request: Request,
    segment: Annotated[list[str] | None, Query(description="Only these segments.")] = None,
) -> StreamingResponse:
    """Entries and exits as they happen, as server-sent events (``event: membership``, the
    change as JSON in ``data``); ``segment`` filters (repeatable). The stream ends within a
    second of its key being revoked, or of the server being told to stop."""
    engine = request.app.state.realtime
    if engine is None:
        raise ParameterError("the real-time path is off in this service")
    wanted = set(segment or ())
    unknown = sorted(wanted - set(engine.names))
    if unknown:  # a typo would wait forever for changes that never come
        raise NotFoundError(
            f"the real-time path holds no segment named {unknown[0]!r}",
            hint="GET /api/segments lists them (one with problems is not held)",
        )
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str] = asyncio.Queue(maxsize=10_000)

    def listener(changes: list[Any]) -> None:
        texts = [
            f"event: membership\ndata: {change.model_dump_json()}\n\n"
            for change in changes
            if not wanted or change.segment in wanted
        ]
        if texts:
            loop.call_soon_threadsafe(_offer, queue, texts)

    async def events() -> AsyncIterator[str]:
        engine.listeners.append(listener)
        try:
            yield ": connected\n\n"
            while not await request.is_disconnected():
                if not still_valid(request.app.state, request.scope):
                    yield ": the key was revoked\n\n"
                    return
                if request.app.state.stopping.is_set():
                    yield ": the server is stopping\n\n"
                    return
                try:
                    texts = [await asyncio.wait_for(queue.get(), timeout=1.0)]
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                while not queue.empty():  # what came meanwhile goes in the same write
                    texts.append(queue.get_nowait())
                yield "".join(texts)
        finally:
            engine.listeners.remove(listener)

    return StreamingResponse(events(), media_type="text/event-stream")


def _offer(queue: asyncio.Queue[str], texts: list[str]) -> None:
    for text in texts:
        if queue.full():  # a reader too slow loses changes rather than the server memory
            return
        queue.put_nowait(text)


@realtime.get("/segments-of/{customer_id}", dependencies=[needs("read")])
def realtime_segments(customer_id: str, request: Request) -> dict[str, Any]:
    """The customer's segments as the real-time path holds them now (from memory)."""
    engine = request.app.state.realtime
    if engine is None:
        raise ParameterError("the real-time path is off in this service")
    request.app.state.pipeline.wait_applied()  # what was acknowledged before is in it
    if not engine.knows(customer_id):
        raise NotFoundError(f"no customer {customer_id!r}", hint="check the id")
    return {"customer_id": customer_id, "segments": sorted(engine.segments_of(customer_id))}


@realtime.post("/reconcile", dependencies=[needs("write")])
def reconcile(
    request: Request,
    ws: Session,
    heal: Annotated[
        bool, Query(description="Set each disagreement to the batch answer (false: only look).")
    ] = True,
) -> dict[str, Any]:
    """Batch at now against the real-time state: every disagreement (the target: none),
    each then set to the batch answer and logged (trigger ``reconcile``)."""
    if request.app.state.realtime is None:
        raise ParameterError("the real-time path is off in this service")
    answer: dict[str, Any] = request.app.state.pipeline.reconcile(ws, heal=heal).to_dict()
    return answer


routers = [operations, segments, profiles, data, insights, reports, realtime]
