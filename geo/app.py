"""The FastAPI application: `create_app()` builds it; its lifespan connects to PostGIS and Redis."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from starlette.responses import Response

from geo import maintenance
from geo.accounts import api as accounts_api
from geo.ads import api as ads_api
from geo.ads.schemas import state_min_radius
from geo.ads.worker import run_forever as run_ads_ledger
from geo.api import me as me_api
from geo.api import nearby as nearby_api
from geo.api import timelines as timelines_api
from geo.checkins import api as checkins_api
from geo.core.auth import TokenCache
from geo.core.bodies import add_body_schemas
from geo.core.config import Settings, check_secret, get_settings
from geo.core.db import create_database
from geo.core.errors import ServiceUnavailable, install_error_handlers, problem_response
from geo.core.health import component_states
from geo.core.metrics import REGISTRY
from geo.core.middleware import RequestContextMiddleware
from geo.core.openapi import add_problem_schemas
from geo.core.redis import create_redis
from geo.core.responses import json_response
from geo.dashboard import pages as dashboard_pages
from geo.emergencies import api as emergencies_api
from geo.emergencies import page as emergencies_page
from geo.fanout import api as fanout_api
from geo.fanout.worker import run_forever
from geo.places import api as places_api
from geo.reports import api as reports_api
from geo.reports import rollup as reports_rollup
from geo.social import api as social_api


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    check_secret(settings)  # refuse to serve with the public default secret
    app.state.db = create_database(settings)
    await app.state.db.open_read_pool(settings)
    await app.state.db.open_write_pool(settings)
    app.state.redis = create_redis(settings)
    workers = []
    if app.state.db.replicas is not None:
        workers.append(asyncio.create_task(app.state.db.replicas.run_forever()))
    if settings.run_workers_in_process:
        # The single-machine default: relay, fan-out, the ads ledger writer and the report
        # rollup run beside the API.
        workers.append(asyncio.create_task(run_forever(app.state.db, app.state.redis)))
        workers.append(
            asyncio.create_task(run_ads_ledger(app.state.db, app.state.redis, settings=settings))
        )
        workers.append(
            asyncio.create_task(
                reports_rollup.run_forever(app.state.db, poll_s=settings.report_rollup_poll_seconds)
            )
        )
        workers.append(asyncio.create_task(maintenance.run_forever(app.state.db, settings)))
    try:
        yield
    finally:
        for worker in workers:
            worker.cancel()
        ads_engine = getattr(app.state, "ads_engine", None)
        if ads_engine is not None:
            await ads_engine.close()
        await app.state.redis.aclose()
        await app.state.db.dispose()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app. Nothing connects until the lifespan starts."""
    settings = settings or get_settings()
    app = FastAPI(
        title="geo: check-ins across a closed and a public network",
        version="1.0.0",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.token_cache = TokenCache(settings.token_cache_seconds)
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware)

    # The hottest routes first: FastAPI matches routers in order, twice per request (about 15 % of
    # /v1/places/nearby's CPU went to matching when it came after accounts). `/v1/places/nearby`
    # must also come before places' `/v1/places/{place_id}`. The check-in write's route sits on
    # the app itself (its path and tags are whole): FastAPI 0.165 matches an included router's
    # route through two more layers, a twentieth of that endpoint's CPU (issue 13).
    app.router.routes.extend(checkins_api.hot_router.routes)
    app.include_router(nearby_api.router)
    modules = (
        places_api,
        checkins_api,
        accounts_api,
        social_api,
        timelines_api,
        fanout_api,
        me_api,
        ads_api,
        reports_api,
        dashboard_pages,
        emergencies_api,
        emergencies_page,
    )
    for module in modules:
        for name in ("public_router", "router"):
            if hasattr(module, name):
                app.include_router(getattr(module, name))
    # Bodies that hot handlers parse themselves (geo.core.bodies), for the document's components.
    bodies: list[type[BaseModel]] = [
        body for module in modules for body in getattr(module, "documented_bodies", ())
    ]
    _add_operations(app)
    _install_openapi(app, bodies)
    return app


def _add_operations(app: FastAPI) -> None:
    @app.get(
        "/healthz",
        tags=["operations"],
        responses={503: {"description": "A server is down: `components` says which"}},
    )
    async def healthz(request: Request) -> Response:
        components = await component_states(request.app.state)
        down = [name for name, state in components.items() if state != "up"]
        if not down:
            return json_response({"status": "ok", "components": components})
        return problem_response(
            503,
            "Service unavailable",
            f"Down: {', '.join(down)}.",
            type_slug="unavailable",
            headers={"Retry-After": str(ServiceUnavailable.retry_after_s)},
            components=components,
            down=down,
        )

    @app.get(
        "/metrics",
        tags=["operations"],
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def _install_openapi(app: FastAPI, bodies: list[type[BaseModel]]) -> None:
    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = state_min_radius(
                add_body_schemas(add_problem_schemas(default_openapi()), bodies),
                app.state.settings.ads_min_target_radius_m,
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
