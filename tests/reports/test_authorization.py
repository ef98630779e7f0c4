"""A report and its CSV are the campaign owner's only: 404 for anyone else, 401 anonymous."""

import pytest

from tests.conftest import make_account
from tests.reports import factories

ROUTES = ["/v1/campaigns/{id}/report", "/v1/campaigns/{id}/report.csv"]


@pytest.mark.parametrize("route", ROUTES)
async def test_only_the_owner_sees_a_report(client, session, advertiser, route):
    place = await factories.make_place(session, owner_id=int(advertiser["id"]))
    campaign = await factories.make_campaign(
        session, owner_id=int(advertiser["id"]), place_id=place
    )
    url = route.format(id=campaign)
    assert (await client.get(url, headers=advertiser["headers"])).status_code == 200
    for kind in ("business", "advertiser", "member"):
        stranger = await make_account(client, kind=kind)
        answer = await client.get(url, headers=stranger["headers"])
        missing = await client.get(route.format(id=campaign + 1), headers=stranger["headers"])
        assert answer.status_code == missing.status_code == 404
        assert answer.json()["title"] == missing.json()["title"]
    assert (await client.get(url)).status_code == 401
    bad = await client.get(url, headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
