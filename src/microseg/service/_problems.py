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
    errors = list(exc.errors())
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    json_body = kind == "application/json" or kind.endswith("+json")
    if not json_body and any(error["loc"][:1] == ("body",) for error in errors):
        # FastAPI reads a body of another type as no JSON at all: "Input should be a valid
        # dictionary" said nothing of the cause (curl -d sends a form)
        return problem_response(
            415,
            "unsupported media type",
            "the body is read as JSON, and this one came as "
            + (repr(kind) if kind else "no Content-Type"),
            where="content-type",
            hint="send it with the header Content-Type: application/json "
            "(curl: -H 'content-type: application/json')",
        )
    problems = [_validation_problem(error) for error in errors]
    first = problems[0] if problems else {"path": "", "message": "invalid request"}
    return problem_response(
        422,
        "invalid request",
        f"{first['path']}: {first['message']}",
        problems=problems,
        hint="see the operation's schema at /docs",
    )


def _validation_problem(error: Any) -> dict[str, str]:
    """One of FastAPI's validation errors as a problem: its path and message, a body that
    is no JSON said so with where it broke (FastAPI's path is ``body.<offset>``)."""
    loc = list(error["loc"])
    if error.get("type") == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "")
        at = f" at character {loc[1]}" if len(loc) > 1 else ""
        return {"path": "body", "message": f"the body is not valid JSON{at}: {reason}".rstrip(": ")}
    return {"path": ".".join(str(part) for part in loc), "message": error["msg"]}


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
