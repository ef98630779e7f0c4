import math

from tests.places.factories import create_place


async def test_create_and_read_place(client, business):
    created = await create_place(client, business["headers"], address="平野1-4-8")
    assert created.status_code == 201, created.text
    place = created.json()
    assert set(place) == {"id", "name", "category", "lat", "lon", "address", "created_at"}
    assert place["id"].isdigit()
    assert place["created_at"].endswith("Z")
    assert (place["lat"], place["lon"]) == (35.6806, 139.7981)

    read = await client.get(f"/v1/places/{place['id']}", headers=business["headers"])
    assert read.status_code == 200
    assert read.json() == place


async def test_ids_are_time_ordered(client, member):
    first = (await create_place(client, member["headers"], name="Alpha")).json()
    second = (await create_place(client, member["headers"], name="Beta")).json()
    assert int(second["id"]) > int(first["id"])


async def test_same_normalised_name_within_50m_is_a_duplicate(client, member):
    first = (await create_place(client, member["headers"], name="Starbucks Coffee 渋谷店")).json()
    # Full-width letters and other spacing normalise to the same name; ~30 m north.
    dup = await create_place(
        client,
        member["headers"],
        name="ＳＴＡＲＢＵＣＫＳ　ＣＯＦＦＥＥ 渋谷店",
        lat=35.6806 + 0.00027,
    )
    assert dup.status_code == 409
    assert dup.headers["content-type"] == "application/problem+json"
    assert dup.json()["existing"]["id"] == first["id"]


async def test_same_name_farther_than_50m_is_not_a_duplicate(client, member):
    assert (await create_place(client, member["headers"], name="Lawson")).status_code == 201
    # ~111 m north.
    other = await create_place(client, member["headers"], name="Lawson", lat=35.6806 + 0.001)
    assert other.status_code == 201


async def test_unknown_category_is_422(client, member):
    response = await create_place(client, member["headers"], category="no-such-thing")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.category"


async def test_nearby_is_nearest_first_with_distances(client, member):
    origin = (35.6812, 139.7671)  # Tokyo station
    for i, metres in enumerate([900, 100, 500, 300, 700]):
        lat = origin[0] + metres / 111_000
        assert (
            await create_place(client, member["headers"], name=f"Spot {i}", lat=lat, lon=origin[1])
        ).status_code == 201
    response = await client.get(
        "/v1/places/nearby",
        headers=member["headers"],
        params={"lat": origin[0], "lon": origin[1], "radius_m": 800},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["ads"] == []
    distances = [p["distance_m"] for p in body["places"]]
    assert distances == sorted(distances)
    assert len(distances) == 4  # the 900 m one is outside the radius
    assert all(
        math.isclose(d, m, rel_tol=0.01)
        for d, m in zip(distances, [100, 300, 500, 700], strict=True)
    )


async def test_nearby_limit_category_and_text(client, member):
    lat, lon = 35.0, 135.0
    await create_place(
        client, member["headers"], name="Ichiran Ramen", category="ramen-shop", lat=lat, lon=lon
    )
    await create_place(
        client, member["headers"], name="Doutor", category="coffee-shop", lat=lat + 0.001, lon=lon
    )
    await create_place(
        client,
        member["headers"],
        name="Kyoto Station",
        category="train-station",
        lat=lat + 0.002,
        lon=lon,
    )
    params = {"lat": lat, "lon": lon}
    food = await client.get(
        "/v1/places/nearby", headers=member["headers"], params={**params, "category": "food"}
    )
    # A parent category includes its descendants
    # (ramen-shop < japanese-restaurant < restaurant < food).
    assert [p["name"] for p in food.json()["places"]] == ["Ichiran Ramen", "Doutor"]
    text = await client.get(
        "/v1/places/nearby", headers=member["headers"], params={**params, "q": "ＲＡＭＥＮ"}
    )
    assert [p["name"] for p in text.json()["places"]] == ["Ichiran Ramen"]
    limited = await client.get(
        "/v1/places/nearby", headers=member["headers"], params={**params, "limit": 2}
    )
    assert len(limited.json()["places"]) == 2


async def test_bbox_json_and_geojson(client, member):
    inside = (
        await create_place(client, member["headers"], name="Inside", lat=10.5, lon=20.5)
    ).json()
    await create_place(client, member["headers"], name="Outside", lat=11.5, lon=20.5)
    params = {"bbox": "20,10,21,11"}
    plain = await client.get("/v1/places", headers=member["headers"], params=params)
    assert plain.status_code == 200
    assert [p["id"] for p in plain.json()["items"]] == [inside["id"]]
    assert plain.json()["next"] is None

    geo = await client.get(
        "/v1/places", params=params, headers={**member["headers"], "Accept": "application/geo+json"}
    )
    assert geo.headers["content-type"] == "application/geo+json"
    collection = geo.json()
    assert collection["type"] == "FeatureCollection"
    feature = collection["features"][0]
    assert feature["geometry"] == {"type": "Point", "coordinates": [20.5, 10.5]}
    assert feature["properties"]["name"] == "Inside"


async def test_bbox_pages_with_cursor(client, member):
    for i in range(5):
        await create_place(client, member["headers"], name=f"P{i}", lat=-30 + i * 0.01, lon=-60)
    seen, cursor = [], None
    while True:
        params = {"bbox": "-61,-31,-59,-29", "limit": 2}
        if cursor:
            params["before"] = cursor
        page = (await client.get("/v1/places", headers=member["headers"], params=params)).json()
        seen += [p["name"] for p in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == ["P4", "P3", "P2", "P1", "P0"]


async def test_category_tree(client, member):
    response = await client.get("/v1/categories", headers=member["headers"])
    roots = {node["id"]: node for node in response.json()["items"]}
    assert "food" in roots
    assert "travel" in roots
    travel_children = {c["id"] for c in roots["travel"]["children"]}
    assert "train-station" in travel_children
