"""Who is asking: the actor type, token hashing, and the per-process token cache.

Tokens are opaque random strings; only their SHA-256 is stored. Looking one up costs a query, so
each process remembers recent answers for `token_cache_seconds` (a revoked token may therefore
keep working that long in a process that has seen it).
"""

import hashlib
import secrets
import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Actor:
    id: int
    handle: str
    kind: str


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class TokenCache:
    """A bounded map token-hash -> actor with a time to live."""

    def __init__(self, ttl_seconds: float, max_entries: int = 100_000) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._entries: dict[bytes, tuple[float, Actor]] = {}

    def get(self, key: bytes) -> Actor | None:
        hit = self._entries.get(key)
        if hit is None:
            return None
        expires, actor = hit
        if expires < time.monotonic():
            self._entries.pop(key, None)
            return None
        return actor

    def put(self, key: bytes, actor: Actor) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + self.ttl, actor)

    def forget_account(self, account_id: int) -> None:
        for key in [k for k, (_, a) in self._entries.items() if a.id == account_id]:
            self._entries.pop(key, None)
