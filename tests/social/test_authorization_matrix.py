"""Every id-bearing endpoint of the social and places areas, called as the owner, a friend, a
stranger, an account the owner blocks, and anonymously: exactly who gets 2xx, 401, 403 and 404.

Something the caller may not see is a 404 exactly like something missing (no existence oracle);
a caller's own thing it may not change is a 403.
"""

import pytest

from tests.conftest import make_account
from tests.places.factories import create_place
from tests.social.factories import befriend

ROLES = ("owner", "friend", "stranger", "blocked", "anonymous")

# (name, method, path template, body, expected status per role)
MATRIX = [
    ("read circle", "GET", "/v1/circles/{circle}", None, (200, 404, 404, 404, 401)),
    ("rename circle", "PUT", "/v1/circles/{circle}", {"name": "x"}, (200, 404, 404, 404, 401)),
    ("delete circle", "DELETE", "/v1/circles/{circle}", None, (204, 404, 404, 404, 401)),
    ("read place", "GET", "/v1/places/{place}", None, (200, 200, 200, 200, 401)),
    # A pending request from the stranger to the owner: the owner is the addressee.
    (
        "accept request",
        "POST",
        "/v1/friend-requests/{request}/accept",
        None,
        (200, 404, 403, 404, 401),
    ),
    ("follow owner", "POST", "/v1/follows/{owner}", None, (422, 204, 204, 404, 401)),
    ("unfollow owner", "DELETE", "/v1/follows/{owner}", None, (204, 204, 204, 204, 401)),
    ("befriend owner", "POST", "/v1/friend-requests", {"to": "{owner}"}, (422, 409, 409, 404, 401)),
    ("unfriend owner", "DELETE", "/v1/friends/{owner}", None, (404, 204, 404, 404, 401)),
    ("block owner", "POST", "/v1/blocks/{owner}", None, (422, 204, 204, 204, 401)),
    ("unblock owner", "DELETE", "/v1/blocks/{owner}", None, (204, 204, 204, 204, 401)),
]


async def _world(client) -> dict:
    owner, friend, stranger, blocked = [await make_account(client) for _ in range(4)]
    await befriend(client, owner, friend)
    circle = (
        await client.post(
            "/v1/circles",
            json={"name": "close", "members": [friend["id"]]},
            headers=owner["headers"],
        )
    ).json()
    place = (await create_place(client, owner["headers"], name="Owner's cafe")).json()
    request = (
        await client.post(
            "/v1/friend-requests", json={"to": owner["id"]}, headers=stranger["headers"]
        )
    ).json()
    assert (
        await client.post(f"/v1/blocks/{blocked['id']}", headers=owner["headers"])
    ).status_code == 204
    ids = {
        "owner": owner["id"],
        "circle": circle["id"],
        "place": place["id"],
        "request": request["id"],
    }
    headers = {
        "owner": owner["headers"],
        "friend": friend["headers"],
        "stranger": stranger["headers"],
        "blocked": blocked["headers"],
        "anonymous": {},
    }
    return {"ids": ids, "headers": headers}


@pytest.mark.parametrize(
    ("name", "method", "path", "body", "expected"), MATRIX, ids=[m[0] for m in MATRIX]
)
@pytest.mark.parametrize("role", ROLES)
async def test_authorization_matrix(client, role, name, method, path, body, expected):
    world = await _world(client)
    ids = world["ids"]
    url = path.format(**ids)
    json_body = {k: v.format(**ids) for k, v in body.items()} if body else None
    response = await client.request(method, url, json=json_body, headers=world["headers"][role])
    want = expected[ROLES.index(role)]
    assert response.status_code == want, f"{role} {method} {url}: {response.text}"
    if want >= 400:
        assert response.headers["content-type"] == "application/problem+json"
