"""kill -9 a `geo worker` mid-delivery of thousands of check-ins; after a restart every check-in is
in every recipient's timeline exactly once and nothing is left pending or unrelayed."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import redis as redis_sync

from geo.fanout import keys
from tests.conftest import TEST_DB_URL, TEST_REDIS_URL, plain, recreate_database

BIN = Path(sys.executable).parent
CHECKINS = 3000
FRIENDS = 40


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


def test_kill_9_mid_delivery_loses_and_duplicates_nothing(crash_env):
    r = redis_sync.Redis.from_url(crash_env["REDIS_URL"])
    r.flushdb()
    author, recipients = _seed(crash_env["DATABASE_URL"])
    worker = subprocess.Popen(
        [BIN / "geo", "worker"], env=crash_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while r.zcard(keys.home(recipients[-1])) < CHECKINS // 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    partial = r.zcard(keys.home(recipients[-1]))
    assert 0 < partial < CHECKINS, "the kill should land mid-delivery"

    # The restarted worker is a new consumer: what the dead one held is reclaimed once idle.
    env = {**crash_env}
    restarted = subprocess.Popen(
        [BIN / "geo", "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            group = r.xinfo_groups(keys.STREAM)[0]
            if group["pending"] == 0 and group["lag"] == 0 and _unsent(crash_env) == 0:
                break
            time.sleep(0.5)
    finally:
        restarted.terminate()
        restarted.wait(timeout=10)
    with psycopg.connect(plain(crash_env["DATABASE_URL"])) as conn:
        stored = [row[0] for row in conn.execute("SELECT id FROM checkins ORDER BY id DESC")]
    assert _unsent(crash_env) == 0
    assert r.xpending(keys.STREAM, keys.GROUP)["pending"] == 0
    # Timelines are capped: each holds exactly the newest HOME_CAP of the check-ins, once each.
    expected = [str(i) for i in stored[: keys.HOME_CAP]]
    for account in recipients:
        delivered = [m.decode() for m in r.zrevrange(keys.home(account), 0, -1)]
        assert sorted(delivered) == sorted(expected)
