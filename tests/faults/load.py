"""A small concurrent load on a served `geo`: accounts checking in (with Idempotency-Keys) and
reading, every answer recorded with the phase of the outage it was given in.

A phase is whatever the test sets (`load.phase = "outage"`); an answer that was sent in one phase
and came back in another is labelled "before->after", so that a phase's answers are those given
wholly inside it (a server on two cores may hold a request across a restart). `violations()` lists
every answer
that is neither a success nor a 503 problem with Retry-After, transport errors (a dropped
connection, a hang past the client's timeout) included.
"""

import asyncio
import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

PASSWORD = "correct horse"
_handles = itertools.count(1)


@dataclass
class Answer:
    phase: str
    route: str
    status: int | None  # None: no HTTP answer at all
    content_type: str = ""
    retry_after: str | None = None
    body: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def outage_answer(self) -> bool:
        return (
            self.status == 503
            and self.content_type.startswith("application/problem+json")
            and bool(self.retry_after)
        )

    @property
    def component(self) -> str | None:
        return self.body.get("component") if isinstance(self.body, dict) else None


@dataclass
class Checkin:
    """One POST /v1/checkins as sent, so that the test can retry it with the same key."""

    phase: str
    headers: dict[str, str]
    body: dict[str, Any]
    answer: Answer


@dataclass
class Load:
    client: httpx.AsyncClient
    members: list[dict[str, Any]]
    place: dict[str, Any]
    # At most this many check-ins per member and phase: the limit is 10 a minute per author.
    checkins_per_phase: int = 3
    phase: str = "before"
    answers: list[Answer] = field(default_factory=list)
    checkins: list[Checkin] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.gather(*(self._member(m, stop) for m in self.members), self._health(stop))

    def violations(self) -> list[Answer]:
        return [a for a in self.answers if not (a.ok or a.outage_answer)]

    def in_phase(self, phase: str, route: str | None = None) -> list[Answer]:
        return [a for a in self.answers if a.phase == phase and (route is None or a.route == route)]

    async def call(self, method: str, route: str, url: str, **kwargs: Any) -> Answer:
        phase = self.phase
        try:
            response = await self.client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            answer = Answer(phase, route, None, error=repr(exc))
        else:
            try:
                body = response.json()
            except ValueError:
                body = response.text[:500]
            answer = Answer(
                phase,
                route,
                response.status_code,
                response.headers.get("content-type", ""),
                response.headers.get("retry-after"),
                body,
            )
        if self.phase != phase:  # sent in one phase, answered in the next: at neither's edge
            answer.phase = f"{phase}->{self.phase}"
        self.answers.append(answer)
        return answer

    async def checkin(self, member: dict[str, Any], *, key: str | None = None) -> Checkin:
        headers = {**member["headers"], "Idempotency-Key": key or uuid.uuid4().hex}
        body = checkin_body(self.place)
        answer = await self.call("POST", "checkin", "/v1/checkins", json=body, headers=headers)
        sent = Checkin(answer.phase, headers, body, answer)
        self.checkins.append(sent)
        return sent

    async def _member(self, member: dict[str, Any], stop: asyncio.Event) -> None:
        made: dict[str, int] = {}
        last_id: str | None = None
        headers = member["headers"]
        while not stop.is_set():
            if made.get(self.phase, 0) < self.checkins_per_phase:
                made[self.phase] = made.get(self.phase, 0) + 1
                sent = await self.checkin(member)
                if sent.answer.status == 201:
                    last_id = sent.answer.body["id"]
            await self.call("GET", "home", "/v1/timelines/home", headers=headers)
            await self.call(
                "GET",
                "nearby",
                "/v1/places/nearby",
                params={"lat": self.place["lat"], "lon": self.place["lon"], "radius_m": 500},
                headers=headers,
            )
            if last_id is not None:
                await self.call("GET", "read", f"/v1/checkins/{last_id}", headers=headers)
            await asyncio.sleep(0.05)

    async def _health(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.call("GET", "healthz", "/healthz")
            await asyncio.sleep(0.1)


def checkin_body(place: dict[str, Any]) -> dict[str, Any]:
    return {
        "place_id": place["id"],
        "lat": place["lat"],
        "lon": place["lon"],
        "accuracy_m": 10,
        "message": "through the outage",
        "audience": {"circles": [], "public": True},
    }


async def sign_up(client: httpx.AsyncClient, kind: str = "member") -> dict[str, Any]:
    handle = f"fault{uuid.uuid4().hex[:8]}_{next(_handles)}"
    response = await client.post(
        "/v1/accounts", json={"handle": handle, "password": PASSWORD, "kind": kind}
    )
    assert response.status_code == 201, response.text
    account = response.json()
    account["headers"] = {"Authorization": f"Bearer {account['token']}"}
    return account


async def make_place(client: httpx.AsyncClient, owner: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(
        "/v1/places",
        json={
            "name": f"Fault cafe {uuid.uuid4().hex[:6]}",
            "category": "coffee-shop",
            "lat": 35.6806,
            "lon": 139.7981,
        },
        headers=owner["headers"],
    )
    assert response.status_code == 201, response.text
    return response.json()
