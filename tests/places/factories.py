import httpx


async def create_place(
    client: httpx.AsyncClient,
    headers: dict,
    *,
    name: str = "Blue Bottle Kiyosumi",
    category: str = "coffee-shop",
    lat: float = 35.6806,
    lon: float = 139.7981,
    address: str | None = None,
) -> httpx.Response:
    body = {"name": name, "category": category, "lat": lat, "lon": lon}
    if address is not None:
        body["address"] = address
    return await client.post("/v1/places", json=body, headers=headers)
