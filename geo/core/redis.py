"""The Redis client, created in the app's lifespan and handed out by a dependency."""

from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster

from geo.core.config import Settings

RedisClient = Redis | RedisCluster


def create_redis(settings: Settings) -> RedisClient:
    """A client for `REDIS_URL`; a `redis+cluster://` URL (or GEO_REDIS_CLUSTER) gives a cluster."""
    url = settings.redis_url
    if url.startswith("redis+cluster://"):
        # (The cluster client keeps its own per-node pools, unbounded by default.)
        return RedisCluster.from_url("redis://" + url.removeprefix("redis+cluster://"))
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=settings.redis_max_connections,
        timeout=settings.redis_pool_timeout_s,
        health_check_interval=30,
    )
    return Redis(connection_pool=pool)


async def get_redis(request: Request) -> RedisClient:
    # async: a plain `def` dependency would cost every request a hop through the thread pool.
    return request.app.state.redis


RedisDep = Annotated[RedisClient, Depends(get_redis)]
