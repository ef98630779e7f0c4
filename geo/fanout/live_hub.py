"""One Redis pub/sub connection per process for every open live stream (one per node on a cluster).

As Mastodon's streaming server does: each stream registers a listener on its channel; the hub keeps
one sharded subscription per channel, however many streams share it, on one connection per Redis
node, reads each connection in one task and copies every message into the listeners' bounded
queues. N open streams cost N small queues, not N Redis connections.

Robustness: a lost connection is reopened with backoff and every channel subscribed again; the
listeners then get GAP (messages may have been lost meanwhile) so a stream can catch up from its
feed. On a cluster, a channel whose slot moved (Redis sends an unasked SUNSUBSCRIBE) or whose node
failed is routed again from a refreshed slot map. A listener that falls QUEUE_MAX messages behind
is not allowed to grow without bound: its queue is emptied and it gets GAP too.

The hub closes its connections when its last listener leaves, so an idle process holds none.
"""

import asyncio
import itertools
import logging
import os
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from redis.asyncio import ConnectionPool, Redis, RedisCluster
from redis.exceptions import RedisError

from geo.core.redis import RedisClient

log = logging.getLogger("geo.fanout.live")

GAP = b"!gap"  # not a message Redis sends: the fan-out publishes ids and "-<id>" only
QUEUE_MAX = 1000
READ_TIMEOUT_S = 5.0  # an idle reader wakes this often (a health check may run meanwhile)
SUBSCRIBE_TIMEOUT_S = 5.0
BACKOFF_MAX_S = 5.0
_serial = itertools.count(1)


class Listener:
    """One stream's view of its channel: a bounded queue of message payloads.

    A deque and one waiter future rather than asyncio.Queue + asyncio.timeout: with thousands of
    streams the per-message cost of the wait is what the process spends its CPU on."""

    def __init__(self) -> None:
        self.pending: deque[bytes] = deque()
        self.waiter: asyncio.Future[None] | None = None

    def put(self, data: bytes) -> None:
        if len(self.pending) >= QUEUE_MAX:
            # A stream this far behind has lost messages anyway: say so once, bounded.
            self.pending.clear()
            data = GAP
        self.pending.append(data)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def next_message(self, timeout: float) -> bytes | None:
        """The next payload (or GAP), or None after `timeout` s."""
        if not self.pending:
            loop = asyncio.get_running_loop()
            self.waiter = waiter = loop.create_future()
            timer = loop.call_later(timeout, _wake, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self.waiter = None
        return self.pending.popleft() if self.pending else None


def _wake(waiter: "asyncio.Future[None]") -> None:
    if not waiter.done():
        waiter.set_result(None)


class LiveHub:
    """The process's multiplexer for one Redis client (a single server or a cluster)."""

    _hubs: dict[int, "LiveHub"] = {}

    @classmethod
    def of(cls, redis: RedisClient) -> "LiveHub":
        hub = cls._hubs.get(id(redis))
        if hub is None or hub.redis is not redis:
            hub = cls._hubs[id(redis)] = cls(redis)
        return hub

    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis
        self.cluster = isinstance(redis, RedisCluster)
        # Names this process's hub connections in CLIENT LIST (operators and tests count them).
        self.name = f"geo-live-{os.getpid()}-{next(_serial)}"
        self.listeners: dict[str, set[Listener]] = {}
        self.ready: dict[str, asyncio.Future[None]] = {}
        self.route: dict[str, _Shard] = {}
        self.shards: dict[str, _Shard] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    @asynccontextmanager
    async def listen(self, channel: str) -> AsyncIterator[Listener]:
        """Be subscribed to `channel` (confirmed by Redis) for the duration of the block."""
        listener = Listener()
        await self._add(channel, listener)
        try:
            yield listener
        finally:
            # Shielded: a cancelled stream (client gone) still gives its subscription back.
            await asyncio.shield(self._remove(channel, listener))

    async def _add(self, channel: str, listener: Listener) -> None:
        first = channel not in self.listeners
        self.listeners.setdefault(channel, set()).add(listener)
        if first:
            self.ready[channel] = asyncio.get_running_loop().create_future()
        ready = self.ready[channel]
        try:
            if first:
                shard = self.route[channel] = await self._shard_for(channel)
                await shard.subscribe(channel)
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT_S):
                await asyncio.shield(ready)
        except BaseException:
            await self._remove(channel, listener)
            raise

    async def _remove(self, channel: str, listener: Listener) -> None:
        listeners = self.listeners.get(channel, set())
        listeners.discard(listener)
        if listeners:
            return
        self.listeners.pop(channel, None)
        self.ready.pop(channel, None)
        shard = self.route.pop(channel, None)
        if not self.listeners:
            # Taken out of the registry before any await: a new stream gets a fresh hub.
            if LiveHub._hubs.get(id(self.redis)) is self:
                del LiveHub._hubs[id(self.redis)]
            await self._close()
        elif shard is not None:
            await shard.unsubscribe(channel)

    async def _close(self) -> None:
        shards, self.shards = list(self.shards.values()), {}
        for task in self.tasks:
            task.cancel()
        for shard in shards:
            await shard.close()

    async def _shard_for(self, channel: str) -> "_Shard":
        """The connection that serves `channel`: the only one, or its slot's primary's."""
        if not self.cluster:
            pool: Any = self.redis.connection_pool  # type: ignore[union-attr]
            return self._shard("single", pool.connection_class, pool.connection_kwargs)
        cluster: Any = self.redis
        await cluster.initialize()  # the slot map (a no-op once loaded)
        node = cluster.get_node_from_key(channel)
        return self._shard(node.name, node.connection_class, node.connection_kwargs)

    def _shard(self, name: str, connection_class: Any, kwargs: dict[str, Any]) -> "_Shard":
        shard = self.shards.get(name)
        if shard is None:
            pool = ConnectionPool(
                connection_class=connection_class, **{**kwargs, "client_name": self.name}
            )
            shard = self.shards[name] = _Shard(self, name, pool)
        return shard

    def deliver(self, channel: bytes, data: bytes) -> None:
        for listener in self.listeners.get(channel.decode(), ()):
            listener.put(data)

    def dispatch(self, shard: "_Shard", message: dict[str, Any]) -> None:
        """A control message (subscribe confirmations and the like)."""
        kind, channel = message["type"], message["channel"]
        channel = channel.decode() if isinstance(channel, bytes) else channel
        if kind == "smessage":
            self.deliver(channel.encode(), message["data"])
        elif kind == "ssubscribe":
            ready = self.ready.get(channel)
            if ready is not None and not ready.done():
                ready.set_result(None)
        elif kind == "sunsubscribe" and self.route.get(channel) is shard and self.cluster:
            # Unasked: the channel's slot moved to another node. Follow it.
            self._spawn(self._move([channel]))

    def gap(self, channels: set[str]) -> None:
        """Tell these channels' listeners that messages may have been lost."""
        for channel in channels:
            for listener in self.listeners.get(channel, ()):
                listener.put(GAP)

    async def reroute(self, shard: "_Shard") -> None:
        """After a node failed: refresh the slot map and move its channels to their new owners."""
        if self.cluster:
            await self._move(list(shard.channels))

    async def _move(self, channels: list[str]) -> None:
        cluster: Any = self.redis
        try:
            await cluster.nodes_manager.initialize()
        except RedisError as exc:
            log.warning("live: slot map refresh failed: %s", exc)
            return
        for channel in channels:
            old = self.route.get(channel)
            if old is None:
                continue  # its streams have left meanwhile
            new = await self._shard_for(channel)
            if new is not old:
                old.channels.discard(channel)
                self.route[channel] = new
                await new.subscribe(channel)
                self.gap({channel})

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


