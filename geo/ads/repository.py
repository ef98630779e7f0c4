"""Every query of campaigns and grants (spatial SQL included). Ledger writes: ledger_repository."""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

POINT = "ST_SetSRID(ST_MakePoint(CAST(:lon AS float8), CAST(:lat AS float8)), 4326)::geography"
PLACE_POINT = "(SELECT position FROM places WHERE id = :place_id)"
AREA = "ST_SetSRID(ST_GeomFromGeoJSON(:area), 4326)"
AREA_OR_NULL = f"CASE WHEN CAST(:area AS text) IS NULL THEN NULL ELSE {AREA}::geography END"

COLUMNS = """c.id, c.owner_id, c.place_id, c.name, c.headline, c.body, c.target_radius_m,
    CASE WHEN c.target_area IS NULL THEN NULL ELSE ST_AsGeoJSON(c.target_area::geometry) END,
    c.bid_cpm, c.budget_total, c.budget_daily, c.starts_at, c.ends_at, c.hours, c.timezone,
    c.categories, c.cap_count, c.cap_hours, c.status, c.holdout_share, c.created_at, c.updated_at"""

EDITABLE = (
    "name",
    "headline",
    "body",
    "target_radius_m",
    "bid_cpm",
    "budget_total",
    "budget_daily",
    "starts_at",
    "ends_at",
    "hours",
    "timezone",
    "categories",
    "cap_count",
    "cap_hours",
    "status",
    "holdout_share",
)


@dataclass(slots=True)
class CampaignRow:
    id: int
    owner_id: int
    place_id: int
    name: str
    headline: str
    body: str
    target_radius_m: int | None
    target_area: str | None  # GeoJSON text
    bid_cpm: int
    budget_total: int
    budget_daily: int
    starts_at: datetime
    ends_at: datetime
    hours: list[int] | None
    timezone: str
    categories: list[str] | None
    cap_count: int
    cap_hours: int
    status: str
    holdout_share: float
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AreaCheck:
    valid: bool
    reason: str
    area_km2: float


class CampaignRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def check_area(self, geojson: str) -> AreaCheck:
        """Validity (ST_IsValid, with the reason) and geodesic area of a GeoJSON polygon."""
        sql = text(f"""
            SELECT ST_IsValid(g), ST_IsValidReason(g),
                   CASE WHEN ST_IsValid(g) THEN ST_Area(g::geography) / 1e6 ELSE 0 END
            FROM (SELECT {AREA} AS g) x""")
        valid, reason, area = (await self.session.execute(sql, {"area": geojson})).one()
        return AreaCheck(bool(valid), str(reason), float(area))

    async def insert(self, values: dict[str, Any]) -> CampaignRow:
        target = self._target_sql(values)
        sql = text(f"""
            INSERT INTO campaigns AS c (owner_id, place_id, name, headline, body, target_radius_m,
                target_area, target, bid_cpm, budget_total, budget_daily, starts_at, ends_at,
                hours, timezone, categories, cap_count, cap_hours, status, holdout_share)
            VALUES (:owner_id, :place_id, :name, :headline, :body,
                CAST(:target_radius_m AS integer),
                {AREA_OR_NULL}, {target}, :bid_cpm, :budget_total, :budget_daily, :starts_at,
                :ends_at, :hours, :timezone, :categories, :cap_count, :cap_hours, :status,
                :holdout_share)
            RETURNING {COLUMNS}""")
        row = (await self.session.execute(sql, self._params(values))).one()
        return CampaignRow(*row)

    async def update(self, campaign_id: int, values: dict[str, Any]) -> CampaignRow:
        """Write every editable field (the service merged the edit) and take a new revision."""
        sets = ", ".join(
            f"{name} = CAST(:{name} AS integer)"
            if name == "target_radius_m"
            else f"{name} = :{name}"
            for name in EDITABLE
        )
        sql = text(f"""
            UPDATE campaigns AS c SET {sets}, target_area = {AREA_OR_NULL},
                target = {self._target_sql(values)}, updated_at = now(),
                revision = nextval('campaign_revision_seq')
            WHERE c.id = :id
            RETURNING {COLUMNS}""")
        params = self._params(values) | {"id": campaign_id}
        return CampaignRow(*(await self.session.execute(sql, params)).one())

    @staticmethod
    def _target_sql(values: dict[str, Any]) -> str:
        if values.get("target_radius_m") is not None:
            radius = "CAST(CAST(:target_radius_m AS integer) AS float8)"
            return f"ST_Buffer({PLACE_POINT}, {radius}, 32)"
        return f"{AREA}::geography"

    @staticmethod
    def _params(values: dict[str, Any]) -> dict[str, Any]:
        params = {name: values.get(name) for name in EDITABLE}
        params |= {
            "owner_id": values.get("owner_id"),
            "place_id": values["place_id"],
            "area": values.get("target_area"),
        }
        return params

    async def by_id_for_owner(
        self, campaign_id: int, owner_id: int, *, lock: bool = False
    ) -> CampaignRow | None:
        """The campaign if `owner_id` owns it and may still advertise its place: a business owner
        owns the place, an advertiser still holds its grant (a revoked grant reads as missing)."""
        suffix = " FOR UPDATE OF c" if lock else ""
        sql = text(f"""
            SELECT {COLUMNS} FROM campaigns c WHERE c.id = :id AND c.owner_id = :o
              AND {_STILL_ALLOWED}{suffix}""")
        row = (await self.session.execute(sql, {"id": campaign_id, "o": owner_id})).first()
        return CampaignRow(*row) if row else None

    async def by_id(self, campaign_id: int) -> CampaignRow | None:
        sql = text(f"SELECT {COLUMNS} FROM campaigns c WHERE c.id = :id")
        row = (await self.session.execute(sql, {"id": campaign_id})).first()
        return CampaignRow(*row) if row else None

    async def list_for_owner(
        self, owner_id: int, *, limit: int, before: int | None
    ) -> list[CampaignRow]:
        sql = text(f"""
            SELECT {COLUMNS} FROM campaigns c
            WHERE c.owner_id = :o AND {_STILL_ALLOWED}
              AND (CAST(:before AS bigint) IS NULL OR c.id < :before)
            ORDER BY c.id DESC LIMIT :limit""")
        rows = (
            await self.session.execute(sql, {"o": owner_id, "before": before, "limit": limit})
        ).all()
        return [CampaignRow(*r) for r in rows]

    async def is_granted(self, place_id: int, advertiser_id: int) -> bool:
        sql = text("SELECT 1 FROM place_advertisers WHERE place_id = :p AND advertiser_id = :a")
        return (
            await self.session.execute(sql, {"p": place_id, "a": advertiser_id})
        ).first() is not None

    async def grant(self, place_id: int, advertiser_id: int) -> None:
        sql = text("""INSERT INTO place_advertisers (place_id, advertiser_id) VALUES (:p, :a)
                      ON CONFLICT DO NOTHING""")
        await self.session.execute(sql, {"p": place_id, "a": advertiser_id})

    async def revoke(self, place_id: int, advertiser_id: int) -> None:
        sql = text("DELETE FROM place_advertisers WHERE place_id = :p AND advertiser_id = :a")
        await self.session.execute(sql, {"p": place_id, "a": advertiser_id})

    async def advertisable_places(self, account_id: int, limit: int) -> list[tuple[int, str]]:
        """(id, name) of the places the account owns or was granted, by name."""
        sql = text("""
            SELECT id, name FROM (
                SELECT p.id, p.name FROM places p WHERE p.owner_id = :a
                UNION
                SELECT p.id, p.name FROM places p
                JOIN place_advertisers g ON g.place_id = p.id WHERE g.advertiser_id = :a) AS mine
            ORDER BY lower(name), id LIMIT :n""")
        rows = await self.session.execute(sql, {"a": account_id, "n": limit})
        return [(int(i), str(n)) for i, n in rows]

    async def pause_at_place(self, place_id: int, owner_id: int) -> list[int]:
        """Pause the owner's live campaigns at the place (row-locked until commit); their ids."""
        sql = text("""
            UPDATE campaigns SET status = 'paused', updated_at = now(),
                revision = nextval('campaign_revision_seq')
            WHERE place_id = :p AND owner_id = :o AND status = 'active' RETURNING id""")
        return [int(r[0]) for r in await self.session.execute(sql, {"p": place_id, "o": owner_id})]


