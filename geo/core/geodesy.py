"""Distances on the Earth computed in Python; PostGIS computes the rest in SQL.

One helper for every domain (plausibility, seeding, the ads index, the dashboard's maps). The Lua
script in `geo/ads/traffic.py` repeats `haversine_m` inside Redis, with the same radius.
"""

import math

import numpy as np

EARTH_RADIUS_M = 6_371_008.8  # the mean radius (IUGG)
# Metres per degree for local, flat drawings (equirectangular); not for distances.
M_PER_DEG_LAT = 110_540.0
M_PER_DEG_LON_AT_EQUATOR = 111_320.0


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres on the mean sphere."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    # min(): rounding can push `a` a hair above 1 for antipodal points.
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, a)))


def haversine_m_many(lat: float, lon: float, lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    """`haversine_m` from one point to many at once (the ads index's candidates)."""
    p1, p2 = np.radians(lat), np.radians(lats)
    dp, dl = p2 - p1, np.radians(lons - lon)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(1.0, a)))


def local_offset_m(lat0: float, lon0: float, lat: float, lon: float) -> tuple[float, float]:
    """(east, north) metres from (lat0, lon0) on a flat local projection, for drawing a
    neighbourhood to scale; good to a few per cent over a few kilometres."""
    east = (lon - lon0) * M_PER_DEG_LON_AT_EQUATOR * math.cos(math.radians(lat0))
    north = (lat - lat0) * M_PER_DEG_LAT
    return east, north
