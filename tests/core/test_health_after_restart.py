"""`/healthz` after Redis came back: the pool's connections that died with the old server each
fail their first command, and the probe must not call that an outage."""

import asyncio
from types import SimpleNamespace

from geo.core.config import Settings
from geo.core.health import component_states
from geo.core.redis import create_redis
from tests.fixtures.private_servers import PrivateRedis


async def test_redis_is_up_once_back_though_pooled_connections_are_stale(engine):
    server = await asyncio.to_thread(PrivateRedis.start)
    redis = create_redis(Settings(redis_url=server.url))
    try:
        # Several connections in the pool, all open to the first server process.
        await asyncio.gather(*(redis.blpop(["nothing"], timeout=0.2) for _ in range(6)))
        await asyncio.to_thread(server.kill)
        await asyncio.to_thread(server.restart, keep_data=False)
        state = SimpleNamespace(db=SimpleNamespace(engine=engine), redis=redis)
        assert (await component_states(state))["redis"] == "up"
        await asyncio.to_thread(server.kill)
        assert (await component_states(state))["redis"] == "down"
    finally:
        await redis.aclose()
        await asyncio.to_thread(server.remove)
