"""Where other domains ask for ads to show beside their results (places nearby, timelines).

Ads never break the page they sit on: if Redis or PostgreSQL fail during a decision, the error is
logged and the slot is left empty.
"""

import logging

import orjson
from fastapi import Request
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from geo.ads.decision import AdsEngine, ServedAd
from geo.core import outages
from geo.core.auth import Actor
from geo.core.metrics import AD_DECISION_SECONDS, AD_DECISIONS, OUTAGE_FALLBACKS
from geo.emergencies import areas as emergency_areas

log = logging.getLogger("geo.ads.serving")


def engine_for(request: Request) -> AdsEngine:
    """The process's ads engine, made on first use from the app's database and Redis."""
    state = request.app.state
    engine: AdsEngine | None = getattr(state, "ads_engine", None)
    if engine is None or engine.redis is not state.redis or engine.db is not state.db:
        engine = AdsEngine.create(state.db, state.redis, state.settings)
        state.ads_engine = engine
    return engine


async def _decide(
    request: Request, *, actor: Actor, lat: float, lon: float, categories: frozenset[str]
) -> list[ServedAd]:
    if not request.app.state.settings.ads_enabled:
        return []
    try:
        if await emergency_areas.ads_stand_down(request.app.state, lat=lat, lon=lon):
            AD_DECISIONS.labels("emergency").inc()
            return []  # ads stand down inside an active emergency's area
        with AD_DECISION_SECONDS.time():
            return await engine_for(request).decide(
                viewer_id=actor.id, lat=lat, lon=lon, context_categories=categories
            )
    except (RedisError, SQLAlchemyError, OSError) as exc:
        component = outages.component_down(exc)
        if component is None:
            log.exception("ad decision failed; serving no ads")
        else:  # an outage, not a bug: one line per request, not a traceback
            log.warning("ad decision skipped, %s is down: %s", component, exc)
            OUTAGE_FALLBACKS.labels(component, "ads").inc()
        AD_DECISIONS.labels("error").inc()
        return []


async def ads_next_to_places(
    request: Request,
    *,
    actor: Actor,
    lat: float,
    lon: float,
    category: str | None,
    places_json: str | None = None,
) -> list[ServedAd]:
    """Ads for a viewer looking at places near a point; relevance favours campaigns whose
    categories match the category asked for or those of the places shown."""
    if not request.app.state.settings.ads_enabled:
        return []  # before reading the places: that costs a parse of their JSON
    categories = {category} if category else set()
    if places_json:
        categories |= {p["category"] for p in orjson.loads(places_json)}
    return await _decide(request, actor=actor, lat=lat, lon=lon, categories=frozenset(categories))


async def ads_for_timeline(
    request: Request, *, actor: Actor, lat: float | None, lon: float | None
) -> list[ServedAd]:
    """Ads beside a timeline page: only when the reader says where they are."""
    if lat is None or lon is None:
        return []
    return await _decide(request, actor=actor, lat=lat, lon=lon, categories=frozenset())
