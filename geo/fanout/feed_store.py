"""FeedStore: the only code that touches feed keys (push, trim, remove, read, live channels).

Live announcements use sharded pub/sub (SPUBLISH/SSUBSCRIBE, Redis 7): on a cluster a message
stays on the shard that owns the channel's slot instead of being broadcast to every node, and
SPUBLISH, unlike PUBLISH, may be pipelined by the cluster client.
"""

import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from geo.core.redis import RedisClient
from geo.fanout import keys
from geo.fanout.live_hub import Listener, LiveHub

BATCH = 500


class FeedStore:
    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis

    async def push_many(
        self, deliveries: list[tuple[int, list[int], bool]], *, announce: bool = True
    ) -> None:
        """Each (check-in id, recipients, public): ZADD by id to every home timeline (a redelivery
        changes nothing), trim to the cap; the public ones to the public stream, all in one ZADD
        and one trim. Several deliveries share pipelines of about BATCH recipients. Then the
        announcements, to those recipients only that have a live stream open."""
        pipe, queued = self.redis.pipeline(transaction=False), 0
        public = {str(c): keys.score(c) for c, _, p in deliveries if p}
        try:
            if public:
                # One ZADD and one trim for all: the newest PUBLIC_CAP of the union are those
                # that trimming after each one would keep.
                pipe.zadd(keys.public_global(), public)
                pipe.zremrangebyrank(keys.public_global(), 0, -keys.PUBLIC_CAP - 1)
            for checkin_id, recipients, _ in deliveries:
                member, score = str(checkin_id), keys.score(checkin_id)
                for account_id in recipients:
                    key = keys.home(account_id)
                    pipe.zadd(key, {member: score})
                    pipe.zremrangebyrank(key, 0, -keys.HOME_CAP - 1)
                    queued += 1
                    if queued % BATCH == 0:
                        await pipe.execute()
            announce = announce and queued > 0
            if announce:
                # Asked after the items are in the timelines (last in the last pipeline): a stream
                # that registers after this started after the items were there, as any stream
                # opened a moment later would have. Most accounts have none open: the live ones,
                # when fewer than the deliveries, come back whole in this one reply.
                pipe.zrangebyscore(
                    keys.LISTENERS, f"({time.time() * 1000}", "+inf", start=0, num=queued + 1
                )
            replies = await pipe.execute()
        finally:
            await pipe.reset()
        if not announce:
            return
        pairs = ((a, str(c)) for c, recipients, _ in deliveries for a in recipients)
        if len(live := replies[-1]) > queued:  # cut short: more listen than receive
            await self._announce(list(pairs))
        elif live:
            ids = {int(a) for a in live}
            await self._publish([pair for pair in pairs if pair[0] in ids])

    async def _announce(self, announced: list[tuple[int, str]]) -> None:
        """Announce to those of these recipients that listen now (as many listen as receive)."""
        for start in range(0, len(announced), BATCH):
            chunk = announced[start : start + BATCH]
            until = await self.redis.zmscore(keys.LISTENERS, [str(a) for a, _ in chunk])
            now_ms = time.time() * 1000
            await self._publish(
                [pair for pair, u in zip(chunk, until, strict=True) if u and u > now_ms]
            )

    async def _publish(self, live: list[tuple[int, str]]) -> None:
        for start in range(0, len(live), BATCH):
            async with self.redis.pipeline(transaction=False) as pipe:
                for account_id, member in live[start : start + BATCH]:
                    pipe.spublish(keys.live_home(account_id), member)
                await pipe.execute()

    async def remove_home(self, checkin_id: int, accounts: list[int]) -> None:
        """Take one check-in out of these home timelines; retract it from the live streams of
        those that held it only. `accounts` come from today's graph: a circle member added or a
        follower gained since the delivery never got the item and must not learn its id."""
        for start in range(0, len(accounts), BATCH):
            batch = accounts[start : start + BATCH]
            await self._retract([(account_id, [checkin_id]) for account_id in batch])

    async def _retract(self, removals: list[tuple[int, list[int]]]) -> None:
        """ZREM each (account, ids), then announce `-<id>` to the account's channel for each id
        that its timeline held (ZREM said 1): the timeline is the record of what was received."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for account_id, checkin_ids in removals:
                for checkin_id in checkin_ids:
                    pipe.zrem(keys.home(account_id), str(checkin_id))
            removed = iter(await pipe.execute())
            held = [
                (account_id, checkin_id)
                for account_id, checkin_ids in removals
                for checkin_id in checkin_ids
                if next(removed)
            ]
            for account_id, checkin_id in held:
                pipe.spublish(keys.live_home(account_id), keys.retraction(checkin_id))
            if held:
                await pipe.execute()

    async def drop_home(self, account_id: int) -> None:
        """Forget an erased account's home timeline."""
        await self.redis.delete(keys.home(account_id))

    async def fill_home(self, account_id: int, checkin_ids: list[int]) -> None:
        """Regenerate one home timeline from ids PostgreSQL gave (no announcements: its owner's
        streams, if any, re-read it when they reconnect). ZADD by id: what the fan-out delivers
        meanwhile stays."""
        if checkin_ids:
            key = keys.home(account_id)
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.zadd(key, {str(i): keys.score(i) for i in checkin_ids})
                pipe.zremrangebyrank(key, 0, -keys.HOME_CAP - 1)
                await pipe.execute()

    async def fill_public(self, checkin_ids: list[int]) -> None:
        """Regenerate the public stream from ids PostgreSQL gave (no announcements)."""
        if checkin_ids:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.zadd(keys.public_global(), {str(i): keys.score(i) for i in checkin_ids})
                pipe.zremrangebyrank(keys.public_global(), 0, -keys.PUBLIC_CAP - 1)
                await pipe.execute()

    async def home_ids(self, account_id: int) -> list[int]:
        """Every id in one home timeline (at most HOME_CAP)."""
        return _ints(await self.redis.zrange(keys.home(account_id), 0, -1))

    async def remove_from_home(self, account_id: int, checkin_ids: list[int]) -> None:
        """Take these check-ins out of one home timeline and retract them from its live streams."""
        if checkin_ids:
            await self._retract([(account_id, checkin_ids)])

    async def announce_emergency(self, emergency_id: int, accounts: list[int]) -> None:
        """Alert these accounts' open home streams to a newly declared emergency."""
        message = keys.emergency_alert(emergency_id)
        for start in range(0, len(accounts), BATCH):
            async with self.redis.pipeline(transaction=False) as pipe:
                for account_id in accounts[start : start + BATCH]:
                    pipe.spublish(keys.live_home(account_id), message)
                await pipe.execute()

    async def remove_public(self, checkin_id: int) -> None:
        await self.redis.zrem(keys.public_global(), str(checkin_id))

    async def read(self, key: str, *, limit: int, before: int | None) -> list[int]:
        """Newest first, strictly older than the cursor id."""
        high = f"({keys.score(before) + 1}" if before is not None else "+inf"
        # Over-fetch: ids sharing the cursor's millisecond are filtered here.
        members = await self.redis.zrevrangebyscore(key, high, "-inf", start=0, num=limit + 50)
        ids = sorted(_ints(members), reverse=True)
        if before is not None:
            ids = [i for i in ids if i < before]
        return ids[:limit]

    async def read_home(self, account_id: int, *, limit: int, before: int | None) -> list[int]:
        return await self.read(keys.home(account_id), limit=limit, before=before)

    async def read_public(self, *, limit: int, before: int | None) -> list[int]:
        return await self.read(keys.public_global(), limit=limit, before=before)

    @asynccontextmanager
    async def live_home(self, account_id: int) -> AsyncIterator[Listener]:
        """One account's live home channel, through the process's one pub/sub connection; use as
        `async with` to be subscribed meanwhile. Registered as a listener once subscribed (so a
        delivery after that announces to it); the stream calls `register_listener` again every
        LISTEN_REFRESH_S."""
        async with LiveHub.of(self.redis).listen(keys.live_home(account_id)) as listener:
            await self.register_listener(account_id)
            yield listener

    async def register_listener(self, account_id: int) -> None:
        """Tell every fan-out worker that this account listens (until LISTEN_TTL_MS from now)."""
        now_ms = time.time() * 1000
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(keys.LISTENERS, {str(account_id): now_ms + keys.LISTEN_TTL_MS})
            pipe.zremrangebyscore(keys.LISTENERS, "-inf", now_ms)  # lapsed entries
            await pipe.execute()


def _ints(members: Iterable[Any]) -> list[int]:
    """Sorted-set members (ids, as Redis returns them) as ints."""
    return [int(m) for m in members]
