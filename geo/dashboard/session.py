"""The dashboard's session cookie and CSRF tokens, signed with settings.secret_key.

The cookie holds a bearer token issued at sign-in (so revocation and the account rules are the
API's own) and a CSRF token that every form posts back. It is HttpOnly and SameSite=Lax.
"""

import hmac
import secrets
from typing import Any

from fastapi import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.responses import Response

from geo.accounts import service as accounts
from geo.core.auth import Actor
from geo.core.errors import Forbidden

COOKIE = "geo_session"
PRE_COOKIE = "geo_csrf"
MAX_AGE_S = 12 * 3600


def _serializer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(request.app.state.settings.secret_key, salt="geo.dashboard")


def read_cookie(request: Request, name: str) -> dict[str, Any] | None:
    raw = request.cookies.get(name)
    if not raw or len(raw) > 4096:
        return None
    try:
        value = _serializer(request).loads(raw, max_age=MAX_AGE_S)
    except BadSignature:
        return None
    return value if isinstance(value, dict) else None


def set_cookie(request: Request, response: Response, name: str, value: dict[str, Any]) -> None:
    response.set_cookie(
        name,
        _serializer(request).dumps(value),
        max_age=MAX_AGE_S,
        httponly=True,
        samesite="lax",
        path="/dashboard",
        secure=request.url.scheme == "https",
    )


def csrf_for(request: Request) -> tuple[str, bool]:
    """The CSRF token of this browser (session's, or a pre-session one) and whether it is new."""
    for name in (COOKIE, PRE_COOKIE):
        value = read_cookie(request, name)
        if value and isinstance(value.get("csrf"), str):
            return value["csrf"], False
    return secrets.token_urlsafe(24), True


def check_csrf(request: Request, submitted: str | None) -> None:
    expected, fresh = csrf_for(request)
    if fresh or not submitted or not hmac.compare_digest(expected, submitted):
        raise Forbidden("The form expired or did not come from this site; reload and try again.")


async def current_actor(request: Request, session: Any) -> Actor | None:
    value = read_cookie(request, COOKIE)
    token = value.get("token") if value else None
    if not isinstance(token, str):
        return None
    return await accounts.actor_for_token(session, token)
