from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import StreamingResponse

from geo.accounts.auth import CurrentActor, current_actor
from geo.core.openapi import problems
from geo.fanout import stream_slots
from geo.fanout.live import home_events

router = APIRouter(prefix="/v1", tags=["timelines"], dependencies=[Depends(current_actor)])


@router.get(
    "/timelines/home/stream",
    responses={
        **problems(401, 429),
        200: {
            "description": "Server-Sent Events: `event: checkin`, data = a home item (`kind`:"
            " `checkin` or `safety`); `event: delete`, data = `{id}` of one taken out;"
            " `event: emergency`, data = an emergency declared where you last checked in. At most"
            " GEO_MAX_STREAMS_PER_ACCOUNT streams per account are open at once (429 beyond).",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
    },
)
async def stream_home_timeline(
    request: Request,
    actor: CurrentActor,
    max_seconds: Annotated[
        float,
        Query(ge=1, le=3600, allow_inf_nan=False, description="Close the stream after this long."),
    ] = 600,
) -> StreamingResponse:
    redis = request.app.state.redis
    limit = request.app.state.settings.max_streams_per_account
    slot = await stream_slots.acquire(redis, actor.id, limit=limit)
    events = home_events(request.app.state.db, redis, actor, max_seconds=max_seconds, slot=slot)
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
