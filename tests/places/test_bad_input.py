"""Bad input gets a 4xx problem document, never a 500, and stores nothing."""

import pytest
from sqlalchemy import text

NEARBY = "/v1/places/nearby"
GOOD = {"lat": "35.68", "lon": "139.76"}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({**GOOD, "lat": "91"}, "query.lat"),
        ({**GOOD, "lon": "-181"}, "query.lon"),
        ({**GOOD, "lat": "NaN"}, "query.lat"),
        ({**GOOD, "lon": "Infinity"}, "query.lon"),
        ({**GOOD, "lat": "-inf"}, "query.lat"),
        ({**GOOD, "radius_m": "0"}, "query.radius_m"),
        ({**GOOD, "radius_m": "10000000"}, "query.radius_m"),
        ({**GOOD, "limit": "0"}, "query.limit"),
        ({**GOOD, "limit": "1000000"}, "query.limit"),
        ({**GOOD, "lat": "abc"}, "query.lat"),
        ({"lon": "139"}, "query.lat"),
        ({**GOOD, "category": "x" * 500}, "query.category"),
        ({**GOOD, "category": "no-such-category"}, "query.category"),
        ({**GOOD, "q": "x" * 101}, "query.q"),
    ],
)
async def test_bad_nearby_queries(client, member, params, field):
    response = await client.get(NEARBY, params=params, headers=member["headers"])
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]


@pytest.mark.parametrize(
    "bbox",
    [
        "21,10,20,11",
        "20,11,21,10",
        "20,10,200,11",
        "-181,10,20,11",
        "20,-91,21,11",
        "20,10,21",
        "a,b,c,d",
        "nan,10,21,11",
        "20,10,inf,11",
        "1,1,1,1",
    ],
)
async def test_bad_bbox(client, member, bbox):
    response = await client.get("/v1/places", params={"bbox": bbox}, headers=member["headers"])
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "query.bbox"


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x" * 10_000, "category": "cafe", "lat": 1, "lon": 1},
        {"name": "", "category": "cafe", "lat": 1, "lon": 1},
        {"name": "   ", "category": "cafe", "lat": 1, "lon": 1},
        {"name": "ok", "category": "cafe", "lat": 91, "lon": 1},
        {"name": "ok", "category": "cafe", "lat": 1, "lon": 181},
        {"name": "ok", "category": "cafe", "lat": "NaN", "lon": 1},
        {"name": "ok", "category": "cafe", "lat": "35.6", "lon": 1},
        {"name": "ok", "category": "cafe", "lat": 1, "lon": True},
        {"name": "ok", "category": "cafe", "lat": [1], "lon": 1},
        {"name": "ok", "category": "cafe", "lat": 1},
        {"name": 5, "category": "cafe", "lat": 1, "lon": 1},
        {"name": "bad\x00name", "category": "cafe", "lat": 1, "lon": 1},
        {"name": "ok", "category": "cafe", "lat": 1, "lon": 1, "address": "a" * 501},
        {"name": "ok", "category": "cafe", "lat": 1, "lon": 1, "extra": True},
        [1, 2, 3],
    ],
)
async def test_bad_place_bodies_store_nothing(client, member, session, body):
    before = (await session.execute(text("SELECT count(*) FROM places"))).scalar_one()
    response = await client.post("/v1/places", json=body, headers=member["headers"])
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"]
    after = (await session.execute(text("SELECT count(*) FROM places"))).scalar_one()
    assert after == before


async def test_a_lone_surrogate_in_a_name_is_422(client, member):
    body = b'{"name": "caf\\ud800", "category": "cafe", "lat": 1, "lon": 1}'
    response = await client.post(
        "/v1/places",
        content=body,
        headers={**member["headers"], "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["body.name"]


async def test_nan_literal_in_json_body(client, member):
    response = await client.post(
        "/v1/places",
        content=b'{"name":"x","category":"cafe","lat":NaN,"lon":1}',
        headers={**member["headers"], "Content-Type": "application/json"},
    )
    # Parsed (Python's json takes the literal), then refused by validation as not finite.
    assert response.status_code == 422, response.text
    assert response.json()["type"] == "/problems/validation"
    assert response.json()["errors"][0] == {
        "field": "body.lat",
        "message": "Input should be a finite number",
        "type": "finite_number",
    }


async def test_malformed_json(client, member):
    response = await client.post(
        "/v1/places",
        content=b'{"name": "x", ',
        headers={**member["headers"], "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["title"] == "Malformed JSON"


@pytest.mark.parametrize("path", ["/v1/places/abc", "/v1/places/99999999999999999999"])
async def test_bad_ids(client, member, path):
    # Not an id at all (letters, or more than 19 digits): the path itself is invalid.
    response = await client.get(path, headers=member["headers"])
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "path.place_id"


async def test_out_of_range_id_is_404(client, member):
    response = await client.get("/v1/places/9999999999999999999", headers=member["headers"])
    assert response.status_code == 404


async def test_unknown_place_is_404(client, member):
    response = await client.get("/v1/places/123456789", headers=member["headers"])
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_boolean_latitude_is_refused_not_read_as_zero(client, member, session):
    before = (await session.execute(text("SELECT count(*) FROM places"))).scalar_one()
    response = await client.post(
        "/v1/places",
        json={"name": "Null Island Cafe", "category": "cafe", "lat": False, "lon": 0},
        headers=member["headers"],
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"] == [
        {"field": "body.lat", "message": "Input should be a valid number", "type": "float_type"}
    ]
    after = (await session.execute(text("SELECT count(*) FROM places"))).scalar_one()
    assert after == before


async def test_query_coordinates_stay_text_as_query_strings_are(client, member):
    response = await client.get(
        "/v1/places/nearby", params={"lat": "35.68", "lon": "139.76"}, headers=member["headers"]
    )
    assert response.status_code == 200, response.text
