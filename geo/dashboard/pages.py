"""Dashboard pages: sign in, the campaign list, a campaign's report, buying and pausing.

Pages are not part of the JSON API (they are left out of the OpenAPI document). Reports come from
the reports service; campaigns are created and changed through the ads service only.
"""

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.templating import Jinja2Templates
from starlette.responses import RedirectResponse, Response

from geo.accounts import sessions
from geo.accounts.throttle import get_throttle
from geo.core.db import SessionDep
from geo.core.errors import NotFound, TooManyRequests, Unauthorized
from geo.core.ids import IdPath, parse_id
from geo.dashboard import buying, charts
from geo.dashboard.session import (
    COOKIE,
    MAX_AGE_S,
    PRE_COOKIE,
    check_csrf,
    csrf_for,
    current_actor,
    delete_cookie,
    session_id,
    set_cookie,
)
from geo.places import service as places
from geo.reports import service as reports
from geo.reports.web import csv_response, report_params

router = APIRouter(prefix="/dashboard", include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    csrf, fresh = csrf_for(request)
    response = templates.TemplateResponse(
        request, name, {**context, "csrf": csrf}, status_code=status
    )
    if fresh:
        set_cookie(request, response, PRE_COOKIE, {"csrf": csrf})
    return response


@router.get("")
async def home(request: Request, session: SessionDep) -> Response:
    actor = await current_actor(request, session)
    if actor is None:
        return render(request, "sign_in.html", {"error": None, "handle": ""})
    campaigns = await reports.campaigns_of(session, actor=actor)
    return render(request, "campaigns.html", {"actor": actor, "campaigns": campaigns})


@router.post("/sign-in")
async def sign_in(
    request: Request,
    session: SessionDep,
    handle: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf)
    throttle = await get_throttle(request)
    try:
        if not (0 < len(handle) <= 30 and 0 < len(password) <= 200):
            raise Unauthorized()
        sid = await sessions.open_session(
            session,
            request.app.state.redis,
            handle=handle,
            password=password,
            settings=request.app.state.settings,
            throttle=throttle,
            address=throttle.address_of(request),
            ttl_s=MAX_AGE_S,
        )
    except Unauthorized:
        return render(
            request,
            "sign_in.html",
            {"error": "Wrong handle or password.", "handle": handle[:30]},
            status=401,
        )
    except TooManyRequests as exc:
        response = render(
            request, "sign_in.html", {"error": exc.detail, "handle": handle[:30]}, status=429
        )
        response.headers.update(exc.headers)
        return response
    response = RedirectResponse("/dashboard", status_code=303)
    set_cookie(request, response, COOKIE, {"sid": sid, "csrf": csrf_for(request)[0]})
    return response


@router.post("/sign-out")
async def sign_out(
    request: Request, session: SessionDep, csrf: Annotated[str, Form()] = ""
) -> Response:
    """Ends the server-side session and the token behind it, not only the cookie."""
    check_csrf(request, csrf)
    sid = session_id(request)
    if sid is not None:
        state = request.app.state
        await sessions.close_session(session, state.redis, state.settings, sid)
    response = RedirectResponse("/dashboard", status_code=303)
    delete_cookie(request, response, COOKIE)
    return response


async def _preview(session: SessionDep, place_id: str, radius_m: int) -> Any:
    """The covered area around the chosen place (a plain circle until a place is known)."""
    if place_id.isdigit() and len(place_id) <= 19:
        try:
            place = await places.get_place(session, parse_id(place_id))
            return charts.radius_preview(radius_m=radius_m, lat=place.lat, lon=place.lon)
        except NotFound:
            pass
    return charts.radius_preview(radius_m=radius_m)


@router.get("/campaigns/new", name="new_campaign")
async def new_campaign(
    request: Request,
    session: SessionDep,
    radius_m: Annotated[int, Query(ge=50, le=20_000)] = 500,
    place_id: Annotated[str, Query(max_length=19)] = "",
) -> Response:
    actor = await current_actor(request, session)
    if actor is None:
        return RedirectResponse("/dashboard", status_code=303)
    places_offered = await buying.places_for(session, actor=actor)
    if not place_id and places_offered:
        place_id = places_offered[0].id
    return render(
        request,
        "new_campaign.html",
        {
            "actor": actor,
            "form": {
                "radius_m": str(radius_m),
                "cap_count": "3",
                "cap_hours": "24",
                "place_id": place_id,
            },
            "errors": {},
            "places": places_offered,
            "min_radius_m": _min_radius(request),
            "preview": await _preview(session, place_id, radius_m),
        },
    )


def _min_radius(request: Request) -> int:
    return int(request.app.state.settings.ads_min_target_radius_m)


@router.post("/campaigns")
async def create_campaign(request: Request, session: SessionDep) -> Response:
    actor = await current_actor(request, session)
    if actor is None:
        return RedirectResponse("/dashboard", status_code=303)
    raw = await request.form()
    check_csrf(request, str(raw.get("csrf", "")))
    form = {name: str(raw.get(name, ""))[:2000] for name in buying.FORM_FIELDS}
    campaign, errors = (
        (None, {})
        if raw.get("preview")
        else await buying.create(session, actor=actor, form=form, min_target_m=_min_radius(request))
    )
    if campaign is not None:
        return RedirectResponse(f"/dashboard/campaigns/{campaign.id}", status_code=303)
    radius = int(form["radius_m"]) if form["radius_m"][:6].isdigit() else 500
    return render(
        request,
        "new_campaign.html",
        {
            "actor": actor,
            "form": form,
            "errors": errors,
            "places": await buying.places_for(session, actor=actor),
            "min_radius_m": _min_radius(request),
            "preview": await _preview(session, form["place_id"], min(max(radius, 50), 20_000)),
        },
        status=422 if errors else 200,
    )


@router.post("/campaigns/{campaign_id}/status")
async def change_status(
    request: Request,
    campaign_id: IdPath,
    session: SessionDep,
    status: Annotated[str, Form(pattern="^(active|paused)$")],
    csrf: Annotated[str, Form()] = "",
) -> Response:
    actor = await current_actor(request, session)
    if actor is None:
        raise NotFound("No such campaign.")
    check_csrf(request, csrf)
    await reports.campaign_for(session, actor=actor, campaign_id=parse_id(campaign_id))
    await buying.set_status(
        session,
        request.app.state.redis,
        actor=actor,
        campaign_id=parse_id(campaign_id),
        status=status,
    )
    return RedirectResponse(f"/dashboard/campaigns/{campaign_id}", status_code=303)


@router.get("/campaigns/{campaign_id}")
async def campaign_page(
    request: Request,
    campaign_id: IdPath,
    session: SessionDep,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    granularity: Annotated[str, Query(pattern="^(hour|day)$")] = "day",
) -> Response:
    actor = await current_actor(request, session)
    if actor is None:
        return RedirectResponse("/dashboard", status_code=303)
    cid = parse_id(campaign_id)
    params = await report_params(request, start, end, granularity)  # type: ignore[arg-type]
    try:
        report = await reports.build_report(session, actor=actor, campaign_id=cid, params=params)
        campaign = await reports.campaign_for(session, actor=actor, campaign_id=cid)
        cells = await reports.map_cells(
            session, campaign=campaign, start=report.start, end=report.end, params=params
        )
    except TooManyRequests as exc:
        page = render(request, "budget_spent.html", {"actor": actor, "detail": exc.detail}, 429)
        page.headers.update(exc.headers)
        return page
    budget = report.budget
    query = (
        f"from={report.start:%Y-%m-%dT%H:%M:%SZ}&to={report.end:%Y-%m-%dT%H:%M:%SZ}"
        f"&granularity={granularity}"
    )
    return render(
        request,
        "campaign.html",
        {
            "actor": actor,
            "campaign": campaign,
            "report": report,
            "budget": budget,
            "csv_url": f"/v1/campaigns/{cid}/report.csv?{query}",
            "csv_page_url": f"/dashboard/campaigns/{cid}/report.csv?{query}",
            "impressions_chart": charts.series_chart(
                report.series, "impressions", title="Impressions"
            ),
            "reach_chart": charts.series_chart(
                report.series, "reach", title="Reach", colour="#0f766e", width=460
            ),
            "clicks_chart": charts.series_chart(
                report.series, "clicks", title="Clicks", colour="#b45309", width=460
            ),
            "hex_map": charts.hex_map(
                cells, lat=campaign.lat, lon=campaign.lon, radius_m=campaign.target_radius_m
            ),
            "granularity": granularity,
        },
    )


@router.get("/campaigns/{campaign_id}/report.csv")
async def campaign_csv(
    request: Request,
    campaign_id: IdPath,
    session: SessionDep,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    granularity: Annotated[str, Query(pattern="^(hour|day)$")] = "day",
) -> Response:
    """The CSV for a browser signed in with the cookie (the API route wants a bearer token)."""
    actor = await current_actor(request, session)
    if actor is None:
        raise NotFound("No such campaign.")
    params = await report_params(request, start, end, granularity)  # type: ignore[arg-type]
    report = await reports.build_report(
        session, actor=actor, campaign_id=parse_id(campaign_id), params=params
    )
    return csv_response(campaign_id, report)
