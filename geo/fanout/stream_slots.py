"""At most N open live streams per account, counted in Redis so every API process sees them all.

Each stream holds a slot: a member of the account's `live_streams` ZSET scored with the moment it
lapses (Redis's clock, so processes need not agree on time). An open stream renews its slot every
keepalive; a stream that ends gives it back; a process that dies leaves slots that lapse after
SLOT_TTL_S, so a crash cannot lock an account out for longer than that. After Redis lost the key,
renewals write the slots back.
"""

import math
import secrets

from geo.core.errors import TooManyRequests
from geo.core.redis import RedisClient
from geo.fanout import keys

SLOT_TTL_S = 60

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

    async def renew(self) -> None:
        await self.redis.eval(RENEW, 1, self.key, SLOT_TTL_S * 1000, self.slot_id)  # type: ignore[misc]

    async def release(self) -> None:
        await self.redis.zrem(self.key, self.slot_id)


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
