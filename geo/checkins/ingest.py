"""Creating a check-in: `POST /v1/checkins`, the hottest write (bench/hot_paths.py keeps it
honest beside a FastAPI + asyncpg floor doing the same work).

The rules are the service's (`geo.checkins.service`: plausibility, rate, idempotency, audiences);
what is particular here is the machinery, chosen by measuring (docs/benchmarks.md, issue 13): the
statements run on the request's asyncpg connection (`geo.core.db.write_transaction`, one
transaction) through `CheckinWrites`, and the answer is rendered once, as JSON bytes, by orjson
rather than built as pydantic models and serialised by FastAPI.
"""

import hashlib
from datetime import UTC, datetime

import asyncpg
import orjson

from geo.checkins import plausibility
from geo.checkins.ingest_repository import CheckinWrites
from geo.checkins.repository import PlaceRow, PlausibilityFacts
from geo.checkins.schemas import CheckinCreate, CheckinRead
from geo.checkins.service import (
    check_rate_on,
    claim_idempotency_or_replay,
    public_cells,
    public_point,
)
from geo.core.auth import Actor
from geo.core.errors import Unprocessable
from geo.core.ids import MAX_ID
from geo.core.redis import RedisClient
from geo.core.types import rfc3339
from geo.outbox import events as outbox
from geo.social import service as social


async def create_checkin(
    conn: asyncpg.Connection,
    redis: RedisClient,
    *,
    actor: Actor,
    data: CheckinCreate,
    idempotency_key: str | None,
) -> tuple[int, bytes]:
    """Store a check-in once however often it is retried, with its fan-out event (outbox), in
    the caller's transaction on `conn`.

    Returns the status and the JSON body of the answer (the first answer again for a retried key).
    """
    writes = CheckinWrites(conn)
    if idempotency_key is not None:
        replay = await claim_idempotency_or_replay(
            writes, actor.id, idempotency_key, _request_hash(data)
        )
        if replay is not None:
            # The stored answer is the JSON this function rendered the first time; the model puts
            # its members back in order (PostgreSQL's jsonb keeps its own).
            return replay[0], CheckinRead.model_validate(replay[1]).model_dump_json().encode()
    answer = await _create(writes, redis, actor=actor, data=data)
    if idempotency_key is not None:
        await writes.store_answer(
            account_id=actor.id, key=idempotency_key, status=201, body=answer.decode()
        )
    return 201, answer


def _request_hash(data: CheckinCreate) -> bytes:
    return hashlib.sha256(
        orjson.dumps(data.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    ).digest()


async def _create(
    writes: CheckinWrites, redis: RedisClient, *, actor: Actor, data: CheckinCreate
) -> bytes:
    place_id = int(data.place_id)
    plausibility.check_accuracy(data.accuracy_m)
    facts = (
        await writes.plausibility_facts(
            author_id=actor.id, place_id=place_id, lat=data.lat, lon=data.lon
        )
        if place_id <= MAX_ID
        else None
    )
    if facts is None or facts.place is None or facts.place.distance_m is None:
        raise Unprocessable(
            "No such place.", errors=[{"field": "body.place_id", "message": "no such place"}]
        )
    plausibility.check_distance(facts.place.distance_m, data.accuracy_m)
    circle_ids = sorted({int(c) for c in data.audience.circles})
    if circle_ids:
        await social.check_own_circles(writes.conn, actor=actor, circle_ids=circle_ids)
    last = facts.last
    plausibility.check_speed(
        previous=(last.lat, last.lon, last.created_at) if last else None,
        lat=data.lat,
        lon=data.lon,
        now=datetime.now(UTC),
    )
    await check_rate_on(writes, redis, actor.id)
    point = _public_point_of(facts, data)
    checkin_id, created_at = await writes.insert_with_event(
        author_id=actor.id,
        place_id=place_id,
        lat=data.lat,
        lon=data.lon,
        accuracy_m=data.accuracy_m,
        message=data.message,
        circle_ids=circle_ids,
        public=data.audience.public,
        public_precision=data.public_precision,
        public_point=point,
        public_cells=public_cells(*point) if point else None,
        topic=outbox.CHECKIN_CREATED,
    )
    # The author's own view (exact place), from what was just written and the place read with
    # the facts: no re-read.
    return author_view(checkin_id, created_at, actor, facts.place, data.message)


def _public_point_of(facts: PlausibilityFacts, data: CheckinCreate) -> tuple[float, float] | None:
    if not data.audience.public or facts.place is None:
        return None
    return public_point(facts.place.lat, facts.place.lon, data.public_precision)


def author_view(
    checkin_id: int, created_at: datetime, author: Actor, place: PlaceRow, message: str | None
) -> bytes:
    """The author's view of their check-in as JSON: `service.render`'s `CheckinRead` for them
    (audience `circle`, the exact place), member for member and byte for byte as pydantic
    renders it (tests/checkins/test_ingest.py), without building the models."""
    return orjson.dumps(
        {
            "id": str(checkin_id),
            "account": {"id": str(author.id), "handle": author.handle},
            "place": {
                "precision": "exact",
                "id": str(place.id),
                "name": place.name,
                "category": place.category,
                "lat": place.lat,
                "lon": place.lon,
                "address": place.address,
                "created_at": rfc3339(place.created_at),
            },
            "message": message,
            "created_at": rfc3339(created_at),
            "audience": "circle",
        }
    )
