"""Is the author plausibly where they claim? Stated rules, all answered 422 (rate: 429).

- accuracy worse than MAX_ACCURACY_M is refused;
- the reported position may be at most BASE_ALLOWANCE_M + ACCURACY_FACTOR x accuracy from the place;
- the implied speed since the author's previous check-in may not exceed MAX_SPEED_KMH.
"""

from datetime import datetime

from geo.core.errors import InvalidLocation
from geo.core.geodesy import haversine_m

MAX_ACCURACY_M = 1000.0
BASE_ALLOWANCE_M = 100.0
ACCURACY_FACTOR = 2.0
MAX_SPEED_KMH = 1000.0
MAX_PER_MINUTE = 10


def allowance_m(accuracy_m: float) -> float:
    return BASE_ALLOWANCE_M + ACCURACY_FACTOR * accuracy_m


def check_accuracy(accuracy_m: float) -> None:
    if accuracy_m > MAX_ACCURACY_M:
        raise InvalidLocation(
            f"Accuracy worse than {MAX_ACCURACY_M:.0f} m is not enough to check in.",
            errors=[{"field": "body.accuracy_m", "message": "too imprecise"}],
        )


def check_distance(distance_m: float, accuracy_m: float) -> None:
    if distance_m > allowance_m(accuracy_m):
        raise InvalidLocation(
            f"You are {distance_m:.0f} m from the place; at accuracy {accuracy_m:.0f} m at most "
            f"{allowance_m(accuracy_m):.0f} m is allowed.",
            errors=[{"field": "body.lat", "message": "too far from the place"}],
        )


def check_speed(
    *, previous: tuple[float, float, datetime] | None, lat: float, lon: float, now: datetime
) -> None:
    if previous is None:
        return
    plat, plon, then = previous
    hours = max((now - then).total_seconds(), 1.0) / 3600
    speed = haversine_m(plat, plon, lat, lon) / 1000 / hours
    if speed > MAX_SPEED_KMH:
        raise InvalidLocation(
            f"That is {speed:.0f} km/h from your previous check-in.",
            errors=[{"field": "body.lat", "message": "implausible travel speed"}],
        )
