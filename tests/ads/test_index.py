"""The in-process index agrees with PostGIS (ST_Covers over the GiST-indexed targets)."""

import random

from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker

from geo.ads.index import CampaignIndex
from geo.ads.repository import ServingRepository
from geo.core.db import Database
from geo.core.geodesy import haversine_m_many as haversine_m

CENTRE = (35.68, 139.77)


async def _seed(session) -> dict[int, tuple[float, float, int | None]]:  # type: ignore[no-untyped-def]
    owner = (
        await session.execute(
            text("""INSERT INTO accounts (handle, password_hash, kind)
        VALUES ('index-owner', 'x', 'business') RETURNING id""")
        )
    ).scalar_one()
    rng = random.Random(5)
    made = {}
    for k in range(40):
        lat = CENTRE[0] + rng.uniform(-0.03, 0.03)
        lon = CENTRE[1] + rng.uniform(-0.03, 0.03)
        radius = rng.choice([None, 150, 600, 1500, 3000])
        place = (
            await session.execute(
                text("""INSERT INTO places (name, name_norm, category,
            position, owner_id) VALUES (:n, :n, 'coffee-shop',
            ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography, :o) RETURNING id"""),
                {"n": f"index place {k}", "lat": lat, "lon": lon, "o": owner},
            )
        ).scalar_one()
        # A square of about 1.8 km x 2.2 km for area targets.
        target = (
            "ST_Buffer(p.position, CAST(:r AS integer)::float8, 32)"
            if radius
            else "ST_Expand(p.position::geometry, 0.01)::geography"
        )
        area = "NULL" if radius else "ST_Expand(p.position::geometry, 0.01)::geography"
        made[
            (
                await session.execute(
                    text(f"""INSERT INTO campaigns (owner_id, place_id, name,
            headline, body, target_radius_m, target_area, target, bid_cpm, budget_total,
            budget_daily, starts_at, ends_at, cap_count, cap_hours)
            SELECT :o, p.id, 'n', 'h', 'b', CAST(:r AS integer), {area}, {target}, 100, 10, 10,
                   now() - interval '1 hour', now() + interval '1 day', 3, 24
            FROM places p WHERE p.id = :p RETURNING id"""),
                    {"o": owner, "p": place, "r": radius},
                )
            ).scalar_one()
        ] = (lat, lon, radius)
    return made


def _near_an_edge(lat: float, lon: float, made: dict) -> bool:
    import numpy as np

    for c_lat, c_lon, radius in made.values():
        if radius is not None:
            d = float(haversine_m(lat, lon, np.array([c_lat]), np.array([c_lon]))[0])
            if abs(d - radius) < 0.005 * radius + 2:  # spheroid vs sphere, 128-gon vs circle
                return True
        elif min(abs(abs(lat - c_lat) - 0.01), abs(abs(lon - c_lon) - 0.01)) < 0.0002:
            return True
    return False


async def test_strtree_matches_postgis_cover_and_postgis_uses_gist(engine, db_connection, session):
    made = await _seed(session)
    await session.flush()
    index = CampaignIndex(refresh_s=0)
    maker = async_sessionmaker(
        bind=db_connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    await index.refresh(Database(engine, maker))
    assert set(index.campaigns) == set(made)
    repo = ServingRepository(session)
    rng, compared, covered = random.Random(9), 0, 0
    while compared < 300:
        lat = CENTRE[0] + rng.uniform(-0.06, 0.06)
        lon = CENTRE[1] + rng.uniform(-0.06, 0.06)
        if _near_an_edge(lat, lon, made):
            continue
        mine = {c.id for c, _ in index.covering(lat, lon)}
        assert mine == await repo.covering_ids(lat, lon), (lat, lon)
        compared += 1
        covered += bool(mine)
    assert covered > 50, "the sample must actually hit targets"
    await session.execute(text("SET LOCAL enable_seqscan = off"))
    plan = "\n".join(
        r[0]
        for r in (
            await session.execute(
                text("""EXPLAIN SELECT id
        FROM campaigns c WHERE ST_Covers(c.target,
        ST_SetSRID(ST_MakePoint(139.77, 35.68), 4326)::geography)""")
            )
        ).all()
    )
    assert "ix_campaigns_target" in plan, plan
