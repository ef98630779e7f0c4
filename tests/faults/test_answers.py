"""Every request is answered through an outage (issue 12): a real `geo serve` (uvicorn) and
`geo worker` on a private Redis and PostgreSQL, under a small concurrent load, while one server is
stopped (or killed with SIGKILL) and started again.

During the outage every answer is a success or a 503 problem with Retry-After (never a dropped
connection, never a 500); check-ins keep being accepted while Redis is down and their retries
answer the same; afterwards everything answers again and /healthz says up.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from geo.fanout.worker import RECLAIM_IDLE_MS
from tests.faults.conftest import GeoStack
from tests.faults.load import Load, make_place, sign_up
from tests.fixtures.private_servers import PrivatePostgres, PrivateRedis

pytestmark = pytest.mark.slow

MEMBERS = 4
BEFORE_S, OUTAGE_S, AFTER_S = 1.0, 2.5, 1.5


@pytest.fixture(scope="module")
def stack(geo_stack: Callable[..., GeoStack]) -> GeoStack:
    return geo_stack()


async def prepare(client) -> Load:  # type: ignore[no-untyped-def]
    owner = await sign_up(client, "business")
    place = await make_place(client, owner)
    members = [await sign_up(client) for _ in range(MEMBERS)]
    return Load(client, members, place)


async def wait_until_all_answer(load: Load, timeout: float = 30.0) -> None:
    """Recovery: /healthz says up and each route answers 2xx (the load is paused meanwhile)."""
    headers = load.members[0]["headers"]
    near = {"lat": load.place["lat"], "lon": load.place["lon"]}
    deadline = time.monotonic() + timeout
    while True:
        answers = [
            await load.client.get("/healthz"),
            await load.client.get("/v1/timelines/home", headers=headers),
            await load.client.get("/v1/places/nearby", params=near, headers=headers),
        ]
        if all(a.status_code == 200 for a in answers):
            return
        assert time.monotonic() < deadline, [(a.status_code, a.text[:200]) for a in answers]
        await asyncio.sleep(0.2)


async def through_outage(
    load: Load, stop_server: Callable[[], None], start_server: Callable[[], None],
    during: Callable[[], Awaitable[None]] | None = None,
) -> None:  # fmt: skip
    """Load before, during and after an outage; `during` runs while the server is down."""
    stop = asyncio.Event()
    running = asyncio.create_task(load.run(stop))
    await asyncio.sleep(BEFORE_S)
    load.phase = "stopping"
    await asyncio.to_thread(stop_server)
    load.phase = "outage"
    await asyncio.sleep(OUTAGE_S)
    if during is not None:
        await during()
    load.phase = "restarting"
    await asyncio.to_thread(start_server)
    load.phase = "recovering"
    stop.set()
    await running
    await wait_until_all_answer(load)
    stop = asyncio.Event()
    load.phase = "after"
    running = asyncio.create_task(load.run(stop))
    await asyncio.sleep(AFTER_S)
    stop.set()
    await running


async def wait_delivered(load: Load, timeout: float = RECLAIM_IDLE_MS / 1000 + 30) -> None:
    """Each accepted check-in reaches its author's home timeline (the author is in every
    audience): what was accepted during the outage waited in the outbox and follows now. An event
    a worker had taken when Redis went away stays pending until it is reclaimed (RECLAIM_IDLE_MS),
    hence the bound."""
    accepted: dict[str, set[str]] = {}
    for sent in load.checkins:
        if sent.answer.status == 201:
            token = sent.headers["Authorization"]
            accepted.setdefault(token, set()).add(sent.answer.body["id"])
    deadline = time.monotonic() + timeout
    for token, ids in accepted.items():
        while True:
            page = await load.client.get(
                "/v1/timelines/home", params={"limit": 100}, headers={"Authorization": token}
            )
            missing = ids - {item["id"] for item in page.json()["items"]}
            if not missing:
                break
            assert time.monotonic() < deadline, f"never delivered: {sorted(missing)}"
            await asyncio.sleep(0.2)


def assert_no_unhandled_errors(stack: GeoStack) -> None:
    """Nothing reached uvicorn unanswered (it would log this, and may have dropped a connection)."""
    log = stack.log("serve")
    assert "Exception in ASGI application" not in log, log[-3000:]


def assert_every_answer_is_a_success_or_a_503_problem(load: Load) -> None:
    bad = load.violations()
    assert not bad, f"{len(bad)} bad answers, e.g. {bad[:5]}"
    assert all(a.ok for a in load.in_phase("after")), [
        a for a in load.in_phase("after") if not a.ok
    ][:5]
    assert load.in_phase("after", "checkin"), "no check-in after recovery"


@pytest.mark.parametrize("how", ["stop", "kill"])
async def test_redis_outage_is_answered_and_checkins_go_on(
    stack: GeoStack, private_redis: PrivateRedis, how: str
) -> None:
    try:
        async with stack.client() as client:
            load = await prepare(client)

            async def retry_outage_checkins() -> None:
                for sent in [c for c in load.checkins if c.phase == "outage"]:
                    again = await load.call(
                        "POST", "checkin", "/v1/checkins", json=sent.body, headers=sent.headers
                    )
                    assert (again.status, again.body) == (sent.answer.status, sent.answer.body)

            await through_outage(
                load, getattr(private_redis, how), lambda: private_redis.restart(keep_data=True),
                during=retry_outage_checkins,
            )  # fmt: skip
            await retry_outage_checkins()  # and once more after recovery: still the same
            await wait_delivered(load)
    finally:
        if not private_redis.running:
            private_redis.restart(keep_data=True)

    assert_every_answer_is_a_success_or_a_503_problem(load)
    outage_checkins = load.in_phase("outage", "checkin")
    assert outage_checkins
    assert all(a.status == 201 for a in outage_checkins), outage_checkins[:3]
    assert all(a.ok for a in load.in_phase("outage", "nearby"))
    assert all(a.body["ads"] == [] for a in load.in_phase("outage", "nearby"))
    homes = load.in_phase("outage", "home")
    assert homes
    assert all(a.outage_answer and a.component == "redis" for a in homes), [
        a for a in homes if not (a.outage_answer and a.component == "redis")
    ][:3]
    health = load.in_phase("outage", "healthz")
    assert health
    # Every answer names redis; on a loaded machine a check of the other server may also miss
    # its 2 s limit now and then, so only "at least once exactly" is asked of the rest.
    assert all(a.status == 503 and "redis" in a.body["down"] for a in health)
    assert any(a.body["down"] == ["redis"] for a in health)
    stack.assert_alive()
    assert_no_unhandled_errors(stack)


@pytest.mark.parametrize("how", ["stop", "kill"])
async def test_postgresql_outage_is_answered(
    stack: GeoStack, private_postgres: PrivatePostgres, how: str
) -> None:
    try:
        async with stack.client() as client:
            load = await prepare(client)
            await through_outage(load, getattr(private_postgres, how), private_postgres.start_again)
            await wait_delivered(load)
    finally:
        if not private_postgres.running:
            private_postgres.start_again()

    assert_every_answer_is_a_success_or_a_503_problem(load)
    outage_checkins = load.in_phase("outage", "checkin")
    assert outage_checkins
    assert all(a.outage_answer and a.component == "postgresql" for a in outage_checkins)
    health = load.in_phase("outage", "healthz")
    assert health
    # Every answer names postgresql; on a loaded machine a check of the other server may also miss
    # its 2 s limit now and then, so only "at least once exactly" is asked of the rest.
    assert all(a.status == 503 and "postgresql" in a.body["down"] for a in health)
    assert any(a.body["down"] == ["postgresql"] for a in health)
    stack.assert_alive()
    assert_no_unhandled_errors(stack)
