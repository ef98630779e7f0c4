"""The home and public timelines with the ads slot beside them: the fan-out's feeds and the
check-ins' local stream know nothing of ads; this layer puts a page and its ads side by side."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field
from starlette.responses import Response

from geo.accounts.auth import CurrentActor, current_actor
from geo.ads.schemas import AdRead
from geo.ads.serving import ads_for_timeline
from geo.checkins.schemas import CheckinPage, CheckinRead
from geo.core.db import SessionDep
from geo.core.openapi import problems
from geo.core.pagination import PageDep, next_cursor
from geo.core.redis import RedisDep
from geo.core.responses import json_response
from geo.emergencies.schemas import SafetyRead
from geo.fanout import recovery
from geo.fanout.feed_store import FeedStore
from geo.fanout.pages import visible_page
from geo.fanout.safety import local_public, render_home

router = APIRouter(prefix="/v1", tags=["timelines"], dependencies=[Depends(current_actor)])
Lat = Annotated[float | None, Query(ge=-90, le=90, allow_inf_nan=False)]
Lon = Annotated[float | None, Query(ge=-180, le=180, allow_inf_nan=False)]


class TimelineCheckin(CheckinRead):
    kind: Literal["checkin"] = "checkin"


class TimelinePage(CheckinPage):
    items: list[  # type: ignore[assignment]
        Annotated[TimelineCheckin | SafetyRead, Field(discriminator="kind")]
    ]
    ads: list[AdRead] = Field([], description="Ads for the reader's position (lat/lon), if given.")


@router.get("/timelines/home", response_model=TimelinePage, responses=problems(401))
async def read_home_timeline(
    request: Request,
    actor: CurrentActor,
    session: SessionDep,
    redis: RedisDep,
    page: PageDep,
    lat: Lat = None,
    lon: Lon = None,
) -> Response:
    # After Redis lost its data: this home is regenerated once, on its first read.
    await recovery.ensure_home(session, redis, actor.id)
    feeds = FeedStore(redis)
    items, cursor = await visible_page(
        lambda n, before: feeds.read_home(actor.id, limit=n, before=before),
        lambda ids: render_home(session, actor=actor, ids=ids),
        limit=page.limit,
        before=page.before,
    )
    ads = await ads_for_timeline(request, actor=actor, lat=lat, lon=lon)
    return json_response({"items": items, "next": cursor, "ads": ads})


@router.get(
    "/timelines/public",
    response_model=TimelinePage,
    responses=problems(401),
    description="Public check-ins and safety reports, newest first. With `lat` and `lon`: the "
    "local stream, those whose public position (the venue for `exact`, the H3 cell centre for "
    "`area` and `city`; a public safety report's area cell centre) lies within `radius_m`; `next` "
    "pages within it.",
)
async def read_public_timeline(
    request: Request,
    actor: CurrentActor,
    session: SessionDep,
    redis: RedisDep,
    page: PageDep,
    lat: Lat = None,
    lon: Lon = None,
    radius_m: Annotated[float, Query(ge=1, le=50_000, allow_inf_nan=False)] = 5000,
) -> Response:
    if lat is None or lon is None:
        feeds = FeedStore(redis)
        items, cursor = await visible_page(
            lambda n, before: feeds.read_public(limit=n, before=before),
            lambda ids: render_home(session, actor=actor, ids=ids),
            limit=page.limit,
            before=page.before,
        )
        return json_response({"items": items, "next": cursor, "ads": []})
    # Local: a spatial query on the position the public may know (the cell centre for area/city
    # check-ins), so it never reveals more than the author allowed nor depends on traffic elsewhere.
    items = await local_public(
        session,
        actor=actor,
        lat=lat,
        lon=lon,
        radius_m=radius_m,
        limit=page.limit,
        before=page.before,
    )
    ads = await ads_for_timeline(request, actor=actor, lat=lat, lon=lon)
    cursor = next_cursor([int(i["id"]) for i in items], page.limit)
    return json_response({"items": items, "ads": ads, "next": cursor})
