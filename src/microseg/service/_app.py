"""The service: a FastAPI app over one open workspace, and ``serve`` to run it with uvicorn.

The OpenAPI schema is at ``/openapi.json`` and Swagger UI at ``/docs``, its files served
from the ``swagger-ui-bundle`` wheel: the page loads nothing from elsewhere.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import logging
import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from microseg.service._fast_events import FastEvents
from microseg.service._guard import (
    BodyLimit,
    RateLimiter,
    SecurityHeaders,
    ServiceSettings,
    store_threads,
)
from microseg.service._keys import KeyRing
from microseg.service._pipeline import Pipeline
from microseg.service._problems import bug_response, install_problem_handlers
from microseg.service._realtime import RealTime, record
from microseg.service._routes import routers
from microseg.service._wal import WriteAheadLog
from microseg.workspace import SERVED_FILE, Workspace

__all__ = ["Metrics", "create_app", "serve"]

_LOG = logging.getLogger("microseg.service")


@dataclass
class Metrics:
    """The service's Prometheus metrics, in a registry of its own."""

    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    events: Counter
    changes: Counter
    pushes: Counter
    disagreements: Counter
    queued: Gauge
    divergences: Counter
    evaluation: Histogram
    applied: Histogram
    loads: Histogram
    webhooks: Counter
    retries: Counter

    @classmethod
    def create(cls) -> Metrics:
        registry = CollectorRegistry()
        return cls(
            registry=registry,
            requests=Counter(
                "microseg_requests",
                "HTTP requests answered, by route and status",
                ["method", "route", "status"],
                registry=registry,
            ),
            latency=Histogram(
                "microseg_request_seconds",
                "Time to answer a request, by route",
                ["route"],
                registry=registry,
                buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            ),
            events=Counter(
                "microseg_events", "Events received, by outcome", ["outcome"], registry=registry
            ),
            changes=Counter(
                "microseg_membership_changes",
                "Segment entries and exits found by the real-time path",
                registry=registry,
            ),
            pushes=Counter(
                "microseg_followed_pushes",
                "Pushes of followed segments' changes to webhook destinations",
                registry=registry,
            ),
            disagreements=Counter(
                "microseg_reconciliation_disagreements",
                "Customer and segment pairs where batch and real time differed",
                registry=registry,
            ),
            queued=Gauge(
                "microseg_unstored_records",
                "Records acknowledged (in the write-ahead file) and not yet in the store",
                registry=registry,
            ),
            divergences=Counter(
                "microseg_fast_lane_divergences",
                "Fast-lane loads the loader stored otherwise than screened (the target: none)",
                registry=registry,
            ),
            evaluation=Histogram(
                "microseg_evaluation_seconds",
                "Time to evaluate one customer's segments in the real-time path",
                registry=registry,
                buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1),
            ),
            applied=Histogram(
                "microseg_event_apply_seconds",
                "From a fast-lane event's acknowledgement to its entries and exits on the "
                "stream (queueing and evaluation)",
                registry=registry,
                buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            ),
            loads=Histogram(
                "microseg_store_load_seconds",
                "Time of each load of the fast lane's events into the store (the changes of "
                "events applied meanwhile reach the stream later)",
                registry=registry,
                buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            ),
            webhooks=Counter(
                "microseg_webhook_batches",
                "Webhook batches of followed segments, by outcome (delivered, dead)",
                ["outcome"],
                registry=registry,
            ),
            retries=Counter(
                "microseg_webhook_retries",
                "Failed webhook attempts that were retried",
                registry=registry,
            ),
        )

    def watch(self, pipeline: Pipeline, realtime: RealTime | None) -> None:
        """Gauges read when ``/metrics`` is asked: the queues' depths, the timers held,
        the evaluator processes."""
        read: list[tuple[str, str, Callable[[], float]]] = [
            ("microseg_applier_queue", "Requests acknowledged and waiting for the applier",
             lambda: pipeline.waiting),
            ("microseg_applier_lag_seconds",
             "How long the oldest request waiting for the applier has waited",
             lambda: pipeline.lag),
        ]  # fmt: skip
        if realtime is not None:
            realtime.timed = self.evaluation.observe
            read += [
                ("microseg_expiry_timers", "Customers with a window expiry scheduled",
                 lambda: realtime.scheduled),
                ("microseg_evaluator_processes",
                 "Processes evaluating arriving events now (0: the service evaluates itself)",
                 lambda: realtime.evaluators),
                ("microseg_evaluator_fallbacks",
                 "Times the evaluator processes could not answer and the service evaluated "
                 "itself (then made new ones)",
                 lambda: realtime.fallbacks),
            ]  # fmt: skip
        for name, text, value in read:
            Gauge(name, text, registry=self.registry).set_function(value)


