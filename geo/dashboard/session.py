"""The dashboard's session cookie and CSRF tokens, signed with settings.secret_key.

The cookie holds a server-side session id (geo/accounts/sessions.py: Redis maps it to a token
issued at sign-in) and a CSRF token that every form posts back, never a bearer token. It is
HttpOnly and SameSite=Lax; served over TLS (directly or at a trusted proxy, see
GEO_TRUST_PROXY_HEADERS) it is `Secure` and named `__Host-...` (which also pins it to this host
and to Path=/, so no sibling domain or path can plant or read it).
"""

import hmac
import secrets
from typing import Any

from fastapi import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.responses import Response

from geo.accounts import sessions
from geo.core.auth import Actor, is_tls
from geo.core.errors import Forbidden

COOKIE = "geo_session"
PRE_COOKIE = "geo_csrf"
MAX_AGE_S = 12 * 3600


def _serializer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(request.app.state.settings.secret_key, salt="geo.dashboard")


def _tls(request: Request) -> bool:
    return is_tls(request, trust_proxy_headers=request.app.state.settings.trust_proxy_headers)


def cookie_name(request: Request, name: str) -> str:
    """`name` as this request's cookie is called: `__Host-name` over TLS."""
    return f"__Host-{name}" if _tls(request) else name


def read_cookie(request: Request, name: str) -> dict[str, Any] | None:
    raw = request.cookies.get(cookie_name(request, name))
    if not raw or len(raw) > 4096:
        return None
    try:
        value = _serializer(request).loads(raw, max_age=MAX_AGE_S)
    except BadSignature:
        return None
    return value if isinstance(value, dict) else None


def set_cookie(request: Request, response: Response, name: str, value: dict[str, Any]) -> None:
    tls = _tls(request)
    response.set_cookie(
        cookie_name(request, name),
        _serializer(request).dumps(value),
        max_age=MAX_AGE_S,
        httponly=True,
        samesite="lax",
        # `__Host-` requires Path=/ and Secure; over plain HTTP keep it to the dashboard.
        path="/" if tls else "/dashboard",
        secure=tls,
    )


def delete_cookie(request: Request, response: Response, name: str) -> None:
    tls = _tls(request)
    response.delete_cookie(
        cookie_name(request, name),
        path="/" if tls else "/dashboard",
        secure=tls,
        httponly=True,
        samesite="lax",
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


def session_id(request: Request) -> str | None:
    value = read_cookie(request, COOKIE)
    sid = value.get("sid") if value else None
    return sid if isinstance(sid, str) and len(sid) <= 100 else None


async def current_actor(request: Request, session: Any) -> Actor | None:
    sid = session_id(request)
    if sid is None:
        return None
    state = request.app.state
    return await sessions.session_actor(session, state.redis, state.settings, sid)
