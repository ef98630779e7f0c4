"""Live alerts on declaration, ads standing down inside (and only inside) an area, the page."""

import asyncio
import re

import pytest

from geo.checkins import presence
from geo.core.auth import Actor
from geo.fanout.live import home_events
from geo.fanout.worker import drain
from tests.ads.factories import business_with_place, create_campaign
from tests.checkins.factories import post_checkin, tower_place
from tests.conftest import make_account
from tests.emergencies.factories import AROUND_TOWER, TOKYO_TOWER, declare, make_operator, report

LAT, LON = TOKYO_TOWER


@pytest.fixture(autouse=True)
def ads_for_fresh_walkers(app, fresh_ads_index):  # type: ignore[no-untyped-def]
    """The viewers here are minutes old and step in and out of the area at once: the
    invalid-traffic rules (age, speed) would refuse them, and they are not what is tested."""
    app.state.settings = app.state.settings.model_copy(update={"ads_max_speed_kmh": 1e9})


async def test_an_open_stream_last_seen_inside_gets_the_alert(app, client, session, redis):
    viewer = await make_account(client)
    place = await tower_place(client, viewer["headers"])
    assert (await post_checkin(client, viewer, place)).status_code == 201
    await drain(app.state.db, redis)
    actor = Actor(id=int(viewer["id"]), handle=viewer["handle"], kind="member")
    stream = home_events(app.state.db, redis, actor, max_seconds=5, max_events=1)
    assert await anext(stream) == b": connected\n\n"
    operator = await make_operator(session)
    emergency = await declare(client, operator)
    await drain(app.state.db, redis)
    event = (await asyncio.wait_for(anext(stream), 5)).decode()
    assert event.startswith(f"id: e{emergency['id']}\nevent: emergency\n")
    assert emergency["name"] in event
    await stream.aclose()


async def test_only_those_whose_last_checkin_is_inside_are_alerted(client, session):
    inside, moved_on, never = [await make_account(client) for _ in range(3)]
    tower = await tower_place(client, inside["headers"])
    away = (
        await client.post(
            "/v1/places",
            json={"name": "Osaka Castle", "category": "arts", "lat": 34.6873, "lon": 135.5262},
            headers=inside["headers"],
        )
    ).json()
    assert (await post_checkin(client, inside, tower)).status_code == 201
    assert (await post_checkin(client, moved_on, tower)).status_code == 201
    await session.execute(  # an old check-in, so the next one is a plausible trip
        __import__("sqlalchemy").text(
            "UPDATE checkins SET created_at = created_at - interval '1 day' WHERE author_id = :a"
        ),
        {"a": int(moved_on["id"])},
    )
    moved = await post_checkin(client, moved_on, away, lat=34.6873, lon=135.5262)
    assert moved.status_code == 201, moved.text
    from datetime import UTC, datetime, timedelta

    alerted = await presence.last_inside(
        session,
        area=__import__("json").dumps(AROUND_TOWER),
        since=datetime.now(UTC) - timedelta(hours=72),
    )
    assert int(inside["id"]) in alerted
    assert int(moved_on["id"]) not in alerted
    assert int(never["id"]) not in alerted


async def _nearby_ads(client, viewer, lat, lon) -> list[dict]:
    response = await client.get(
        "/v1/places/nearby",
        params={"lat": lat, "lon": lon, "radius_m": 300},
        headers=viewer["headers"],
    )
    assert response.status_code == 200, response.text
    return response.json()["ads"]


async def test_ads_stand_down_inside_and_only_inside_and_resume_after(client, session, redis):
    # A café on the area's east edge, targeting 2 km around it: half inside, half outside.
    owner, place = await business_with_place(client, lat=LAT, lon=139.7570)
    campaign = await create_campaign(
        client,
        owner,
        place,
        holdout_share=0,
        target={"radius_m": 2000},
        frequency_cap={"count": 100, "hours": 1},
    )
    viewer = await make_account(client)
    inside, outside = (LAT, 139.7560), (LAT, 139.7600)
    assert [a["campaign_id"] for a in await _nearby_ads(client, viewer, *inside)] == [
        campaign["id"]
    ]
    operator = await make_operator(session)
    emergency = await declare(client, operator)
    assert await _nearby_ads(client, viewer, *inside) == []
    assert [a["campaign_id"] for a in await _nearby_ads(client, viewer, *outside)] == [
        campaign["id"]
    ]
    timeline = await client.get(
        "/v1/timelines/home", params={"lat": inside[0], "lon": inside[1]}, headers=viewer["headers"]
    )
    assert timeline.json()["ads"] == []
    await client.patch(
        f"/v1/emergencies/{emergency['id']}",
        json={"status": "ended"},
        headers=operator["headers"],
    )
    assert [a["campaign_id"] for a in await _nearby_ads(client, viewer, *inside)] == [
        campaign["id"]
    ]


async def test_the_report_shows_the_pause_and_no_emergency_figure(client, session):
    owner, place = await business_with_place(client, lat=LAT, lon=139.7570)
    campaign = await create_campaign(client, owner, place, target={"radius_m": 2000})
    operator = await make_operator(session)
    emergency = await declare(client, operator, name="Secret name 1234")
    report_json = await client.get(
        f"/v1/campaigns/{campaign['id']}/report", headers=owner["headers"]
    )
    assert report_json.status_code == 200, report_json.text
    pauses = report_json.json()["pauses"]
    assert len(pauses) == 1
    assert pauses[0]["reason"] == "emergency"
    assert pauses[0]["to"] is None
    assert "Secret name" not in report_json.text
    assert emergency["id"] not in report_json.text


async def test_the_public_page_shows_the_area_and_floored_counts(app, client, quake):
    await report(client, quake["author"], quake["emergency"], status="need_help")
    page = await client.get(f"/emergencies/{quake['emergency']['id']}")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<svg" in page.text
    assert 'id="area"' in page.text
    assert "<script" not in page.text
    k = app.state.settings.report_k
    assert re.search(rf'data-status="need_help">fewer than {k}<', page.text)
    assert quake["author"]["handle"] not in page.text
    app.state.settings = app.state.settings.model_copy(update={"report_k": 1})
    page = await client.get(f"/emergencies/{quake['emergency']['id']}")
    assert re.search(r'data-status="need_help">1<', page.text)
    assert re.search(r'data-status="safe">0<', page.text) is None  # 0 < k=1 stays withheld
    assert (await client.get("/emergencies/424242")).status_code == 404
