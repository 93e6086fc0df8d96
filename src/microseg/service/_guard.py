"""What stands before every route: keys and scopes, per-key rate limits, body size limits,
security headers and one structured log line per request (never a key)."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import Depends, Request
from starlette.exceptions import HTTPException

from microseg.service._keys import ApiKey, KeyRing, grants
from microseg.service._problems import problem_response

__all__ = [
    "PUBLIC",
    "BodyLimit",
    "RateLimiter",
    "SecurityHeaders",
    "ServiceSettings",
    "json_log_line",
    "log_request",
    "needs",
    "permitted",
    "security_headers",
    "store_threads",
    "unauthenticated",
]

_LOG = logging.getLogger("microseg.service")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class ServiceSettings:
    """How the service guards itself (``microseg serve`` options)."""

    #: requests per second each key may make, and the burst above it
    rate: float = 200.0
    burst: int = 400
    #: largest request body accepted, in bytes
    max_body: int = 5_000_000
    #: origins allowed to call the API from a browser (none by default: no CORS)
    cors_origins: tuple[str, ...] = field(default_factory=tuple)
    #: keep every customer's segments up to date per event and per window expiry
    realtime: bool = True
    #: evaluate arriving events in this many processes of their own (forked copies of the
    #: state, each with a share of the customers), so that the evaluations do not share
    #: the HTTP work's interpreter lock; 0: in the service's process
    evaluator_processes: int = 2
    #: seconds between scheduled reconciliations with batch (0: only on demand)
    reconcile_every: float = 3600.0
    #: threads the store's database works with while serving (its loads, batch
    #: evaluations, queries); None: the workspace's ``store: threads:`` when set, else the
    #: cores the real-time path leaves (:func:`store_threads`)
    store_threads: int | None = None


def store_threads(
    settings: ServiceSettings, configured: int | None, cores: int | None
) -> int | None:
    """The store's threads while serving (None: as they are): ``settings.store_threads``,
    else the workspace's ``configured`` ones, else with the real-time path the ``cores``
    left once the service's own process and each evaluator process has one (at least
    1). DuckDB otherwise takes every core for each load into the store, and the events
    arriving meanwhile wait: on 2 cores at 2,000 events a second, the real-time path kept
    up with one thread and fell behind with two (docs/service.md, "Load")."""
    if settings.store_threads is not None:
        return max(1, settings.store_threads)
    if configured is not None or not settings.realtime:
        return None
    return max(1, (cores or 1) - 1 - settings.evaluator_processes)


class RateLimiter:
    """A token bucket per key: ``rate`` requests per second, up to ``burst`` at once."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self._clock = rate, burst, clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key_id: str) -> float:
        """0 when the request may go ahead, else the seconds to wait before retrying."""
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (1.0 - tokens) / self.rate


def _presented(scope: Scope) -> str | None:
    """The key a request presents: ``Authorization: Bearer``, else ``X-API-Key`` (the
    first of a header given twice)."""
    found: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:  # ASGI gives the names in lower case
        if name in (b"authorization", b"x-api-key"):
            found.setdefault(name, value)
    header = found.get(b"authorization", b"").decode("latin-1")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return found.get(b"x-api-key", b"").decode("latin-1") or None


#: the paths anyone may ask (no body, nothing to validate before a key)
PUBLIC = frozenset({"/health", "/openapi.json", "/docs"})


def unauthenticated(request: Request) -> HTTPException | None:
    """The 401 to answer when the request has no valid, unrevoked key, else None."""
    presented = _presented(request.scope)
    keys: KeyRing = request.app.state.keys
    if presented is not None and keys.verify(presented) is not None:
        return None
    return _refusal(presented)


def _refusal(presented: str | None) -> HTTPException:
    return HTTPException(
        401,
        "a valid API key is needed: `Authorization: Bearer <key>` "
        "(create one with `microseg keys create NAME --scope read`)"
        if presented is None
        else "this API key is unknown, malformed or revoked",
        headers={"WWW-Authenticate": 'Bearer realm="microseg"'},
    )


