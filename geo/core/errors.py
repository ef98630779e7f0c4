"""RFC 9457 problem details: one error hierarchy, one renderer.

Services raise `GeoError` subclasses, never `HTTPException`. A driver error that says a server is
missing (geo/core/outages.py) is answered 503 `ServiceUnavailable` naming it, wherever it was
raised. Anything unexpected is logged with the request id and answered as a bare 500 problem,
without internals.
"""

import logging
import re
from typing import Any

import asyncpg.exceptions
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from geo.core import outages
from geo.core.metrics import OUTAGE_ANSWERS

log = logging.getLogger("geo.errors")

PROBLEM_MEDIA_TYPE = "application/problem+json"


class GeoError(Exception):
    """An error a client caused or may see, rendered as a problem document."""

    status: int = 400
    title: str = "Bad request"
    type_slug: str = "bad-request"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra
        self.headers: dict[str, str] = {}


class Unauthorized(GeoError):
    status, title, type_slug = 401, "Unauthorized", "unauthorized"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or "A valid bearer token is required.", **extra)
        self.headers["WWW-Authenticate"] = "Bearer"


class Forbidden(GeoError):
    status, title, type_slug = 403, "Forbidden", "forbidden"


class NotFound(GeoError):
    status, title, type_slug = 404, "Not found", "not-found"


class Conflict(GeoError):
    status, title, type_slug = 409, "Conflict", "conflict"


class Unprocessable(GeoError):
    status, title, type_slug = 422, "Unprocessable content", "unprocessable"


class InvalidLocation(Unprocessable):
    title, type_slug = "Implausible location", "invalid-location"


class TooManyRequests(GeoError):
    status, title, type_slug = 429, "Too many requests", "rate-limited"

    def __init__(self, retry_after: int, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or "Slow down.", **extra)
        self.headers["Retry-After"] = str(max(1, int(retry_after)))


class ServiceUnavailable(GeoError):
    """A server this request needs is down (`component`: "postgresql" or "redis"): 503 with
    Retry-After, so clients back off and retry instead of treating it as their fault or ours."""

    status, title, type_slug = 503, "Service unavailable", "unavailable"
    retry_after_s = 5  # a restart or failover takes seconds; sooner would only add load

    def __init__(self, component: str, detail: str | None = None, **extra: Any) -> None:
        super().__init__(
            detail or f"{component} is unavailable for a moment; retry.",
            component=component,
            **extra,
        )
        self.component = component
        self.headers["Retry-After"] = str(self.retry_after_s)


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    type_slug: str = "about:blank",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    body: dict[str, Any] = {
        "type": type_slug if type_slug == "about:blank" else f"/problems/{type_slug}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    body.update(extra)
    return Response(
        orjson.dumps(body, default=str),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


# Pydantic names the schema a value failed inside a union (`int | None` with a validator) in the
# location: `body.bid_cpm.function-before[json_number(), constrained-int]`. A client needs the
# field, not our schema's internals.
_SCHEMA_TAG = re.compile(
    r"^(function-(before|after|wrap|plain)\[.*\]|constrained-\w+|nullable\[.*\])$"
)


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for err in exc.errors():
        if err.get("type") == "none_required" and tuple(err.get("loc", ()))[-1:] == ("none",):
            continue
        loc = [str(p) for p in err.get("loc", ()) if not _SCHEMA_TAG.match(str(p))]
        errors.append(
            {
                "field": ".".join(loc),
                "message": err.get("msg", "invalid"),
                "type": err.get("type", "invalid"),
            }
        )
    return errors


async def _geo_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, GeoError)
    if isinstance(exc, ServiceUnavailable):
        OUTAGE_ANSWERS.labels(exc.component).inc()
    return problem_response(
        exc.status,
        exc.title,
        exc.detail,
        type_slug=exc.type_slug,
        headers=exc.headers or None,
        **exc.extra,
    )


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = _field_errors(exc)
    if any(e["type"] == "json_invalid" for e in errors):
        return problem_response(
            400,
            "Malformed JSON",
            "The request body is not valid JSON.",
            type_slug="malformed-json",
            errors=errors,
        )
    return problem_response(
        422, "Validation failed", "Some fields are invalid.", type_slug="validation", errors=errors
    )


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    titles = {404: "Not found", 405: "Method not allowed", 401: "Unauthorized"}
    title = titles.get(exc.status_code, "Error")
    detail = exc.detail if isinstance(exc.detail, str) else title
    return problem_response(
        exc.status_code, title, detail, headers=dict(exc.headers) if exc.headers else None
    )


async def _overloaded(request: Request, exc: Exception) -> Response:
    # Every pooled connection stayed busy for the whole pool timeout: the process is overloaded.
    # That is the server's state, not a bug: answer 503 so clients back off and retry.
    log.warning(
        "database pool exhausted (request_id=%s)",
        request.scope.get("state", {}).get("request_id", "-"),
    )
    return problem_response(
        503,
        "Service busy",
        "The service is overloaded; retry shortly.",
        type_slug="overloaded",
        headers={"Retry-After": "1"},
    )


def outage_response(component: str) -> Response:
    """The one 503 answer for a missing server, whichever layer noticed it."""
    unavailable = ServiceUnavailable(component)
    OUTAGE_ANSWERS.labels(component).inc()
    return problem_response(
        unavailable.status,
        unavailable.title,
        unavailable.detail,
        type_slug=unavailable.type_slug,
        headers=unavailable.headers,
        **unavailable.extra,
    )


async def _driver_error(request: Request, exc: Exception) -> Response:
    # Redis, asyncpg, SQLAlchemy and socket errors: an outage when they say a server is missing
    # (answered here, so the request never reaches the catch-all that re-raises), else a bug.
    component = outages.component_down(exc)
    if component is None:
        return await _unexpected_error(request, exc)
    log.warning(
        "%s unavailable (request_id=%s): %s",
        component,
        request.scope.get("state", {}).get("request_id", "-"),
        exc,
    )
    return outage_response(component)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    component = outages.component_down(exc)
    if component is not None:  # raised outside the routes (middleware): still an outage
        return outage_response(component)
    request_id = request.scope.get("state", {}).get("request_id", "-")
    log.exception("unhandled error (request_id=%s)", request_id, exc_info=exc)
    return problem_response(
        500, "Internal server error", f"Something went wrong; quote request id {request_id}."
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(GeoError, _geo_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(PoolTimeout, _overloaded)
    for kind in (
        *outages.REDIS_DOWN,
        *outages.POSTGRES_DOWN,
        DBAPIError,
        asyncpg.exceptions.InterfaceError,
        OSError,
        ExceptionGroup,
    ):
        app.add_exception_handler(kind, _driver_error)
    app.add_exception_handler(Exception, _unexpected_error)