def create_app(workspace: Workspace, settings: ServiceSettings | None = None) -> FastAPI:
    """The API over ``workspace`` (which the caller opened and closes)."""
    settings = settings or ServiceSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        started = {"event": "started", "workspace": workspace.config.name,
                   "store_threads": workspace.store.threads()}  # fmt: skip
        _LOG.info(json.dumps(started, separators=(",", ":")))
        # the applier evaluates while requests are answered: hand the interpreter over more
        # often than every 5 ms, or each request waits for it that long
        switch = sys.getswitchinterval()
        sys.setswitchinterval(min(switch, 0.0005))
        # the prepared state is millions of long-lived objects: leave them out of the
        # collector's full passes, which would otherwise pause every request
        gc.collect()
        gc.freeze()
        # and collect the young less often: every event makes a few thousand short-lived
        # objects, and at the default (700) the collector ran 30 times a second
        thresholds = gc.get_threshold()
        gc.set_threshold(50_000, 20, 100)
        timer = _Timer(app) if settings.realtime else None
        follower = _Follower(app) if settings.realtime and _followed(workspace) else None
        every = settings.reconcile_every if settings.realtime else 0
        reconciler = _Reconciler(app, every) if every > 0 else None
        yield
        if reconciler is not None:
            reconciler.stop()
        if follower is not None:
            follower.stop()
        if timer is not None:
            timer.stop()
        app.state.pipeline.stop()  # what was acknowledged goes to the store
        if app.state.realtime is not None:
            app.state.realtime.close()
        for stop in app.state.on_stop:
            stop()
        app.state.wal.restart()  # all in the store: a stopped service leaves no records
        app.state.wal.close()
        workspace.store.threads(app.state.store_threads[0])
        app.state.keys.close()
        sys.setswitchinterval(switch)
        gc.set_threshold(*thresholds)
        gc.unfreeze()
        _LOG.info('{"event":"stopped"}')

    app = _Service(
        title="microseg",
        version=_version(),
        description="Customer segmentation and micro-segmentation over one workspace: "
        "profiles, segments, data in, insights (docs/service.md). Every route but /health "
        "needs an API key: `Authorization: Bearer <key>`.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.workspace = workspace
    app.state.keys = KeyRing(workspace.path)
    app.state.limiter = RateLimiter(settings.rate, settings.burst)
    app.state.write_lock = threading.Lock()
    app.state.metrics = Metrics.create()
    #: run when the server stops, before uvicorn re-raises the signal that stopped it
    app.state.on_stop = []
    #: set when the server is told to stop (:func:`serve`): the membership streams end
    #: then, rather than being cancelled once the graceful shutdown runs out
    app.state.stopping = threading.Event()
    #: what clients sent, on disk before they are answered; loaded again after a crash
    app.state.wal = WriteAheadLog(workspace.path)
    app.state.replayed = replay(workspace, app.state.wal)
    #: every customer's segments, kept up to date (None when --no-realtime)
    app.state.realtime = (
        RealTime(workspace, processes=settings.evaluator_processes) if settings.realtime else None
    )
    #: the store's threads while serving, set once the real-time state is read (which
    #: has every core to itself), and as they were (put back when the service stops)
    threads = store_threads(settings, workspace.config.store.threads, _cores())
    app.state.store_threads = (workspace.store.threads(), threads)
    if threads is not None:
        workspace.store.threads(threads)
    #: what happens to records sent: written ahead, answered, applied, stored
    app.state.pipeline = Pipeline(
        workspace, app.state.wal, app.state.realtime, app.state.metrics, app.state.write_lock
    )
    app.state.metrics.watch(app.state.pipeline, app.state.realtime)
    install_problem_handlers(app)
    for router in routers:
        app.include_router(router)
    _docs(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key"],
        )
    app.add_middleware(_Measured, metrics=app.state.metrics)
    app.add_middleware(BodyLimit, limit=settings.max_body)
    app.add_middleware(SecurityHeaders)
    app.fast = FastEvents(functools.partial(FastAPI.__call__, app), app.state, settings.max_body)
    return app


class _Service(FastAPI):
    """FastAPI with :class:`FastEvents` in front of its whole stack (middleware
    included): plain event posts are answered there."""

    fast: FastEvents | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        fast = self.fast
        if fast is not None and fast.takes(scope):
            scope["app"] = self  # what the stack would set: Request.app reads it
            await fast(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


class _Periodic:
    """A thread that works every ``every`` seconds through a session of its own until it
    is stopped; a failure is logged and counted, and the next round tries again (the
    thread lives on)."""

    def __init__(self, app: FastAPI, every: float, name: str, join: float) -> None:
        self._app = app
        self._every = every
        self._join = join
        self._stop = threading.Event()
        self.failures = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with self._app.state.workspace.session() as session:
            while not self._stop.wait(self._every):
                try:
                    self.step(session)
                except Exception:
                    _LOG.exception("%s failed", self._thread.name)
                    self.failures += 1

    def step(self, session: Workspace) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self._join)


class _Timer(_Periodic):
    """Runs the real-time path's due expiries: sleeps until the next timer (looking at the
    clock at least every ``tick`` seconds, so that a clock moved by a test is followed)
    and writes what changed to the membership log; follows segment files edited by hand."""

    def __init__(self, app: FastAPI, tick: float = 0.05) -> None:
        super().__init__(app, tick, "microseg-expiry", join=10)

    def step(self, session: Workspace) -> None:
        engine: RealTime = self._app.state.realtime
        if engine.definitions_changed():  # a segment file edited by hand
            self._app.state.pipeline.follow_definitions(session)
            return
        due = engine.next_due()
        if due is None or due > engine.now():
            return
        with self._app.state.write_lock:
            changes = engine.run_due()
            record(session.store, changes)
        self._app.state.metrics.changes.inc(len(changes))


class _Reconciler(_Periodic):
    """Reconciles the real-time state with batch every ``every`` seconds: what was
    acknowledged is stored first, every disagreement is logged and counted, then set to
    the batch answer, and the population values (score cut points, the value fit) are
    taken again at now."""

    def __init__(self, app: FastAPI, every: float) -> None:
        self.runs = 0
        super().__init__(app, every, "microseg-reconcile", join=60)

    def step(self, session: Workspace) -> None:
        self._app.state.pipeline.reconcile(session)
        self.runs += 1


def replay(workspace: Workspace, wal: WriteAheadLog) -> int:
    """Load the batches the write-ahead file holds and the store may lack (a crash between
    the two), then start a fresh file; how many batches were loaded again."""
    import pyarrow as pa

    pending = wal.pending()
    for batch in pending:
        workspace.ingest(
            batch.kind,  # type: ignore[arg-type]
            [pa.Table.from_pylist(batch.records)],
            max_rejected="100%",
        )
        _LOG.info('{"event":"replayed","seq":%d,"records":%d}', batch.seq, len(batch.records))
    wal.restart()
    return len(pending)


def _followed(workspace: Workspace) -> dict[str, list[str]]:
    """destination -> the segments it follows (``follow:`` in ``destinations:``)."""
    return {name: list(d.follow) for name, d in workspace.config.destinations.items() if d.follow}


class _Follower(_Periodic):
    """Posts the followed segments' entries and exits to their webhook destinations as the
    real-time path finds them: changes are gathered for ``follow_seconds``, then each
    changed segment is pushed (``ws.activate.push``: consent-aware, signed, retried,
    idempotent, only who entered and who left since the last push) and delivered."""

    def __init__(self, app: FastAPI) -> None:
        workspace: Workspace = app.state.workspace
        self._follows = _followed(workspace)
        self._specs = workspace.config.destinations
        self._dirty: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        app.state.realtime.listeners.append(self._changed)
        tick = min(self._specs[d].follow_seconds for d in self._follows)
        super().__init__(app, tick, "microseg-follow", join=30)

    def _changed(self, changes: list[Any]) -> None:
        segments = {c.segment for c in changes}
        with self._lock:
            for destination, followed in self._follows.items():
                self._dirty.update((destination, s) for s in followed if s in segments)

    def step(self, session: Workspace) -> None:
        with self._lock:
            due, self._dirty = sorted(self._dirty), set()
        if due:
            self._app.state.pipeline.drain()  # the audience is read from the store
        for destination, segment in due:
            try:
                self._push(session, destination, segment)
            except Exception:  # a destination's failure must not stop the others
                _LOG.exception("following %s to %s failed", segment, destination)

    def _push(self, session: Workspace, destination: str, segment: str) -> None:
        with self._app.state.write_lock:
            pushed = session.activate.push(
                segment, destination, channel=self._specs[destination].channel
            )
        report = session.activate.deliver(destination)
        metrics = self._app.state.metrics
        metrics.pushes.inc()
        for each in report.destinations:
            metrics.webhooks.labels("delivered").inc(each.delivered)
            metrics.webhooks.labels("dead").inc(each.dead)
            metrics.retries.inc(each.retries)
        _LOG.info(
            "%s",
            json.dumps({"event": "followed", "destination": destination,
                        "segment": segment, "batches": pushed.batches}),
        )  # fmt: skip


def _docs(app: FastAPI) -> None:
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/static", StaticFiles(directory=swagger_ui_path), name="static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="microseg API",
            swagger_js_url="/static/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui.css",
            swagger_favicon_url="/static/favicon-32x32.png",
        )


