"""FeedStore: the only code that touches feed keys (push, trim, remove, read, live channels).

Live announcements use sharded pub/sub (SPUBLISH/SSUBSCRIBE, Redis 7): on a cluster a message
stays on the shard that owns the channel's slot instead of being broadcast to every node, and
SPUBLISH, unlike PUBLISH, may be pipelined by the cluster client.
"""

from types import TracebackType
from typing import Any

from redis.asyncio import RedisCluster

from geo.core.redis import RedisClient
from geo.fanout import keys

BATCH = 500


class FeedStore:
    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis

    async def push_home(
        self, checkin_id: int, recipients: list[int], *, announce: bool = True
    ) -> None:
        await self.push_many([(checkin_id, recipients, False)], announce=announce)

    async def push_many(
        self, deliveries: list[tuple[int, list[int], bool]], *, announce: bool = True
    ) -> None:
        """Each (check-in id, recipients, public): ZADD by id to every home timeline (a redelivery
        changes nothing), trim to the cap, announce; public ones also to the public stream.
        Several deliveries share pipelines of about BATCH recipients."""
        pipe, queued = self.redis.pipeline(transaction=False), 0
        try:
            for checkin_id, recipients, public in deliveries:
                member, score = str(checkin_id), keys.score(checkin_id)
                if public:
                    pipe.zadd(keys.public_global(), {member: score})
                    pipe.zremrangebyrank(keys.public_global(), 0, -keys.PUBLIC_CAP - 1)
                for account_id in recipients:
                    key = keys.home(account_id)
                    pipe.zadd(key, {member: score})
                    pipe.zremrangebyrank(key, 0, -keys.HOME_CAP - 1)
                    if announce:
                        pipe.spublish(keys.live_home(account_id), member)
                    queued += 1
                    if queued % BATCH == 0:
                        await pipe.execute()
            await pipe.execute()
        finally:
            await pipe.reset()

    async def remove_home(self, checkin_id: int, accounts: list[int]) -> None:
        """Take one check-in out of these home timelines and retract it from their live streams."""
        for start in range(0, len(accounts), BATCH):
            async with self.redis.pipeline(transaction=False) as pipe:
                for account_id in accounts[start : start + BATCH]:
                    pipe.zrem(keys.home(account_id), str(checkin_id))
                    pipe.spublish(keys.live_home(account_id), keys.retraction(checkin_id))
                await pipe.execute()

    async def drop_home(self, account_id: int) -> None:
        """Forget an erased account's home timeline."""
        await self.redis.delete(keys.home(account_id))

    async def home_ids(self, account_id: int) -> list[int]:
        """Every id in one home timeline (at most HOME_CAP)."""
        return [int(m) for m in await self.redis.zrange(keys.home(account_id), 0, -1)]

    async def remove_from_home(self, account_id: int, checkin_ids: list[int]) -> None:
        """Take these check-ins out of one home timeline and retract them from its live streams."""
        if not checkin_ids:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrem(keys.home(account_id), *[str(i) for i in checkin_ids])
            for checkin_id in checkin_ids:
                pipe.spublish(keys.live_home(account_id), keys.retraction(checkin_id))
            await pipe.execute()

    async def announce_emergency(self, emergency_id: int, accounts: list[int]) -> None:
        """Alert these accounts' open home streams to a newly declared emergency."""
        message = keys.emergency_alert(emergency_id)
        for start in range(0, len(accounts), BATCH):
            async with self.redis.pipeline(transaction=False) as pipe:
                for account_id in accounts[start : start + BATCH]:
                    pipe.spublish(keys.live_home(account_id), message)
                await pipe.execute()

    async def push_public(self, checkin_id: int) -> None:
        await self.push_many([(checkin_id, [], True)])

    async def remove_public(self, checkin_id: int) -> None:
        await self.redis.zrem(keys.public_global(), str(checkin_id))

    async def read(self, key: str, *, limit: int, before: int | None) -> list[int]:
        """Newest first, strictly older than the cursor id."""
        high = f"({keys.score(before) + 1}" if before is not None else "+inf"
        # Over-fetch: ids sharing the cursor's millisecond are filtered here.
        members = await self.redis.zrevrangebyscore(key, high, "-inf", start=0, num=limit + 50)
        ids = sorted((int(m) for m in members), reverse=True)
        if before is not None:
            ids = [i for i in ids if i < before]
        return ids[:limit]

    async def read_home(self, account_id: int, *, limit: int, before: int | None) -> list[int]:
        return await self.read(keys.home(account_id), limit=limit, before=before)

    async def read_public(self, *, limit: int, before: int | None) -> list[int]:
        return await self.read(keys.public_global(), limit=limit, before=before)

    def live_home(self, account_id: int) -> "LiveChannel":
        """One account's live home channel; use as `async with` to be subscribed meanwhile."""
        return LiveChannel(self.redis, keys.live_home(account_id))


class LiveChannel:
    """A sharded subscription to one live channel, on a single Redis or a cluster alike."""

    def __init__(self, redis: RedisClient, channel: str) -> None:
        self.redis, self.channel = redis, channel
        self.cluster = isinstance(redis, RedisCluster)
        self.pubsub: Any = None

    async def __aenter__(self) -> "LiveChannel":
        if self.cluster:
            await self.redis.initialize()  # type: ignore[union-attr]  # slot map to route SSUBSCRIBE
        self.pubsub = self.redis.pubsub()
        await self.pubsub.ssubscribe(self.channel)
        return self

    async def next_message(self, timeout: float) -> bytes | None:
        """The next message's data, or None after `timeout` s (or a subscription confirmation)."""
        if self.cluster:
            message = await self.pubsub.get_sharded_message(
                ignore_subscribe_messages=True, timeout=timeout
            )
        else:
            message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout)
        return message["data"] if message else None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.pubsub.sunsubscribe(self.channel)
        finally:
            await self.pubsub.aclose()
