"""One deployment, many processes: two `geo serve` API processes and two `geo worker` processes
against one PostgreSQL database and one Redis, as docs/deployment.md runs them.

Check-ins posted to either API process (and retried on the other with the same key) are relayed
once, delivered once to every follower's live stream, and listed once in every home timeline; a
small ad budget hammered through both API processes is never overspent.
"""

import asyncio
import json
import os
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
import redis as redis_sync

from geo.fanout import keys
from tests.conftest import TEST_DB_URL, TEST_REDIS_URL, plain, recreate_database
from tests.live_server import free_port, geo_env, geo_process, migrate, stop, wait_until_healthy

AUTHORS, READERS, CHECKINS_EACH = 4, 4, 4
PLACE = (35.6806, 139.7981)
BUDGET_YEN = 1


@pytest.fixture(scope="module")
def deployment(migrated_database):  # type: ignore[no-untyped-def]
    """Two API processes (no in-process workers) and two worker processes, all on one database."""
    url = TEST_DB_URL + "_deploy"
    recreate_database(url)
    redis_sync.Redis.from_url(TEST_REDIS_URL).flushdb()
    env = geo_env(
        url,
        GEO_RUN_WORKERS_IN_PROCESS="false",
        GEO_ADS_MIN_ACCOUNT_AGE_S="0",
        GEO_ADS_INDEX_REFRESH_S="0.2",
        GEO_LOG_LEVEL="WARNING",
    )
    migrate(env)
    ports = [free_port(), free_port()]
    apis = [geo_process(env, "serve", "--port", str(port)) for port in ports]
    workers = [geo_process(env, "worker") for _ in range(2)]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for base, proc in zip(bases, apis, strict=True):
            wait_until_healthy(base, proc)
        yield bases, url
    finally:
        for proc in apis + workers:
            stop(proc)


