"""Dashboard pages through HTTP: sign-in cookie, CSRF, owner-only pages, figures as shown."""

import re

import httpx
from sqlalchemy import text

from tests.conftest import make_account
from tests.dashboard.factories import csrf_token, sign_in
from tests.reports import factories
from tests.reports.factories import hours_ago, seed_ledger


async def test_sign_in_sets_a_safe_cookie_and_lists_campaigns(client, session, advertiser):
    place = await factories.make_place(session, owner_id=int(advertiser["id"]))
    await factories.make_campaign(
        session, owner_id=int(advertiser["id"]), place_id=place, name="Morning beans"
    )
    response = await sign_in(client, advertiser)
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert "geo_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    listing = await client.get("/dashboard")
    assert "Morning beans" in listing.text


async def test_wrong_password_and_missingcsrf_token(client, advertiser):
    page = await client.get("/dashboard")
    wrong = await client.post(
        "/dashboard/sign-in",
        data={
            "handle": advertiser["handle"],
            "password": "wrong wrong",
            "csrf": csrf_token(page.text),
        },
    )
    assert wrong.status_code == 401
    assert "Wrong handle or password" in wrong.text
    forged = await client.post(
        "/dashboard/sign-in",
        data={"handle": advertiser["handle"], "password": "correct horse", "csrf": "forged"},
    )
    assert forged.status_code == 403
    assert "geo_session" not in forged.headers.get("set-cookie", "")


async def test_campaign_page_shows_the_report_figures(client, session, advertiser, small_k):
    campaign, _, _ = await seed_ledger(session, owner_id=int(advertiser["id"]), base=hours_ago(60))
    await sign_in(client, advertiser)
    page = await client.get(f"/dashboard/campaigns/{campaign}")
    assert page.status_code == 200
    report = (
        await client.get(f"/v1/campaigns/{campaign}/report", headers=advertiser["headers"])
    ).json()
    assert f"{report['impressions']:,}" in page.text
    assert f"{report['reach']:,}" in page.text
    assert page.text.count('class="hex"') > 0
    assert "<svg" in page.text
    csv_link = re.search(r'href="(/dashboard/campaigns/\d+/report\.csv[^"]*)"', page.text)
    assert csv_link
    csv = await client.get(csv_link.group(1).replace("&amp;", "&"))
    assert csv.status_code == 200
    assert csv.text.startswith("start,end,impressions")


async def test_other_accounts_get_404_on_every_page(client, session, advertiser):
    place = await factories.make_place(session, owner_id=int(advertiser["id"]))
    campaign = await factories.make_campaign(
        session, owner_id=int(advertiser["id"]), place_id=place
    )
    stranger = await make_account(client, kind="business")
    await sign_in(client, stranger)
    for url in (f"/dashboard/campaigns/{campaign}", f"/dashboard/campaigns/{campaign}/report.csv"):
        assert (await client.get(url)).status_code == 404
    page = await client.get("/dashboard")
    status = await client.post(
        f"/dashboard/campaigns/{campaign}/status",
        data={"status": "paused", "csrf": csrf_token(page.text)},
    )
    assert status.status_code == 404
    anonymous = httpx.AsyncClient(transport=client._transport, base_url="http://test")
    async with anonymous:
        assert (await anonymous.get(f"/dashboard/campaigns/{campaign}")).status_code == 303
        assert (
            await anonymous.get(f"/dashboard/campaigns/{campaign}/report.csv")
        ).status_code == 404


async def test_the_buying_form_offers_only_places_the_account_may_advertise(client, session):
    owner = await make_account(client, kind="business")
    rival = await make_account(client, kind="business")
    advertiser = await make_account(client, kind="advertiser")
    mine = await factories.make_place(session, owner_id=int(owner["id"]), name="Kissa Mine")
    await factories.make_place(session, owner_id=int(rival["id"]), name="Kissa Rival")
    granted = await factories.make_place(session, owner_id=int(rival["id"]), name="Kissa Granted")
    await session.execute(
        text("INSERT INTO place_advertisers (place_id, advertiser_id) VALUES (:p, :a)"),
        {"p": granted, "a": int(advertiser["id"])},
    )
    await sign_in(client, owner)
    form = (await client.get("/dashboard/campaigns/new")).text
    assert f'<option value="{mine}"' in form
    assert "Kissa Mine" in form
    assert "Kissa Rival" not in form
    assert "Kissa Granted" not in form
    assert "At least 500 m" in form
    client.cookies.clear()
    await sign_in(client, advertiser)
    form = (await client.get("/dashboard/campaigns/new")).text
    assert "Kissa Granted" in form
    assert "Kissa Mine" not in form
    assert "Kissa Rival" not in form


async def test_a_spent_data_access_budget_is_a_page_not_a_stack_trace(
    app, client, session, advertiser
):
    app.state.settings = app.state.settings.model_copy(update={"report_epsilon_per_day": 1.0})
    campaign, _, _ = await seed_ledger(
        session, owner_id=int(advertiser["id"]), base=hours_ago(8), seed=3
    )
    await sign_in(client, advertiser)
    page = await client.get(f"/dashboard/campaigns/{campaign}")
    assert page.status_code == 429
    assert int(page.headers["Retry-After"]) > 0
    assert 'id="budget-spent"' in page.text
    assert "data access budget" in page.text
