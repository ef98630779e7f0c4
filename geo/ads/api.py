"""Routes of the ads domain: campaigns, advertiser grants, and ad clicks."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from starlette.responses import Response

from geo.accounts.auth import CurrentActor, current_actor
from geo.ads import events, service
from geo.ads.schemas import CampaignCreate, CampaignPage, CampaignRead, CampaignUpdate
from geo.core.db import SessionDep
from geo.core.ids import IdPath, parse_id
from geo.core.openapi import problems
from geo.core.pagination import PageDep, next_cursor
from geo.core.redis import RedisDep

router = APIRouter(prefix="/v1", tags=["ads"], dependencies=[Depends(current_actor)])

# Any string reaches the handler, so a garbage impression id is a 404 like a forged one.
ImpressionPath = Annotated[
    str,
    Path(min_length=1, max_length=200, description="A served ad's `id` (signed impression id)."),
]


@router.post(
    "/campaigns", status_code=201, response_model=CampaignRead, responses=problems(401, 403)
)
async def create_campaign(
    request: Request, data: CampaignCreate, actor: CurrentActor, session: SessionDep
) -> CampaignRead:
    return await service.create_campaign(
        session, actor=actor, data=data, min_target_m=_min_target_m(request)
    )


def _min_target_m(request: Request) -> int:
    return int(request.app.state.settings.ads_min_target_radius_m)


@router.get("/campaigns", response_model=CampaignPage, responses=problems(401))
async def list_campaigns(actor: CurrentActor, session: SessionDep, page: PageDep) -> CampaignPage:
    items = await service.list_campaigns(session, actor=actor, limit=page.limit, before=page.before)
    return CampaignPage(items=items, next=next_cursor([int(c.id) for c in items], page.limit))


@router.get("/campaigns/{campaign_id}", response_model=CampaignRead, responses=problems(401, 404))
async def read_campaign(
    campaign_id: IdPath, actor: CurrentActor, session: SessionDep
) -> CampaignRead:
    return await service.get_campaign(session, actor=actor, campaign_id=parse_id(campaign_id))


@router.patch("/campaigns/{campaign_id}", response_model=CampaignRead, responses=problems(401, 404))
async def update_campaign(
    request: Request,
    campaign_id: IdPath,
    data: CampaignUpdate,
    actor: CurrentActor,
    session: SessionDep,
    redis: RedisDep,
) -> CampaignRead:
    return await service.update_campaign(
        session,
        actor=actor,
        redis=redis,
        campaign_id=parse_id(campaign_id),
        data=data,
        min_target_m=_min_target_m(request),
    )


@router.put(
    "/places/{place_id}/advertisers/{account_id}",
    status_code=204,
    responses=problems(401, 403, 404),
)
async def grant_advertiser(
    place_id: IdPath, account_id: IdPath, actor: CurrentActor, session: SessionDep
) -> Response:
    """The place's owner lets this advertiser account run campaigns for the place."""
    await service.grant_advertiser(
        session,
        actor=actor,
        place_id=parse_id(place_id),
        advertiser_id=parse_id(account_id),
        granted=True,
    )
    return Response(status_code=204)


@router.delete(
    "/places/{place_id}/advertisers/{account_id}",
    status_code=204,
    responses=problems(401, 403, 404),
)
async def revoke_advertiser(
    place_id: IdPath, account_id: IdPath, actor: CurrentActor, session: SessionDep, redis: RedisDep
) -> Response:
    """Stops the grant: the advertiser's campaigns at the place are paused at once."""
    await service.grant_advertiser(
        session,
        actor=actor,
        place_id=parse_id(place_id),
        advertiser_id=parse_id(account_id),
        granted=False,
        redis=redis,
    )
    return Response(status_code=204)


@router.post("/ads/{impression_id}/click", status_code=204, responses=problems(401, 404))
async def click_ad(
    request: Request, impression_id: ImpressionPath, actor: CurrentActor, session: SessionDep
) -> Response:
    """Count a click on a served ad once; a forged, garbage or someone else's id is 404."""
    await events.record_click(
        session, actor=actor, token=impression_id, secret=request.app.state.settings.secret_key
    )
    return Response(status_code=204)
