#!/usr/bin/env python3
"""Load generator for the fan-out benchmark (a separate process; not a test).

Replays real Gowalla NYC check-in trajectories (venue after venue, in their real order) as
`POST /v1/checkins` over the accounts of the real Liu 2017 Gowalla friendship graph, open loop at
a fixed rate (latency counted from each request's scheduled time, so queueing is not hidden) or
closed loop with N connections. It watches every created check-in until it is in its audience's
home timelines (Redis ZSCORE, polled every POLL_S) and reports per step: ingest req/s, p50/p99,
fan-out deliveries/s and delivery lag p50/p99 (201 -> present in the last recipient's timeline).

Trajectories: each NYC user's check-ins in time order, cut into segments of SEGMENT events; the
segments are dealt to the graph accounts in a seeded random order. An account checks in again only
after max(MIN_GAP_S, distance / SAFE_SPEED + MARGIN_S), so the plausibility rules (<= 1000 km/h,
<= 10 a minute) hold even when a request waits in a queue.

    fanout_client.py URL DB_URL REDIS_URL STEPS_JSON   (one JSON result line per step on stdout)
"""

import asyncio
import gzip
import heapq
import json
import math
import random
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from geo.fanout import keys  # noqa: E402

SEED = Path(__file__).resolve().parent.parent / "seed_data"
SEGMENT, MIN_GAP_S, SAFE_SPEED, MARGIN_S = 10, 7.0, 150.0, 3.0
CHUNK = 1000  # the fan-out's split size: each chunk's last recipient is probed
POLL_S, POLL_MAX = 0.02, 3000
MAX_CONNS = 512


def dist_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    p1, p2 = math.radians(a[0]), math.radians(b[0])
    h = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(b[1] - a[1]) / 2) ** 2
    )
    return 2 * 6_371_008.8 * math.asin(math.sqrt(min(1.0, h)))


class World:
    """Accounts, their audiences, venues and the trajectory plan, read from the bench DB."""

    def __init__(self, db_url: str) -> None:
        with psycopg.connect(db_url) as conn:
            self.accounts = [
                r[0]
                for r in conn.execute("SELECT id FROM accounts WHERE handle LIKE 'gw%' ORDER BY id")
            ]
            self.celebrity = conn.execute(
                "SELECT id FROM accounts WHERE handle = 'bench_celebrity'"
            ).fetchone()[0]
            followers: dict[int, list[int]] = {}
            for followee, follower in conn.execute("SELECT followee_id, follower_id FROM follows"):
                followers.setdefault(followee, []).append(follower)
            self.venues = {
                r[0]: (r[1], r[2], r[3])
                for r in conn.execute(
                    """SELECT source_ref, id, ST_Y(position::geometry), ST_X(position::geometry)
                   FROM places WHERE source = 'gowalla-nyc'"""
                )
            }
        self.followers = followers
        self.plan = self._plan()

    def audience(self, author: int) -> list[int]:
        return sorted({author, *self.followers.get(author, [])})

    def probes(self, author: int) -> list[int]:
        """Whose timelines tell that a delivery is complete: the author, each chunk's last."""
        rest = [r for r in self.audience(author) if r != author]
        return sorted(
            {author, *(rest[min(i + CHUNK, len(rest)) - 1] for i in range(0, len(rest), CHUNK))}
        )

    def _plan(self) -> dict[int, list[tuple[int, float, float]]]:
        trips: dict[str, list[tuple[str, str]]] = {}
        with gzip.open(SEED / "gowalla_nyc/gowalla_events.nyc.csv.gz", "rt") as f:
            for line in f:
                uid, when, _, _, venue = line.split()
                if venue in self.venues:
                    trips.setdefault(uid, []).append((when, venue))
        segments = []
        for uid in sorted(trips, key=int):
            visits = [self.venues[v] for _, v in sorted(trips[uid])]
            segments += [visits[i : i + SEGMENT] for i in range(0, len(visits), SEGMENT)]
        rng = random.Random(42)
        rng.shuffle(segments)
        owners = list(self.accounts)
        rng.shuffle(owners)
        plan: dict[int, list[tuple[int, float, float]]] = {}
        for i, segment in enumerate(segments):
            plan.setdefault(owners[i % len(owners)], []).extend(segment)
        return plan


