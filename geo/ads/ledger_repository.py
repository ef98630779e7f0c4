"""SQL of the money side: budget leases, the impression and holdout ledger, clicks."""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True, slots=True)
class LeaseState:
    budget_total: int
    budget_daily: int
    leased_total_milli: int
    leased_today_milli: int
    live: bool  # active and not past its end: only a live campaign may lease


class LedgerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lease_state(
        self, campaign_id: int, day: date, *, lock: bool = False
    ) -> LeaseState | None:
        """Budgets and what was leased so far; `lock` serialises leases of one campaign."""
        if lock:
            # Lock in its own statement: under READ COMMITTED the sums below must be read by a
            # statement that starts after the lock is granted, or they miss the previous holder's
            # lease (a single SELECT ... FOR UPDATE keeps its pre-wait snapshot for subqueries).
            locked = await self.session.execute(
                text("SELECT 1 FROM campaigns WHERE id = :id FOR UPDATE"), {"id": campaign_id}
            )
            if locked.first() is None:
                return None
        sql = text("""
            SELECT c.budget_total, c.budget_daily,
                   coalesce((SELECT sum(leased_milli_yen) FROM ad_budget_leases
                             WHERE campaign_id = c.id), 0),
                   coalesce((SELECT leased_milli_yen FROM ad_budget_leases
                             WHERE campaign_id = c.id AND day = :day), 0),
                   c.status = 'active' AND c.ends_at > now()
            FROM campaigns c WHERE c.id = :id""")
        row = (await self.session.execute(sql, {"id": campaign_id, "day": day})).first()
        if row is None:
            return None
        total, daily, leased_total, leased_today = (int(v) for v in row[:4])
        return LeaseState(total, daily, leased_total, leased_today, live=bool(row[4]))

    async def add_lease(self, campaign_id: int, day: date, milli_yen: int) -> None:
        """Record more budget handed to Redis (negative: unspent budget handed back)."""
        sql = text("""
            INSERT INTO ad_budget_leases AS l (campaign_id, day, leased_milli_yen)
            VALUES (:id, :day, :amount)
            ON CONFLICT (campaign_id, day)
            DO UPDATE SET leased_milli_yen = l.leased_milli_yen + excluded.leased_milli_yen""")
        await self.session.execute(sql, {"id": campaign_id, "day": day, "amount": milli_yen})

    async def insert_impressions(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        sql = text("""
            INSERT INTO ad_impressions (id, campaign_id, viewer_id, served_at, position,
                                        distance_m, cost_milli_yen)
            SELECT i, c, v, t, ST_SetSRID(ST_MakePoint(x, y), 4326)::geography, d, cost
            FROM unnest(CAST(:ids AS bigint[]), CAST(:cs AS bigint[]), CAST(:vs AS bigint[]),
                        CAST(:ts AS timestamptz[]), CAST(:xs AS float8[]), CAST(:ys AS float8[]),
                        CAST(:ds AS float8[]), CAST(:costs AS bigint[]))
                 AS u(i, c, v, t, x, y, d, cost)
            ON CONFLICT (id) DO NOTHING""")
        await self.session.execute(sql, _columns(rows) | {"costs": [r["cost"] for r in rows]})

    async def insert_holdouts(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        sql = text("""
            INSERT INTO ad_holdouts (id, campaign_id, viewer_id, logged_at, position, distance_m)
            SELECT i, c, v, t, ST_SetSRID(ST_MakePoint(x, y), 4326)::geography, d
            FROM unnest(CAST(:ids AS bigint[]), CAST(:cs AS bigint[]), CAST(:vs AS bigint[]),
                        CAST(:ts AS timestamptz[]), CAST(:xs AS float8[]), CAST(:ys AS float8[]),
                        CAST(:ds AS float8[])) AS u(i, c, v, t, x, y, d)
            ON CONFLICT (id) DO NOTHING""")
        await self.session.execute(sql, _columns(rows))

    async def insert_click(
        self, *, impression_id: int, campaign_id: int, viewer_id: int, clicked_at: datetime
    ) -> bool:
        """Record a click once; False when this impression was clicked before."""
        sql = text("""
            INSERT INTO ad_clicks (impression_id, campaign_id, viewer_id, clicked_at)
            VALUES (:i, :c, :v, :t) ON CONFLICT (impression_id) DO NOTHING RETURNING 1""")
        result = await self.session.execute(
            sql, {"i": impression_id, "c": campaign_id, "v": viewer_id, "t": clicked_at}
        )
        return result.first() is not None

    async def exposures_since(
        self, campaign_id: int, *, since: datetime, since_id: int
    ) -> list[tuple[int, int, datetime]]:
        """(viewer, event id, time) of the campaign's impressions and holdouts from `since` on
        (both count towards a frequency cap); `since_id` prunes the id-partitioned ledgers."""
        sql = text("""
            SELECT viewer_id, id, served_at FROM ad_impressions
            WHERE campaign_id = :c AND id >= :since_id AND served_at > :since
            UNION ALL
            SELECT viewer_id, id, logged_at FROM ad_holdouts
            WHERE campaign_id = :c AND id >= :since_id AND logged_at > :since""")
        rows = await self.session.execute(
            sql, {"c": campaign_id, "since": since, "since_id": since_id}
        )
        return [(r[0], r[1], r[2]) for r in rows]


def _columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    return {
        "ids": [r["id"] for r in rows],
        "cs": [r["campaign_id"] for r in rows],
        "vs": [r["viewer_id"] for r in rows],
        "ts": [r["at"] for r in rows],
        "xs": [r["lon"] for r in rows],
        "ys": [r["lat"] for r in rows],
        "ds": [r["distance_m"] for r in rows],
    }
