"""Which servers answer, for `/healthz`: each checked on its own, concurrently, within a bound.

A check that fails names only its own server, so an operator (or a load balancer) reads which
part is down; a hanging server counts as down after CHECK_TIMEOUT_S instead of hanging the probe.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import text

from geo.core import outages
from geo.core.metrics import COMPONENT_UP

log = logging.getLogger("geo.health")

CHECK_TIMEOUT_S = 2.0
REDIS_TRIES = 4


async def component_states(state: Any) -> dict[str, str]:
    """{"postgresql": "up"|"down", "redis": "up"|"down"} for the app's `state`."""

    async def postgresql() -> None:
        async with state.db.engine.connect() as conn:
            await conn.execute(text("SELECT postgis_lib_version()"))

    async def redis() -> None:
        # After a restart every pooled connection still holds the old server's socket and fails
        # its first command (redis-py does not retry: a retried write could run twice); for a
        # PING that failure says "stale connection", not "down". So a few quick tries, each on
        # the next connection, within the check's time bound; a server that is really down
        # refuses every one.
        for attempt in range(REDIS_TRIES):
            try:
                await state.redis.ping()
                return
            except RedisConnectionError:
                if attempt == REDIS_TRIES - 1:
                    raise

    checks: dict[str, Callable[[], Awaitable[None]]] = {
        outages.POSTGRESQL: postgresql,
        outages.REDIS: redis,
    }
    results = await asyncio.gather(*(_up(name, check) for name, check in checks.items()))
    states = dict(zip(checks, results, strict=True))
    for name, up in states.items():
        COMPONENT_UP.labels(name).set(1 if up else 0)
    return {name: "up" if up else "down" for name, up in states.items()}


async def _up(name: str, check: Callable[[], Awaitable[None]]) -> bool:
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
    except Exception as exc:  # health is the answer, not an error
        log.warning("healthz: %s is down: %r", name, exc)
        return False
    return True
