"""Live streams at scale: STREAMS concurrent SSE home streams held open on ONE `geo serve` process.

    .venv/bin/python bench/live_streams.py            # BENCH_STREAMS=5000 BENCH_ROUNDS=3 ...

Everything runs on loopback against a private `redis-server` on a free port (so CLIENT LIST counts
this run only) and a fresh database `geo_bench_streams`. One account per stream (each stream has
its own channel). Measured with all streams open:
- server RSS idle (after a warm request) and with the streams open: KB per stream;
- Redis connections in CLIENT LIST: the server's, and how many of them are pub/sub;
- delivery lag, publish -> client receive, p50/p99: the driver SPUBLISHes `-<time_ns>` to random
  stream channels at RATE/s for SECONDS s; a stream forwards that as `event: delete` without a
  database read, so the lag is the multiplexer + SSE path (not rendering); server CPU per event;
beside the CEILING measured in the same run, rounds interleaved: a raw redis-py process with one
pub/sub connection subscribed to the same channels, copying each message into one asyncio queue
per listener, read by one task per listener (no HTTP, no SSE, no auth, no slots). Median of ROUNDS.

The SSE clients and the publisher share this driver process; both sides share the box's 2 cores.
"""

import asyncio
import json
import os
import random
import resource
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.procs import Proc, group_cpu_seconds  # noqa: E402
from geo.fanout import keys  # noqa: E402

STREAMS = int(os.environ.get("BENCH_STREAMS", 5000))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 3))
RATE = int(os.environ.get("BENCH_RATE", 1000))  # messages per second
SECONDS = float(os.environ.get("BENCH_SECONDS", 5))
OPEN_CONCURRENCY = 100
DB = "geo_bench_streams"
DB_URL = f"postgresql://postgres@127.0.0.1/{DB}"


def log(msg: str) -> None:
    print(f"# {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pgid: int) -> int:
    total = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            if os.getpgid(int(status.parent.name)) != pgid:
                continue
            for line in status.read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (OSError, ValueError):
            continue
    return total


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


# --- setup -------------------------------------------------------------------------------------


def make_database(env: dict[str, str]) -> None:
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f'DROP DATABASE IF EXISTS "{DB}"'],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f'CREATE DATABASE "{DB}"'],
        check=True,
        capture_output=True,
    )
    subprocess.run([str(ROOT / ".venv/bin/geo"), "migrate"], check=True, env=env, cwd=ROOT)


async def make_accounts(n: int) -> list[tuple[int, str]]:
    """n member accounts and a token each, written through the repository (no password hashing:
    nobody signs in with these)."""
    from geo.accounts.repository import AccountRepository
    from geo.core.auth import hash_token, new_token
    from geo.core.config import Settings
    from geo.core.db import create_database

    db = create_database(Settings(database_url=DB_URL))
    made = []
    async with db.sessionmaker() as session:
        repo = AccountRepository(session)
        for i in range(n):
            account = await repo.insert_if_handle_free(
                handle=f"stream{i}", password_hash="-", kind="member"
            )
            assert account is not None
            token = new_token()
            await repo.add_token(account_id=account.id, token_hash=hash_token(token))
            made.append((account.id, token))
        await session.commit()
    await db.dispose()
    return made


# --- SSE clients -------------------------------------------------------------------------------


class Streams:
    def __init__(self, port: int) -> None:
        self.port, self.lags_ms, self.open, self.failed = port, [], 0, 0
        self.tasks: list[asyncio.Task] = []

    async def open_all(self, tokens: list[str]) -> None:
        gate = asyncio.Semaphore(OPEN_CONCURRENCY)
        ready = [asyncio.get_running_loop().create_future() for _ in tokens]
        for token, done in zip(tokens, ready, strict=True):
            self.tasks.append(asyncio.create_task(self._stream(token, done, gate)))
        await asyncio.gather(*ready)

    async def _stream(self, token: str, ready: asyncio.Future, gate: asyncio.Semaphore) -> None:
        async with gate:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.write(
                    b"GET /v1/timelines/home/stream?max_seconds=3600 HTTP/1.1\r\nHost: b\r\n"
                    b"Accept: text/event-stream\r\nAuthorization: Bearer %s\r\n\r\n"
                    % token.encode()
                )
                status = await reader.readline()
                if b" 200 " not in status:
                    raise RuntimeError(status.decode().strip())
                while (line := await reader.readline()) != b": connected\n":
                    if not line:
                        raise RuntimeError("closed before connected")
            except Exception as exc:  # noqa: BLE001  (counted, reported)
                self.failed += 1
                ready.set_result(None)
                log(f"stream failed: {exc}")
                return
        self.open += 1
        ready.set_result(None)
        while line := await reader.readline():
            if line.startswith(b'data: {"id":"'):
                sent = int(line[13:].split(b'"', 1)[0])
                self.lags_ms.append((time.time_ns() - sent) / 1e6)
        self.open -= 1

    def close(self) -> None:
        for task in self.tasks:
            task.cancel()


