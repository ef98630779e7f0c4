import pytest

from tests.checkins.factories import post_checkin, tower_place
from tests.conftest import make_account
from tests.emergencies.factories import declare, make_operator
from tests.social.factories import befriend


@pytest.fixture
async def quake(client, session) -> dict:
    """An author who checked in at Tokyo Tower (circle only) before a quake was declared there;
    `close` is a friend in that circle, `friend` a friend outside it; a follower; a stranger."""
    author, close, friend, follower, stranger = [await make_account(client) for _ in range(5)]
    await befriend(client, author, close)
    await befriend(client, author, friend)
    await client.post(f"/v1/follows/{author['id']}", headers=follower["headers"])
    circle = (
        await client.post(
            "/v1/circles",
            json={"name": "close", "members": [close["id"]]},
            headers=author["headers"],
        )
    ).json()
    place = await tower_place(client, author["headers"])
    made = await post_checkin(client, author, place, audience={"circles": [circle["id"]]})
    assert made.status_code == 201, made.text
    operator = await make_operator(session)
    return {
        "author": author,
        "close": close,
        "friend": friend,
        "follower": follower,
        "stranger": stranger,
        "circle": circle,
        "place": place,
        "checkin": made.json(),
        "operator": operator,
        "emergency": await declare(client, operator),
    }