async def _account(client: httpx.AsyncClient, kind: str = "member") -> dict:
    handle = f"dep{os.getpid()}_{time.monotonic_ns()}"
    answer = await client.post(
        "/v1/accounts", json={"handle": handle, "password": "correct horse", "kind": kind}
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    body["headers"] = {"Authorization": f"Bearer {body['token']}"}
    return body


async def _live_ids(client: httpx.AsyncClient, reader: dict, seen: Counter, ready: asyncio.Event):
    """Count every `event: checkin` id a reader's home stream receives (a duplicate shows as 2)."""
    async with client.stream(
        "GET", "/v1/timelines/home/stream", params={"max_seconds": 60}, headers=reader["headers"]
    ) as stream:
        ready.set()
        event = None
        async for line in stream.aiter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("id: ") and event in (None, "checkin"):
                seen[line[4:]] += 1


async def test_two_apis_and_two_workers_deliver_each_checkin_exactly_once(deployment):
    bases, url = deployment
    clients = [httpx.AsyncClient(base_url=base, timeout=30) for base in bases]
    try:
        business = await _account(clients[0], kind="business")
        place = await clients[1].post(
            "/v1/places",
            json={
                "name": "Deploy cafe",
                "category": "coffee-shop",
                "lat": PLACE[0],
                "lon": PLACE[1],
            },
            headers=business["headers"],
        )
        assert place.status_code == 201, place.text
        authors = [await _account(clients[i % 2]) for i in range(AUTHORS)]
        readers = [await _account(clients[i % 2]) for i in range(READERS)]
        for i, reader in enumerate(readers):
            for author in authors:
                followed = await clients[i % 2].post(
                    f"/v1/follows/{author['id']}", headers=reader["headers"]
                )
                assert followed.status_code == 204, followed.text

        seen = [Counter() for _ in readers]
        ready = [asyncio.Event() for _ in readers]
        streams = [
            asyncio.create_task(_live_ids(clients[i % 2], r, seen[i], ready[i]))
            for i, r in enumerate(readers)
        ]
        await asyncio.gather(*(e.wait() for e in ready))

        async def post(author: dict, n: int) -> str:
            key = f"k-{author['id']}-{n}"
            body = {
                "place_id": place.json()["id"],
                "lat": PLACE[0],
                "lon": PLACE[1],
                "accuracy_m": 20,
                "message": f"#{n}",
                "audience": {"circles": [], "public": True},
                "public_precision": "exact",
            }
            headers = {**author["headers"], "Idempotency-Key": key}
            # The phone retries on the other API process: same key, same body, same check-in.
            first, retry = await asyncio.gather(
                clients[n % 2].post("/v1/checkins", json=body, headers=headers),
                clients[(n + 1) % 2].post("/v1/checkins", json=body, headers=headers),
            )
            assert first.status_code == 201, first.text
            assert retry.status_code == 201, retry.text
            assert first.json()["id"] == retry.json()["id"]
            return first.json()["id"]

        posted = await asyncio.gather(*(post(a, n) for a in authors for n in range(CHECKINS_EACH)))
        expected = set(posted)
        assert len(expected) == AUTHORS * CHECKINS_EACH

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(set(s) != expected for s in seen):
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # room for a late duplicate to show
        for task in streams:
            task.cancel()
        await asyncio.gather(*streams, return_exceptions=True)

        for counts in seen:
            assert set(counts) == expected
            assert max(counts.values()) == 1, "a check-in reached a live stream twice"
        for i, reader in enumerate(readers):
            home = await clients[i % 2].get(
                "/v1/timelines/home", params={"limit": 100}, headers=reader["headers"]
            )
            ids = [item["id"] for item in home.json()["items"]]
            assert sorted(ids) == sorted(expected)

        # The relay put each outbox row on the stream once although two workers relay.
        r = redis_sync.Redis.from_url(TEST_REDIS_URL)
        relayed = Counter(
            json.loads(fields[b"payload"])["checkin_id"]
            for _, fields in r.xrange(keys.STREAM)
            if fields[b"topic"] == b"checkin.created"
        )
        assert {i: relayed[i] for i in expected} == dict.fromkeys(expected, 1)
        with psycopg.connect(plain(url)) as conn:
            unsent = conn.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchone()
        assert unsent[0] == 0
    finally:
        for client in clients:
            await client.aclose()


async def test_a_budget_is_never_overspent_across_api_processes(deployment):
    bases, url = deployment
    clients = [httpx.AsyncClient(base_url=base, timeout=30) for base in bases]
    try:
        business = await _account(clients[0], kind="business")
        place = await clients[0].post(
            "/v1/places",
            json={"name": "Budget bar", "category": "bar", "lat": PLACE[0], "lon": PLACE[1]},
            headers=business["headers"],
        )
        assert place.status_code == 201, place.text
        now = datetime.now(UTC)
        # A zone where it is 23:xx now: pacing then allows nearly all of today's budget, so the
        # hammering below runs into the budget itself, not into the pacing share.
        offset = (23 - now.hour) % 24
        offset = offset - 24 if offset > 14 else offset
        zone = f"Etc/GMT{'-' if offset >= 0 else '+'}{abs(offset)}"
        campaign = await clients[1].post(
            "/v1/campaigns",
            json={
                "place_id": place.json()["id"],
                "name": "Tiny budget",
                "headline": "One yen of ads",
                "body": "Served from two processes.",
                "target": {"radius_m": 1000},
                "bid_cpm": 200,
                "budget": {"total": BUDGET_YEN, "daily": BUDGET_YEN},
                "starts_at": (now - timedelta(hours=1)).isoformat(),
                "ends_at": (now + timedelta(days=1)).isoformat(),
                "frequency_cap": {"count": 1000, "hours": 1},
                "timezone": zone,
            },
            headers=business["headers"],
        )
        assert campaign.status_code == 201, campaign.text
        viewers = [await _account(clients[i % 2]) for i in range(8)]
        await asyncio.sleep(1.0)  # both processes' campaign indexes see it

        async def hammer(i: int) -> int:
            served = 0
            for _ in range(25):
                answer = await clients[i % 2].get(
                    "/v1/places/nearby",
                    params={"lat": PLACE[0], "lon": PLACE[1], "radius_m": 500},
                    headers=viewers[i]["headers"],
                )
                assert answer.status_code == 200, answer.text
                served += len(answer.json()["ads"])
            return served

        requests = len(viewers) * 25
        served = sum(await asyncio.gather(*(hammer(i) for i in range(len(viewers)))))
        assert 0 < served < requests, "the budget, not the load, must end the serving"

        campaign_id = int(campaign.json()["id"])
        deadline = time.monotonic() + 20
        with psycopg.connect(plain(url), autocommit=True) as conn:
            while True:
                count, spent = conn.execute(
                    "SELECT count(*), coalesce(sum(cost_milli_yen), 0) FROM ad_impressions"
                    " WHERE campaign_id = %s",
                    (campaign_id,),
                ).fetchone()
                if count >= served or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        assert count == served, "every served impression reaches the ledger once"
        assert spent <= BUDGET_YEN * 1000, f"spent {spent} milli-yen of {BUDGET_YEN * 1000}"
        assert spent >= BUDGET_YEN * 1000 // 2, "the budget was reached, not left mostly unspent"
    finally:
        for client in clients:
            await client.aclose()