# --- the ceiling: raw redis-py pub/sub fan-out in its own process -------------------------------


async def ceiling_main(port: int, account_ids: list[int]) -> None:
    client = aioredis.Redis(port=port, client_name="bench-ceiling")
    pubsub = client.pubsub()
    channels = [ceiling_channel(a) for a in account_ids]
    for start in range(0, len(channels), 500):
        await pubsub.ssubscribe(*channels[start : start + 500])
    queues = {c.encode(): asyncio.Queue() for c in channels}
    lags: list[float] = []

    async def listener(queue: asyncio.Queue) -> None:
        while True:
            data = await queue.get()
            lags.append((time.time_ns() - int(data[1:])) / 1e6)

    tasks = [asyncio.create_task(listener(q)) for q in queues.values()]  # noqa: F841

    async def dispatch() -> None:
        while True:
            message = await pubsub.get_message(timeout=1.0)
            if message and message["type"] == "smessage":
                queues[message["channel"]].put_nowait(message["data"])

    reader = asyncio.create_task(dispatch())  # noqa: F841
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    print("ready", flush=True)
    while await stdin.readline() == b"report\n":
        print(json.dumps(lags), flush=True)
        lags.clear()


def ceiling_channel(account_id: int) -> str:
    """The ceiling's own channels (same slot and length class), so each leg runs alone."""
    return "bench-" + keys.live_home(account_id)


# --- the run -----------------------------------------------------------------------------------