class _Measured:
    """Counts and times every request by route and status (a plain ASGI middleware: it
    passes the body through untouched, so streams are not slowed), and answers a bug's
    ``500`` itself: Starlette's outermost handler would answer it and then raise again,
    and uvicorn then cuts the connection, which a client may see as a reset."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        counted = False

        def count(status: int) -> None:
            nonlocal counted
            counted = True
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)

        async def noted(message: Any) -> None:
            if message["type"] == "http.response.start":
                count(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, noted)
        except Exception as exc:  # a bug: answered here, so the connection stays open
            if counted:  # the answer had begun: too late, the server closes the connection
                raise
            await bug_response(scope["method"], scope["path"], exc)(scope, receive, noted)


def _cores() -> int | None:
    """The cores this process may run on."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count()


def _version() -> str:
    from importlib.metadata import version

    return version("microseg")


def serve(
    path: Path | str | None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    settings: ServiceSettings | None = None,
    log_level: str = "info",
) -> None:
    """Open the workspace and serve it until interrupted (Ctrl-C or SIGTERM)."""
    import uvicorn

    with Workspace.open(path) as workspace:
        app = create_app(workspace, settings)
        marker = workspace.path / SERVED_FILE
        _write_atomically(marker, json.dumps({"pid": os.getpid(), "url": f"http://{host}:{port}"}))
        app.state.on_stop.append(lambda: marker.unlink(missing_ok=True))
        stopping: threading.Event = app.state.stopping

        class Server(uvicorn.Server):
            def handle_exit(self, sig: int, frame: FrameType | None) -> None:
                stopping.set()  # the streams end at once (a second at most)
                super().handle_exit(sig, frame)

        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level=log_level,
            access_log=False,
            timeout_graceful_shutdown=5,  # streams end; requests in flight are answered
            log_config=_log_config(log_level),
        )
        server = Server(config)
        try:
            with contextlib.suppress(KeyboardInterrupt):
                server.run()
        finally:
            marker.unlink(missing_ok=True)
        if not server.started:  # as uvicorn.run: the port was taken, say
            raise SystemExit(3)


class JsonLines(logging.Formatter):
    """One JSON object per line: the service's own lines as they are (they are JSON
    already), uvicorn's and the rest as ``{"event": "log", "level", "logger", "message"}``;
    each with the time."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        stamp = self.formatTime(record, "%Y-%m-%dT%H:%M:%S")
        try:
            body = json.loads(message) if message.startswith("{") else None
        except ValueError:
            body = None
        if not isinstance(body, dict):
            body = {"event": "log", "logger": record.name, "message": message}
        line = {"time": stamp, "level": record.levelname.lower(), **body}
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, separators=(",", ":"))


def _log_config(level: str) -> dict[str, Any]:
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    quiet = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonLines}},
        "handlers": {"default": handler},
        "loggers": {"uvicorn": quiet, "microseg": quiet},
    }


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