class _Shard:
    """One pub/sub connection (to the single server, or to one cluster node) and its reader."""

    def __init__(self, hub: LiveHub, name: str, pool: ConnectionPool) -> None:
        self.hub, self.name, self.pool = hub, name, pool
        self.client = Redis(connection_pool=pool)
        self.channels: set[str] = set()
        self.pubsub: Any = None
        self.connected = False
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def subscribe(self, channel: str) -> None:
        self.channels.add(channel)
        if self.connected:
            # On failure the reader reconnects and subscribes every channel again.
            with suppress(RedisError):
                await self.pubsub.ssubscribe(channel)

    async def unsubscribe(self, channel: str) -> None:
        self.channels.discard(channel)
        if self.connected:
            # On failure the next connection will not subscribe it.
            with suppress(RedisError):
                await self.pubsub.sunsubscribe(channel)

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                await self._connect(resumed=failures > 0)
                failures = 0
                await self._read()
            except (RedisError, OSError) as exc:
                failures += 1
                log.warning("live: pub/sub connection %s lost (%s); reconnecting", self.name, exc)
                await self._drop()
                await self.hub.reroute(self)
                if not self.channels and self.hub.shards.get(self.name) is self:
                    # Every channel moved to another node (a failover): this one is not needed.
                    del self.hub.shards[self.name]
                    await self.pool.disconnect()
                    return
                await asyncio.sleep(min(BACKOFF_MAX_S, 0.05 * 2**failures))

    async def _read(self) -> None:
        """Read the connection until it fails. Messages are read off the connection itself:
        PubSub.get_message's per-call retry and bookkeeping layers cost more than the message;
        control replies still go through PubSub.handle_message to keep its bookkeeping right."""
        connection = self.pubsub.connection
        while True:
            response = await connection.read_response(
                timeout=READ_TIMEOUT_S, disconnect_on_error=False, push_request=True
            )
            if response is None:
                # Idle: a PING, so a half-open connection fails here instead of going unnoticed.
                await self.pubsub.ping()
            elif isinstance(response, list) and response[0] == b"smessage":
                self.hub.deliver(response[1], response[2])
            elif isinstance(response, list):
                message = await self.pubsub.handle_message(response)
                if message is not None:
                    self.hub.dispatch(self, message)

    async def _connect(self, *, resumed: bool) -> None:
        self.pubsub = self.client.pubsub()
        await self.pubsub.connect()
        # Connected before the bulk subscribe: a channel added meanwhile is sent on its own
        # (twice at worst, which Redis ignores) rather than missed.
        self.connected = True
        if self.channels:
            await self.pubsub.ssubscribe(*self.channels)
        if resumed:
            self.hub.gap(self.channels)

    async def _drop(self) -> None:
        self.connected = False
        pubsub, self.pubsub = self.pubsub, None
        if pubsub is not None:
            with suppress(RedisError, OSError):
                await pubsub.aclose()

    async def close(self) -> None:
        self.task.cancel()
        with suppress(asyncio.CancelledError):
            await self.task
        await self._drop()
        await self.pool.disconnect()
