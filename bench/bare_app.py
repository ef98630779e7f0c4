"""Bare references for the benchmarks: FastAPI + SQLAlchemy async (asyncpg), two endpoints.

`POST /v1/checkins` (the fan-out benchmark's ceiling) parses the JSON body and answers 201 with a
small JSON body: no auth, no database, no Redis: what one uvicorn worker can do at all.

`GET /v1/places/nearby` runs only the KNN query of `PlaceRepository.nearby_json` (the same SQL
text, built from the same column lists) and returns its JSON array. No auth, no middleware, no
session/transaction wrapper, no ads: the floor the full `GET /v1/places/nearby` is compared against.

    DATABASE_URL=postgresql://postgres@127.0.0.1/geo_bench \
        .venv/bin/uvicorn bench.bare_app:app --port 8001 --workers 1
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.responses import Response

from geo.core.config import Settings
from geo.places.repository import PLACE_JSON_COLUMNS, POINT

# Same pool and connection settings as geo.core.db.create_database with the default Settings.
URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1/geo_bench")
URL = URL.replace("postgresql://", "postgresql+asyncpg://", 1)

# Identical to nearby_json without category / name filters.
NEARBY_SQL = text(f"""
    SELECT coalesce(json_agg(x ORDER BY x.distance_m, x.id), '[]')::text FROM (
        SELECT {PLACE_JSON_COLUMNS},
               round(ST_Distance(p.position, {POINT})::numeric, 1) AS distance_m
        FROM places p
        WHERE ST_DWithin(p.position, {POINT}, :radius)
        ORDER BY p.position <-> {POINT}
        LIMIT :limit) x""")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = Settings()
    app.state.engine = create_async_engine(
        URL,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_pre_ping=False,
        connect_args={"server_settings": {"jit": "off", "application_name": "geo-bare"}},
    )
    try:
        yield
    finally:
        await app.state.engine.dispose()


app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)


@app.get("/v1/places/nearby")
async def nearby(
    request: Request, lat: float, lon: float, radius_m: float = 1000, limit: int = 20
) -> Response:
    async with request.app.state.engine.connect() as conn:
        places = (
            await conn.execute(
                NEARBY_SQL, {"lat": lat, "lon": lon, "radius": radius_m, "limit": limit}
            )
        ).scalar_one()
    return Response(b'{"places":' + places.encode() + b',"ads":[]}', media_type="application/json")


@app.post("/v1/checkins", status_code=201)
async def create_checkin(data: dict[str, Any]) -> Response:
    return Response(
        b'{"id":"1","place_id":"%s"}' % str(data.get("place_id")).encode(),
        status_code=201,
        media_type="application/json",
    )
