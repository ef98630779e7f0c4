"""Daily partitions of the ad ledgers and the outbox: made ahead, dropped only under each domain's
rule, and exact viewer positions reduced to area cells after a week (real PostgreSQL; everything
happens inside the test's rolled-back transaction, DDL included)."""

from datetime import UTC, datetime, timedelta

import h3
from sqlalchemy import text

from geo import maintenance
from geo.ads import retention as ads_retention
from geo.checkins.service import AREA_RESOLUTION
from geo.core import partitions
from geo.core.db import create_database
from geo.core.ids import id_floor_for
from geo.outbox import retention as outbox_retention

# Far enough ahead that the history partition (everything before the migration's tomorrow)
# never covers these days.
FUTURE = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=400)
SHIBUYA = (35.6595, 139.7005)


async def _impression(conn, at: datetime, *, lat: float, lon: float, n: int = 0) -> int:  # type: ignore[no-untyped-def]
    impression_id = id_floor_for(at) + n
    await conn.execute(
        text("""INSERT INTO ad_impressions (id, campaign_id, viewer_id, served_at, position,
                                            distance_m, cost_milli_yen)
                VALUES (:id, 1, :n, :at, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography,
                        100, 10)"""),
        {"id": impression_id, "n": n, "at": at, "lat": lat, "lon": lon},
    )
    return impression_id


async def _where(conn, impression_id: int) -> tuple[str, float, float]:  # type: ignore[no-untyped-def]
    row = await conn.execute(
        text("""SELECT tableoid::regclass::text, ST_Y(position::geometry), ST_X(position::geometry)
                FROM ad_impressions WHERE id = :id"""),
        {"id": impression_id},
    )
    return row.one()


async def test_ledgers_and_the_outbox_are_partitioned_by_id(db_connection):
    rows = await db_connection.execute(
        text("""SELECT c.relname, a.attname FROM pg_partitioned_table p
                JOIN pg_class c ON c.oid = p.partrelid
                JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]""")
    )
    assert dict(rows.all()) == {
        "ad_impressions": "id",
        "ad_holdouts": "id",
        "ad_clicks": "impression_id",
        "outbox": "id",
    }


async def test_days_are_made_ahead_once_and_take_over_rows_from_the_default(db_connection):
    conn = db_connection
    later = await _impression(conn, FUTURE + timedelta(days=5, hours=3), lat=35.0, lon=139.0)
    assert (await _where(conn, later))[0] == "ad_impressions_default"

    made = await partitions.ensure_days(conn, "ad_impressions", today=FUTURE.date(), ahead=5)
    assert made == [partitions.day_name("ad_impressions", (FUTURE + timedelta(days=d)).date())
                    for d in range(6)]  # fmt: skip
    assert await partitions.ensure_days(conn, "ad_impressions", today=FUTURE.date(), ahead=5) == []
    assert (await _where(conn, later))[0] == made[5]
    # A new row of a made day goes straight to it.
    first = await _impression(conn, FUTURE + timedelta(hours=1), lat=35.0, lon=139.0, n=1)
    assert (await _where(conn, first))[0] == made[0]


async def test_a_ledger_day_is_dropped_after_retention_only_once_its_rollups_are_final(
    db_connection,
):
    conn = db_connection
    await partitions.ensure_days(conn, "ad_impressions", today=FUTURE.date(), ahead=1)
    await _impression(conn, FUTURE + timedelta(hours=2), lat=35.0, lon=139.0)
    day0 = partitions.day_name("ad_impressions", FUTURE.date())
    day1 = partitions.day_name("ad_impressions", (FUTURE + timedelta(days=1)).date())
    # 90 days after the end of day 0 but not of day 1; the insert queued its hour for the rollup.
    now = FUTURE + timedelta(days=91, hours=12)
    dropped = await ads_retention.drop_expired(conn, now=now, keep_days=90)
    assert day0 not in dropped, "a day whose rollup is not final was dropped"
    await conn.execute(text("DELETE FROM report_dirty"))  # the rollup caught up
    dropped = await ads_retention.drop_expired(conn, now=now, keep_days=90)
    assert day0 in dropped
    assert day1 not in dropped, "a day inside the retention period was dropped"
    names = [p.name for p in await partitions.partitions(conn, "ad_impressions")]
    assert day0 not in names
    assert day1 in names


async def test_an_outbox_day_with_an_unrelayed_row_is_kept(db_connection):
    conn = db_connection
    await partitions.ensure_days(conn, "outbox", today=FUTURE.date(), ahead=0)
    day0 = partitions.day_name("outbox", FUTURE.date())
    await conn.execute(
        text("INSERT INTO outbox (id, topic, payload) VALUES (:id, 't', '{}')"),
        {"id": id_floor_for(FUTURE + timedelta(hours=1))},
    )
    now = FUTURE + timedelta(days=30)
    assert day0 not in await outbox_retention.drop_expired(conn, now=now, keep_days=7)
    await conn.execute(text("UPDATE outbox SET sent_at = now()"))
    assert day0 in await outbox_retention.drop_expired(conn, now=now, keep_days=7)


async def test_exact_viewer_positions_become_area_cells_after_a_week(db_connection):
    conn = db_connection
    await partitions.ensure_days(conn, "ad_impressions", today=FUTURE.date(), ahead=10)
    old = await _impression(conn, FUTURE + timedelta(hours=5), lat=SHIBUYA[0], lon=SHIBUYA[1])
    recent = await _impression(
        conn, FUTURE + timedelta(days=9), lat=SHIBUYA[0], lon=SHIBUYA[1], n=1
    )
    now = FUTURE + timedelta(days=9, hours=6)
    assert await ads_retention.coarsen_positions(conn, now=now, exact_days=7) == 1
    _, lat, lon = await _where(conn, old)
    centre = h3.cell_to_latlng(h3.latlng_to_cell(*SHIBUYA, AREA_RESOLUTION))
    assert (round(lat, 9), round(lon, 9)) == (round(centre[0], 9), round(centre[1], 9))
    assert (lat, lon) != SHIBUYA
    _, lat, lon = await _where(conn, recent)
    assert (round(lat, 9), round(lon, 9)) == SHIBUYA, "a recent position was coarsened"
    # Once per day: the next pass finds nothing left to do.
    assert await ads_retention.coarsen_positions(conn, now=now, exact_days=7) == 0


async def test_a_maintenance_pass_says_what_it_did_and_the_next_finds_nothing_to_do(
    commit_database, settings
):
    # Its own transaction, committed: on the commit database, where days made ahead may stay.
    db = create_database(settings.model_copy(update={"database_url": commit_database}))
    try:
        first = await maintenance.run_once(db, settings)
        again = await maintenance.run_once(db, settings)
        async with db.engine.connect() as conn:
            made = await conn.scalar(
                text("SELECT count(*) FROM pg_class WHERE relname = ANY(:names)"),
                {"names": first.made},
            )
    finally:
        await db.engine.dispose()
    assert made == len(first.made)
    assert again == maintenance.Upkeep(made=[], dropped=[], coarsened=0)
    assert not again
