"""`geo seed`: real venues from seed_data/ (OpenStreetMap POIs and ekidata stations).

Idempotent: each row carries its source and a stable key, and a row whose normalised name already
stands within 50 m is skipped, so a second run inserts nothing.
"""

import csv
import hashlib
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
from tqdm import tqdm

from geo.core.config import Settings, driver_url
from geo.core.geodesy import haversine_m
from geo.places.names import normalize_name
from geo.places.seed_repository import PlaceBulkRepository
from geo.places.service import DUPLICATE_RADIUS_M

# OSM amenity/shop values in osm_japan_pois.csv -> our category ids.
OSM_CATEGORIES = {
    "convenience": "convenience-store",
    "police": "police-station",
    "restaurant": "restaurant",
    "parking": "parking",
    "toilets": "public-restroom",
    "fuel": "gas-station",
    "cafe": "cafe",
    "library": "library",
    "hotel": "hotel",
    "atm": "atm",
    "wifi": "wifi-hotspot",
    "cinema": "movie-theater",
    "theme_park": "theme-park",
}
# Lines of one station name within this distance are one station (Shinjuku has 12 rows, 500 m).
STATION_MERGE_M = 700.0
SUBWAY_OPERATORS = ("東京メトロ", "都営", "市営地下鉄", "地下鉄")
BATCH = 5000


@dataclass(frozen=True)
class SeedPlace:
    name: str
    category: str
    lat: float
    lon: float
    address: str | None
    source: str
    source_ref: str


def read_osm_pois(path: Path) -> Iterator[SeedPlace]:
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            name = " ".join((row.get("name") or "").split())
            category = OSM_CATEGORIES.get(row.get("category") or "")
            if not name or category is None:
                continue
            try:
                lat, lon = float(row["lat"]), float(row["lon"])
            except (TypeError, ValueError):
                continue
            key = f"{row['category']}|{name}|{lat:.7f}|{lon:.7f}"
            yield SeedPlace(
                name[:200],
                category,
                lat,
                lon,
                None,
                "osm",
                hashlib.sha1(key.encode()).hexdigest()[:20],
            )


def read_stations(path: Path) -> Iterator[SeedPlace]:
    """One place per station: the rows of one name (one per line) within 700 m are merged."""
    by_name: dict[str, list[dict[str, str]]] = defaultdict(list)
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["status"] != "2":  # 2 = closed
                by_name[row["name"]].append(row)
    for name, rows in by_name.items():
        clusters: list[list[dict[str, str]]] = []
        for row in sorted(rows, key=lambda r: r["station_cd"]):
            lat, lon = float(row["lat"]), float(row["lon"])
            for cluster in clusters:
                head = cluster[0]
                if haversine_m(lat, lon, float(head["lat"]), float(head["lon"])) <= STATION_MERGE_M:
                    cluster.append(row)
                    break
            else:
                clusters.append([row])
        for cluster in clusters:
            lat = sum(float(r["lat"]) for r in cluster) / len(cluster)
            lon = sum(float(r["lon"]) for r in cluster) / len(cluster)
            subway = all(r["company"].startswith(SUBWAY_OPERATORS) for r in cluster)
            yield SeedPlace(
                f"{name}駅",
                "subway-station" if subway else "train-station",
                lat,
                lon,
                cluster[0]["address"] or None,
                "ekidata",
                cluster[0]["station_cd"],
            )


def drop_duplicates(places: list[SeedPlace]) -> list[SeedPlace]:
    """The service's duplicate rule applied within the seed: same normalised name within 50 m."""
    kept: list[SeedPlace] = []
    seen: dict[str, list[SeedPlace]] = defaultdict(list)
    for place in places:
        key = normalize_name(place.name)
        if not key:
            continue
        if any(
            haversine_m(place.lat, place.lon, o.lat, o.lon) <= DUPLICATE_RADIUS_M for o in seen[key]
        ):
            continue
        seen[key].append(place)
        kept.append(place)
    return kept


def seed_places(settings: Settings, seed_dir: Path, *, progress: bool = True) -> str:
    stations = list(read_stations(seed_dir / "jp_stations.csv"))
    pois = list(read_osm_pois(seed_dir / "osm_japan_pois.csv"))
    places = drop_duplicates(stations + pois)
    url = driver_url(settings.database_url, "psycopg").replace("postgresql+psycopg", "postgresql")
    inserted = 0
    with psycopg.connect(url) as conn:
        repo = PlaceBulkRepository(conn)
        before = repo.count()
        with tqdm(
            total=len(places), unit="place", desc="seeding places", disable=not progress
        ) as bar:
            for start in range(0, len(places), BATCH):
                batch = places[start : start + BATCH]
                with conn.transaction():
                    repo.create_staging()
                    repo.copy_into_staging(
                        (
                            p.name,
                            normalize_name(p.name),
                            p.category,
                            p.lon,
                            p.lat,
                            p.address,
                            p.source,
                            p.source_ref,
                        )
                        for p in batch
                    )
                    inserted += repo.insert_new_from_staging(duplicate_radius_m=DUPLICATE_RADIUS_M)
                # Fresh statistics keep the duplicate probe on the indexes as the table grows.
                repo.analyze()
                bar.update(len(batch))
        after = repo.count()
    return (
        f"seed: {len(stations)} stations and {len(pois)} named POIs read, "
        f"{len(places)} after duplicate rule; {inserted} inserted; places {before} -> {after}"
    )
