"""The local public stream: a spatial query on the public position, independent of traffic
elsewhere, paged within itself, and left by what is retracted."""

import math
import random

import h3
from sqlalchemy import text

from geo.checkins.repository import PUBLIC_NEAR
from geo.checkins.service import covering_cells, public_cells
from geo.core.geodesy import haversine_m
from geo.fanout import keys
from geo.fanout.worker import drain
from tests.conftest import make_account
from tests.places.factories import create_place

SHINJUKU = (35.6909, 139.7003)
OSAKA = (34.7025, 135.4959)
ELSEWHERE = 3000  # more than the 500 newest global items the old filter looked at


async def _checkin(client, who: dict, place: dict, **overrides) -> dict:  # type: ignore[no-untyped-def]
    body = {
        "place_id": place["id"],
        "lat": place["lat"],
        "lon": place["lon"],
        "accuracy_m": 10,
        "audience": {"public": True},
        **overrides,
    }
    made = await client.post("/v1/checkins", json=body, headers=who["headers"])
    assert made.status_code == 201, made.text
    return made.json()


async def _local(client, who: dict, at: tuple[float, float], radius: float, **params) -> dict:  # type: ignore[no-untyped-def]
    response = await client.get(
        "/v1/timelines/public",
        params={"lat": at[0], "lon": at[1], "radius_m": radius, **params},
        headers=who["headers"],
    )
    assert response.status_code == 200, response.text
    return response.json()


async def _elsewhere(app, author_id: int, place_id: int) -> None:  # type: ignore[no-untyped-def]
    """Many public check-ins at an Osaka venue, written as the service writes them (row, public
    position and cells, outbox event) but in one statement: the rate limit is not the subject."""
    cells = public_cells(*OSAKA)
    async with app.state.db.sessionmaker() as session, session.begin():
        await session.execute(
            text("""
            WITH made AS (
                INSERT INTO checkins (author_id, place_id, position, accuracy_m, public,
                                      public_precision, public_position, public_cell7, public_cell5)
                SELECT :a, p.id, p.position, 10, true, 'exact', p.position, :c7, :c5
                FROM places p, generate_series(1, :n) WHERE p.id = :p
                RETURNING id)
            INSERT INTO outbox (topic, payload)
            SELECT 'checkin.created', jsonb_build_object('checkin_id', id::text) FROM made"""),
            {"a": author_id, "p": place_id, "n": ELSEWHERE, "c7": cells[0], "c5": cells[1]},
        )


async def test_a_neighbourhood_keeps_its_stream_after_thousands_elsewhere(app, client, redis):
    business, author, crowd, reader = [await make_account(client) for _ in range(4)]
    shinjuku = (
        await create_place(
            client, business["headers"], name="Shinjuku Gyoen", lat=SHINJUKU[0], lon=SHINJUKU[1]
        )
    ).json()
    osaka = (
        await create_place(
            client, business["headers"], name="Umeda Sky", lat=OSAKA[0], lon=OSAKA[1]
        )
    ).json()
    here = await _checkin(client, author, shinjuku, public_precision="area")
    await _elsewhere(app, int(crowd["id"]), int(osaka["id"]))
    await drain(app.state.db, redis)
    assert await redis.zcard(keys.public_global()) > 500  # the global stream really moved on

    near = await _local(client, reader, SHINJUKU, 3000)
    assert [i["id"] for i in near["items"]] == [here["id"]]
    assert near["next"] is None
    # Osaka's stream pages within itself: full pages, each cursor the last item returned.
    first = await _local(client, reader, OSAKA, 1000, limit=100)
    second = await _local(client, reader, OSAKA, 1000, limit=100, before=first["next"])
    assert first["next"] == first["items"][-1]["id"]
    assert len(second["items"]) == 100
    assert int(second["items"][0]["id"]) < int(first["next"])
    assert here["id"] not in {i["id"] for i in first["items"] + second["items"]}


async def test_the_local_query_reads_the_cell_index(app, client, redis):
    business, crowd = [await make_account(client) for _ in range(2)]
    osaka = (
        await create_place(
            client, business["headers"], name="Umeda Sky", lat=OSAKA[0], lon=OSAKA[1]
        )
    ).json()
    await _elsewhere(app, int(crowd["id"]), int(osaka["id"]))
    async with app.state.db.sessionmaker() as session, session.begin():
        # The country's other cells, so that the statistics look like a country and not one cell.
        await session.execute(
            text("""
            INSERT INTO checkins (author_id, place_id, position, accuracy_m, public,
                                  public_position, public_cell7, public_cell5)
            SELECT :a, p.id, p.position, 10, true, p.position, g, g / 40
            FROM places p, generate_series(1, 20000) g WHERE p.id = :p"""),
            {"a": int(crowd["id"]), "p": int(osaka["id"])},
        )
    for radius in (1000, 20_000):
        resolution, cells = covering_cells(*OSAKA, radius)
        params = {"v": 1, "lat": OSAKA[0], "lon": OSAKA[1], "r": radius, "cells": cells}
        async with app.state.db.sessionmaker() as session, session.begin():
            await session.execute(text("ANALYZE checkins"))
            plan = (
                (
                    await session.execute(
                        text("EXPLAIN " + PUBLIC_NEAR[resolution]),
                        {**params, "before": None, "limit": 20},
                    )
                )
                .scalars()
                .all()
            )
        assert f"ix_checkins_public_cell{resolution}_id" in "\n".join(plan), "\n".join(plan)


