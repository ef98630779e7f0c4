"""Request ids, request metrics and the last word on outages, as one pure ASGI middleware (no
BaseHTTPMiddleware overhead).

It wraps everything FastAPI's exception handlers do not see (other middleware, the lifespan's
state, a handler raising while the app renders an error): an error there that says a server is
missing is answered here as the same 503 problem the routes give, instead of reaching uvicorn,
which would log "Exception in ASGI application" and, before any response, drop the connection.
"""

import secrets
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geo.core import outages
from geo.core.errors import outage_response
from geo.core.metrics import LATENCY, REQUESTS

REQUEST_ID_HEADER = b"x-request-id"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        started = time.perf_counter()
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [
                    *message.get("headers", []),
                    (REQUEST_ID_HEADER, request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            component = outages.component_down(exc)
            if component is None or response_started:
                raise  # a bug (the catch-all answers 500), or a body cut short: nothing to add
            await outage_response(component)(scope, receive, send_with_id)
        finally:
            route = _route_template(scope)
            method = scope["method"]
            REQUESTS.labels(method, route, str(status)).inc()
            LATENCY.labels(method, route).observe(time.perf_counter() - started)


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER:
            text = value.decode("latin-1")[:64]
            if text.isprintable() and text:
                return text
    return None


def _route_template(scope: Scope) -> str:
    # Label by the route's template, never the raw path, so ids do not explode the label set.
    route: Any = scope.get("route")
    return getattr(route, "path", "unmatched")
