"""A hypothesis state machine drives accounts, friendships, circles, follows, blocks, check-ins,
safety reports (in one declared emergency) and deletes through the HTTP API; with the workers
drained, every home timeline (in Redis and as read), the public stream (global and local), every
check-in, every account's and every place's check-in list must equal exactly what the plain model
(visibility_model.py) allows, precision included. Derandomized and bounded so that it runs the same
way, in seconds, in CI."""

import asyncio
import os
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import text

from geo.accounts import service as accounts
from geo.fanout import keys, recovery
from geo.fanout.worker import drain
from tests.conftest import make_account
from tests.fanout.visibility_model import Checkin, Model, Safety

ACCOUNTS = 4
# Every check-in reports this point at accuracy 1000 m (allowance 2,100 m), so all places are
# plausible and the speed between check-ins is 0: plausibility never gets in the model's way.
HERE = (35.6586, 139.7454)
PLACES = [HERE, (HERE[0] + 0.012, HERE[1]), (HERE[0], HERE[1] + 0.015)]
LOCAL_QUERIES = [(*HERE, 600.0), (*PLACES[1], 3000.0)]
# At each venue's exact point, with a shrinking radius: only a check-in public at `exact` stays in
# the smallest ones (an `area`/`city` one sits at its cell centre, hundreds of metres away).
SHRINKING_RADII = [400.0, 20.0]
PAGE = 3  # small, so that paging crosses hidden items
MAX_CHECKINS_PER_AUTHOR = 10  # the per-minute rate limit
MAX_CIRCLES = 5  # few enough that the rules changing a circle often pick one that matters
RESET = [
    f"DELETE FROM {table} WHERE {column} = ANY(CAST(:ids AS bigint[]))"
    for table, column in [
        ("checkins", "author_id"),
        ("safety_reports", "author_id"),
        ("circles", "owner_id"),
        ("friendships", "a_id"),
        ("follows", "follower_id"),
        ("blocks", "blocker_id"),
        ("friend_requests", "from_id"),
    ]
]

account = st.integers(0, ACCOUNTS - 1)
pair = st.tuples(account, account).filter(lambda p: p[0] != p[1])


