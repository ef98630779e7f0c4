"""At most N open live streams per account, counted in Redis so every API process sees them all.

Each stream holds a slot: a member of the account's `live_streams` ZSET scored with the moment it
lapses (Redis's clock, so processes need not agree on time). Each process renews the slots of its
open streams every RENEW_S in one pipeline (not one round trip per stream: at 5,000 streams that
was a third of the process's CPU); a stream that ends gives its slot back; a process that dies
leaves slots that lapse after SLOT_TTL_S, so a crash cannot lock an account out for longer than
that. After Redis lost the key, renewals write the slots back.

Per-process counting was the alternative; it cannot hold across processes behind a load balancer.
"""

import asyncio
import logging
import math
import secrets

from redis.exceptions import RedisError

from geo.core.errors import TooManyRequests
from geo.core.redis import RedisClient
from geo.fanout import keys

log = logging.getLogger("geo.fanout.live")

SLOT_TTL_S = 60
RENEW_S = 20.0
RENEW_BATCH = 200

# KEYS[1] the account's slots; ARGV: limit, ttl ms, slot id -> {1, 0} or {0, ms until one lapses}
ACQUIRE = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, tonumber(first[2]) - now}
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {1, 0}
"""

# KEYS[1] the account's slots; ARGV: ttl ms, slot id
RENEW = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""


class StreamSlot:
    """One open stream's claim on its account's limit."""

    def __init__(self, redis: RedisClient, account_id: int, slot_id: str) -> None:
        self.redis, self.key, self.slot_id = redis, keys.live_streams(account_id), slot_id

    def keep(self) -> None:
        """Renew this slot with the process's others while the stream runs. Called when the
        stream starts, so a slot whose stream never started lapses on its own."""
        Renewer.of(self.redis).keep(self)

    async def release(self) -> None:
        Renewer.of(self.redis).discard(self)
        await self.redis.zrem(self.key, self.slot_id)


class Renewer:
    """Renews every slot this process keeps, in one pipeline every RENEW_S."""

    _renewers: dict[int, "Renewer"] = {}

    @classmethod
    def of(cls, redis: RedisClient) -> "Renewer":
        renewer = cls._renewers.get(id(redis))
        if renewer is None or renewer.redis is not redis:
            renewer = cls._renewers[id(redis)] = cls(redis)
        return renewer

    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis
        self.slots: set[StreamSlot] = set()
        self.task: asyncio.Task[None] | None = None

    def keep(self, slot: StreamSlot) -> None:
        self.slots.add(slot)
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run())

    def discard(self, slot: StreamSlot) -> None:
        self.slots.discard(slot)
        if not self.slots and self.task is not None:
            self.task.cancel()
            self.task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(RENEW_S)
            try:
                await self.renew_all()
            except RedisError as exc:  # they lapse at worst; the streams go on
                log.warning("live: could not renew stream slots: %s", exc)

    async def renew_all(self) -> None:
        # Pipelines of RENEW_BATCH: one pipeline of 5,000 held the event loop long enough to
        # be the p99 of live delivery in bench/live_streams.py.
        slots = list(self.slots)
        for start in range(0, len(slots), RENEW_BATCH):
            async with self.redis.pipeline(transaction=False) as pipe:
                for slot in slots[start : start + RENEW_BATCH]:
                    pipe.eval(RENEW, 1, slot.key, SLOT_TTL_S * 1000, slot.slot_id)
                await pipe.execute()


async def acquire(redis: RedisClient, account_id: int, *, limit: int) -> StreamSlot:
    """A slot for one more stream of this account, or 429 with the seconds until one may lapse."""
    slot_id = secrets.token_hex(8)
    granted, wait_ms = await redis.eval(  # type: ignore[misc]
        ACQUIRE, 1, keys.live_streams(account_id), limit, SLOT_TTL_S * 1000, slot_id
    )
    if not granted:
        raise TooManyRequests(
            math.ceil(int(wait_ms) / 1000),
            f"At most {limit} live streams per account are open at once; close one first.",
        )
    return StreamSlot(redis, account_id, slot_id)


async def open_count(redis: RedisClient, account_id: int) -> int:
    """Slots held now, lapsed ones included until the next acquire sweeps them (for tests)."""
    return int(await redis.zcard(keys.live_streams(account_id)))
