"""kill -9 a `geo worker` mid-delivery of hundreds of check-ins; after a restart every check-in is
in every recipient's timeline, each delivery is announced, more than once only where its event
was redelivered, and nothing is left pending or unrelayed.

Counted from sources that can show loss and duplication: fewer check-ins than the timeline cap
(HOME_CAP), so a timeline holds every delivery and nothing is trimmed away before it is checked;
and the live announcements, which the fan-out sends once per (recipient, check-in) it delivers
and which a subscriber here records one by one (a ZSET would absorb a duplicate).
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest
import redis as redis_sync

from geo.fanout import keys
from tests.conftest import TEST_DB_URL, TEST_REDIS_URL, plain, recreate_database

BIN = Path(sys.executable).parent
CHECKINS = 600
FRIENDS = 40
END = "end"  # published after the run: the subscriber has then seen every announcement
assert CHECKINS < keys.HOME_CAP


@pytest.fixture(scope="module")
def crash_env(migrated_database):  # type: ignore[no-untyped-def]
    url = TEST_DB_URL + "_crash"
    recreate_database(url)
    # The session's own Redis DB (flushed below), not a fixed one other checkouts share.
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": TEST_REDIS_URL,
        "GEO_LOG_LEVEL": "WARNING",
        # `geo worker` refuses the public default secret unless told this is a test.
        "GEO_ALLOW_DEV_SECRET": "true",
    }
    subprocess.run([BIN / "geo", "migrate"], env=env, check=True, capture_output=True)
    return env


def _seed(url: str) -> tuple[int, list[int]]:
    with psycopg.connect(plain(url)) as conn:
        ids = [
            r[0]
            for r in conn.execute(
                """INSERT INTO accounts (handle, password_hash, kind)
               SELECT 'crash' || g, '!', 'member' FROM generate_series(0, %s) g RETURNING id""",
                (FRIENDS,),
            ).fetchall()
        ]
        author, friends = ids[0], ids[1:]
        conn.execute(
            """INSERT INTO friendships (a_id, b_id)
                        SELECT %s, f FROM unnest(%s::bigint[]) f UNION ALL
                        SELECT f, %s FROM unnest(%s::bigint[]) f""",
            (author, friends, author, friends),
        )
        circle = conn.execute(
            "INSERT INTO circles (owner_id, name) VALUES (%s, 'c') RETURNING id", (author,)
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO circle_members SELECT %s, unnest(%s::bigint[])", (circle, friends)
        )
        place = conn.execute("""INSERT INTO places (name, name_norm, category, position)
            VALUES ('p', 'p', 'cafe', 'SRID=4326;POINT(139 35)') RETURNING id""").fetchone()[0]
        conn.execute(
            """
            WITH made AS (
                INSERT INTO checkins (author_id, place_id, position, accuracy_m, circle_ids)
                SELECT %s, %s, 'SRID=4326;POINT(139 35)', 10, ARRAY[%s::bigint]
                FROM generate_series(1, %s) RETURNING id)
            INSERT INTO outbox (topic, payload)
            SELECT 'checkin.created', jsonb_build_object('checkin_id', id::text)
            FROM made ORDER BY id""",
            (author, place, circle, CHECKINS),
        )
    return author, [author, *friends]


def _unsent(env: dict) -> int:
    with psycopg.connect(plain(env["DATABASE_URL"])) as conn:
        return conn.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0]


class Announcements:
    """Every live announcement to the recipients' home channels, one entry per message."""

    def __init__(self, url: str, recipients: list[int]) -> None:
        self.channels = {keys.live_home(a): a for a in recipients}
        self.seen: Counter[tuple[int, int]] = Counter()
        self.others: list[tuple[int, str]] = []
        self._pubsub = redis_sync.Redis.from_url(url).pubsub()
        self._subscribed = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "Announcements":
        self._thread.start()
        assert self._subscribed.wait(30), "subscriber not ready"
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join(timeout=60)
        self._pubsub.close()

    def _run(self) -> None:
        self._pubsub.ssubscribe(*self.channels)
        confirmed = 0
        while True:
            message = self._pubsub.get_message(timeout=1.0)
            if message is None:
                continue
            if message["type"] == "ssubscribe":
                confirmed += 1
                if confirmed == len(self.channels):
                    self._subscribed.set()
                continue
            account = self.channels[message["channel"].decode()]
            data = message["data"].decode()
            if data == END:
                return
            if data.isdigit():
                self.seen[(account, int(data))] += 1
            else:
                self.others.append((account, data))


