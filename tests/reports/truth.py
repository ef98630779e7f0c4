"""Ground truth: every report figure recomputed in plain Python from the raw ledger rows."""

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from geo.reports.bands import BAND_EDGES_M

HOUR = timedelta(hours=1)
WINDOW = timedelta(days=7)
VISITS_CLIP = 5  # the README's stated clip of visits per person and range


def band_of(distance: float) -> int:
    return sum(1 for edge in BAND_EDGES_M if distance >= edge)


@dataclass
class Ledger:
    impressions: list[tuple[int, int, datetime, float]] = field(default_factory=list)  # id, viewer
    clicks: set[int] = field(default_factory=set)  # impression ids
    holdouts: list[tuple[int, datetime]] = field(default_factory=list)
    checkins: list[tuple[int, datetime]] = field(default_factory=list)
    cost: int = 300

    def atoms(self) -> dict[tuple[datetime, int], dict]:
        cells: dict[tuple[datetime, int], dict] = {}
        for imp_id, viewer, at, dist in self.impressions:
            key = (at.replace(minute=0, second=0, microsecond=0), band_of(dist))
            cell = cells.setdefault(key, {"imps": 0, "clicks": 0, "viewers": set()})
            cell["imps"] += 1
            cell["clicks"] += imp_id in self.clicks
            cell["viewers"].add(viewer)
        return cells

    def figures(
        self,
        start: datetime,
        end: datetime,
        k: int,
        *,
        hour: datetime | None = None,
        band: int | None = None,
        bucket: tuple[datetime, datetime] | None = None,
    ) -> dict:
        lo, hi = bucket or (start, end)
        chosen = [
            c
            for (h, b), c in self.atoms().items()
            if lo <= h < hi and len(c["viewers"]) >= k and (band is None or b == band)
        ]
        if not chosen:
            return {"impressions": None, "reach": None, "clicks": None, "spend_milli_yen": None}
        viewers = set().union(*(c["viewers"] for c in chosen))
        imps = sum(c["imps"] for c in chosen)
        # Clicks need k distinct clickers among the impressions served in the range (any cell).
        clickers = {
            v
            for i, v, at, dist in self.impressions
            if i in self.clicks and lo <= at < hi and (band is None or band_of(dist) == band)
        }
        return {
            "impressions": imps,
            "clicks": sum(c["clicks"] for c in chosen) if len(clickers) >= k else None,
            "spend_milli_yen": imps * self.cost,
            "reach": len(viewers) if len(viewers) >= k else None,
        }

    def visits(self, start: datetime, end: datetime) -> tuple[int, int]:
        hits = [
            (a, t)
            for a, t in self.checkins
            if start <= t < end
            and any(v == a and t - WINDOW <= s < t for _, v, s, _ in self.impressions)
        ]
        per_author = Counter(a for a, _ in hits)
        # At most VISITS_CLIP per person count, so one person moves visits by that much at most.
        return sum(min(n, VISITS_CLIP) for n in per_author.values()), len(per_author)

    def converters(self, start: datetime, end: datetime, *, holdout: bool) -> int:
        exposures = (
            [(v, s) for v, s in self.holdouts]
            if holdout
            else [(v, s) for _, v, s, _ in self.impressions]
        )
        return len(
            {
                a
                for a, t in self.checkins
                if start < t < end + WINDOW
                and any(v == a and max(start, t - WINDOW) <= s < min(end, t) for v, s in exposures)
            }
        )

    def holdout_accounts(self, start: datetime, end: datetime) -> int:
        return len({v for v, t in self.holdouts if start <= t < end})


def random_ledger(
    rng: random.Random,
    *,
    base: datetime,
    hours: int,
    viewers: list[int],
    held: list[int],
    others: list[int],
) -> Ledger:
    ledger = Ledger()
    next_id = iter(range(5_000_000, 6_000_000))
    for h in range(hours):
        for viewer in viewers:
            if rng.random() < 0.55:
                for _ in range(rng.randint(1, 3)):
                    at = base + h * HOUR + timedelta(minutes=rng.randint(0, 59))
                    dist = rng.choice((40.0, 180.0, 320.0, 700.0, 1500.0))
                    ledger.impressions.append((next(next_id), viewer, at, dist))
        for viewer in held:
            if rng.random() < 0.5:
                ledger.holdouts.append((viewer, base + h * HOUR + timedelta(minutes=30)))
    # A sparse cell: two far viewers in one hour, under any k >= 3.
    for viewer in viewers[:2]:
        ledger.impressions.append((next(next_id), viewer, base + timedelta(minutes=7), 5000.0))
    ledger.clicks = {i for i, *_ in ledger.impressions if rng.random() < 0.12}
    for author in viewers + held + others:
        for _ in range(rng.randint(0, 2)):
            ledger.checkins.append((author, base + timedelta(minutes=rng.randint(-120, 60 * 30))))
    return ledger