def area_json(polygon: dict[str, Any]) -> str:
    return json.dumps({"type": "Polygon", "coordinates": polygon["coordinates"]})


LIVE = "c.status = 'active' AND c.ends_at > now()"
# An owner sees a campaign only while it may advertise the place: it owns the place, or the
# place's owner still grants it (the grant's removal makes the campaign and its reports 404).
_STILL_ALLOWED = """(EXISTS (SELECT 1 FROM places p
                WHERE p.id = c.place_id AND p.owner_id = c.owner_id)
    OR EXISTS (SELECT 1 FROM place_advertisers g
               WHERE g.place_id = c.place_id AND g.advertiser_id = c.owner_id))"""


@dataclass(slots=True)
class ServingRow:
    """What the decision engine keeps of a live campaign (the target as WKB for areas)."""

    id: int
    owner_id: int
    place_id: int
    headline: str
    body: str
    target_radius_m: int | None
    target_area_wkb: bytes | None
    bid_cpm: int
    budget_daily: int
    starts_at: datetime
    ends_at: datetime
    hours: list[int] | None
    timezone: str
    categories: list[str] | None
    cap_count: int
    cap_hours: int
    holdout_share: float
    revision: int


class ServingRepository:
    """The decision engine's reads: which live campaigns changed, and their serving rows."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def fingerprint(self) -> tuple[int, int]:
        """(count, sum of revisions) of live campaigns: changes whenever any of them changes."""
        sql = text(f"SELECT count(*), coalesce(sum(revision), 0) FROM campaigns c WHERE {LIVE}")
        count, total = (await self.session.execute(sql)).one()
        return int(count), int(total)

    async def revisions(self) -> dict[int, int]:
        sql = text(f"SELECT c.id, c.revision FROM campaigns c WHERE {LIVE}")
        return {r[0]: r[1] for r in (await self.session.execute(sql)).all()}

    async def serving_rows(self, ids: list[int]) -> list[ServingRow]:
        sql = text(f"""
            SELECT c.id, c.owner_id, c.place_id, c.headline, c.body, c.target_radius_m,
                   CASE WHEN c.target_area IS NULL THEN NULL
                        ELSE ST_AsBinary(c.target_area::geometry) END,
                   c.bid_cpm, c.budget_daily, c.starts_at, c.ends_at, c.hours, c.timezone,
                   c.categories, c.cap_count, c.cap_hours, c.holdout_share, c.revision
            FROM campaigns c WHERE c.id = ANY(:ids) AND {LIVE}""")
        rows = (await self.session.execute(sql, {"ids": ids})).all()
        return [ServingRow(*r) for r in rows]

    async def covering_ids(self, lat: float, lon: float) -> set[int]:
        """Live campaigns whose stored target covers the point, by the GiST index on `target`
        (the cross-check of the in-process index, and what reports may use)."""
        sql = text(f"""
            SELECT c.id FROM campaigns c
            WHERE ST_Covers(c.target, {POINT}) AND {LIVE}""")
        return {r[0] for r in (await self.session.execute(sql, {"lat": lat, "lon": lon})).all()}
