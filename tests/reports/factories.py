"""Keyword-only factories writing campaigns and ledger rows as the ads domain writes them
(geo/ads/models.py for the tables, geo/ads/worker.py for the ledger writer).

Reports read the ledger, so tests write it directly (as the ads batch writer would) and compare
each reported figure with counts computed from these raw rows.
"""

import random
from datetime import UTC, datetime, timedelta
from itertools import count

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from geo.core.ids import EPOCH_MS
from geo.reports.rollup import rollup_pending
from tests.reports.truth import random_ledger

_sequence = count(1)


def ledger_id(at: datetime) -> int:
    """A ledger id as the ad worker writes them: a snowflake of the event's time (the ledgers
    are partitioned, and their report reads pruned, by it)."""
    ms = int(at.timestamp() * 1000) - EPOCH_MS
    return (ms << 22) | (next(_sequence) & 0x3FFFFF)


PLACE = (35.6812, 139.7671)  # Tokyo station


def hours_ago(n: int, now: datetime | None = None) -> datetime:
    now = now or datetime.now(UTC)
    return now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=n)


async def make_accounts(session: AsyncSession, n: int, *, prefix: str) -> list[int]:
    rows = await session.execute(
        text("""
        INSERT INTO accounts (handle, password_hash, kind)
        SELECT :p || g, 'x', 'member' FROM generate_series(1, :n) g RETURNING id"""),
        {"p": prefix, "n": n},
    )
    return sorted(int(r[0]) for r in rows)


async def make_place(
    session: AsyncSession,
    *,
    owner_id: int | None,
    name: str = "Kissa Test",
    lat: float = PLACE[0],
    lon: float = PLACE[1],
) -> int:
    return int(
        await session.scalar(
            text("""
        INSERT INTO places (name, name_norm, category, position, owner_id)
        VALUES (:n, lower(:n), 'coffee-shop', ST_MakePoint(:lon, :lat)::geography, :o)
        RETURNING id"""),
            {"n": name, "lat": lat, "lon": lon, "o": owner_id},
        )
    )


async def make_campaign(
    session: AsyncSession,
    *,
    owner_id: int,
    place_id: int,
    starts_at: datetime | None = None,
    name: str = "Autumn blend",
    status: str = "active",
) -> int:
    starts_at = starts_at or hours_ago(24 * 20)
    return int(
        await session.scalar(
            text("""
        INSERT INTO campaigns (owner_id, place_id, name, headline, body, target_radius_m, target,
                               bid_cpm, budget_total, budget_daily, starts_at, ends_at,
                               cap_count, cap_hours, status)
        SELECT :o, :p, :name, 'New autumn blend', 'Come taste it', 800,
               ST_Buffer(position, 800), 300, 100000, 10000, CAST(:s AS timestamptz),
               CAST(:s AS timestamptz) + interval '60 days', 3, 24,
               :status
        FROM places WHERE id = :p RETURNING id"""),
            {"o": owner_id, "p": place_id, "name": name, "s": starts_at, "status": status},
        )
    )


async def add_impressions(
    session: AsyncSession,
    *,
    campaign_id: int,
    rows: list[tuple[int, datetime, float]],
    cost_milli_yen: int = 300,
    lat: float = PLACE[0],
    lon: float = PLACE[1],
) -> list[int]:
    """rows: (viewer_id, served_at, distance_m); returns the impression ids."""
    ids = [ledger_id(r[1]) for r in rows]
    await session.execute(
        text("""
        INSERT INTO ad_impressions (id, campaign_id, viewer_id, served_at, position, distance_m,
                                    cost_milli_yen)
        SELECT i, :c, v, s, ST_MakePoint(:lon + d / 91000.0, :lat)::geography, d, :cost
        FROM unnest(CAST(:i AS bigint[]), CAST(:v AS bigint[]), CAST(:s AS timestamptz[]),
                    CAST(:d AS real[])) AS r(i, v, s, d)"""),
        {
            "c": campaign_id,
            "i": ids,
            "v": [r[0] for r in rows],
            "s": [r[1] for r in rows],
            "d": [r[2] for r in rows],
            "cost": cost_milli_yen,
            "lat": lat,
            "lon": lon,
        },
    )
    return ids


