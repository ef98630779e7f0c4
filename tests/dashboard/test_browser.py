"""A person in headless Chromium: signs in, buys a campaign, pauses it, reads its report.

Runs the real app (`geo serve`, workers in-process) on a loopback port against its own database;
the ledger rows stand in for a day of serving. Saves test-artifacts/dashboard*.png.
"""

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.conftest import TEST_DB_URL, plain, under_ci
from tests.live_server import geo_server

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
PASSWORD = "correct horse"


@pytest.fixture(scope="module")
def server(migrated_database):  # type: ignore[no-untyped-def]
    if not Path(CHROMIUM).exists():
        if under_ci():
            pytest.fail("chromium missing under CI (scripts/setup.sh installs it)")
        pytest.skip("chromium is not installed")
    url = TEST_DB_URL + "_browser"
    # Negligible noise (epsilon 1e9 per figure), so the page can be compared with the raw rows;
    # the noise is proved in tests/reports/test_noise.py and test_privacy.py.
    with geo_server(
        url,
        GEO_REPORT_K="3",
        GEO_REPORT_ROLLUP_POLL_SECONDS="0.1",
        GEO_REPORT_EPSILON="1e9",
        GEO_REPORT_EPSILON_PER_DAY="1e15",
    ) as base:
        yield base, url


def _serve_a_day(db_url: str, campaign_id: int, place_id: int, start: datetime) -> dict:
    """Ledger rows and check-ins for 40 viewers over 6 hours; returns the raw counts."""
    with psycopg.connect(plain(db_url), autocommit=True) as conn:
        viewers = [
            r[0]
            for r in conn.execute(
                "INSERT INTO accounts (handle, password_hash, kind) SELECT 'viewer' || g, 'x', "
                "'member' FROM generate_series(1, 40) g RETURNING id"
            ).fetchall()
        ]
        conn.execute(
            """
            INSERT INTO ad_impressions (id, campaign_id, viewer_id, served_at, position,
                                        distance_m, cost_milli_yen)
            SELECT geo_id_floor(%(s)s + make_interval(hours => h, mins => (n %% 50)::int))
                   + row_number() OVER (), %(c)s, v,
                   %(s)s + make_interval(hours => h, mins => (n %% 50)::int),
                   ST_Project(p.position, 60 + (n %% 7) * 90, radians((n * 37) %% 360)),
                   60 + (n %% 7) * 90, 300
            FROM unnest(%(v)s::bigint[]) WITH ORDINALITY AS u(v, n), generate_series(0, 5) h,
                 places p
            WHERE p.id = %(p)s AND (n + h) %% 3 <> 0""",
            {"c": campaign_id, "s": start, "v": viewers, "p": place_id},
        )
        conn.execute(
            """
            INSERT INTO ad_clicks (impression_id, campaign_id, viewer_id, clicked_at)
            SELECT id, campaign_id, viewer_id, served_at + interval '1 minute'
            FROM ad_impressions WHERE campaign_id = %(c)s AND id %% 9 = 0""",
            {"c": campaign_id},
        )
        conn.execute(
            """
            INSERT INTO checkins (author_id, place_id, position, accuracy_m, created_at, public,
                                  public_precision)
            SELECT v, %(p)s, (SELECT position FROM places WHERE id = %(p)s), 10,
                   %(s)s + interval '5 hours 30 minutes', true, 'exact'
            FROM unnest(%(v)s::bigint[]) WITH ORDINALITY AS u(v, n) WHERE n %% 4 = 0""",
            {"p": place_id, "s": start, "v": viewers},
        )
        for _ in range(100):
            if not conn.execute("SELECT count(*) FROM report_dirty").fetchone()[0]:
                break
            time.sleep(0.1)
        return dict(
            zip(
                ("impressions", "reach", "clicks"),
                conn.execute(
                    """
            SELECT count(*), count(DISTINCT viewer_id),
                   (SELECT count(*) FROM ad_clicks WHERE campaign_id = %(c)s)
            FROM ad_impressions WHERE campaign_id = %(c)s""",
                    {"c": campaign_id},
                ).fetchone(),
                strict=True,
            )
        )


def _kpi(page, label: str) -> str:  # type: ignore[no-untyped-def]
    return page.locator(".kpi", has_text=label).locator(".value").inner_text().strip()


def test_advertiser_buys_pauses_and_reads_a_report(server):
    from playwright.sync_api import sync_playwright

    base, db_url = server
    owner = httpx.post(
        base + "/v1/accounts",
        json={"handle": "kissa_owner", "password": PASSWORD, "kind": "business"},
    ).json()
    place = httpx.post(
        base + "/v1/places",
        headers={"Authorization": f"Bearer {owner['token']}"},
        json={"name": "Kissa Hanako", "category": "coffee-shop", "lat": 35.6815, "lon": 139.7660},
    ).json()
    ARTIFACTS.mkdir(exist_ok=True)
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=30)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        try:
            _walk_through(page, base, place, start, db_url)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "dashboard-failure.png"), full_page=True)
            raise
        finally:
            browser.close()