class Scheduler:
    """Which account checks in next, where, without breaking the plausibility rules."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.cursor = {a: 0 for a in world.plan}
        self.heap = [(0.0, a) for a in world.plan]
        heapq.heapify(self.heap)

    def next(self, now: float) -> tuple[int, tuple[int, float, float]] | None:
        while self.heap and self.heap[0][0] <= now:
            _, author = heapq.heappop(self.heap)
            visits, k = self.world.plan[author], self.cursor[author]
            if k >= len(visits):
                continue
            self.cursor[author] = k + 1
            if k + 1 < len(visits):
                gap = dist_m(visits[k][1:], visits[k + 1][1:]) / SAFE_SPEED + MARGIN_S
                heapq.heappush(self.heap, (now + max(MIN_GAP_S, gap), author))
            return author, visits[k]
        return None


class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def post(self, path: str, body: bytes, token: str) -> tuple[int, bytes]:
        self.writer.write(
            b"POST %s HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer %s\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (path.encode(), token.encode(), len(body), body)
        )
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)


class Pool:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.idle: list[Conn] = []
        self.opened = 0
        self.freed = asyncio.Condition()

    async def post(self, path: str, body: bytes, token: str) -> tuple[int, bytes]:
        async with self.freed:
            while not self.idle and self.opened >= MAX_CONNS:
                await self.freed.wait()
            conn = self.idle.pop() if self.idle else None
            if conn is None:
                self.opened += 1
        try:
            if conn is not None:
                try:
                    return await self._done(conn, await conn.post(path, body, token))
                except (ConnectionError, asyncio.IncompleteReadError, IndexError):
                    # The server closed an idle keep-alive connection: open a fresh one.
                    conn.writer.close()
            conn = Conn(*await asyncio.open_connection(self.host, self.port))
            answer = await conn.post(path, body, token)
        except Exception:
            async with self.freed:
                self.opened -= 1
                self.freed.notify()
            raise
        return await self._done(conn, answer)

    async def _done(self, conn: Conn, answer: tuple[int, bytes]) -> tuple[int, bytes]:
        async with self.freed:
            self.idle.append(conn)
            self.freed.notify()
        return answer


class Watcher:
    """Polls the probes' home timelines until every created check-in is fully delivered."""

    def __init__(self, redis: Redis | None) -> None:
        self.redis = redis
        self.waiting: dict[str, tuple[float, list[int], int]] = {}
        self.lags: list[float] = []
        self.big_lags: list[float] = []
        self.deliveries = 0
        self.last_done = 0.0

    def add(self, checkin_id: str, created: float, probes: list[int], audience: int) -> None:
        if self.redis is not None:
            self.waiting[checkin_id] = (created, probes, audience)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(POLL_S)
            batch = [(c, v) for c, v in zip(self.waiting, self.waiting.values(), strict=True)]
            batch = batch[:POLL_MAX]
            if not batch:
                continue
            async with self.redis.pipeline(transaction=False) as pipe:
                for checkin_id, (_, probes, _) in batch:
                    for account in probes:
                        pipe.zscore(keys.home(account), checkin_id)
                scores = iter(await pipe.execute())
            now = time.monotonic()
            for checkin_id, (created, probes, audience) in batch:
                left = [a for a in probes if next(scores) is None]
                if left:
                    self.waiting[checkin_id] = (created, left, audience)
                    continue
                del self.waiting[checkin_id]
                (self.big_lags if audience > CHUNK else self.lags).append(now - created)
                self.deliveries += audience
                self.last_done = now


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_step(
    step: dict, pool: Pool, sched: Scheduler, world: World, watcher: Watcher, max_rate: float | None
) -> dict:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    watcher.lags, watcher.big_lags, watcher.deliveries = [], [], 0
    loop_start = time.monotonic()

    async def one(scheduled: float, author: int, visit: tuple[int, float, float]) -> None:
        place, lat, lon = visit
        body = json.dumps(
            {
                "place_id": str(place),
                "lat": lat,
                "lon": lon,
                "accuracy_m": 20,
                "audience": {"public": True},
            }
        ).encode()
        try:
            status, answer = await pool.post("/v1/checkins", body, f"bench-{author}")
        except Exception:
            status, answer = 0, b""
        now = time.monotonic()
        latencies.append(now - scheduled)
        statuses[status] = statuses.get(status, 0) + 1
        if status == 201:
            watcher.add(
                json.loads(answer)["id"], now, world.probes(author), len(world.audience(author))
            )

    tasks: set[asyncio.Task] = set()
    seconds = step["seconds"]
    celebrity = None
    if step.get("celebrity_every_s"):
        # The big account checks in at one venue again and again (no travel, <= 10 a minute).
        async def celebrity_posts() -> None:
            venue = next(iter(world.venues.values()))
            while True:
                await asyncio.sleep(step["celebrity_every_s"])
                task = asyncio.create_task(one(time.monotonic(), world.celebrity, venue))
                tasks.add(task)
                task.add_done_callback(tasks.discard)

        celebrity = asyncio.create_task(celebrity_posts())
    if step["kind"] == "closed":

        async def client() -> None:
            while (now := time.monotonic()) < loop_start + seconds:
                picked = sched.next(now)
                if picked is None:
                    await asyncio.sleep(0.005)
                    continue
                await one(now, *picked)

        await asyncio.gather(*(client() for _ in range(step["conns"])))
        rate = None
    else:
        rate = step.get("rate") or step["fraction"] * (max_rate or 0)
        n, skipped = int(rate * seconds), 0
        for i in range(n):
            scheduled = loop_start + i / rate
            delay = scheduled - time.monotonic()
            if delay > 0.001:
                await asyncio.sleep(delay)
            picked = sched.next(scheduled)
            if picked is None:
                skipped += 1
                continue
            task = asyncio.create_task(one(scheduled, *picked))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
    if celebrity is not None:
        celebrity.cancel()
    sent_for = time.monotonic() - loop_start
    ok = statuses.get(201, 0)
    deadline = time.monotonic() + step.get("drain_s", 60)
    while watcher.waiting and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    delivered_for = (watcher.last_done - loop_start) if watcher.lags else float("nan")
    return {
        "kind": step["kind"],
        "label": step.get("label", ""),
        "offered": rate,
        "conns": step.get("conns"),
        "sent": sum(statuses.values()),
        "ok": ok,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "rps": ok / sent_for,
        "p50_ms": 1000 * pct(latencies, 0.50),
        "p99_ms": 1000 * pct(latencies, 0.99),
        "deliveries": watcher.deliveries,
        "delivery_s": delivered_for,
        "deliveries_per_s": watcher.deliveries / delivered_for if watcher.lags else 0.0,
        "lag_p50_ms": 1000 * pct(watcher.lags, 0.50),
        "lag_p99_ms": 1000 * pct(watcher.lags, 0.99),
        "lag_max_ms": 1000 * max(watcher.lags, default=float("nan")),
        "big": len(watcher.big_lags),
        "big_lag_p50_ms": 1000 * pct(watcher.big_lags, 0.5),
        "big_lag_max_ms": 1000 * max(watcher.big_lags, default=float("nan")),
        "undelivered": len(watcher.waiting),
    }


async def main() -> int:
    url, db_url, redis_url, steps = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    world = World(db_url)
    print(
        f"# {len(world.plan)} authors, {sum(map(len, world.plan.values()))} planned check-ins",
        file=sys.stderr,
        flush=True,
    )
    redis = Redis.from_url(redis_url) if redis_url != "-" else None
    watcher, pool, sched = Watcher(redis), Pool(url), Scheduler(world)
    poller = asyncio.create_task(watcher.run()) if redis else None
    max_rate = None
    for step in steps:
        result = await run_step(step, pool, sched, world, watcher, max_rate)
        if step["kind"] == "closed":
            max_rate = result["rps"]
        watcher.waiting.clear()
        print(json.dumps(result), flush=True)
    if poller:
        poller.cancel()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
