"""Sign-in and sign-up limits per handle and per client address: the `limits` library's moving
window on Redis (one Lua call per check, so N API processes share one count).

Every attempt counts, right or wrong, and is counted before the password is hashed: the limit is
what bounds both guessing and the Argon2 CPU a client can make us spend. The per-handle limit
also lets a stranger hold one handle's sign-in shut for one window; a window is short (minutes)
so that costs the owner a wait, never the account. Addresses in GEO_RATE_LIMIT_EXEMPT skip the
per-address limits only.
"""

import ipaddress
import time
from typing import Annotated

from fastapi import Depends, Request
from limits import RateLimitItem, parse
from limits.aio.storage import RedisClusterStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import RedisCluster
from redis.exceptions import RedisError

from geo.accounts import keys
from geo.core.auth import client_address
from geo.core.config import Settings, exempt_networks
from geo.core.errors import ServiceUnavailable, TooManyRequests
from geo.core.outages import REDIS
from geo.core.redis import RedisClient


class AuthUnavailable(ServiceUnavailable):
    # Redis did not answer. Fail closed: without the count attempts would be unlimited, and
    # without the revocation marks a revoked token could live on in some process's cache.
    # (Presenting a token needs no Redis: a failed mark check falls back to the database.)
    def __init__(self, detail: str | None = None) -> None:
        super().__init__(REDIS, detail)


def _storage(client: RedisClient) -> RedisStorage:
    """A `limits` storage on the app's own Redis (its pool, or the same cluster's nodes)."""
    if isinstance(client, RedisCluster):
        # Before its first command a cluster client knows only its startup nodes.
        known = client.get_nodes() or list(client.nodes_manager.startup_nodes.values())
        nodes = ",".join(f"{n.host}:{n.port}" for n in known)
        return RedisClusterStorage(
            f"async+redis+cluster://{nodes}",
            implementation="redispy",
            key_prefix=keys.THROTTLE_PREFIX,
        )
    return RedisStorage(
        "async+redis://",
        implementation="redispy",
        key_prefix=keys.THROTTLE_PREFIX,
        # limits types its options as scalars; redis-py takes the pool as it is.
        connection_pool=client.connection_pool,  # type: ignore[arg-type]
    )


class AuthThrottle:
    def __init__(self, settings: Settings, client: RedisClient) -> None:
        self.client = client
        self.limiter = MovingWindowRateLimiter(_storage(client))
        self.exempt = exempt_networks(settings.rate_limit_exempt)
        self.trust_proxy_headers = settings.trust_proxy_headers
        self.limits: dict[str, tuple[RateLimitItem, RateLimitItem]] = {
            "sign-in": (
                parse(settings.rate_limit_sign_in_per_handle),
                parse(settings.rate_limit_sign_in_per_address),
            ),
            "sign-up": (
                parse(settings.rate_limit_sign_up_per_handle),
                parse(settings.rate_limit_sign_up_per_address),
            ),
        }

    def is_exempt(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.exempt)

    def address_of(self, request: Request) -> str:
        return client_address(request, trust_proxy_headers=self.trust_proxy_headers)

    async def attempt(self, *, action: str, handle: str, address: str) -> None:
        """Count one attempt at `action`; 429 with Retry-After when a limit is reached."""
        per_handle, per_address = self.limits[action]
        checks = [(per_handle, keys.handle_identifier(action, handle))]
        if not self.is_exempt(address):
            checks.insert(0, (per_address, keys.address_identifier(action, address)))
        try:
            for item, identifier in checks:
                if not await self.limiter.hit(item, identifier):
                    stats = await self.limiter.get_window_stats(item, identifier)
                    raise TooManyRequests(
                        retry_after=int(stats.reset_time - time.time()) + 1,
                        detail=f"Too many {action} attempts; retry later.",
                    )
        except RedisError as exc:
            raise AuthUnavailable("Sign-in is unavailable for a moment; retry.") from exc


async def get_throttle(request: Request) -> AuthThrottle:  # async: see presented_token_hash
    """The app's throttle, made on first use for the app's current Redis client."""
    state = request.app.state
    throttle: AuthThrottle | None = getattr(state, "auth_throttle", None)
    if throttle is None or throttle.client is not state.redis:
        throttle = AuthThrottle(state.settings, state.redis)
        state.auth_throttle = throttle
    return throttle


ThrottleDep = Annotated[AuthThrottle, Depends(get_throttle)]
