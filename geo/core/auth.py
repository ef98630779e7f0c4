"""Who is asking and from where: the actor type, token hashing, the per-process token cache, and
the client's address and transport as far as this process may believe them.

Tokens are opaque random strings; only their SHA-256 is stored. Looking one up costs a query, so
each process remembers recent answers for `token_cache_seconds`. A cached answer is only a hint:
the caller checks it against the revocation marks in Redis before trusting it
(geo/accounts/auth.py), so a revocation bites at once in every process.
"""

import hashlib
import ipaddress
import secrets
import time
from dataclasses import dataclass

from starlette.requests import HTTPConnection


@dataclass(frozen=True, slots=True)
class Actor:
    id: int
    handle: str
    kind: str


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """A live token's account and its lifetime (UNIX seconds, the database's clock)."""

    actor: Actor
    issued_at: float
    expires_at: float


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class TokenCache:
    """A bounded map token-hash -> grant with a time to live."""

    def __init__(self, ttl_seconds: float, max_entries: int = 100_000) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._entries: dict[bytes, tuple[float, TokenGrant]] = {}

    def get(self, key: bytes) -> TokenGrant | None:
        hit = self._entries.get(key)
        if hit is None:
            return None
        expires, grant = hit
        if expires < time.monotonic() or grant.expires_at <= time.time():
            self._entries.pop(key, None)
            return None
        return grant

    def put(self, key: bytes, grant: TokenGrant) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + self.ttl, grant)

    def forget(self, key: bytes) -> None:
        self._entries.pop(key, None)

    def forget_account(self, account_id: int) -> None:
        for key in [k for k, (_, g) in self._entries.items() if g.actor.id == account_id]:
            self._entries.pop(key, None)


def client_address(conn: HTTPConnection, *, trust_proxy_headers: bool) -> str:
    """The client's IP: the peer's, or behind a trusted proxy the last X-Forwarded-For entry.

    Only the last entry is the one our proxy appended; earlier ones are whatever the client sent.
    """
    if trust_proxy_headers:
        forwarded = conn.headers.get("x-forwarded-for", "")
        last = forwarded.rsplit(",", 1)[-1].strip()
        try:
            return str(ipaddress.ip_address(last))
        except ValueError:
            pass
    return conn.client.host if conn.client else "0.0.0.0"


def is_tls(conn: HTTPConnection, *, trust_proxy_headers: bool) -> bool:
    """Whether the browser reached us over TLS (directly, or at a trusted proxy)."""
    if conn.url.scheme in ("https", "wss"):
        return True
    if trust_proxy_headers:
        proto = conn.headers.get("x-forwarded-proto", "").rsplit(",", 1)[-1].strip().lower()
        return proto == "https"
    return False
