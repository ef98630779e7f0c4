"""What PostGIS geography returns, checked against GeographicLib; and that GiST is used."""

from pathlib import Path

import pytest
from geographiclib.geodesic import Geodesic
from sqlalchemy import text

SAMPLE = Path(__file__).resolve().parent.parent / "fixtures" / "geodtest_sample.dat"
DISTANCE_SQL = text("""
    SELECT ST_Distance(ST_SetSRID(ST_MakePoint(:lon1, :lat1), 4326)::geography,
                       ST_SetSRID(ST_MakePoint(:lon2, :lat2), 4326)::geography)""")


def _geodtest_rows() -> list[tuple[float, ...]]:
    # GeographicLib's official test set (every 20th line of GeodTest-short, see shared/data).
    rows = []
    for line in SAMPLE.read_text().splitlines():
        lat1, lon1, _azi1, lat2, lon2, _azi2, s12 = map(float, line.split()[:7])
        rows.append((lat1, lon1, lat2, lon2, s12))
    return rows


async def test_geography_distance_matches_geodtest(session):
    worst = 0.0
    for lat1, lon1, lat2, lon2, s12 in _geodtest_rows():
        if s12 < 1 or s12 > 19_000_000:  # PostGIS is not meant for nearly antipodal points
            continue
        got = (
            await session.execute(
                DISTANCE_SQL, {"lat1": lat1, "lon1": lon1, "lat2": lat2, "lon2": lon2}
            )
        ).scalar_one()
        worst = max(worst, abs(got - s12) / s12)
    assert worst < 0.001


@pytest.mark.parametrize(
    ("lat1", "lon1", "lat2", "lon2"),
    [
        (35.0, 179.999, 35.0, -179.999),  # across the antimeridian
        (-16.5, 179.9, -16.4, -179.9),  # Fiji
        (89.9, 0.0, 89.9, 180.0),  # over the north pole
        (-89.95, 45.0, -89.95, -135.0),  # over the south pole
        (35.6812, 139.7671, 35.6896, 139.7006),  # Tokyo -> Shinjuku
        (0.0, 0.0, 0.0, 0.0001),  # 11 m on the equator
    ],
)
async def test_edge_distances_match_geographiclib(session, lat1, lon1, lat2, lon2):
    expected = Geodesic.WGS84.Inverse(lat1, lon1, lat2, lon2)["s12"]
    got = (
        await session.execute(
            DISTANCE_SQL, {"lat1": lat1, "lon1": lon1, "lat2": lat2, "lon2": lon2}
        )
    ).scalar_one()
    assert abs(got - expected) <= 0.001 * expected


async def test_nearby_across_the_antimeridian(client, member):
    from tests.places.factories import create_place

    await create_place(client, member["headers"], name="East", lat=-16.5, lon=179.999)
    await create_place(client, member["headers"], name="West", lat=-16.5, lon=-179.999)
    response = await client.get(
        "/v1/places/nearby",
        headers=member["headers"],
        params={"lat": -16.5, "lon": 179.9995, "radius_m": 1000},
    )
    names = [p["name"] for p in response.json()["places"]]
    assert names == ["East", "West"]


async def test_knn_uses_the_gist_index(session):
    await session.execute(
        text("""
        INSERT INTO places (name, name_norm, category, position)
        SELECT 'p' || g, 'p' || g, 'cafe',
               ST_SetSRID(ST_MakePoint(139 + random(), 35 + random()), 4326)::geography
        FROM generate_series(1, 5000) g""")
    )
    await session.execute(text("ANALYZE places"))
    plan = "\n".join(
        (
            await session.execute(
                text("""
        EXPLAIN SELECT id FROM places p
        WHERE ST_DWithin(p.position, ST_SetSRID(ST_MakePoint(139.5, 35.5), 4326)::geography, 1000)
        ORDER BY p.position <-> ST_SetSRID(ST_MakePoint(139.5, 35.5), 4326)::geography
        LIMIT 20""")
            )
        ).scalars()
    )
    assert "ix_places_position" in plan, plan


async def test_spatial_indexes_exist(session):
    indexes = dict(
        (
            await session.execute(
                text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'places'")
            )
        ).all()
    )
    assert "USING gist" in indexes["ix_places_position"]
    assert "gin_trgm_ops" in indexes["ix_places_name_norm_trgm"]