def allowed(request: Request, scope: str, *, limit: bool = True) -> ApiKey:
    """The request's key, if it is valid, unrevoked, has ``scope`` and (with ``limit``) is
    within its rate limit; else the 401, 403 or 429 to answer."""
    return permitted(request.app.state, request.scope, scope, limit=limit)


def permitted(state: Any, asgi: Scope, needed: str, *, limit: bool = True) -> ApiKey:
    """:func:`allowed` for a request's ASGI scope and the app's ``state`` (the path in
    front of the stack has no :class:`Request`); ``needed``: the key scope."""
    keys: KeyRing = state.keys
    presented = _presented(asgi)
    key = keys.verify(presented) if presented else None
    if key is None:
        raise _refusal(presented)
    asgi.setdefault("state", {})["key_id"] = key.key_id  # what Request.state sets
    if not grants(key.scopes, needed):
        raise HTTPException(
            403, f"this key's scopes ({', '.join(key.scopes)}) do not include {needed!r}"
        )
    wait = state.limiter.take(key.key_id) if limit else 0
    if wait > 0:
        raise HTTPException(
            429,
            "too many requests for this key: slow down",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    return key


def still_valid(state: Any, asgi: Scope) -> bool:
    """Whether the key a request presented is still active (a long request, a stream, asks
    again: a revoke ends it)."""
    presented = _presented(asgi)
    keys: KeyRing = state.keys
    return presented is not None and keys.verify(presented) is not None


def needs(scope: str) -> Any:
    """A route dependency: a valid, unrevoked key with ``scope``, within its rate limit."""

    async def check(request: Request) -> ApiKey:  # on the event loop: no thread hop
        return allowed(request, scope)

    return Depends(check)


class BodyLimit:
    """Refuse bodies over ``limit`` bytes with 413, by their Content-Length or as they
    stream in (a body without a length is counted, not trusted)."""

    def __init__(self, app: App, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await self._refuse(scope, receive, send)
            return
        seen, over, answered = 0, False, False

        async def counted() -> MutableMapping[str, Any]:
            nonlocal seen, over
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                over = True
                raise _TooLarge
            return message

        async def sent(message: MutableMapping[str, Any]) -> None:
            nonlocal answered
            if over and not answered:  # what the app made of a body cut short: ours instead
                return
            answered = True
            await send(message)

        with contextlib.suppress(_TooLarge):
            await self.app(scope, counted, sent)
        if over and not answered:  # the app may have caught the refusal (FastAPI: a 400)
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            413,
            "request too large",
            f"the request body is over {self.limit:,} bytes",
            hint="send smaller batches",
        )
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


_API_POLICY = "default-src 'none'; frame-ancestors 'none'"
#: Swagger UI's page: its files from this server, its inline start-up script
_DOCS_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
)


def _headers(policy: str) -> tuple[tuple[bytes, bytes], ...]:
    return (
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"cache-control", b"no-store"),
        (b"content-security-policy", policy.encode()),
    )


_API_HEADERS = _headers(_API_POLICY)
_DOCS_HEADERS = _headers(_DOCS_POLICY)


def security_headers(path: str) -> tuple[tuple[bytes, bytes], ...]:
    """The headers every answer to ``path`` carries."""
    docs = path == "/docs" or path.startswith("/static/")
    return _DOCS_HEADERS if docs else _API_HEADERS


def log_request(scope: Scope, status: int, started: float) -> None:
    """The request's JSON log line (formatted only when it is written)."""
    if not _LOG.isEnabledFor(logging.INFO):
        return
    state = scope.get("state") or {}
    _LOG.info(
        json_log_line(
            method=scope.get("method"),
            path=scope.get("path", ""),
            status=status,
            ms=round((time.perf_counter() - started) * 1000, 2),
            key=state.get("key_id"),
        )
    )


class SecurityHeaders:
    """Headers every answer carries, and one JSON log line per request."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = security_headers(scope.get("path", ""))
        started = time.perf_counter()
        status = 500

        async def with_headers(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        try:
            await self.app(scope, receive, with_headers)
        finally:
            log_request(scope, status, started)


def json_log_line(**fields: Any) -> str:
    """One structured log line: the request's method, path (no query), status, duration
    and key id (never the key)."""
    return json.dumps({"event": "request", **fields}, separators=(",", ":"))
