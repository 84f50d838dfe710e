"""One error tree, answered as RFC 9457 problem details (application/problem+json)."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
import sqlalchemy.exc
from flask import Flask, Response, json, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

PROBLEM_MIME = "application/problem+json"
PROBLEM_TYPE_BASE = "https://cobranza-campo.example/problems/"
DATABASE_RETRY_AFTER_S = 5


class ProblemError(Exception):
    """An error the client can act on; carries the problem-details fields."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        errors: Any = None,
        type_: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors
        self.type_ = type_
        self.headers = headers or {}
        self.extra = extra


def problem_response(
    status: int,
    title: str,
    detail: str | None = None,
    errors: Any = None,
    type_: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """Serialise a problem-details document."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + (type_ or _slug(title)),
        "title": title,
        "status": status,
        "detail": detail or title,
        "instance": request.path if request else None,
    }
    if errors:
        body["errors"] = errors
    body.update(extra)
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_MIME)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _slug(title: str) -> str:
    return "-".join(title.lower().replace("'", "").split())


def _from_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    title = error.name
    detail = error.description
    errors = None
    # flask-smorest / webargs put validation messages here.
    data = getattr(error, "data", None)
    if isinstance(data, dict) and "messages" in data:
        errors = _flatten_messages(data["messages"])
        detail = "The request did not validate; see errors."
    headers = {}
    if status == 405 and error.get_response().headers.get("Allow"):
        headers["Allow"] = error.get_response().headers["Allow"]
    if status == 429:
        title = "Too Many Requests"
        detail = "Too many requests; wait before trying again."
    return problem_response(status, title, detail, errors, headers=headers)


def _flatten_messages(messages: Any) -> dict[str, Any]:
    """webargs nests messages by location (json, query, files); clients want field paths."""
    if not isinstance(messages, dict):
        return {"_schema": messages}
    flat: dict[str, Any] = {}
    for location, fields in messages.items():
        if isinstance(fields, dict):
            flat.update(fields)
        else:
            flat[location] = fields
    return flat


def register_error_handlers(app: Flask) -> None:
    """Route every exception through problem details; hide internals of 500s."""

    @app.errorhandler(ProblemError)
    def _problem(error: ProblemError) -> Response:
        return problem_response(
            error.status,
            error.title,
            error.detail,
            error.errors,
            error.type_,
            error.headers,
            **error.extra,
        )

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Response:
        return _from_http_exception(error)

    @app.errorhandler(sqlalchemy.exc.OperationalError)
    @app.errorhandler(sqlalchemy.exc.TimeoutError)
    @app.errorhandler(psycopg.OperationalError)
    def _database_unavailable(error: Exception) -> Response:
        """A lost or locked database, or no pooled connection free in time, is a moment to
        retry, not a bug: 503 and Retry-After, so a device keeps its data and sends it again.
        Logged by class only: the message of a failed statement can quote its parameters."""
        cause = getattr(error, "orig", None) or error
        log.error(
            "database unavailable on %s %s: %s", request.method, request.path, type(cause).__name__
        )
        return problem_response(
            503,
            "Service Unavailable",
            "The database is unavailable; retry shortly.",
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)},
        )

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return problem_response(
            500, "Internal Server Error", "An unexpected error occurred; it has been logged."
        )