class VisibilityMachine(RuleBasedStateMachine):
    def __init__(self, app, client, redis, loop, cast: dict) -> None:  # type: ignore[no-untyped-def]
        super().__init__()
        self.app, self.client, self.redis, self.loop = app, client, redis, loop
        self.people, self.places = cast["people"], cast["places"]
        self.emergency = cast["emergency"]
        self.model: Model
        self.foreign_public: set[int] = set()

    def run(self, coro):  # type: ignore[no-untyped-def]
        return self.loop.run_until_complete(coro)

    def call(self, method: str, path: str, who: int, expect: int, **kwargs):  # type: ignore[no-untyped-def]
        response = self.run(
            self.client.request(method, path, headers=self.people[who]["headers"], **kwargs)
        )
        assert response.status_code == expect, (method, path, response.text)
        return response

    def id(self, who: int) -> int:
        return int(self.people[who]["id"])

    def who(self, account_id: int) -> int:
        return next(i for i, p in enumerate(self.people) if int(p["id"]) == account_id)

    def settle(self) -> None:
        self.run(drain(self.app.state.db, self.redis))
        self.model.settle()

    # -- a fresh world per example: no relations, no check-ins, then a small graph to start from
    @initialize()
    def start(self) -> None:
        self.run(self.reset())
        self.model = Model(
            handles={int(p["id"]): p["handle"] for p in self.people}, places=self.places
        )
        for a, b in [(0, 1), (0, 2)]:
            self.friend_request((a, b))
            self.friend_request((b, a))
        self.create_circle_of(0, [1])
        self.create_circle_of(0, [1, 2])
        for follower in (2, 3):
            self.follow((follower, 0))
        # ... and check-ins already delivered, so that every graph change has something to take.
        own = self.model.circles_of(self.id(0))
        self.post_checkin(0, 0, own[:1], False, "exact")
        self.post_checkin(0, 1, own[1:], False, "area")
        self.post_checkin(0, 1, own, True, "area")
        self.post_checkin(0, 2, [], True, "city")
        self.post_checkin(1, 0, [], True, "exact")
        # ... and safety reports: to all friends and the public, and narrowed to a circle.
        self.post_report(1, [], True, "safe")
        self.post_report(0, own[:1], False, "need_help")

    async def reset(self) -> None:
        """Forget the previous example: its graph and check-ins (rows), and every Redis key."""
        ids = [int(p["id"]) for p in self.people]
        async with self.app.state.db.sessionmaker() as session, session.begin():
            for sql in RESET:
                await session.execute(text(sql), {"ids": ids})
        await self.redis.flushdb()

    # -- the closed network ---------------------------------------------------------------------
    @rule(p=pair)
    def friend_request(self, p: tuple[int, int]) -> None:
        a, b = p
        response = self.run(
            self.client.post(
                "/v1/friend-requests",
                json={"to": str(self.id(b))},
                headers=self.people[a]["headers"],
            )
        )
        request_id = int(response.json()["id"]) if response.status_code == 201 else None
        status, state = self.model.friend_request(self.id(a), self.id(b), request_id)
        assert response.status_code == status, response.text
        if state is not None:
            assert response.json()["status"] == state
        self.settle()

    @precondition(lambda self: self.model.pending)
    @rule(data=st.data())
    def accept(self, data: st.DataObject) -> None:
        request_id = data.draw(st.sampled_from(sorted(self.model.pending)))
        addressee = self.who(self.model.pending[request_id][1])
        self.call("POST", f"/v1/friend-requests/{request_id}/accept", addressee, 200)
        self.model.accept(request_id)
        self.settle()

    def existing_or_any(self, data: st.DataObject, existing: list[tuple[int, int]]) -> tuple:
        """Mostly a relation that exists (so that it ends), sometimes any pair at all."""
        as_pairs = sorted((self.who(a), self.who(b)) for a, b in existing)
        return data.draw(st.one_of(st.sampled_from(as_pairs), pair) if as_pairs else pair)

    @rule(data=st.data())
    def unfriend(self, data: st.DataObject) -> None:
        a, b = self.existing_or_any(data, [tuple(sorted(f)) for f in self.model.friends])
        self.call(
            "DELETE", f"/v1/friends/{self.id(b)}", a, self.model.unfriend(self.id(a), self.id(b))
        )
        self.settle()

    def create_circle_of(self, owner: int, members: list[int]) -> None:
        ids = [self.id(m) for m in members]
        made = self.call(
            "POST", "/v1/circles", owner, 201, json={"name": "c", "members": [str(i) for i in ids]}
        ).json()
        self.model.circles[int(made["id"])] = (self.id(owner), set(ids))

    @precondition(lambda self: len(self.model.circles) < MAX_CIRCLES)
    @rule(owner=account, data=st.data())
    def create_circle(self, owner: int, data: st.DataObject) -> None:
        friends = self.model.friends_of(self.id(owner))
        members = data.draw(
            st.lists(st.sampled_from(friends), unique=True) if friends else st.just([])
        )
        self.create_circle_of(owner, [self.who(m) for m in members])
        self.settle()

    @precondition(lambda self: self.model.circles)
    @rule(data=st.data())
    def replace_members(self, data: st.DataObject) -> None:
        circle_id = data.draw(st.sampled_from(sorted(self.model.circles)))
        owner, _ = self.model.circles[circle_id]
        friends = self.model.friends_of(owner)
        members = data.draw(
            st.lists(st.sampled_from(friends), unique=True) if friends else st.just([])
        )
        self.call(
            "PUT",
            f"/v1/circles/{circle_id}",
            self.who(owner),
            200,
            json={"members": [str(m) for m in members]},
        )
        self.model.circles[circle_id] = (owner, set(members))
        self.settle()

    @precondition(lambda self: self.model.circles)
    @rule(data=st.data())
    def delete_circle(self, data: st.DataObject) -> None:
        circle_id = data.draw(st.sampled_from(sorted(self.model.circles)))
        owner, _ = self.model.circles.pop(circle_id)
        self.call("DELETE", f"/v1/circles/{circle_id}", self.who(owner), 204)
        self.settle()

    # -- the public network and blocks ----------------------------------------------------------
    @rule(p=pair)
    def follow(self, p: tuple[int, int]) -> None:
        a, b = p
        self.call("POST", f"/v1/follows/{self.id(b)}", a, self.model.follow(self.id(a), self.id(b)))
        self.settle()

    @rule(data=st.data())
    def unfollow(self, data: st.DataObject) -> None:
        a, b = self.existing_or_any(data, list(self.model.follows))
        self.call("DELETE", f"/v1/follows/{self.id(b)}", a, 204)
        self.model.follows.discard((self.id(a), self.id(b)))
        self.settle()

    @rule(p=pair)
    def block(self, p: tuple[int, int]) -> None:
        a, b = p
        self.call("POST", f"/v1/blocks/{self.id(b)}", a, 204)
        self.model.block(self.id(a), self.id(b))
        self.settle()

    @rule(data=st.data())
    def unblock(self, data: st.DataObject) -> None:
        a, b = self.existing_or_any(data, list(self.model.blocks))
        self.call("DELETE", f"/v1/blocks/{self.id(b)}", a, 204)
        self.model.blocks.discard((self.id(a), self.id(b)))
        self.settle()

    # -- check-ins ------------------------------------------------------------------------------
    def authors_with_room(self) -> list[int]:
        return [
            i
            for i in range(ACCOUNTS)
            if sum(c.author == self.id(i) for c in self.model.checkins.values())
            + sum(r.author == self.id(i) for r in self.model.reports.values())
            < MAX_CHECKINS_PER_AUTHOR
        ]

    @precondition(lambda self: self.authors_with_room())
    @rule(
        data=st.data(),
        place=st.integers(0, len(PLACES) - 1),
        public=st.booleans(),
        precision=st.sampled_from(["exact", "area", "city"]),
    )
    def check_in(self, data: st.DataObject, place: int, public: bool, precision: str) -> None:
        author = data.draw(st.sampled_from(self.authors_with_room()))
        own = self.model.circles_of(self.id(author))
        circles = data.draw(st.lists(st.sampled_from(own), unique=True) if own else st.just([]))
        self.post_checkin(author, place, circles, public, precision)

    # A second way in (both audiences at once) so that swarm testing, which switches rules off
    # per example, rarely leaves an example without check-ins.
    @precondition(lambda self: self.authors_with_room())
    @rule(
        data=st.data(),
        place=st.integers(0, len(PLACES) - 1),
        precision=st.sampled_from(["area", "city"]),
    )
    def check_in_to_everyone(self, data: st.DataObject, place: int, precision: str) -> None:
        author = data.draw(st.sampled_from(self.authors_with_room()))
        self.post_checkin(author, place, self.model.circles_of(self.id(author)), True, precision)

    def post_checkin(
        self, author: int, place: int, circles: list[int], public: bool, precision: str
    ) -> None:
        message = f"m{len(self.model.checkins)}"
        made = self.call(
            "POST",
            "/v1/checkins",
            author,
            201,
            json={
                "place_id": self.model.places[place]["id"],
                "lat": HERE[0],
                "lon": HERE[1],
                "accuracy_m": 1000,
                "message": message,
                "public_precision": precision,
                "audience": {"circles": [str(c) for c in circles], "public": public},
            },
        ).json()
        checkin = Checkin(
            int(made["id"]),
            self.id(author),
            place,
            tuple(circles),
            public,
            precision,
            message,
            made["created_at"],
        )
        assert made == self.model.view(self.id(author), checkin)
        self.run(drain(self.app.state.db, self.redis))
        self.model.add_checkin(checkin)

    # -- safety reports (the author is inside the emergency by the reported point) ---------------
    @precondition(lambda self: self.authors_with_room())
    @rule(
        data=st.data(),
        public=st.booleans(),
        narrow=st.booleans(),
        status=st.sampled_from(["safe", "need_help"]),
    )
    def report_safety(self, data: st.DataObject, public: bool, narrow: bool, status: str) -> None:
        author = data.draw(st.sampled_from(self.authors_with_room()))
        own = self.model.circles_of(self.id(author))
        circles = (
            data.draw(st.lists(st.sampled_from(own), unique=True, min_size=1))
            if narrow and own
            else []
        )
        self.post_report(author, circles, public, status)

    def post_report(self, author: int, circles: list[int], public: bool, status: str) -> None:
        message = f"s{len(self.model.reports)}"
        body: dict = {"status": status, "message": message, "lat": HERE[0], "lon": HERE[1]}
        body["accuracy_m"] = 1000
        if circles or public:
            body["audience"] = {"circles": [str(c) for c in circles], "public": public}
        made = self.call(
            "POST", f"/v1/emergencies/{self.emergency}/safety", author, 201, json=body
        ).json()
        report = Safety(
            int(made["id"]),
            self.id(author),
            tuple(circles) or None,
            public,
            status,
            message,
            made["created_at"],
            self.emergency,
            HERE,
        )
        assert made == self.model.report_view(self.id(author), report)
        self.run(drain(self.app.state.db, self.redis))
        self.model.add_report(report)

    @precondition(lambda self: any(not c.deleted for c in self.model.checkins.values()))
    @rule(data=st.data(), by_author=st.booleans(), other=account)
    def delete_checkin(self, data: st.DataObject, by_author: bool, other: int) -> None:
        c = data.draw(st.sampled_from([c for c in self.model.checkins.values() if not c.deleted]))
        who = self.who(c.author) if by_author else other
        expect = (
            204
            if self.id(who) == c.author
            else (403 if self.model.visible(self.id(who), c) else 404)
        )
        self.call("DELETE", f"/v1/checkins/{c.id}", who, expect)
        c.deleted = expect == 204
        self.settle()

    # -- Redis loses its data ------------------------------------------------------------------
    @rule()
    def lose_redis(self) -> None:
        """FLUSHDB, then what a worker does on finding no epoch (resend, eager rebuild) and every
        owner's first read (lazy regeneration); from then on timelines hold what today's graph
        gives, and later steps fan out as before."""
        self.run(self.redis.flushdb())
        # As if found an hour on: the outbox resend then covers nothing (every event here was
        # handled long before), so the timelines come from the regeneration alone.
        later = datetime.now(UTC) + timedelta(hours=1)
        self.run(recovery.recover(self.app.state.db, self.redis, now=later))
        self.run(drain(self.app.state.db, self.redis))
        for i in range(ACCOUNTS):
            self.call("GET", "/v1/timelines/home", i, 200)
        self.model.lose_redis()
        # Public check-ins other tests committed to this database come back with the public
        # stream: none of them is this machine's accounts'.
        held = {int(m) for m in self.run(self.redis.zrange(keys.public_global(), 0, -1))}
        foreign = held - self.model.public_ids()
        assert not foreign & (set(self.model.checkins) | set(self.model.reports))
        self.foreign_public |= foreign

    # -- the comparison -------------------------------------------------------------------------
    @invariant()
    def redis_holds_exactly_the_model(self) -> None:
        """After every step (cheap): each home timeline and the public stream, as stored."""
        if not hasattr(self, "model"):
            return
        held = self.run(self.redis.zrange(keys.public_global(), 0, -1))
        public = {int(m) for m in held} - self.foreign_public
        assert public == self.model.public_ids(), "public stream in Redis"
        for i in range(ACCOUNTS):
            v = self.id(i)
            held = self.run(self.redis.zrange(keys.home(v), 0, -1))
            assert {int(m) for m in held} == self.model.home.get(v, set()), "home in Redis"

    @rule()
    def check(self) -> None:
        """Everything every viewer reads through the API (costly: a rule, and at the end)."""
        for i in range(ACCOUNTS):
            self.check_viewer(i)

    def items(self, who: int, path: str, **params: object) -> list[dict]:
        body = self.call("GET", path, who, 200, params={"limit": 100, **params}).json()
        for item in body["items"]:
            self.reveals_no_more(item)
        return body["items"]

    def reveals_no_more(self, item: dict) -> None:
        """A coarse view carries nothing of the venue: no id, name or coordinates."""
        if item.get("kind") == "safety" or item["place"]["precision"] == "exact":
            return  # (a safety report's place is compared with the model's view as a whole)
        venue = self.model.places[self.model.checkins[int(item["id"])].place]
        raw = orjson.dumps(item).decode()
        for secret in (venue["id"], venue["name"], str(venue["lat"]), str(venue["lon"])):
            assert secret not in raw, (secret, item)

    def paged(self, who: int, path: str, **params: object) -> list[dict]:
        """Every item, PAGE at a time: each `next` is the id of the last item returned (never a
        hidden one), and a page is short only at the end."""
        got: list[dict] = []
        cursor = None
        while True:
            query = {**params, "limit": PAGE, **({"before": cursor} if cursor else {})}
            body = self.call("GET", path, who, 200, params=query).json()
            got += body["items"]
            if len(body["items"]) < PAGE:
                assert body["next"] is None, (path, body)
                return got
            assert body["next"] == body["items"][-1]["id"], (path, body)
            cursor = body["next"]

    def check_viewer(self, i: int) -> None:
        v, m = self.id(i), self.model
        assert self.items(i, "/v1/timelines/home") == m.home_items(v)
        assert self.paged(i, "/v1/timelines/home") == m.home_items(v)
        assert self.items(i, "/v1/timelines/public") == m.public_items(v)
        assert self.paged(i, "/v1/timelines/public") == m.public_items(v)
        for lat, lon, radius in LOCAL_QUERIES:
            assert self.items(
                i, "/v1/timelines/public", lat=lat, lon=lon, radius_m=radius
            ) == m.public_items(v, (lat, lon, radius))
        lat, lon, radius = LOCAL_QUERIES[1]
        assert self.paged(
            i, "/v1/timelines/public", lat=lat, lon=lon, radius_m=radius
        ) == m.public_items(v, (lat, lon, radius))
        for place in m.places:
            for radius in SHRINKING_RADII:
                near = (place["lat"], place["lon"], radius)
                assert self.items(
                    i, "/v1/timelines/public", lat=near[0], lon=near[1], radius_m=radius
                ) == m.public_items(v, near)
        for author in m.accounts:
            assert self.items(i, f"/v1/accounts/{author}/checkins") == m.author_items(v, author)
        for index, place in enumerate(m.places):
            path = f"/v1/places/{place['id']}/checkins"
            assert self.items(i, path) == m.place_items(v, index)
        # Cursors of the SQL lists too, on the list keyed by the venue (hidden rows most often).
        assert self.paged(i, f"/v1/places/{m.places[0]['id']}/checkins") == m.place_items(v, 0)
        for c in m.checkins.values():
            self.check_one(i, c)

    def check_one(self, i: int, c: Checkin) -> None:
        v = self.id(i)
        if not self.model.visible(v, c):
            self.call("GET", f"/v1/checkins/{c.id}", i, 404)
            return
        response = self.call("GET", f"/v1/checkins/{c.id}", i, 200)
        expected = self.model.view(v, c)
        assert response.json() == expected
        if expected["place"]["precision"] != "exact":
            venue = self.model.places[c.place]
            for secret in (venue["id"], venue["name"], str(venue["lat"]), str(venue["lon"])):
                assert secret not in response.text

    def teardown(self) -> None:
        if hasattr(self, "model"):
            self.check()


