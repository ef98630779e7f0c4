"""Fuzz the served OpenAPI document with schemathesis against a real `geo serve` process.

Checks: no 5xx, status codes and content types the document declares, bodies matching its schemas.
Runs on its own database (the fuzzer commits what it creates) and is bounded by --max-examples.
"""

import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis.core import NotSet
from schemathesis.generation.case import Case
from sqlalchemy import text

from geo.app import create_app
from geo.places.categories import CATEGORY_IDS
from tests.ads.factories import KIYOSUMI, business_with_place, create_campaign
from tests.conftest import TEST_DB_URL, make_account
from tests.live_server import geo_server

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance"
)


@pytest.fixture(scope="module")
def live_server(migrated_database):  # type: ignore[no-untyped-def]
    with geo_server(TEST_DB_URL + "_fuzz") as base:
        yield base


def test_openapi_fuzz_finds_no_server_errors(live_server):
    token = httpx.post(
        live_server + "/v1/accounts",
        json={"handle": "fuzzer", "password": "fuzzing-pass", "kind": "business"},
    ).json()["token"]
    result = subprocess.run(
        [
            BIN / "st",
            "run",
            live_server + "/openapi.json",
            "--checks",
            CHECKS,
            "--max-examples",
            os.environ.get("GEO_FUZZ_EXAMPLES", "25"),
            "--seed",
            "1",
            "--generation-deterministic",
            "-H",
            f"Authorization: Bearer {token}",
            "--request-timeout",
            "10",
            "--no-color",
            # An event stream never ends by design; it has its own tests.
            "--exclude-path",
            "/v1/timelines/home/stream",
            # Signing the fuzzer's own token out would leave every later operation a 401 (both
            # have their own tests, tests/accounts/test_tokens.py).
            "--exclude-operation-id",
            "revoke_token_v1_auth_token_delete",
            "--exclude-operation-id",
            "revoke_all_tokens_v1_auth_tokens_delete",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "passed" in result.stdout.lower(), result.stdout[-3000:]
    print(result.stdout[-1500:])


# --- How much of what the schemas allow does the code accept? ---------------------------------
#
# For each operation, requests drawn from its schema (schemathesis strategies, hypothesis
# derandomized: the same requests every run) go through the in-process app on the test's rolled-back
# transaction. A schema looser than validation shows as a low share of accepted answers.
#
# The test pins what no schema can know: ids of rows that exist, the place's position (a check-in
# must be near it), the clock (a campaign must end in the future), and a fresh Idempotency-Key. It
# repairs what JSON Schema cannot relate, each a rule the schema's description states:
# `min < max` in a bbox, `starts_at < ends_at`, `budget.daily <= budget.total`, and a polygon's
# validity and size (PostGIS decides those).

EXAMPLES = 40
MIN_ACCEPTED_SHARE = 0.9


@pytest.fixture(scope="module")
def served_schema(settings):  # type: ignore[no-untyped-def]
    """The document the test settings' app serves, loaded once (a large one: time zones)."""
    return schemathesis.openapi.from_dict(create_app(settings).openapi())


def _drawn_cases(schema: Any, method: str, path: str) -> list[Case]:
    operation = schema[path][method]
    drawn: list[Case] = []

    @hypothesis_settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(operation.as_strategy())
    def collect(case: Case) -> None:
        drawn.append(case)

    collect()
    return drawn


async def _send(client: httpx.AsyncClient, case: Case, headers: dict[str, str]) -> httpx.Response:
    kwargs: dict[str, Any] = {
        "params": case.query or None,
        "headers": {**(case.headers or {}), **headers},
    }
    if not isinstance(case.body, NotSet):
        kwargs["json"] = case.body
    return await client.request(case.method, case.formatted_path, **kwargs)


def _ordered_bbox(case: Case, _: dict) -> None:
    parts = case.query["bbox"].split(",")
    lons, lats = sorted(parts[0::2], key=float), sorted(parts[1::2], key=float)
    if float(lons[0]) == float(lons[1]) or float(lats[0]) == float(lats[1]):
        lons, lats = ["139.7", "139.8"], ["35.6", "35.7"]
    case.query["bbox"] = ",".join([lons[0], lats[0], lons[1], lats[1]])


def _checkin_at_place(case: Case, world: dict) -> None:
    place = world["place"]
    case.body |= {"place_id": place["id"], "lat": place["lat"], "lon": place["lon"]}
    if "Idempotency-Key" in (case.headers or {}):
        case.headers["Idempotency-Key"] = f"key-{next(_keys)}"


def _campaign_repairs(body: dict) -> None:
    now = datetime.now(UTC)
    if "starts_at" in body or "ends_at" in body:
        body |= {
            "starts_at": (now - timedelta(hours=1)).isoformat(),
            "ends_at": (now + timedelta(days=7)).isoformat(),
        }
    if "budget" in body:
        budget = body["budget"]
        budget["daily"] = min(budget["daily"], budget["total"])
    if "area" in (body.get("target") or {}):
        lat, lon = KIYOSUMI
        square = [
            [lon - 0.02, lat - 0.02],
            [lon + 0.02, lat - 0.02],
            [lon + 0.02, lat + 0.02],
            [lon - 0.02, lat + 0.02],
            [lon - 0.02, lat - 0.02],
        ]
        body["target"]["area"] = {"type": "Polygon", "coordinates": [square]}


def _campaign_for_place(case: Case, world: dict) -> None:
    case.body["place_id"] = world["place"]["id"]
    _campaign_repairs(case.body)


def _campaign_edit(case: Case, world: dict) -> None:
    case.path_parameters["campaign_id"] = world["campaign"]["id"]
    _campaign_repairs(case.body)


# Each operation: how to pin and repair a generated request, and the answers that accept it
# (a deterministic business answer counts: a duplicate place's 409, a random circle id's 404).
OPERATIONS = {
    "GET /v1/places": (_ordered_bbox, {200}),
    "POST /v1/places": (lambda case, world: None, {201, 409}),
    "POST /v1/checkins": (_checkin_at_place, {201, 404}),
    "POST /v1/campaigns": (_campaign_for_place, {201}),
    "PATCH /v1/campaigns/{campaign_id}": (_campaign_edit, {200}),
}
_keys = count()


@pytest.mark.parametrize("operation", OPERATIONS)
async def test_schema_generated_requests_are_accepted(client, served_schema, operation):
    method, path = operation.split(" ")
    pin, accepted = OPERATIONS[operation]
    cases = _drawn_cases(served_schema, method, path)
    owner, place = await business_with_place(client)
    world = {"place": place}
    statuses: list[int] = []
    rejected: list[str] = []
    for i, case in enumerate(cases):
        headers = owner["headers"]
        if path == "/v1/checkins":
            # A new author every few check-ins stays under the per-minute rate limit.
            if i % 5 == 0:
                world["author"] = await make_account(client)
            headers = world["author"]["headers"]
        if "{campaign_id}" in path:
            world["campaign"] = await create_campaign(client, owner, place)
        pin(case, world)
        response = await _send(client, case, headers)
        statuses.append(response.status_code)
        if response.status_code not in accepted:
            sent = case.query if isinstance(case.body, NotSet) else case.body
            rejected.append(f"{response.status_code} {response.text[:300]} <- {sent}")
    assert 500 not in statuses
    share = sum(s in accepted for s in statuses) / len(statuses)
    print(f"{operation}: {share:.0%} of {len(statuses)} accepted, {Counter(statuses)}")
    assert share >= MIN_ACCEPTED_SHARE, f"{share:.0%} accepted:\n" + "\n".join(rejected[:15])


async def test_documented_categories_are_the_tables(session):
    """The document's category enum (geo/places/categories.py) is the table the migrations fill."""
    rows = await session.execute(text("SELECT id FROM categories"))
    assert sorted(r[0] for r in rows) == sorted(CATEGORY_IDS)


@pytest.mark.parametrize("lon", [180.0, -180.0])
async def test_duplicate_check_at_the_antimeridian(client, lon):
    """Found by the fuzzer once the schema let it reach the duplicate check: a KNN scan on the
    geography index failed at lon ±180 (a 500). The same point seen from either side is one."""
    owner = await make_account(client, kind="business")
    body = {"name": "Date line buoy", "category": "other", "lat": 0.0, "lon": lon}
    assert (await client.post("/v1/places", json=body, headers=owner["headers"])).status_code == 201
    again = await client.post("/v1/places", json=body | {"lon": -lon}, headers=owner["headers"])
    assert again.status_code == 409, again.text