def _walk_through(
    page,
    base: str,
    place: dict,  # type: ignore[no-untyped-def]
    start: datetime,
    db_url: str,
) -> None:
    page.goto(base + "/dashboard")
    page.fill("#handle", "kissa_owner")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("text=Your campaigns")
    assert page.context.cookies()[0]["httpOnly"] is True
    assert page.context.cookies()[0]["sameSite"] == "Lax"

    page.click("text=New campaign")
    # The place is picked by name among those this account may advertise.
    page.select_option("#place_id", label="Kissa Hanako")
    assert page.input_value("#place_id") == place["id"]
    assert "At least 500 m" in page.locator("#min-size").inner_text()
    page.fill("#name", "Autumn blend")
    page.fill("#radius_m", "800")
    page.click("button[name=preview]")
    # The preview draws the H3 cells the radius reaches around the place, with no error yet.
    assert page.locator("svg.preview polygon.covered").count() > 20
    assert not page.locator(".error").count()
    assert page.input_value("#name") == "Autumn blend"
    page.fill("#bid_cpm", "0")
    page.fill("#budget_total", "5000")
    page.fill("#budget_daily", "9000")
    page.fill("#starts_at", (start + timedelta(hours=9)).strftime("%Y-%m-%dT%H:%M"))
    page.fill("#ends_at", (start + timedelta(days=30, hours=9)).strftime("%Y-%m-%dT%H:%M"))
    page.click("#create")
    # Mistakes are shown beside their fields, and what was typed stays.
    assert page.locator("#error-headline").inner_text() == "Required."
    assert "greater than or equal to 1" in page.locator("#error-bid_cpm").inner_text()
    assert page.input_value("#name") == "Autumn blend"
    page.screenshot(path=str(ARTIFACTS / "dashboard-form-errors.png"), full_page=True)
    page.fill("#headline", "New autumn blend, 50 m from the station")
    page.fill("#bid_cpm", "300")
    page.fill("#radius_m", "100")
    page.click("#create")
    # The ads service's own rules come back beside their fields too.
    assert "exceed" in page.locator("#error-budget_daily").inner_text()
    assert "too small to be anonymous" in page.locator("#error-radius_m").inner_text()
    assert not page.locator("#error-headline").count()
    assert page.input_value("#place_id") == place["id"], "the chosen place stays chosen"
    page.fill("#budget_daily", "1000")
    page.fill("#radius_m", "800")
    page.click("#create")
    page.wait_for_selector("h1:has-text('Autumn blend')")
    campaign_id = int(re.search(r"/campaigns/(\d+)", page.url).group(1))
    assert "active" in page.locator("h1 .status").inner_text()
    assert page.locator("#budget-left").inner_text() == "¥5,000"

    page.click("button:has-text('Pause')")
    page.wait_for_selector("h1 .status.paused")
    page.click("button:has-text('Resume')")
    page.wait_for_selector("h1 .status.active")

    truth = _serve_a_day(db_url, campaign_id, int(place["id"]), start)
    page.goto(
        f"{base}/dashboard/campaigns/{campaign_id}?from="
        f"{start:%Y-%m-%dT%H:%M:%SZ}&to={start + timedelta(hours=6):%Y-%m-%dT%H:%M:%SZ}"
        "&granularity=hour"
    )
    assert _kpi(page, "Impressions") == f"{truth['impressions']:,}"
    assert _kpi(page, "Reach") == f"{truth['reach']:,}"
    assert _kpi(page, "Clicks") == f"{truth['clicks']:,}"
    assert _kpi(page, "Store visits") == "10"
    assert page.locator("svg.chart rect:not(.withheld)").count() >= 6
    assert page.locator("svg.hexmap polygon.hex").count() > 0
    assert page.locator("#bands tr").count() == 6
    with page.expect_download() as download:
        page.click("text=Download CSV")
    csv = Path(download.value.path()).read_text()
    assert csv.startswith("start,end,impressions")
    assert len(csv.strip().split("\n")) == 7
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)


def test_responder_reads_the_public_emergency_page(server):
    """No account, no JavaScript: the area as an SVG map and k-floored counts by status."""
    import hashlib

    from playwright.sync_api import sync_playwright

    base, db_url = server
    with psycopg.connect(plain(db_url), autocommit=True) as conn:
        operator = conn.execute(
            "INSERT INTO accounts (handle, password_hash, kind) VALUES ('page_op', '!', "
            "'operator') RETURNING id"
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO account_tokens (token_hash, account_id, expires_at)"
            " VALUES (%s, %s, now() + interval '1 day')",
            (hashlib.sha256(b"page-op-token").digest(), operator),
        )
    declared = httpx.post(
        base + "/v1/emergencies",
        headers={"Authorization": "Bearer page-op-token"},
        json={
            "name": "Minato <quake>",
            "area": {"lat": 35.6586, "lon": 139.7454, "radius_m": 2000},
        },
    )
    assert declared.status_code == 201, declared.text
    emergency = declared.json()["id"]
    with psycopg.connect(plain(db_url), autocommit=True) as conn:
        # Four people safe (k = 3 here), one needing help (withheld: fewer than k).
        conn.execute(
            """
            WITH people AS (
                INSERT INTO accounts (handle, password_hash, kind)
                SELECT 'page_member' || n, '!', 'member' FROM generate_series(1, 5) n
                RETURNING id, handle)
            INSERT INTO safety_reports (emergency_id, author_id, status)
            SELECT %s, id, CASE WHEN handle = 'page_member5' THEN 'need_help' ELSE 'safe' END
            FROM people""",
            (emergency,),
        )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 800, "height": 900}, java_script_enabled=False)
        try:
            page.goto(f"{base}/emergencies/{emergency}")
            assert page.locator("h1").inner_text() == "Minato <quake>"
            assert page.locator("svg path#area").is_visible()
            box = page.locator("svg path#area").bounding_box()
            assert box is not None
            assert box["width"] > 100
            safe = page.locator('td[data-status="safe"]').inner_text()
            need = page.locator('td[data-status="need_help"]').inner_text()
            assert safe == "4"
            assert need == "fewer than 3"
            page.screenshot(path=str(ARTIFACTS / "emergency-page.png"), full_page=True)
        finally:
            browser.close()
