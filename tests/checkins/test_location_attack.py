"""An attacker tries every read endpoint to locate check-ins made public at `area` precision.

Several authors each check in publicly (area) at a venue; decoy venues share their cells. A
stranger then reads everything it may: the single check-in, the author's list, the public
streams, the check-in lists of every place in a box around the cell (`GET /v1/places?bbox=`), and
the local public stream on grids of points with shrinking radii, refining around every hit,
paging with cursors. It must do no better than the cell: the median error of its estimates is at
least MIN_MEDIAN_ERROR_M (an H3 resolution-7 cell has ~1.2 km edges; its centre is the best it
may learn). The same attack finds the venue to a few metres if the public position is the venue.
"""

import math
import random
import statistics

import h3

from geo.core.geodesy import haversine_m
from geo.fanout.worker import drain
from tests.conftest import make_account
from tests.places.factories import create_place

MIN_MEDIAN_ERROR_M = 150.0
TOKYO = (35.69, 139.72)
VENUES = 5
RADII = [800.0, 400.0, 200.0, 100.0, 50.0, 25.0]
GRID = [-2, -1, 0, 1, 2]  # 5 x 5 points around the current estimate, r / 2 apart


def _offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    return (
        lat + north_m / 111_320.0,
        lon + east_m / (111_320.0 * math.cos(math.radians(lat))),
    )


def _venues() -> list[tuple[float, float]]:
    """Deterministic spots across central Tokyo, at least 3 km apart (different cells)."""
    rng, spots = random.Random(20261130), []
    while len(spots) < VENUES:
        spot = _offset(*TOKYO, rng.uniform(-8000, 8000), rng.uniform(-8000, 8000))
        if all(haversine_m(*spot, *other) > 3000 for other in spots):
            spots.append(spot)
    return spots


class Attacker:
    def __init__(self, client, who: dict) -> None:  # type: ignore[no-untyped-def]
        self.client, self.headers = client, who["headers"]
        self.requests = 0

    async def get(self, path: str, **params: object) -> dict:
        self.requests += 1
        response = await self.client.get(path, params=params, headers=self.headers)
        assert response.status_code == 200, (path, response.text)
        return response.json()

    async def local_ids(self, lat: float, lon: float, radius: float) -> set[str]:
        """Every id of the local stream there, page by page; each cursor must be an id returned."""
        ids: list[str] = []
        cursor = None
        while True:
            params = {"lat": lat, "lon": lon, "radius_m": radius, "limit": 20}
            body = await self.get(
                "/v1/timelines/public", **params, **({"before": cursor} if cursor else {})
            )
            got = [i["id"] for i in body["items"]]
            assert got == sorted(got, key=int, reverse=True), "newest first, never by distance"
            ids += got
            if body["next"] is None:
                return set(ids)
            assert body["next"] == got[-1], "a cursor is the last item returned"
            cursor = body["next"]

    async def venue_lists(self, checkin_id: str, cell: str) -> tuple[float, float] | None:
        """Walk every place in a box around the cell and ask its check-in list."""
        lats, lons = zip(*h3.cell_to_boundary(cell), strict=True)
        box = f"{min(lons) - 0.005},{min(lats) - 0.005},{max(lons) + 0.005},{max(lats) + 0.005}"
        for place in (await self.get("/v1/places", bbox=box, limit=100))["items"]:
            listed = await self.get(f"/v1/places/{place['id']}/checkins", limit=100)
            if checkin_id in {i["id"] for i in listed["items"]}:
                return place["lat"], place["lon"]
        return None

    async def grid_search(self, checkin_id: str, start: tuple[float, float]) -> tuple[float, float]:
        """Refine around the hits: the mean of the grid points whose local stream holds the id,
        at ever smaller radii, until no point of the grid finds it."""
        estimate = start
        for radius in RADII:
            step = radius / 2
            hits = []
            for dn in GRID:
                for de in GRID:
                    point = _offset(*estimate, dn * step, de * step)
                    if checkin_id in await self.local_ids(*point, radius):
                        hits.append(point)
            if not hits:
                break
            estimate = (
                statistics.fmean(p[0] for p in hits),
                statistics.fmean(p[1] for p in hits),
            )
        return estimate

    async def locate(self, checkin_id: str, author_id: str) -> tuple[float, float]:
        view = await self.get(f"/v1/checkins/{checkin_id}")
        listed = await self.get(f"/v1/accounts/{author_id}/checkins")
        public = await self.get("/v1/timelines/public", limit=100)
        for item in [view, *listed["items"], *public["items"]]:
            if item["id"] == checkin_id and item["place"]["precision"] == "exact":
                return item["place"]["lat"], item["place"]["lon"]
        at_venue = await self.venue_lists(checkin_id, view["place"]["cell"])
        if at_venue is not None:
            return at_venue
        return await self.grid_search(checkin_id, (view["place"]["lat"], view["place"]["lon"]))


async def test_an_attacker_learns_no_more_than_the_cell(app, client, redis):
    business = await make_account(client, kind="business")
    attacker = Attacker(client, await make_account(client))
    targets = []
    for n, (lat, lon) in enumerate(_venues()):
        venue = (
            await create_place(client, business["headers"], name=f"Target {n}", lat=lat, lon=lon)
        ).json()
        # Decoys in the same neighbourhood, so that walking the venues has candidates to try.
        for d, (north, east) in enumerate([(300, 0), (0, -350), (-250, 250)]):
            decoy = _offset(lat, lon, north, east)
            await create_place(
                client, business["headers"], name=f"Decoy {n}.{d}", lat=decoy[0], lon=decoy[1]
            )
        author = await make_account(client)
        made = await client.post(
            "/v1/checkins",
            headers=author["headers"],
            json={
                "place_id": venue["id"],
                "lat": lat,
                "lon": lon,
                "accuracy_m": 10,
                "audience": {"public": True},
                "public_precision": "area",
            },
        )
        assert made.status_code == 201, made.text
        targets.append((made.json()["id"], author["id"], (lat, lon)))
    await drain(app.state.db, redis)

    errors = []
    for checkin_id, author_id, venue in targets:
        estimate = await attacker.locate(checkin_id, author_id)
        errors.append(haversine_m(*estimate, *venue))
    assert attacker.requests > 100 * VENUES  # the attack really ran
    assert statistics.median(errors) >= MIN_MEDIAN_ERROR_M, errors
