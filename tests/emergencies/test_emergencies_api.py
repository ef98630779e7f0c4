"""Operators declare, list, read and end emergencies; everyone else may only read them."""

import os
import subprocess
import sys

import psycopg

from tests.conftest import TEST_REDIS_URL, make_account, plain
from tests.emergencies.factories import AROUND_TOWER, TOKYO_TOWER, declare, make_operator


async def test_sign_up_refuses_the_operator_kind(client):
    response = await client.post(
        "/v1/accounts",
        json={"handle": "wannabe_op", "password": "correct horse", "kind": "operator"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


def test_geo_operator_create_prints_a_working_token(commit_database):
    handle = f"cli_op_{os.getpid()}"
    env = {**os.environ, "DATABASE_URL": commit_database, "REDIS_URL": TEST_REDIS_URL}
    done = subprocess.run(
        [sys.executable, "-m", "geo", "operator", "create", handle],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    try:
        assert done.returncode == 0, done.stderr
        token = done.stdout.strip()
        assert len(token) > 20
        with psycopg.connect(plain(commit_database)) as conn:
            kind = conn.execute(
                "SELECT a.kind FROM accounts a JOIN account_tokens t ON t.account_id = a.id "
                "WHERE a.handle = %s",
                (handle,),
            ).fetchone()
        assert kind == ("operator",)
        again = subprocess.run(
            [sys.executable, "-m", "geo", "operator", "create", handle],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert again.returncode != 0
        assert "taken" in again.stderr
    finally:
        with psycopg.connect(plain(commit_database)) as conn:
            conn.execute("DELETE FROM accounts WHERE handle = %s", (handle,))


async def test_only_an_operator_declares(client, session, member):
    body = {"name": "Quake", "area": AROUND_TOWER}
    assert (await client.post("/v1/emergencies", json=body)).status_code == 401
    refused = await client.post("/v1/emergencies", json=body, headers=member["headers"])
    assert refused.status_code == 403
    operator = await make_operator(session)
    made = await declare(client, operator)
    assert made["status"] == "active"
    assert made["ends_at"] is None
    assert made["area"]["type"] == "Polygon"
    assert made["area"]["coordinates"][0][0] == [139.7334, 35.6486]


async def test_point_and_radius_become_a_polygon(client, session):
    operator = await make_operator(session)
    lat, lon = TOKYO_TOWER
    made = await declare(client, operator, area={"lat": lat, "lon": lon, "radius_m": 1000})
    ring = made["area"]["coordinates"][0]
    assert len(ring) > 16
    assert ring[0] == ring[-1]
    assert all(abs(p[1] - lat) < 0.0095 for p in ring)  # ~1 km in latitude


async def test_bad_areas_are_422_naming_the_field(client, session):
    operator = await make_operator(session)
    bowtie = [[139.73, 35.65], [139.76, 35.67], [139.76, 35.65], [139.73, 35.67], [139.73, 35.65]]
    too_large = [[130.0, 30.0], [140.0, 30.0], [140.0, 40.0], [130.0, 40.0], [130.0, 30.0]]
    many = [[139.7 + i * 1e-5, 35.65 + (i % 2) * 1e-5] for i in range(1200)]
    unclosed = [[139.73, 35.65], [139.76, 35.65], [139.76, 35.67], [139.73, 35.67]]
    for ring in (bowtie, too_large, many + [many[0]], unclosed):
        response = await client.post(
            "/v1/emergencies",
            json={"name": "x", "area": {"type": "Polygon", "coordinates": [ring]}},
            headers=operator["headers"],
        )
        assert response.status_code == 422, response.text
        problem = response.json()
        assert problem["errors"]
        assert problem["errors"][0]["field"].startswith("body.area")
    for area in (
        {"lat": 35.6, "lon": 139.7, "radius_m": 5},
        {"lat": 95, "lon": 0, "radius_m": 500},
        {"lat": False, "lon": 139.7, "radius_m": 500},
        {"lat": 35.6, "lon": 139.7, "radius_m": "500"},
        {"type": "Polygon", "coordinates": [[[139.73, True], *unclosed[1:], [139.73, True]]]},
    ):
        response = await client.post(
            "/v1/emergencies", json={"name": "x", "area": area}, headers=operator["headers"]
        )
        assert response.status_code == 422


async def test_list_read_end_and_geojson(client, session, member):
    operator = await make_operator(session)
    made = await declare(client, operator)
    listed = (await client.get("/v1/emergencies", headers=member["headers"])).json()
    assert [e["id"] for e in listed["items"]] == [made["id"]]
    geo = await client.get(
        "/v1/emergencies", headers={**member["headers"], "Accept": "application/geo+json"}
    )
    assert geo.headers["content-type"] == "application/geo+json"
    assert geo.json()["type"] == "FeatureCollection"
    assert geo.json()["features"][0]["geometry"]["type"] == "Polygon"
    path = f"/v1/emergencies/{made['id']}"
    assert (await client.get(path, headers=member["headers"])).json()["name"] == made["name"]
    assert (
        await client.patch(path, json={"status": "ended"}, headers=member["headers"])
    ).status_code == 403
    ended = await client.patch(path, json={"status": "ended"}, headers=operator["headers"])
    assert ended.status_code == 200
    assert ended.json()["status"] == "ended"
    assert (await client.get("/v1/emergencies", headers=member["headers"])).json()["items"] == []
    everything = await client.get("/v1/emergencies?active=false", headers=member["headers"])
    assert [e["status"] for e in everything.json()["items"]] == ["ended"]
    assert (await client.get("/v1/emergencies/123", headers=member["headers"])).status_code == 404
    both = await client.patch(
        path,
        json={"status": "ended", "ends_at": "2030-01-01T00:00:00Z"},
        headers=operator["headers"],
    )
    assert both.status_code == 422


async def test_moving_the_end_into_the_future_keeps_it_active(client, session):
    operator = await make_operator(session)
    made = await declare(client, operator)
    moved = await client.patch(
        f"/v1/emergencies/{made['id']}",
        json={"ends_at": "2099-01-01T00:00:00Z"},
        headers=operator["headers"],
    )
    assert moved.json()["ends_at"] == "2099-01-01T00:00:00Z"
    assert moved.json()["status"] == "active"
    naive = await client.patch(
        f"/v1/emergencies/{made['id']}",
        json={"ends_at": "2099-01-01T00:00:00"},
        headers=operator["headers"],
    )
    assert naive.status_code == 422


async def test_a_stranger_account_kind_cannot_end_one(client, session):
    operator = await make_operator(session)
    made = await declare(client, operator)
    business = await make_account(client, kind="business")
    response = await client.patch(
        f"/v1/emergencies/{made['id']}", json={"status": "ended"}, headers=business["headers"]
    )
    assert response.status_code == 403
