"""Attempts to single someone out over HTTP: small groups, asking again, many ranges, twins,
half-hour zones, private check-ins, one clicker. The noise itself is attacked in test_noise.py."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from geo.core.auth import Actor
from geo.reports import service as reports
from geo.reports.rollup import rollup_pending
from tests.reports import factories
from tests.reports.factories import hours_ago

HOUR = timedelta(hours=1)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def _campaign(session, owner: dict) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    place = await factories.make_place(session, owner_id=int(owner["id"]))
    return await factories.make_campaign(session, owner_id=int(owner["id"]), place_id=place), place


async def _report(client, owner, campaign, start, end, granularity="hour"):  # type: ignore[no-untyped-def]
    response = await client.get(
        f"/v1/campaigns/{campaign}/report",
        headers=owner["headers"],
        params={"from": _iso(start), "to": _iso(end), "granularity": granularity},
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_few_accounts_are_withheld_everywhere(client, session, advertiser):
    campaign, place = await _campaign(session, advertiser)
    viewers = await factories.make_accounts(session, 5, prefix="few")
    hour = hours_ago(5)
    await factories.add_impressions(
        session,
        campaign_id=campaign,
        rows=[(v, hour + timedelta(minutes=3), 50.0) for v in viewers],
    )
    await factories.add_checkins(
        session, place_id=place, rows=[(v, hour + timedelta(minutes=30)) for v in viewers]
    )
    await rollup_pending(session, limit=10_000)
    report = await _report(client, advertiser, campaign, hour, hour + HOUR)
    for name in ("impressions", "reach", "clicks", "spend", "visits", "visitors", "visit_rate"):
        assert report[name] is None, name
    assert report["suppressed"] is True
    assert "reach" in report["withheld"]
    assert all(p["suppressed"] and p["impressions"] is None for p in report["series"])
    assert all(b["suppressed"] and b["reach"] is None for b in report["by_distance"])
    assert report["lift"]["verdict"] == "too_small"
    csv = (
        await client.get(
            f"/v1/campaigns/{campaign}/report.csv",
            headers=advertiser["headers"],
            params={"from": _iso(hour), "to": _iso(hour + HOUR), "granularity": "hour"},
        )
    ).text
    row = csv.strip().split("\n")[1].split(",")
    assert row[2:9] == [""] * 7
    assert row[9] == "true"


async def _crowd(session, campaign, n, at, prefix):  # type: ignore[no-untyped-def]
    viewers = await factories.make_accounts(session, n, prefix=prefix)
    await factories.add_impressions(
        session, campaign_id=campaign, rows=[(v, at, 50.0) for v in viewers]
    )
    return viewers


async def test_figures_are_noised_and_asking_again_returns_the_same(client, session, advertiser):
    campaign, _ = await _campaign(session, advertiser)
    a = hours_ago(10)
    for h in range(6):
        await _crowd(session, campaign, 60 + 7 * h, a + h * HOUR + timedelta(minutes=5), f"n{h}x")
    await rollup_pending(session, limit=10_000)
    first = await _report(client, advertiser, campaign, a, a + 6 * HOUR)
    truth = [60 + 7 * h for h in range(6)]
    reach = [p["reach"] for p in first["series"]]
    assert None not in reach
    assert reach != truth, "every count carries noise"
    assert max(abs(r - t) for r, t in zip(reach, truth, strict=True)) < 25
    spent = await session.scalar(text("SELECT count(*) FROM report_access"))
    for _ in range(5):
        again = await _report(client, advertiser, campaign, a, a + 6 * HOUR)
        assert again == first, "the same figures, the same noise: nothing to average"
    assert await session.scalar(text("SELECT count(*) FROM report_access")) == spent, "and free"


async def test_the_data_access_budget_stops_many_ranges_and_covers_twin_campaigns(
    app, client, session, advertiser
):
    app.state.settings = app.state.settings.model_copy(update={"report_epsilon_per_day": 40.0})
    campaign, place = await _campaign(session, advertiser)
    twin = await factories.make_campaign(
        session, owner_id=int(advertiser["id"]), place_id=place, name="Twin"
    )
    a = hours_ago(30)
    for h in range(24):
        for target in (campaign, twin):  # the twin is the same campaign again
            at = a + h * HOUR + timedelta(minutes=1)
            await _crowd(session, target, 30, at, f"b{h}x{target % 1000}x")
    await rollup_pending(session, limit=10_000)
    answered, refused, refused_params = 0, None, {}
    for end in range(1, 25):  # [a, a+1h), [a, a+2h), ...: each a new set of figures
        params = {"from": _iso(a), "to": _iso(a + end * HOUR), "granularity": "day"}
        response = await client.get(
            f"/v1/campaigns/{campaign}/report", headers=advertiser["headers"], params=params
        )
        if response.status_code == 429:
            refused, refused_params = response, params
            break
        assert response.status_code == 200, response.text
        answered += 1
    assert refused is not None, "the budget ran out"
    assert answered >= 1
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.headers["content-type"] == "application/problem+json"
    # What was answered before is still answered (its noise, and so its value, is fixed)...
    await _report(client, advertiser, campaign, a, a + HOUR, granularity="day")
    # ...but the twin draws on the same owner's budget: the refused question, asked of the
    # twin (same data, so same cost, well under a fresh 40), is refused too.
    twin_report = await client.get(
        f"/v1/campaigns/{twin}/report", headers=advertiser["headers"], params=refused_params
    )
    assert twin_report.status_code == 429


async def test_days_in_half_and_quarter_hour_zones_are_whole_utc_hours(client, session, advertiser):
    """A day bucket used to be labelled 18:30-18:30 UTC while counting 18:00-18:00, so a day
    and an hour range that neither contained the other differenced to one hour's accounts.
    Now a day says exactly which hours it counts, and asking for those hours is the same
    figure, with the same noise."""
    for zone in ("Asia/Kolkata", "Asia/Kathmandu"):
        campaign, _ = await _campaign(session, advertiser)
        await session.execute(
            text("UPDATE campaigns SET timezone = :z WHERE id = :c"), {"z": zone, "c": campaign}
        )
        a = hours_ago(40)
        for h in range(36):
            await _crowd(
                session, campaign, 25, a + h * HOUR + timedelta(minutes=1), f"z{zone[5:9]}{h}x"
            )
        await rollup_pending(session, limit=10_000)
        days = await _report(client, advertiser, campaign, a, a + 36 * HOUR, granularity="day")
        assert days["timezone"] == zone
        for point in days["series"]:
            start = datetime.fromisoformat(point["start"].replace("Z", "+00:00"))
            end = datetime.fromisoformat(point["end"].replace("Z", "+00:00"))
            assert (start.minute, end.minute) == (0, 0), point
            hours = await _report(client, advertiser, campaign, start, end, granularity="hour")
            assert hours["reach"] == point["reach"], (zone, point["start"])


async def test_only_public_exact_check_ins_count(client, session, advertiser, small_k):
    campaign, place = await _campaign(session, advertiser)
    a = hours_ago(10)
    viewers = await _crowd(session, campaign, 30, a + timedelta(minutes=1), "pub")
    later = a + 2 * HOUR
    await factories.add_checkins(session, place_id=place, rows=[(v, later) for v in viewers[:10]])
    await factories.add_checkins(
        session, place_id=place, rows=[(v, later) for v in viewers[10:20]], public=False
    )
    await factories.add_checkins(
        session,
        place_id=place,
        rows=[(v, later) for v in viewers[20:]],
        public=True,
        precision="area",
    )
    await rollup_pending(session, limit=10_000)
    report = await _report(client, advertiser, campaign, a, a + 4 * HOUR)
    assert (report["visits"], report["visitors"], report["converters"]) == (10, 10, 10)


async def test_one_clicker_never_shows_clicks(client, session, advertiser):
    campaign, _ = await _campaign(session, advertiser)
    a = hours_ago(6)
    viewers = await factories.make_accounts(session, 40, prefix="clk")
    rows = [(v, a + timedelta(minutes=1), 50.0) for v in viewers] + [
        (viewers[0], a + timedelta(minutes=m), 50.0) for m in (10, 20)
    ]
    ids = await factories.add_impressions(session, campaign_id=campaign, rows=rows)
    for impression, (viewer, served, _) in zip(ids, rows, strict=True):
        if viewer == viewers[0]:
            await factories.add_click(
                session,
                impression_id=impression,
                campaign_id=campaign,
                viewer_id=viewer,
                clicked_at=served + timedelta(minutes=1),
            )
    await rollup_pending(session, limit=10_000)
    report = await _report(client, advertiser, campaign, a, a + HOUR)
    assert report["impressions"] is not None
    assert report["clicks"] is None
    assert report["ctr"] is None
    assert "clicks" in report["withheld"]


async def test_the_map_has_the_same_floor(app, session, advertiser):
    campaign, _ = await _campaign(session, advertiser)
    a = hours_ago(6)
    await _crowd(session, campaign, 4, a + timedelta(minutes=1), "mapfew")
    await _crowd(session, campaign, 60, a + HOUR + timedelta(minutes=1), "mapmany")
    await rollup_pending(session, limit=10_000)
    actor = Actor(int(advertiser["id"]), advertiser["handle"], "business")
    row = await reports.campaign_for(session, actor=actor, campaign_id=campaign)
    settings = app.state.settings
    params = reports.ReportParams(
        start=None,
        end=None,
        granularity="hour",
        k=settings.report_k,
        attribution_days=7,
        secret=settings.secret_key,
        epsilon=settings.report_epsilon,
        epsilon_per_day=settings.report_epsilon_per_day,
    )
    few = await reports.map_cells(session, campaign=row, start=a, end=a + HOUR, params=params)
    many = await reports.map_cells(
        session, campaign=row, start=a + HOUR, end=a + 2 * HOUR, params=params
    )
    assert few == []
    assert len(many) == 1, "all sixty stood in one hexagon"


async def test_ranges_snap_to_finished_hours(client, session, advertiser, time_machine):
    # The clock stands mid-hour: an hour ending between this line and the request cannot move
    # the report's end (time-machine).
    now = datetime.now(UTC).replace(minute=30, second=0, microsecond=0)
    time_machine.move_to(now, tick=False)
    campaign, _ = await _campaign(session, advertiser)
    start = now - timedelta(hours=3, minutes=17)
    report = await _report(client, advertiser, campaign, start, now + timedelta(hours=5))
    assert report["start"] == _iso(start.replace(minute=0, second=0, microsecond=0))
    assert report["end"] == _iso(now.replace(minute=0, second=0, microsecond=0))


async def test_bad_ranges_are_422(client, session, advertiser):
    campaign, _ = await _campaign(session, advertiser)
    url = f"/v1/campaigns/{campaign}/report"
    now = datetime.now(UTC)
    cases = [
        {"from": _iso(now), "to": _iso(now - timedelta(days=1))},
        {"from": _iso(now - timedelta(days=40)), "to": _iso(now), "granularity": "hour"},
        {"from": "0001-01-01T00:00:00Z"},
        {"granularity": "week"},
        {"to": "yesterday"},
    ]
    for params in cases:
        response = await client.get(url, headers=advertiser["headers"], params=params)
        assert response.status_code == 422, (params, response.text)
        assert response.headers["content-type"] == "application/problem+json"