async def add_click(
    session: AsyncSession,
    *,
    impression_id: int,
    campaign_id: int,
    viewer_id: int,
    clicked_at: datetime,
) -> None:
    await session.execute(
        text("""
        INSERT INTO ad_clicks (impression_id, campaign_id, viewer_id, clicked_at)
        VALUES (:i, :c, :v, :t)"""),
        {"i": impression_id, "c": campaign_id, "v": viewer_id, "t": clicked_at},
    )


async def add_holdouts(
    session: AsyncSession, *, campaign_id: int, rows: list[tuple[int, datetime, float]]
) -> None:
    await session.execute(
        text("""
        INSERT INTO ad_holdouts (id, campaign_id, viewer_id, logged_at, position, distance_m)
        SELECT i, :c, v, s, ST_MakePoint(139.7671, 35.6812)::geography, d
        FROM unnest(CAST(:i AS bigint[]), CAST(:v AS bigint[]), CAST(:s AS timestamptz[]),
                    CAST(:d AS real[])) AS r(i, v, s, d)"""),
        {
            "c": campaign_id,
            "i": [ledger_id(r[1]) for r in rows],
            "v": [r[0] for r in rows],
            "s": [r[1] for r in rows],
            "d": [r[2] for r in rows],
        },
    )


async def add_checkins(
    session: AsyncSession,
    *,
    place_id: int,
    rows: list[tuple[int, datetime]],
    public: bool = True,
    precision: str = "exact",
) -> None:
    """rows: (author_id, created_at) at the place; public at `exact` precision unless told."""
    await session.execute(
        text("""
        INSERT INTO checkins (author_id, place_id, position, accuracy_m, created_at, public,
                              public_precision)
        SELECT a, :p, (SELECT position FROM places WHERE id = :p), 10, t, :pub, :prec
        FROM unnest(CAST(:a AS bigint[]), CAST(:t AS timestamptz[])) AS r(a, t)"""),
        {
            "p": place_id,
            "a": [r[0] for r in rows],
            "t": [r[1] for r in rows],
            "pub": public,
            "prec": precision,
        },
    )


async def seed_ledger(
    session, *, owner_id: int, base, seed: int = 7, hours: int = 6, n_viewers: int = 60
):  # type: ignore[no-untyped-def]
    """A campaign with a random but deterministic ledger; returns (campaign, place, ledger)."""
    place = await make_place(session, owner_id=owner_id)
    campaign = await make_campaign(session, owner_id=owner_id, place_id=place)
    accounts = await make_accounts(session, n_viewers + 60, prefix=f"v{seed}x")
    viewers, held, others = (
        accounts[:n_viewers],
        accounts[n_viewers : n_viewers + 40],
        accounts[n_viewers + 40 :],
    )
    ledger = random_ledger(
        random.Random(seed), base=base, hours=hours, viewers=viewers, held=held, others=others
    )
    ids = await add_impressions(
        session, campaign_id=campaign, rows=[(v, s, d) for _, v, s, d in ledger.impressions]
    )
    rename = dict(zip((i for i, *_ in ledger.impressions), ids, strict=True))
    ledger.impressions = [(rename[i], v, s, d) for i, v, s, d in ledger.impressions]
    ledger.clicks = {rename[i] for i in ledger.clicks}
    for imp_id, viewer, served, _ in ledger.impressions:
        if imp_id in ledger.clicks:
            await add_click(
                session,
                impression_id=imp_id,
                campaign_id=campaign,
                viewer_id=viewer,
                clicked_at=served,
            )
    await add_holdouts(
        session, campaign_id=campaign, rows=[(v, t, 100.0) for v, t in ledger.holdouts]
    )
    await add_checkins(session, place_id=place, rows=ledger.checkins)
    await rollup_pending(session, limit=10_000)
    return campaign, place, ledger