def test_covering_cells_hold_every_point_of_the_disc():
    rng = random.Random(7)
    for _ in range(300):
        lat, lon = rng.uniform(24, 46), rng.uniform(123, 146)  # Japan and around
        radius = rng.choice([1, 50, 500, 2999, 3001, 10_000, 50_000])
        resolution, cells = covering_cells(lat, lon, radius)
        bearing, d = rng.uniform(0, 2 * math.pi), radius * math.sqrt(rng.random())
        plat = lat + d * math.cos(bearing) / 111_320
        plon = lon + d * math.sin(bearing) / (111_320 * math.cos(math.radians(lat)))
        if haversine_m(lat, lon, plat, plon) > radius:
            continue
        assert h3.str_to_int(h3.latlng_to_cell(plat, plon, resolution)) in cells
        assert len(cells) <= 100  # a bounded number of index ranges


async def test_retraction_reaches_the_local_stream(app, client, redis):
    business, author, reader = [await make_account(client) for _ in range(3)]
    place = (
        await create_place(
            client, business["headers"], name="Shinjuku Gyoen", lat=SHINJUKU[0], lon=SHINJUKU[1]
        )
    ).json()
    kept = await _checkin(client, author, place, public_precision="exact")
    gone = await _checkin(client, author, place, public_precision="city")
    await drain(app.state.db, redis)
    ids = [i["id"] for i in (await _local(client, reader, SHINJUKU, 20_000))["items"]]
    assert ids == [gone["id"], kept["id"]]

    deleted = await client.delete(f"/v1/checkins/{gone['id']}", headers=author["headers"])
    assert deleted.status_code == 204
    ids = [i["id"] for i in (await _local(client, reader, SHINJUKU, 20_000))["items"]]
    assert ids == [kept["id"]]

    await client.post(f"/v1/blocks/{reader['id']}", headers=author["headers"])
    assert (await _local(client, reader, SHINJUKU, 20_000))["items"] == []


async def test_a_coarse_checkin_sits_at_its_cell_centre(app, client, redis):
    business, author, reader = [await make_account(client) for _ in range(3)]
    place = (
        await create_place(
            client, business["headers"], name="Shinjuku Gyoen", lat=SHINJUKU[0], lon=SHINJUKU[1]
        )
    ).json()
    made = await _checkin(client, author, place, public_precision="area")
    seen = (await client.get(f"/v1/checkins/{made['id']}", headers=reader["headers"])).json()
    centre = (seen["place"]["lat"], seen["place"]["lon"])
    # Found from its cell centre with a small radius, not from the venue (hundreds of metres off).
    assert [i["id"] for i in (await _local(client, reader, centre, 5))["items"]] == [made["id"]]
    assert (await _local(client, reader, SHINJUKU, 5))["items"] == []


async def test_hidden_items_neither_shorten_pages_nor_make_cursors(app, client, redis):
    """A reader blocked by a busy author: the global public stream and the reader's home skip
    the author's items, yet every page is full and every cursor is an item the reader got."""
    business, busy, other, reader = [await make_account(client) for _ in range(4)]
    place = (
        await create_place(
            client, business["headers"], name="Shinjuku Gyoen", lat=SHINJUKU[0], lon=SHINJUKU[1]
        )
    ).json()
    await client.post(f"/v1/follows/{busy['id']}", headers=reader["headers"])
    await client.post(f"/v1/follows/{other['id']}", headers=reader["headers"])
    shown = []
    for n in range(3):
        shown.append((await _checkin(client, other, place, message=f"o{n}"))["id"])
        for _ in range(3):  # hidden runs longer than a page
            await _checkin(client, busy, place)
    await drain(app.state.db, redis)
    # The block is read at once; the fan-out's retraction from the home timeline is not run.
    await client.post(f"/v1/blocks/{reader['id']}", headers=busy["headers"])
    for path in ("/v1/timelines/public", "/v1/timelines/home"):
        got, cursor = [], None
        while True:
            params = {"limit": 2, **({"before": cursor} if cursor else {})}
            body = (await client.get(path, params=params, headers=reader["headers"])).json()
            got += [i["id"] for i in body["items"]]
            if body["next"] is None:
                break
            assert len(body["items"]) == 2, (path, body)
            assert body["next"] == body["items"][-1]["id"], (path, body)
            cursor = body["next"]
        assert got == shown[::-1], path
