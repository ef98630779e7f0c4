"""Report ranges: snapped outward to whole hours, finished hours only, bucketed for the series."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from geo.core.errors import Unprocessable

HOUR = timedelta(hours=1)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
MAX_SPAN = {"hour": timedelta(days=31), "day": timedelta(days=400)}


@dataclass(frozen=True, slots=True)
class Bucket:
    start: datetime  # clipped to the range
    end: datetime
    key: datetime  # the bucket's own start (date_trunc), which may precede the range


def floor_hour(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return moment.replace(minute=0, second=0, microsecond=0)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def snap_range(
    start: datetime, end: datetime, *, now: datetime, granularity: str
) -> tuple[datetime, datetime]:
    """Whole hours around [start, end), cut at the last finished hour; 422 on nonsense."""
    start, end = _utc(start), _utc(end)
    errors = []
    if not EARLIEST <= start <= LATEST:
        errors.append({"field": "query.from", "message": "must be between 2000 and 2100"})
    if not EARLIEST <= end <= LATEST:
        errors.append({"field": "query.to", "message": "must be between 2000 and 2100"})
    if not errors and end < start:
        errors.append({"field": "query.to", "message": "must not be before from"})
    if errors:
        raise Unprocessable("The report range is invalid.", errors=errors)
    snapped_start = floor_hour(start)
    snapped_end = floor_hour(end) + (HOUR if end != floor_hour(end) else timedelta(0))
    # The running hour still changes; answering it would let two calls minutes apart differ.
    snapped_end = min(snapped_end, floor_hour(now))
    if snapped_end - snapped_start > MAX_SPAN[granularity]:
        days = MAX_SPAN[granularity].days
        message = f"{granularity} series span at most {days} days"
        raise Unprocessable(
            "The report range is too long.",
            errors=[{"field": "query.granularity", "message": message}],
        )
    return snapped_start, max(snapped_start, snapped_end)


def buckets(start: datetime, end: datetime, *, granularity: str, tz: str) -> list[Bucket]:
    """The series buckets covering [start, end): UTC hours, or days in the campaign's zone."""
    out: list[Bucket] = []
    if granularity == "hour":
        moment = start
        while moment < end:
            out.append(Bucket(moment, moment + HOUR, moment))
            moment += HOUR
        return out
    zone = ZoneInfo(tz)
    local = start.astimezone(zone)
    day = datetime(local.year, local.month, local.day, tzinfo=zone)
    while day.astimezone(UTC) < end:
        following = (day + timedelta(days=1, hours=3)).replace(hour=0)  # DST-safe next midnight
        key = day.astimezone(UTC)
        # A day holds the UTC hours that start in it: in a zone with a half- or quarter-hour
        # offset (Asia/Kolkata, Asia/Kathmandu) it runs from the first whole hour after its
        # local midnight. The bucket says so, so its range is exactly what it counts.
        first, last = ceil_hour(key), ceil_hour(following.astimezone(UTC))
        if first < end and last > start:
            out.append(Bucket(max(first, start), min(last, end), key))
        day = following
    return out


def ceil_hour(moment: datetime) -> datetime:
    floor = floor_hour(moment)
    return floor if floor == moment else floor + HOUR
