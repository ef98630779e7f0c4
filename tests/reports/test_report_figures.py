"""Every figure of a report equals what the raw ledger rows and check-ins say."""

from datetime import timedelta

from tests.reports.factories import hours_ago, seed_ledger
from tests.reports.truth import HOUR
from tests.reports.truth import band_of as _band_of  # noqa: F401  (documents the band rule)

FIELDS = ("impressions", "reach", "clicks", "spend_milli_yen")


def _iso(moment) -> str:  # type: ignore[no-untyped-def]
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_hourly_report_matches_the_raw_ledger(client, session, advertiser, small_k):
    base = hours_ago(60)
    campaign, _, ledger = await seed_ledger(session, owner_id=int(advertiser["id"]), base=base)
    start, end = base, base + 6 * HOUR
    response = await client.get(
        f"/v1/campaigns/{campaign}/report",
        headers=advertiser["headers"],
        params={"from": _iso(start), "to": _iso(end), "granularity": "hour"},
    )
    assert response.status_code == 200, response.text
    report = response.json()
    want = ledger.figures(start, end, small_k)
    assert {f: report[f] for f in FIELDS} == want
    assert report["spend"] == (want["spend_milli_yen"] + 500) // 1000
    assert report["frequency"] == round(want["impressions"] / want["reach"], 4)
    assert report["ctr"] == round(want["clicks"] / want["impressions"], 6)
    assert len(report["series"]) == 6
    for i, point in enumerate(report["series"]):
        lo = start + i * HOUR
        assert point["start"] == _iso(lo)
        assert {f: point[f] for f in FIELDS} == ledger.figures(
            start, end, small_k, bucket=(lo, lo + HOUR)
        )
    for band in report["by_distance"]:
        expected = ledger.figures(start, end, small_k, band=band["band"])
        assert {f: band[f] for f in FIELDS} == expected, band
    # The far cell of two viewers is under the floor: its band is withheld everywhere.
    far = report["by_distance"][-1]
    assert far["impressions"] is None
    assert far["suppressed"] is True

    visits, visitors = ledger.visits(start, end)
    assert (report["visits"], report["visitors"]) == (visits, visitors)
    converters = ledger.converters(start, end, holdout=False)
    assert report["converters"] == converters
    assert report["visit_rate"] == round(converters / want["reach"], 6)
    lift = report["lift"]
    assert lift["holdout"]["accounts"] == ledger.holdout_accounts(start, end)
    assert lift["holdout"]["visitors"] == ledger.converters(start, end, holdout=True)
    assert lift["exposed"]["accounts"] == want["reach"]
    assert lift["verdict"] in ("positive", "negative", "inconclusive")
    low, high = lift["ci95"]
    assert low <= lift["lift"] <= high


async def test_daily_series_sums_its_published_hours(client, session, advertiser, small_k):
    base = hours_ago(60)
    campaign, _, ledger = await seed_ledger(
        session, owner_id=int(advertiser["id"]), base=base, seed=11, hours=30, n_viewers=30
    )
    start, end = base, base + 30 * HOUR
    response = await client.get(
        f"/v1/campaigns/{campaign}/report",
        headers=advertiser["headers"],
        params={"from": _iso(start), "to": _iso(end)},
    )
    report = response.json()
    assert report["granularity"] == "day"
    assert report["timezone"] == "Asia/Tokyo"
    assert {f: report[f] for f in FIELDS} == ledger.figures(start, end, small_k)
    # Days are Tokyo days, clipped to the range; together they cover it exactly.
    points = report["series"]
    assert points[0]["start"] == _iso(start)
    assert points[-1]["end"] == _iso(end)
    for point in points:
        from datetime import datetime

        lo = datetime.fromisoformat(point["start"].replace("Z", "+00:00"))
        hi = datetime.fromisoformat(point["end"].replace("Z", "+00:00"))
        assert (hi - lo) <= timedelta(days=1)
        assert {f: point[f] for f in FIELDS} == ledger.figures(start, end, small_k, bucket=(lo, hi))
    assert sum(p["impressions"] or 0 for p in points) == report["impressions"]


async def test_csv_is_the_series(client, session, advertiser, small_k):
    base = hours_ago(60)
    campaign, _, _ = await seed_ledger(session, owner_id=int(advertiser["id"]), base=base)
    params = {"from": _iso(base), "to": _iso(base + 6 * HOUR), "granularity": "hour"}
    url = f"/v1/campaigns/{campaign}/report"
    report = (await client.get(url, headers=advertiser["headers"], params=params)).json()
    response = await client.get(url + ".csv", headers=advertiser["headers"], params=params)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    lines = response.text.strip().split("\n")
    assert lines[0].startswith("start,end,impressions,reach")
    assert len(lines) == 1 + len(report["series"])
    for line, point in zip(lines[1:], report["series"], strict=True):
        cells = line.split(",")
        assert cells[0] == point["start"]
        assert cells[2] == ("" if point["impressions"] is None else str(point["impressions"]))
        assert cells[-1] == ("true" if point["suppressed"] else "false")
