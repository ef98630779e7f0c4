"""The rollup follows the ledger: idempotent, late rows and early clicks land in their hour."""

from datetime import timedelta
from types import SimpleNamespace

from sqlalchemy import text

from geo.reports.repository import ReportRepository
from geo.reports.rollup import rollup_pending
from tests.reports import factories
from tests.reports.factories import hours_ago, seed_ledger


async def _rows(session, campaign):  # type: ignore[no-untyped-def]
    result = await session.execute(
        text("""
        SELECT hour, band, impressions, clicks, spend_milli_yen,
               hll_cardinality(viewers)::int FROM report_hourly
        WHERE campaign_id = :c AND band >= 0 ORDER BY hour, band"""),
        {"c": campaign},
    )
    return [tuple(r) for r in result]


async def _queued(session, campaign):  # type: ignore[no-untyped-def]
    return await session.scalar(
        text("SELECT count(*) FROM report_dirty WHERE campaign_id = :c"), {"c": campaign}
    )


async def test_rollup_is_idempotent_and_follows_late_rows(session, advertiser):
    place = await factories.make_place(session, owner_id=int(advertiser["id"]))
    campaign = await factories.make_campaign(
        session, owner_id=int(advertiser["id"]), place_id=place
    )
    viewers = await factories.make_accounts(session, 5, prefix="late")
    hour = hours_ago(3)
    ids = await factories.add_impressions(
        session,
        campaign_id=campaign,
        rows=[(v, hour + timedelta(minutes=i), 100.0) for i, v in enumerate(viewers)],
    )
    # Other tests' committed ledger rows may be queued too: count only this campaign's.
    assert await _queued(session, campaign) == 1
    await rollup_pending(session, limit=10_000)
    first = await _rows(session, campaign)
    assert first == [(hour, 0, 5, 0, 1500, 5)]
    assert await _queued(session, campaign) == 0
    # Recomputing a clean hour changes nothing.
    await session.execute(
        text("INSERT INTO report_dirty (campaign_id, hour) VALUES (:c, :h)"),
        {"c": campaign, "h": hour},
    )
    await rollup_pending(session, limit=10_000)
    assert await _rows(session, campaign) == first
    # A click before its impression waits; the impression brings it into its served hour.
    await factories.add_click(
        session,
        impression_id=ids[0],
        campaign_id=campaign,
        viewer_id=viewers[0],
        clicked_at=hour + timedelta(hours=2),
    )
    early = factories.ledger_id(hour + timedelta(minutes=40))
    await factories.add_click(
        session,
        impression_id=early,
        campaign_id=campaign,
        viewer_id=viewers[1],
        clicked_at=hour + timedelta(minutes=50),
    )
    await session.execute(
        text("""
        INSERT INTO ad_impressions (id, campaign_id, viewer_id, served_at, position, distance_m,
                                    cost_milli_yen)
        VALUES (:i, :c, :v, :s, ST_MakePoint(139.7, 35.6)::geography, 600, 300)"""),
        {"i": early, "c": campaign, "v": viewers[1], "s": hour + timedelta(minutes=40)},
    )
    await rollup_pending(session, limit=10_000)
    assert await _rows(session, campaign) == [(hour, 0, 5, 1, 1500, 5), (hour, 2, 1, 1, 300, 1)]


async def test_rollup_counts_equal_raw_counts(session, advertiser):
    campaign, _, _ = await seed_ledger(session, owner_id=int(advertiser["id"]), base=hours_ago(30))
    raw = (
        await session.execute(
            text("""
        SELECT count(*), count(DISTINCT viewer_id), sum(cost_milli_yen)
        FROM ad_impressions WHERE campaign_id = :c"""),
            {"c": campaign},
        )
    ).one()
    rolled = (
        await session.execute(
            text("""
        SELECT sum(impressions), hll_cardinality(hll_union_agg(viewers))::bigint,
               sum(spend_milli_yen) FROM report_hourly WHERE campaign_id = :c AND band >= 0"""),
            {"c": campaign},
        )
    ).one()
    assert tuple(rolled) == tuple(raw)
    clicks = await session.scalar(
        text("SELECT count(*) FROM ad_clicks WHERE campaign_id = :c"), {"c": campaign}
    )
    assert (
        await session.scalar(
            text("SELECT sum(clicks) FROM report_hourly WHERE campaign_id = :c AND band = -1"),
            {"c": campaign},
        )
        == clicks
    )