def _checkin_of_entries(r: redis_sync.Redis) -> dict[bytes, int]:
    """Stream entry id -> the check-in it announces (the stream is far below its trim cap)."""
    return {
        entry_id: int(json.loads(fields[b"payload"])["checkin_id"])
        for entry_id, fields in r.xrange(keys.STREAM)
        if fields[b"topic"] == b"checkin.created"
    }


def _start_worker(env: dict) -> subprocess.Popen:  # type: ignore[type-arg]
    return subprocess.Popen(
        [BIN / "geo", "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _wait_until_settled(r: redis_sync.Redis, env: dict) -> None:
    # The restarted worker is a new consumer: what the dead one held is reclaimed once idle.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        group = r.xinfo_groups(keys.STREAM)[0]
        if group["pending"] == 0 and group["lag"] == 0 and _unsent(env) == 0:
            return
        time.sleep(0.5)


def test_kill_9_mid_delivery_loses_and_duplicates_nothing(crash_env):
    r = redis_sync.Redis.from_url(crash_env["REDIS_URL"])
    r.flushdb()
    _, recipients = _seed(crash_env["DATABASE_URL"])
    # Every recipient listens (as an open live stream would say), so each delivery is announced.
    r.zadd(keys.LISTENERS, {str(a): (time.time() + 3600) * 1000 for a in recipients})
    with Announcements(crash_env["REDIS_URL"], recipients) as announced:
        worker = subprocess.Popen(
            [BIN / "geo", "worker"],
            env=crash_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while r.zcard(keys.home(recipients[-1])) < CHECKINS // 10 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        partial = r.zcard(keys.home(recipients[-1]))
        assert 0 < partial < CHECKINS, "the kill should land mid-delivery"
        # What the dead consumer had taken and not acknowledged: delivered again after the restart.
        in_flight = [
            p["message_id"] for p in r.xpending_range(keys.STREAM, keys.GROUP, "-", "+", 10_000)
        ]

        restarted = subprocess.Popen(
            [BIN / "geo", "worker"],
            env=crash_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_until_settled(r, crash_env)
        finally:
            restarted.terminate()
            restarted.wait(timeout=10)
        # Published after the workers' last announcements, so it reaches the subscriber last.
        r.spublish(keys.live_home(recipients[0]), END)

    with psycopg.connect(plain(crash_env["DATABASE_URL"])) as conn:
        stored = {row[0] for row in conn.execute("SELECT id FROM checkins")}
    assert len(stored) == CHECKINS
    assert _unsent(crash_env) == 0, "every outbox row relayed"
    for stream in (keys.STREAM, keys.BULK, keys.PRIORITY):
        assert r.xpending(stream, keys.GROUP)["pending"] == 0, f"nothing left pending on {stream}"

    # Loss: every check-in is in every timeline, and nothing else is (below the cap, so untrimmed).
    for account in recipients:
        assert {int(m) for m in r.zrange(keys.home(account), 0, -1)} == stored, account

    # Loss and duplication per (recipient, check-in), from the announcements: each delivery at least
    # once, and more often only as often as its event was handed to a worker again (in flight at
    # the kill, or relayed twice when the kill fell between the relay's XADD and its commit).
    entries = _checkin_of_entries(r)
    handed = Counter(entries.values()) + Counter(entries[e] for e in in_flight if e in entries)
    assert set(entries.values()) == stored
    assert announced.others == []
    expected = {(a, c) for a in recipients for c in stored}
    assert set(announced.seen) == expected, "a delivery was never announced"
    excess = {k: n for k, n in announced.seen.items() if n > handed[k[1]]}
    assert excess == {}, "announced more often than its event was handled"
    print(
        "DEBUG",
        partial,
        len(in_flight),
        sum(announced.seen.values()) - len(expected),
        max(handed.values()),
    )
