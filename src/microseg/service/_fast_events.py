"""``POST /api/events`` in front of FastAPI's whole stack, for the requests that need
none of it.

The fast lane's requests are most of the service's traffic, and for one event FastAPI's
middleware, routing, dependency solving and exception wrapping cost the event loop more
than the work itself (py-spy, and the per-thread CPU of bench/bench_service.py). A
request takes this path only when it is exactly the route's plainest case: no query
string, no ``Origin`` (CORS is the stack's), a ``Content-Length`` within the body limit,
a JSON body that is one object or a non-empty list of at most ``MAX_EVENTS`` objects, a
valid key with the ``write`` scope within its rate limit, and every record screened for
the fast lane (:meth:`Pipeline.fast_rows`; a batch in a worker thread, once its key is
known to be good). Its body is written ahead as it came (:mod:`microseg.service._wal`),
and it is answered as the stack answers it:
the route's body (:func:`microseg.service._routes.accepted`), the security headers, the
request metrics and the log line. Anything else, errors included, goes on to the stack
with the body as it came, so every other answer stays the route's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException

from microseg.service._guard import log_request, permitted, security_headers
from microseg.service._pipeline import SCREEN_ON_LOOP
from microseg.service._problems import bug_response
from microseg.service._routes import MAX_EVENTS, accepted

__all__ = ["FastEvents"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

PATH = "/api/events"
_HEADERS = security_headers(PATH)
_JSON = (b"content-type", b"application/json")


class FastEvents:
    """The path in front of the app (module docstring): ``app`` is the whole stack,
    ``state`` the app's state, ``limit`` the body limit in bytes."""

    def __init__(self, app: App, state: Any, limit: int) -> None:
        self.app = app
        self.state = state
        self.limit = limit
        metrics = state.metrics
        #: the metrics this path counts into, looked up once
        self._answered = metrics.requests.labels("POST", PATH, "202")
        self._seconds = metrics.latency.labels(PATH)

    def takes(self, scope: Scope) -> bool:
        """Whether a request may be this path's (its body decides the rest)."""
        if not (
            scope["type"] == "http"
            and scope["path"] == PATH
            and scope["method"] == "POST"
            and not scope.get("query_string")
            and self.state.pipeline.realtime is not None
        ):
            return False
        headers = dict(scope["headers"])
        length = headers.get(b"content-length", b"")
        kind = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
        return (
            kind == b"application/json"
            and b"origin" not in headers
            and length.isdigit()
            and int(length) <= self.limit
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        body = await _body(receive)
        if body is None:  # the client went away
            return
        try:
            job = await self._accepted(scope, body)
        except Exception as exc:  # a bug: answered as the stack answers one
            bug = bug_response("POST", PATH, exc)
            await self._answer(
                scope, send, bug.status_code, bug.raw_headers, bytes(bug.body), started
            )
            return
        if job is None:
            await self.app(scope, _replay(body, receive), send)
            return
        # the route's JSONResponse, written out: its body and headers as Starlette makes them
        answer = json.dumps(accepted("events", job), separators=(",", ":")).encode()
        headers = [(b"content-length", str(len(answer)).encode()), _JSON]
        await self._answer(scope, send, 202, headers, answer, started)

    async def _answer(
        self,
        scope: Scope,
        send: Send,
        status: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        started: float,
    ) -> None:
        """Send an answer with what the stack adds: the security headers, the request
        metrics and the log line."""
        counted = (
            self._answered
            if status == 202
            else self.state.metrics.requests.labels("POST", PATH, str(status))
        )
        try:
            counted.inc()
            self._seconds.observe(time.perf_counter() - started)
            start = {"type": "http.response.start", "status": status,
                     "headers": [*headers, *_HEADERS]}  # fmt: skip
            await send(start)
            await send({"type": "http.response.body", "body": body})
        finally:
            log_request(scope, status, started)

    async def _accepted(self, scope: Scope, body: bytes) -> Any:
        """The job of a request this path answers, or None to hand it to the stack."""
        try:
            records = json.loads(body)
        except ValueError:
            return None
        if isinstance(records, dict):
            records = [records]
        if not (
            isinstance(records, list)
            and 0 < len(records) <= MAX_EVENTS
            and all(isinstance(r, dict) for r in records)
        ):
            return None
        pipeline = self.state.pipeline
        try:
            if len(records) > SCREEN_ON_LOOP:  # no worker's time for a request refused
                permitted(self.state, scope, "write", limit=False)
            rows = await pipeline.fast_rows("events", records)
            if rows is None:
                return None
            permitted(self.state, scope, "write")  # the key, its scope, its rate limit
        except HTTPException:
            return None  # the stack answers (the limit taken again is empty still)
        return await pipeline.submit_fast("events", records, rows, body=body)


async def _body(receive: Receive) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the body read, then what the client sends next."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again
