"""``POST /api/events`` without FastAPI's routing and dependency machinery, for the
requests that need none of it.

The fast lane's requests are most of the service's traffic, and for one event FastAPI's
routing, dependency solving and exception wrapping cost more of the interpreter than the
work itself (about half of the event loop's time per request, measured with py-spy). A
request takes this path only when it is exactly the route's plainest case: no query
string, a JSON body that is one object or a non-empty list of at most ``MAX_EVENTS``
objects, a valid key with the ``write`` scope within its rate limit, and every record
screened for the fast lane (:meth:`Pipeline.fast_rows`). It is then answered as the route
answers it, by the same function (:func:`microseg.service._routes.accepted`). Anything
else, errors included, goes on to the app with the body as it came, so every other answer
stays the route's.

It sits inside the metrics, body-limit and security-header middlewares: those apply to
both paths alike.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from types import SimpleNamespace
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from microseg.service._guard import allowed
from microseg.service._routes import MAX_EVENTS, accepted

__all__ = ["FastEvents"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

PATH = "/api/events"
_ROUTE = SimpleNamespace(path=PATH)


class FastEvents:
    """The pure ASGI middleware (module docstring)."""

    def __init__(self, app: App, state: Any) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != PATH
            or scope["method"] != "POST"
            or scope.get("query_string")
            or self.state.pipeline.realtime is None
        ):
            await self.app(scope, receive, send)
            return
        body = await _body(receive)
        if body is None:  # the client went away
            return
        job = await self._accepted(scope, body)
        if job is None:
            await self.app(scope, _replay(body, receive), send)
            return
        scope["route"] = _ROUTE  # the metrics' route label
        await JSONResponse(accepted("events", job), status_code=202)(scope, receive, send)

    async def _accepted(self, scope: Scope, body: bytes) -> Any:
        """The job of a request this path answers, or None to hand it to the app."""
        headers = dict(scope["headers"])
        kind = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
        if kind != b"application/json":
            return None
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
        rows = pipeline.fast_rows("events", records)
        if rows is None:
            return None
        request = Request(scope)
        try:
            allowed(request, "write")  # the key, its scope, its rate limit
        except HTTPException:
            return None  # the app answers (the limit taken again is empty still)
        return await pipeline.submit_fast("events", records, rows)


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