async def publish(redis: aioredis.Redis, channels: list[str]) -> int:
    """RATE messages/s for SECONDS s to random channels, in 10 ms ticks; returns how many."""
    per_tick, sent, start = max(1, RATE // 100), 0, time.monotonic()
    for tick in range(int(SECONDS * 100)):
        async with redis.pipeline(transaction=False) as pipe:
            for channel in random.sample(channels, per_tick):
                pipe.spublish(channel, b"-%d" % time.time_ns())
            await pipe.execute()
        sent += per_tick
        await asyncio.sleep(max(0.0, start + (tick + 1) / 100 - time.monotonic()))
    return sent


async def client_list(redis: aioredis.Redis) -> dict[str, int]:
    clients = [c for c in await redis.client_list() if not c["name"].startswith("bench-")]
    return {"all": len(clients), "pubsub": sum("P" in c["flags"] for c in clients)}


async def drained(counter, expected: int) -> None:  # type: ignore[no-untyped-def]
    for _ in range(300):  # bounded: at most 30 s for the last messages to arrive
        if counter() >= expected:
            return
        await asyncio.sleep(0.1)


async def run(redis_port: int, env: dict[str, str]) -> None:
    accounts = await make_accounts(STREAMS)
    account_ids = [a for a, _ in accounts]
    log(f"{STREAMS} accounts made")
    redis = aioredis.Redis(port=redis_port, client_name="bench-driver")
    port = free_port()
    serve = [str(ROOT / ".venv/bin/geo"), "serve", "--port", str(port)]
    with Proc(serve, env=env, cwd=ROOT, probe=f"http://127.0.0.1:{port}/healthz") as server:
        pgid = server.proc.pid
        idle_rss = rss_kb(pgid)
        streams = Streams(port)
        opened_at = time.monotonic()
        await streams.open_all([t for _, t in accounts])
        log(
            f"{streams.open} streams open ({streams.failed} failed) in "
            f"{time.monotonic() - opened_at:.0f} s"
        )
        open_rss, conns = rss_kb(pgid), await client_list(redis)
        ceiling = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--ceiling",
            str(redis_port),
            *map(str, account_ids),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        assert (await ceiling.stdout.readline()).strip() == b"ready"
        # What the open streams cost with nothing to deliver (keepalives, slot renewals).
        cpu = group_cpu_seconds(pgid)
        await asyncio.sleep(SECONDS)
        idle_cpu = (group_cpu_seconds(pgid) - cpu) / SECONDS
        log(f"idle server CPU with the streams open: {idle_cpu:.2f} s/s")
        live = [keys.live_home(a) for a in account_ids]
        raw_channels = [ceiling_channel(a) for a in account_ids]
        rounds = []
        for r in range(ROUNDS):
            # A: the SSE server.
            streams.lags_ms.clear()
            cpu = group_cpu_seconds(pgid)
            sent = await publish(redis, live)
            await drained(lambda: len(streams.lags_ms), sent)
            sse_cpu, sse = group_cpu_seconds(pgid) - cpu, list(streams.lags_ms)
            # B: the ceiling, on its own channels.
            ceiling_cpu = group_cpu_seconds(ceiling.pid)
            sent_b = await publish(redis, raw_channels)
            await asyncio.sleep(1.0)
            ceiling.stdin.write(b"report\n")
            raw = json.loads(await ceiling.stdout.readline())
            ceiling_cpu = group_cpu_seconds(ceiling.pid) - ceiling_cpu
            rounds.append(
                {
                    "sent": sent,
                    "got": len(sse),
                    "p50": pct(sse, 0.5),
                    "p99": pct(sse, 0.99),
                    "cpu_us": sse_cpu / max(1, len(sse)) * 1e6,
                    "c_sent": sent_b,
                    "c_got": len(raw),
                    "c_p50": pct(raw, 0.5),
                    "c_p99": pct(raw, 0.99),
                    "c_cpu_us": ceiling_cpu / max(1, len(raw)) * 1e6,
                }
            )
            log(f"round {r + 1}: {rounds[-1]}")
        ceiling.stdin.close()
        await ceiling.wait()
        streams.close()
    await redis.aclose()
    report(idle_rss, open_rss, conns, streams, rounds, idle_cpu)


def report(idle_rss, open_rss, conns, streams, rounds, idle_cpu) -> None:  # type: ignore[no-untyped-def]
    def med(key: str) -> float:
        return statistics.median(r[key] for r in rounds)

    print(
        f"\n{STREAMS} SSE streams on one `geo serve` process ({streams.failed} failed to open); "
        f"{RATE} msg/s for {SECONDS:.0f} s per leg, {ROUNDS} rounds interleaved, medians\n"
    )
    print(
        f"- server RSS: idle {idle_rss / 1024:.0f} MiB, with streams open "
        f"{open_rss / 1024:.0f} MiB: {(open_rss - idle_rss) / STREAMS:.1f} KiB per stream"
    )
    print(f"- server CPU with the streams open and nothing published: {idle_cpu:.2f} s/s")
    print(f"- server's Redis connections (CLIENT LIST): {conns['all']}, pub/sub: {conns['pubsub']}")
    print("\n| | delivered | lag p50 ms | lag p99 ms | CPU µs/event |")
    print("|---|---:|---:|---:|---:|")
    print(
        f"| SSE (geo serve) | {med('got'):.0f}/{med('sent'):.0f} | {med('p50'):.1f} | "
        f"{med('p99'):.1f} | {med('cpu_us'):.0f} |"
    )
    print(
        f"| ceiling (raw redis-py pub/sub, in-process queues) | {med('c_got'):.0f}/"
        f"{med('c_sent'):.0f} | {med('c_p50'):.1f} | {med('c_p99'):.1f} | "
        f"{med('c_cpu_us'):.0f} |"
    )
    print(
        f"| SSE / ceiling | | {med('p50') / med('c_p50'):.1f}x | {med('p99') / med('c_p99'):.1f}x "
        f"| {med('cpu_us') / med('c_cpu_us'):.1f}x |"
    )


def main() -> None:
    if sys.argv[1:2] == ["--ceiling"]:
        asyncio.run(ceiling_main(int(sys.argv[2]), [int(a) for a in sys.argv[3:]]))
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # children inherit it
    if hard < STREAMS + 1000:
        sys.exit(f"ulimit -n {hard} is too low for {STREAMS} streams; raise it")
    redis_port = free_port()
    redis_cmd = [
        "redis-server",
        "--port",
        str(redis_port),
        "--save",
        "",
        "--appendonly",
        "no",
        "--maxclients",
        str(STREAMS + 1000),
    ]
    env = {
        **os.environ,
        "DATABASE_URL": DB_URL,
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "GEO_LOG_LEVEL": "WARNING",
        "GEO_RUN_WORKERS_IN_PROCESS": "false",
        "GEO_TOKEN_CACHE_SECONDS": "3600",
        "GEO_ALLOW_DEV_SECRET": "true",  # a throwaway server on loopback
        "PYTHONPATH": str(ROOT),
    }
    make_database(env)
    with Proc(redis_cmd, env=env, cwd=ROOT):
        time.sleep(0.5)
        asyncio.run(run(redis_port, env))


if __name__ == "__main__":
    main()
