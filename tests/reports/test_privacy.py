"""Attempts to single someone out: small cells, subtracting ranges, the running hour."""

from datetime import UTC, datetime, timedelta

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


async def test_nineteen_accounts_are_withheld_everywhere(client, session, advertiser):
    campaign, place = await _campaign(session, advertiser)
    viewers = await factories.make_accounts(session, 19, prefix="few")
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


async def test_twenty_accounts_are_shown(client, session, advertiser):
    campaign, _ = await _campaign(session, advertiser)
    viewers = await factories.make_accounts(session, 20, prefix="twenty")
    hour = hours_ago(5)
    await factories.add_impressions(
        session,
        campaign_id=campaign,
        rows=[(v, hour + timedelta(minutes=3), 50.0) for v in viewers],
    )
    await rollup_pending(session, limit=10_000)
    report = await _report(client, advertiser, campaign, hour, hour + HOUR)
    assert (report["impressions"], report["reach"]) == (20, 20)
    assert report["series"][0]["reach"] == 20


async def test_a_small_hour_never_enters_a_sum(client, session, advertiser):
    """[A, A+1h) and [A, A+2h) differ by one person's hour: the sums must not tell."""
    campaign, _ = await _campaign(session, advertiser)
    crowd = await factories.make_accounts(session, 25, prefix="crowd")
    loner = (await factories.make_accounts(session, 1, prefix="loner"))[0]
    a = hours_ago(8)
    await factories.add_impressions(
        session, campaign_id=campaign, rows=[(v, a + timedelta(minutes=1), 50.0) for v in crowd]
    )
    await factories.add_impressions(
        session, campaign_id=campaign, rows=[(loner, a + HOUR + timedelta(minutes=5), 50.0)] * 3
    )
    await rollup_pending(session, limit=10_000)
    one = await _report(client, advertiser, campaign, a, a + HOUR)
    two = await _report(client, advertiser, campaign, a, a + 2 * HOUR)
    for name in ("impressions", "reach", "clicks", "spend_milli_yen"):
        assert one[name] == two[name], name
    assert two["series"][1]["suppressed"] is True


async def test_subtracting_nested_ranges_cannot_isolate_one_person(client, session, advertiser):
    """Hour B has 20 accounts (shown) but only one new since hour A: reach must not grow by one."""
    campaign, _ = await _campaign(session, advertiser)
    crowd = await factories.make_accounts(session, 25, prefix="nest")
    newcomer = (await factories.make_accounts(session, 1, prefix="newcomer"))[0]
    a = hours_ago(8)
    await factories.add_impressions(
        session, campaign_id=campaign, rows=[(v, a + timedelta(minutes=1), 50.0) for v in crowd]
    )
    await factories.add_impressions(
        session,
        campaign_id=campaign,
        rows=[(v, a + HOUR + timedelta(minutes=2), 50.0) for v in [*crowd[:19], newcomer]],
    )
    await rollup_pending(session, limit=10_000)
    first = await _report(client, advertiser, campaign, a, a + HOUR)
    assert first["reach"] == 25
    second = await _report(client, advertiser, campaign, a, a + 2 * HOUR, granularity="day")
    assert second["reach"] is None
    assert "reach" in second["withheld"]
    # Asked the other way round (wide first), the narrow one is withheld instead.
    campaign2, _ = await _campaign(session, advertiser)
    await factories.add_impressions(
        session, campaign_id=campaign2, rows=[(v, a + timedelta(minutes=1), 50.0) for v in crowd]
    )
    await factories.add_impressions(
        session,
        campaign_id=campaign2,
        rows=[(v, a + HOUR + timedelta(minutes=2), 50.0) for v in [*crowd[:19], newcomer]],
    )
    await rollup_pending(session, limit=10_000)
    wide = await _report(client, advertiser, campaign2, a, a + 2 * HOUR, granularity="day")
    narrow = await _report(client, advertiser, campaign2, a, a + HOUR, granularity="day")
    assert wide["reach"] == 26
    assert narrow["reach"] is None
    # Within one answer too: the series point of hour A (25) nests in the total (26).
    third = await _report(client, advertiser, campaign2, a, a + 2 * HOUR)
    assert third["reach"] == 26
    assert third["series"][0]["reach"] is None


async def test_ranges_snap_to_finished_hours(client, session, advertiser):
    campaign, _ = await _campaign(session, advertiser)
    now = datetime.now(UTC)
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


async def test_a_band_cannot_be_subtracted_from_the_total(client, session, advertiser):
    """25 near and 1 far: total 26 and near band 25 would single out the far one."""
    campaign, _ = await _campaign(session, advertiser)
    near = await factories.make_accounts(session, 25, prefix="near")
    a = hours_ago(8)
    await factories.add_impressions(
        session, campaign_id=campaign, rows=[(v, a + timedelta(minutes=1), 50.0) for v in near]
    )
    # The far one shares an hour and band with 19 others, so that cell is shown.
    await factories.add_impressions(
        session,
        campaign_id=campaign,
        rows=[(v, a + timedelta(minutes=9), 700.0) for v in [*near[:19], near[0] + 10**12]],
    )
    await rollup_pending(session, limit=10_000)
    report = await _report(client, advertiser, campaign, a, a + HOUR)
    bands = {b["band"]: b for b in report["by_distance"]}
    assert report["reach"] == 26
    assert bands[0]["reach"] is None
    assert bands[0]["impressions"] == 25
    # Band 2's complement (6 accounts seen only near) is under k too; its sums stay.
    assert bands[2]["reach"] is None
    assert bands[2]["impressions"] == 20