@pytest.fixture
async def running_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


@pytest.fixture
async def cast(app, client) -> dict:  # type: ignore[no-untyped-def]
    """The accounts and places every example reuses (signing up costs a password hash each)."""
    people = [await make_account(client, handle=f"vm{os.getpid()}_{i}") for i in range(ACCOUNTS)]
    places = []
    for i, (lat, lon) in enumerate(PLACES):
        made = await client.post(
            "/v1/places",
            headers=people[0]["headers"],
            json={"name": f"Venue {'ABC'[i]}", "category": "arts", "lat": lat, "lon": lon},
        )
        assert made.status_code == 201, made.text
        places.append(
            (
                await client.get(f"/v1/places/{made.json()['id']}", headers=people[0]["headers"])
            ).json()
        )
    async with app.state.db.sessionmaker() as session, session.begin():
        _, token = await accounts.create_operator(
            session, handle=f"vm{os.getpid()}_op", settings=app.state.settings
        )
    declared = await client.post(
        "/v1/emergencies",
        headers={"Authorization": f"Bearer {token}"},
        json={"name": "model quake", "area": {"lat": HERE[0], "lon": HERE[1], "radius_m": 5000}},
    )
    assert declared.status_code == 201, declared.text
    return {"people": people, "places": places, "emergency": int(declared.json()["id"])}


def test_everyone_reads_exactly_what_the_rules_allow(app, client, redis, running_loop, cast):
    run_state_machine_as_test(
        lambda: VisibilityMachine(app, client, redis, running_loop, cast),
        settings=settings(
            max_examples=10,
            stateful_step_count=15,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
