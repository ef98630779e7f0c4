"""FeedStore: the only code that touches feed keys (push, trim, remove, read)."""

from geo.core.redis import RedisClient
from geo.fanout import keys

BATCH = 500


class FeedStore:
    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis

    async def push_home(self, checkin_id: int, recipients: list[int], *,
                        announce: bool = True) -> None:
        await self.push_many([(checkin_id, recipients, False)], announce=announce)

    async def push_many(self, deliveries: list[tuple[int, list[int], bool]], *,
                        announce: bool = True) -> None:
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
                        pipe.publish(keys.live_home(account_id), member)
                    queued += 1
                    if queued % BATCH == 0:
                        await pipe.execute()
            await pipe.execute()
        finally:
            await pipe.reset()

    async def remove_home(self, checkin_id: int, accounts: list[int]) -> None:
        for start in range(0, len(accounts), BATCH):
            async with self.redis.pipeline(transaction=False) as pipe:
                for account_id in accounts[start:start + BATCH]:
                    pipe.zrem(keys.home(account_id), str(checkin_id))
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

    def subscribe_home(self, account_id: int):  # type: ignore[no-untyped-def]
        """A pub/sub handle on one account's live home channel (the caller subscribes/closes)."""
        return self.redis.pubsub(), keys.live_home(account_id)
