"""Errors as ``application/problem+json`` (RFC 9457), with the CLI's messages.

A microseg error keeps its message, where it happened (file, field path, row) and what to
do; a rule's problems keep their field paths. 4xx says what the caller did; 5xx is kept for
bugs, whose details stay in the server's log, never in the reply.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from microseg.core.errors import (
    IngestError,
    MicrosegError,
    ModelFitError,
    NotFoundError,
    OutputError,
    ParameterError,
    StoreMemoryError,
    TimeInputError,
    WorkspaceError,
)
from microseg.lang import RuleError

__all__ = [
    "PROBLEM_JSON",
    "bug_response",
    "install_problem_handlers",
    "problem_response",
    "status_of",
]

PROBLEM_JSON = "application/problem+json"
_LOG = logging.getLogger("microseg.service")

#: the most specific class first
_STATUS: tuple[tuple[type[MicrosegError], int, str], ...] = (
    (NotFoundError, 404, "not found"),
    (RuleError, 422, "invalid definition"),
    (IngestError, 422, "invalid data"),
    (ModelFitError, 422, "the data cannot support this model"),
    (TimeInputError, 400, "invalid instant"),
    (ParameterError, 400, "invalid parameter"),
    (StoreMemoryError, 503, "out of memory"),
    (OutputError, 500, "cannot write"),
    (WorkspaceError, 409, "not possible in the workspace's state"),
)


def status_of(exc: MicrosegError) -> tuple[int, str]:
    """The HTTP status and title of a microseg error."""
    for kind, status, title in _STATUS:
        if isinstance(exc, kind):
            return status, title
    return 400, "invalid request"


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    where: str | None = None,
    hint: str | None = None,
    problems: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"urn:microseg:problem:{title.replace(' ', '-')}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if where:
        body["where"] = where
    if hint:
        body["hint"] = hint
    if problems:
        body["problems"] = problems
    body.update(extra or {})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _microseg_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MicrosegError)
    status, title = status_of(exc)
    problems = None
    if isinstance(exc, RuleError):
        problems = [{"path": p.path, "message": p.message} for p in exc.problems]
    detail = exc.message if problems is None else str(exc)
    where = exc.where
    if where and where.startswith("--"):  # a CLI option is the body or query field here
        where = where[2:].replace("-", "_")
    return problem_response(status, title, detail, where=where, hint=exc.hint, problems=problems)


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # FastAPI reads and validates the body before the route's key check: a caller without
    # a valid key learns nothing of the body's problems, only that a key is needed
    from microseg.service._guard import PUBLIC, unauthenticated

    if request.url.path not in PUBLIC and (refused := unauthenticated(request)) is not None:
        return _http_error(request, refused)
    problems = [
        {"path": ".".join(str(part) for part in error["loc"]), "message": error["msg"]}
        for error in exc.errors()
    ]
    first = problems[0] if problems else {"path": "", "message": "invalid request"}
    return problem_response(
        422,
        "invalid request",
        f"{first['path']}: {first['message']}",
        problems=problems,
        hint="see the operation's schema at /docs",
    )


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers) if exc.headers else None
    title = {401: "unauthorized", 403: "forbidden", 404: "not found", 405: "method not allowed",
             429: "too many requests"}  # fmt: skip
    return problem_response(
        exc.status_code, title.get(exc.status_code, "error"), str(exc.detail), headers=headers
    )


def _bug(request: Request, exc: Exception) -> JSONResponse:
    return bug_response(request.method, request.url.path, exc)


def bug_response(method: str, path: str, exc: BaseException) -> JSONResponse:
    """The ``500`` of a bug, its traceback logged (never in the reply)."""
    # called outside the except block: the traceback is the exception's
    _LOG.error("internal error on %s %s", method, path, exc_info=exc)
    return problem_response(
        500,
        "internal error",
        "an internal error occurred: a bug in microseg; the server's log has the details",
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Every error the app answers is problem+json."""
    app.add_exception_handler(MicrosegError, _microseg_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _bug)
