"""The check-in write's own machinery: its answer rendered by orjson is the model's, byte for
byte, and the body and header are parsed in FastAPI's order with FastAPI's errors."""

import json
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text as sql

from geo.checkins.ingest import author_view
from geo.checkins.schemas import CheckinAccount, CheckinRead, ExactPlace
from geo.core.auth import Actor
from geo.places.repository import PlaceRow
from geo.places.service import place_read
from tests.checkins.factories import LAT, LON

text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=30)
coordinate = st.floats(-180, 180, allow_nan=False)
moment = st.datetimes(
    min_value=datetime(2000, 1, 1), timezones=st.sampled_from([UTC, timezone(timedelta(hours=9))])
)


@given(
    name=text,
    address=st.none() | text,
    message=st.none() | text,
    lat=coordinate,
    lon=coordinate,
    placed=moment,
    created=moment,
)
def test_the_author_view_is_the_models_json(name, address, message, lat, lon, placed, created):
    place = PlaceRow(2**62 + 5, name, "arts", lat, lon, address, placed, distance_m=3.0)
    author = Actor(id=2**61 + 7, handle="ann", kind="member")
    model = CheckinRead(
        id=str(2**62 + 9),
        account=CheckinAccount(id=str(author.id), handle=author.handle),
        place=ExactPlace(precision="exact", **dict(place_read(place))),
        message=message,
        created_at=created,
        audience="circle",
    )
    rendered = author_view(2**62 + 9, created, author, place, message)
    assert rendered == model.model_dump_json().encode()


def _body(place_id: str = "1", **fields: object) -> dict:
    return {"place_id": place_id, "lat": LAT, "lon": LON, "accuracy_m": 20, **fields}


async def test_a_malformed_body_is_400_before_the_token_is_checked(client):
    answer = await client.post(
        "/v1/checkins", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["type"] == "json_invalid"


async def test_the_token_is_checked_before_the_fields(client):
    answer = await client.post("/v1/checkins", json={"x": 1}, headers={"Idempotency-Key": "a b"})
    assert answer.status_code == 401


async def test_invalid_header_and_body_fields_are_one_422_header_first(client, member):
    answer = await client.post(
        "/v1/checkins",
        json=_body(place_id="x", lat="35"),
        headers={**member["headers"], "Idempotency-Key": "a b"},
    )
    assert answer.status_code == 422
    fields = [e["field"] for e in answer.json()["errors"]]
    assert fields == ["header.Idempotency-Key", "body.place_id", "body.lat"]


async def test_a_body_not_sent_as_json_or_not_sent_is_refused_as_fastapi_does(client, member):
    as_text = await client.post(
        "/v1/checkins",
        content=b'{"place_id": "1"}',
        headers={**member["headers"], "Content-Type": "text/plain"},
    )
    assert as_text.status_code == 422
    assert as_text.json()["errors"][0]["type"] == "model_attributes_type"
    empty = await client.post(
        "/v1/checkins",
        content=b"",
        headers={**member["headers"], "Content-Type": "application/json"},
    )
    assert empty.status_code == 422
    assert [(e["field"], e["type"]) for e in empty.json()["errors"]] == [("body", "missing")]


async def test_a_lone_surrogate_in_text_is_422_not_500(client, member, session):
    # JSON may escape half a surrogate pair; it decodes to no text PostgreSQL (or UTF-8) can hold.
    before = (await session.execute(sql("SELECT count(*) FROM checkins"))).scalar_one()
    body = json.dumps(_body(message="hi")).replace('"hi"', '"hi \\ud800"').encode()
    answer = await client.post(
        "/v1/checkins",
        content=body,
        headers={**member["headers"], "Content-Type": "application/json"},
    )
    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["body.message"]
    after = (await session.execute(sql("SELECT count(*) FROM checkins"))).scalar_one()
    assert after == before