async def test_rollup_counts_rows_whose_id_is_minted_by_a_slack_clock(session, advertiser):
    """An id is minted by the serving process's clock, which may be off from `served_at`: the
    rollup reads the hour's ids with slack, even when the id falls in another (UTC) day."""
    place = await factories.make_place(session, owner_id=int(advertiser["id"]))
    campaign = await factories.make_campaign(
        session, owner_id=int(advertiser["id"]), place_id=place
    )
    viewers = await factories.make_accounts(session, 2, prefix="slack")
    midnight = hours_ago(0).replace(hour=0) - timedelta(days=2)
    hour = midnight - timedelta(hours=1)  # 23:00 UTC, the last hour of its day
    served = [hour + timedelta(minutes=5), hour + timedelta(minutes=30)]
    minted = [served[0] - timedelta(minutes=50), served[1] + timedelta(minutes=50)]
    assert minted[0] < hour  # the hour before
    assert minted[1] >= midnight  # the next day
    await session.execute(
        text("""
        INSERT INTO ad_impressions (id, campaign_id, viewer_id, served_at, position, distance_m,
                                    cost_milli_yen)
        SELECT i, :c, v, s, ST_MakePoint(139.7671, 35.6812)::geography, 100, 300
        FROM unnest(CAST(:i AS bigint[]), CAST(:v AS bigint[]), CAST(:s AS timestamptz[]))
             AS r(i, v, s)"""),
        {"i": [factories.ledger_id(m) for m in minted], "c": campaign, "v": viewers, "s": served},
    )
    await rollup_pending(session, limit=10_000)
    assert await _rows(session, campaign) == [(hour, 0, 2, 0, 600, 2)]


async def test_visits_find_exposures_in_other_day_partitions_and_slack_minted_ids(
    session, advertiser
):
    """Each check-in's probe is bounded to the ids of its own look-back window (`ids_near`):
    an exposure the day before, in another day's partition, whose id a slack clock minted past
    midnight or an hour early, still makes the check-in a visit and its author a converter."""
    place = await factories.make_place(session, owner_id=int(advertiser["id"]))
    campaign = await factories.make_campaign(
        session, owner_id=int(advertiser["id"]), place_id=place
    )
    viewers = await factories.make_accounts(session, 3, prefix="near")
    window = timedelta(days=7)
    midnight = hours_ago(0).replace(hour=0) - timedelta(days=2)
    checked_in = midnight + timedelta(minutes=30)
    served = [
        midnight - timedelta(minutes=10),  # the day before; id minted 50 min late: next day
        checked_in - window + timedelta(hours=1),  # near the window's start; minted 50 min early
        checked_in - window - timedelta(hours=1),  # outside the window: not a visit
    ]
    minted = [served[0] + timedelta(minutes=50), served[1] - timedelta(minutes=50), served[2]]
    await session.execute(
        text("""
        INSERT INTO ad_impressions (id, campaign_id, viewer_id, served_at, position, distance_m,
                                    cost_milli_yen)
        SELECT i, :c, v, s, ST_MakePoint(139.7671, 35.6812)::geography, 100, 300
        FROM unnest(CAST(:i AS bigint[]), CAST(:v AS bigint[]), CAST(:s AS timestamptz[]))
             AS r(i, v, s)"""),
        {"i": [factories.ledger_id(m) for m in minted], "c": campaign, "v": viewers, "s": served},
    )
    await factories.add_checkins(
        session, place_id=place, rows=[(viewer, checked_in) for viewer in viewers]
    )
    row = SimpleNamespace(id=campaign, place_id=place)
    repo = ReportRepository(session)
    start, end = checked_in - window - timedelta(hours=2), checked_in + timedelta(hours=1)
    assert await repo.visits(row, start, end, window, clip=5) == (2, 2)  # type: ignore[arg-type]
    exposed = await repo.converters(row, start, end, window, holdout=False)  # type: ignore[arg-type]
    assert exposed == 2
