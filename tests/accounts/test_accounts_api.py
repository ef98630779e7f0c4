import pytest

from tests.conftest import make_account

PROTECTED = [
    ("GET", "/v1/me"),
    ("GET", "/v1/places/nearby?lat=1&lon=1"),
    ("GET", "/v1/places?bbox=0,0,1,1"),
    ("GET", "/v1/places/1"),
    ("POST", "/v1/places"),
    ("GET", "/v1/categories"),
]


async def test_sign_up_sign_in_and_me(client):
    account = await make_account(client, kind="advertiser", handle="Ad_Shop")
    assert account["kind"] == "advertiser"
    assert account["handle"] == "Ad_Shop"
    token = await client.post(
        "/v1/auth/token", json={"handle": "ad_shop", "password": "correct horse"}
    )
    assert token.status_code == 200
    me = await client.get("/v1/me", headers={"Authorization": f"Bearer {token.json()['token']}"})
    assert me.status_code == 200
    assert me.json()["id"] == account["id"]


async def test_taken_handle_is_409_case_insensitively(client):
    await make_account(client, handle="hanako")
    again = await client.post(
        "/v1/accounts", json={"handle": "HANAKO", "password": "whatever1", "kind": "member"}
    )
    assert again.status_code == 409


async def test_wrong_password_and_unknown_handle_are_401(client):
    await make_account(client, handle="taro")
    wrong = await client.post("/v1/auth/token", json={"handle": "taro", "password": "nope-nope"})
    unknown = await client.post("/v1/auth/token", json={"handle": "nobody", "password": "x"})
    assert wrong.status_code == unknown.status_code == 401


async def test_tokens_are_stored_only_as_hashes(client, session):
    from sqlalchemy import text

    account = await make_account(client)
    stored = (await session.execute(text("SELECT token_hash FROM account_tokens"))).scalars().all()
    assert account["token"].encode() not in stored
    assert all(len(h) == 32 for h in stored)


@pytest.mark.parametrize(("method", "path"), PROTECTED)
@pytest.mark.parametrize("auth", [None, "Bearer nonsense", "Basic abc", "Bearer "])
async def test_protected_endpoints_need_a_valid_token(client, method, path, auth):
    headers = {"Authorization": auth} if auth else {}
    response = await client.request(method, path, headers=headers, json={})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "body",
    [
        {"handle": "ab", "password": "longenough", "kind": "member"},
        {"handle": "bad handle!", "password": "longenough", "kind": "member"},
        {"handle": "okhandle", "password": "short", "kind": "member"},
        {"handle": "okhandle", "password": "longenough", "kind": "admin"},
    ],
)
async def test_bad_sign_up_is_422(client, body):
    assert (await client.post("/v1/accounts", json=body)).status_code == 422


async def test_business_owns_the_places_it_creates(client, session, business, member):
    from sqlalchemy import text

    from tests.places.factories import create_place

    by_business = (await create_place(client, business["headers"], name="Shop A")).json()
    by_member = (await create_place(client, member["headers"], name="Shop B")).json()
    owners = dict(
        (
            await session.execute(
                text(
                    "SELECT id::text, owner_id::text FROM places"
                    " WHERE id = ANY(CAST(:ids AS bigint[]))"
                ),
                {"ids": [int(by_business["id"]), int(by_member["id"])]},
            )
        ).all()
    )
    assert owners == {by_business["id"]: business["id"], by_member["id"]: None}
