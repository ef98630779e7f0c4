"""The floor for the hot-path benchmarks: FastAPI + asyncpg (no SQLAlchemy), the same work.

Each endpoint runs the very SQL texts the app's repositories run (imported from them), on an
asyncpg pool of the app's session-pool size (`db_pool_size`; bench/hot_paths.py sets 12 for every
pool of both) with prepared statements, and answers the same JSON; what it leaves out is the
app's framework: its dependencies, sessions, middleware, ads.

`GET /v1/places/nearby`: the viewer's bearer token checked as the app checks a cached one (a
per-process map of token hash to account, then one HMGET of the account's revocation marks in
Redis), then the KNN-20 query of `PlaceReads.nearby_json`; `"ads": []`.

`POST /v1/checkins`: the bearer token looked up once per process (as the app's token cache does),
then in one transaction the plausibility facts statement, the distance rule, the per-minute rate
counter in Redis (INCR + EXPIRE, one round trip), the check-in insert with its outbox row, and the
commit; the author's view of the check-in as the answer (201). No speed rule, no idempotency
keys, no circles: the benchmark sends none of them, and the app checks speed in Python from
the same facts.

    DATABASE_URL=postgresql://postgres@127.0.0.1/geo_bench \
        .venv/bin/uvicorn bench.bare_app:app --port 8001 --workers 1
"""

import hashlib
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import orjson
from fastapi import FastAPI, Request
from redis.asyncio import Redis
from starlette.responses import Response

from geo.checkins.repository import INSERT_WITH_EVENT_SQL, PLAUSIBILITY_SQL
from geo.core.config import Settings
from geo.core.db import keep_session_state, native_sql
from geo.places.repository import _nearby_json_sql

URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1/geo_bench")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
NEARBY, NEARBY_NAMES = native_sql(_nearby_json_sql(""))
PLAUSIBILITY, PLAUSIBILITY_NAMES = native_sql(PLAUSIBILITY_SQL)
INSERT, INSERT_NAMES = native_sql(INSERT_WITH_EVENT_SQL)
AUTHORS: dict[bytes, tuple[int, str]] = {}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    size = Settings().db_pool_size
    app.state.pool = await asyncpg.create_pool(
        URL,
        min_size=0,  # opened on demand, as the app's pools are
        max_size=size,
        server_settings={"jit": "off", "application_name": "geo-bare"},
        reset=keep_session_state,  # the app's read pool's setting (one round trip less)
    )
    app.state.redis = Redis.from_url(REDIS_URL)
    try:
        yield
    finally:
        await app.state.redis.aclose()
        await app.state.pool.close()


app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)


@app.get("/healthz")
async def healthz() -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


@app.get("/v1/places/nearby")
async def nearby(
    request: Request, lat: float, lon: float, radius_m: float = 1000, limit: int = 20
) -> Response:
    params = {"lat": lat, "lon": lon, "radius": radius_m, "limit": limit}
    async with request.app.state.pool.acquire() as conn:
        viewer = await _author(request, conn)
        if viewer is None or not await _not_revoked(request, viewer[0]):
            return _problem(401, "Unauthorized")
        places = await conn.fetchval(NEARBY, *[params[n] for n in NEARBY_NAMES])
    return Response(b'{"places":' + places.encode() + b',"ads":[]}', media_type="application/json")


def _problem(status: int, title: str) -> Response:
    return Response(
        orjson.dumps({"type": "about:blank", "title": title, "status": status}),
        status_code=status,
        media_type="application/problem+json",
    )


async def _author(request: Request, conn: asyncpg.Connection) -> tuple[int, str] | None:
    token = request.headers.get("authorization", "").removeprefix("Bearer ")
    key = hashlib.sha256(token.encode()).digest()
    if key not in AUTHORS:
        row = await conn.fetchrow(
            "SELECT a.id, a.handle FROM account_tokens t JOIN accounts a ON a.id = t.account_id"
            " WHERE t.token_hash = $1",
            key,
        )
        if row is None:
            return None
        AUTHORS[key] = (row[0], row[1])
    return AUTHORS[key]


async def _not_revoked(request: Request, account_id: int) -> bool:
    # The app's check of a cached token: no revoke-all and no mark for this token (one HMGET).
    token = request.headers.get("authorization", "").removeprefix("Bearer ")
    key = hashlib.sha256(token.encode()).hexdigest()
    marks = await request.app.state.redis.hmget(f"auth:{{a{account_id}}}:revoked", ["all", key])
    return marks == [None, None]


@app.post("/v1/checkins", status_code=201)
async def create_checkin(request: Request) -> Response:
    data = orjson.loads(await request.body())
    lat, lon, accuracy = float(data["lat"]), float(data["lon"]), float(data["accuracy_m"])
    async with request.app.state.pool.acquire() as conn:
        author = await _author(request, conn)
        if author is None or not await _not_revoked(request, author[0]):
            return _problem(401, "Unauthorized")
        place_id = int(data["place_id"])
        async with conn.transaction():
            facts = {"p": place_id, "lat": lat, "lon": lon, "a": author[0]}
            row = await conn.fetchrow(PLAUSIBILITY, *[facts[n] for n in PLAUSIBILITY_NAMES])
            if row[0] is None or row[7] > 100 + 2 * accuracy:
                return _problem(422, "Invalid location")
            key = f"rl:{{u{author[0]}}}:checkins:{int(time.time() // 60)}"
            async with request.app.state.redis.pipeline(transaction=True) as pipe:
                count, _ = await pipe.incr(key).expire(key, 120).execute()
            if count > 10:
                return _problem(429, "Too many requests")
            values = {
                "a": author[0],
                "p": place_id,
                "lat": lat,
                "lon": lon,
                "acc": accuracy,
                "m": data.get("message"),
                "circles": [],
                "pub": bool(data.get("audience", {}).get("public", False)),
                "prec": data.get("public_precision", "exact"),
                "plat": None,  # not public: no public position or cells (as the app for these)
                "plon": None,
                "c7": None,
                "c5": None,
                "topic": "checkin.created",
            }
            made = await conn.fetchrow(INSERT, *[values[n] for n in INSERT_NAMES])
    place = {
        "precision": "exact",
        "id": str(row[0]),
        "name": row[1],
        "category": row[2],
        "lat": row[3],
        "lon": row[4],
        "address": row[5],
        "created_at": row[6].strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    body = {
        "id": str(made[0]),
        "account": {"id": str(author[0]), "handle": author[1]},
        "place": place,
        "message": values["m"],
        "created_at": made[1].strftime("%Y-%m-%dT%H:%M:%SZ"),
        "audience": "circle",
    }
    return Response(orjson.dumps(body), status_code=201, media_type="application/json")
