"""All SQL of reports: the rollup recompute, rollup reads, attribution probes, the release log."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from geo.core.ids import id_floor_for
from geo.reports.bands import BAND_SQL

# One sketch shape everywhere: unions need equal parameters. log2m=12 gives 1.6% standard
# error past the explicit range; below 2^12*5/64 = 320 accounts a sketch stores the hashes (exact).
HLL_PARAMS = "12, 5, -1, 1"
HOUR = timedelta(hours=1)


# Clocks of different processes disagree: an id may be minted up to this long before or after
# the time its row records.
ID_SLACK = timedelta(hours=1)


def ids_between(column: str) -> str:
    """`column` (a ledger id) within the snowflake id range whose parameters `id_range` makes.

    The ledgers are partitioned by id (migration 0006_ledger) and an id is a snowflake minted
    when the event happened (geo/ads/decision.py), so a time range is also an id range. Saying it
    lets PostgreSQL prune the scan to the day partitions the range touches instead of probing
    every partition's index (bench/ledger_scale.py measured 3-4x the time without it at 50M
    rows). The bounds are plain bigint parameters, computed here: bounds computed in SQL from
    the timestamps (`geo_id_floor(:t - interval ...)`, a stable expression) are only known when
    the executor starts, so PostgreSQL planned every partition and its indexes before pruning
    them at run time, which cost the hour rollup more than its scan (docs/benchmarks.md, run 3)."""
    return f"{column} >= :id_lo AND {column} < :id_hi"


def id_range(lo: datetime, hi: datetime) -> dict[str, int]:
    """The parameters of `ids_between`: the ids of times [lo - slack, hi + slack)."""
    return {"id_lo": id_floor_for(lo - ID_SLACK), "id_hi": id_floor_for(hi + ID_SLACK)}


def ids_near(column: str, moment: str) -> str:
    """`column` (a ledger id) within the ids of [`moment` - :w - slack, `moment` + slack), where
    `moment` is a column of the outer row of a per-row probe and :w its look-back window.

    The statement-wide `ids_between` still leaves every day partition of the report's range to
    each probe; this bound, computed from the outer row, lets the executor prune each probe to
    the few days its window touches (PostgreSQL prunes a parameterized Append at every rescan).
    `geo_id_floor` is immutable SQL (migration 0006_ledger), so the bound is a plain expression of
    the outer row's column. Needs the :slack parameter (`SLACK`)."""
    slack = "CAST(:slack AS interval)"
    return (
        f"{column} >= geo_id_floor({moment} - CAST(:w AS interval) - {slack}) "
        f"AND {column} < geo_id_floor({moment} + {slack})"
    )


SLACK = {"slack": ID_SLACK}


def _hour(campaign_id: int, hour: datetime) -> dict[str, Any]:
    """The parameters of one (campaign, hour) of the rollup: :c, :h, :e and the hour's ids."""
    return {"c": campaign_id, "h": hour, "e": hour + HOUR, **id_range(hour, hour + HOUR)}


# Only what the author made public at the venue itself feeds an advertiser's figure: circle-only
# check-ins and public ones coarsened to an area or a city never count.
_PUBLIC = "ch.public AND ch.public_precision = 'exact'"
# The cells the service published (:ph, :pb: their hours and bands), of a campaign and range;
# band -1 rows are the rollup's per-hour unions.
_IS_PUBLISHED = (
    "(hour, band) IN (SELECT * FROM unnest(CAST(:ph AS timestamptz[]), CAST(:pb AS int[])))"
)
_PUBLISHED = f"campaign_id = :c AND hour >= :f AND hour < :t AND band >= 0 AND {_IS_PUBLISHED}"


@dataclass(frozen=True, slots=True)
class CampaignRow:
    id: int
    owner_id: int
    place_id: int
    name: str | None
    timezone: str
    starts_at: datetime
    ends_at: datetime
    place_name: str
    lat: float
    lon: float
    target_radius_m: int | None
    status: str
    budget_total: int
    budget_daily: int
    cap_count: int
    cap_hours: int


@dataclass(frozen=True, slots=True)
class Cells:
    """What a set of published cells adds up to."""

    impressions: int
    clicks: int
    spend_milli_yen: int
    reach: int


@dataclass(frozen=True, slots=True)
class Spend:
    total_milli_yen: int
    today_milli_yen: int


class ReportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def cell_accounts(
        self, campaign_id: int, start: datetime, end: datetime
    ) -> list[tuple[datetime, int, int]]:
        """(hour, band, accounts) of every cell of the range: the service decides which publish."""
        rows = await self.session.execute(
            text("""
            SELECT hour, band, accounts FROM report_hourly
            WHERE campaign_id = :c AND hour >= :f AND hour < :t AND band >= 0"""),
            {"c": campaign_id, "f": start, "t": end},
        )
        return [(h, int(b), int(a)) for h, b, a in rows]

    async def published_figures(
        self,
        campaign_id: int,
        start: datetime,
        end: datetime,
        *,
        unit: str,
        tz: str,
        published: list[tuple[datetime, int]],
    ) -> dict[tuple[str, Any], Cells]:
        """Sums and reach of the published cells: per bucket, band and in total.

        Estimating a sketch's cardinality is the costly step, so it is done as few times as
        possible: an hour whose bands are all published takes the hour's union stored by the
        rollup (band -1), and the total unites the five band sketches.
        """
        params = {
            "c": campaign_id,
            "f": start,
            "t": end,
            "tz": tz,
            "ph": [h for h, _ in published],
            "pb": [b for _, b in published],
        }
        out = await (self._hour_buckets(params) if unit == "hour" else self._day_buckets(params))
        rows = await self.session.execute(
            text(f"""
            WITH bands AS (
                SELECT band, sum(impressions) AS i, sum(clicks) AS c, sum(spend_milli_yen) AS s,
                       hll_union_agg(viewers) AS v
                FROM report_hourly WHERE {_PUBLISHED} GROUP BY band)
            SELECT band, i::bigint, c::bigint, s::bigint, hll_cardinality(v)::bigint FROM bands
            UNION ALL
            SELECT -1, sum(i)::bigint, sum(c)::bigint, sum(s)::bigint,
                   hll_cardinality(hll_union_agg(v))::bigint FROM bands HAVING count(*) > 0"""),
            params,
        )
        for band, impressions, clicks, spend, reach in rows:
            key = ("band", band) if band >= 0 else ("total", None)
            out[key] = Cells(impressions, clicks, spend, reach or 0)
        return out

    async def _day_buckets(self, params: dict[str, Any]) -> dict[tuple[str, Any], Cells]:
        rows = await self.session.execute(
            text(f"""
            SELECT date_trunc('day', hour, :tz) AS bucket, sum(impressions)::bigint,
                   sum(clicks)::bigint, sum(spend_milli_yen)::bigint,
                   hll_cardinality(hll_union_agg(viewers))::bigint
            FROM report_hourly WHERE {_PUBLISHED} GROUP BY 1"""),
            params,
        )
        return {("bucket", b): Cells(i, c, s, r or 0) for b, i, c, s, r in rows}

    async def _hour_buckets(self, params: dict[str, Any]) -> dict[tuple[str, Any], Cells]:
        rows = (
            await self.session.execute(
                text(f"""
            SELECT hour, sum(impressions) FILTER (WHERE band >= 0 AND pub),
                   sum(clicks) FILTER (WHERE band >= 0 AND pub),
                   sum(spend_milli_yen) FILTER (WHERE band >= 0 AND pub),
                   bool_and(pub) FILTER (WHERE band >= 0),
                   max(accounts) FILTER (WHERE band = -1)
            FROM (SELECT hour, band, impressions, clicks, spend_milli_yen, accounts,
                         {_IS_PUBLISHED} AS pub
                  FROM report_hourly
                  WHERE campaign_id = :c AND hour >= :f AND hour < :t) AS cells
            GROUP BY hour"""),
                params,
            )
        ).all()
        partial = [r[0] for r in rows if r[1] is not None and not r[4]]
        reach = {hour: accounts for hour, *_, everyone, accounts in rows if everyone}
        if partial:
            reach |= dict(
                (
                    await self.session.execute(
                        text(f"""
                SELECT hour, hll_cardinality(hll_union_agg(viewers))::bigint
                FROM report_hourly WHERE {_PUBLISHED} AND hour = ANY(:hours) GROUP BY hour"""),
                        {**params, "hours": partial},
                    )
                ).all()
            )
        return {
            ("bucket", hour): Cells(int(i), int(c), int(s), int(reach[hour]))
            for hour, i, c, s, _, _ in rows
            if i is not None
        }

    async def spend_before(self, campaign_id: int, day_start: datetime, end: datetime) -> Spend:
        """Milli-yen charged before `end` (a finished hour), in all and since `day_start`, from
        the rollup's whole-hour rows (band -1): every cell, published or not, as billed."""
        row = (
            await self.session.execute(
                text("""
            SELECT coalesce(sum(spend_milli_yen), 0)::bigint,
                   coalesce(sum(spend_milli_yen) FILTER (WHERE hour >= :d), 0)::bigint
            FROM report_hourly WHERE campaign_id = :c AND band = -1 AND hour < :t"""),
                {"c": campaign_id, "d": day_start, "t": end},
            )
        ).one()
        return Spend(int(row[0]), int(row[1]))

    async def holdout_accounts(self, campaign_id: int, start: datetime, end: datetime) -> int:
        value = await self.session.scalar(
            text("""
            SELECT hll_cardinality(hll_union_agg(viewers))::bigint FROM report_holdout_hourly
            WHERE campaign_id = :c AND hour >= :f AND hour < :t"""),
            {"c": campaign_id, "f": start, "t": end},
        )
        return int(value or 0)

    @asynccontextmanager
    async def generic_plans(self) -> AsyncIterator[None]:
        """The statements inside run on generic plans (the session's transaction only).

        The attribution reads probe the ledger per check-in over a week or more of day
        partitions. A custom plan prunes them when planning but still plans each remaining
        partition and its indexes, every time: at 68 partitions (3M rows) that made the visit
        reads 2x the one-table time. A generic plan is made once per connection and statement
        and prunes when the executor starts (docs/benchmarks.md, run 3). Not for the rollup:
        its hour's custom plan is cheap to make, and a generic one guessed an index AND over
        the primary key for the id range, which a bigger partition would pay for.
        On an error the setting is left as it is: the transaction is failed anyway."""
        await self.session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
        yield
        await self.session.execute(text("SET LOCAL plan_cache_mode TO DEFAULT"))

    async def visits(
        self,
        campaign: CampaignRow,
        start: datetime,
        end: datetime,
        window: timedelta,
        *,
        clip: int,
    ) -> tuple[int, int]:
        """(visits, visitors): check-ins in [start, end) at the place by accounts shown the ad
        `window` before, at most `clip` per author (so one person moves visits by `clip` at most).

        Each check-in probes the ledger once (a LATERAL ... LIMIT 1, which is an EXISTS the
        planner cannot turn into a join): as an EXISTS, the generic plan's guess of a few hundred
        rows per partition made it a hash semi-join over every impression of the range (2M rows
        read, 1.2 s at bench/reports_report.py's scale), where the probes through
        (campaign_id, viewer_id, served_at), pruned to their window's days by `ids_near`, take
        0.1 s (docs/benchmarks.md, campaign report).
        """
        row = (
            await self.session.execute(
                text(f"""
            SELECT coalesce(sum(least(n, :clip)), 0), count(*) FROM (
            SELECT ch.author_id, count(*) AS n FROM checkins ch
            CROSS JOIN LATERAL (SELECT 1 FROM ad_impressions i
                                WHERE i.campaign_id = :c AND i.viewer_id = ch.author_id
                                  AND {ids_between("i.id")} AND {ids_near("i.id", "ch.created_at")}
                                  AND i.served_at < ch.created_at
                                  AND i.served_at >= ch.created_at - CAST(:w AS interval)
                                LIMIT 1) AS shown
            WHERE ch.place_id = :p AND ch.created_at >= :f AND ch.created_at < :t AND {_PUBLIC}
            GROUP BY ch.author_id) AS per_author"""),
                {
                    "p": campaign.place_id,
                    "c": campaign.id,
                    "f": start,
                    "t": end,
                    "w": window,
                    "clip": clip,
                    **id_range(start - window, end),
                    **SLACK,
                },
            )
        ).one()
        return int(row[0]), int(row[1])

    async def converters(
        self,
        campaign: CampaignRow,
        start: datetime,
        end: datetime,
        window: timedelta,
        *,
        holdout: bool,
    ) -> int:
        """Accounts exposed (or held out) in [start, end) who checked in within `window` after.
        One probe per check-in, as `visits` (and for the same reason)."""
        table, at = ("ad_holdouts", "logged_at") if holdout else ("ad_impressions", "served_at")
        value = await self.session.scalar(
            text(f"""
            SELECT count(DISTINCT ch.author_id) FROM checkins ch
            CROSS JOIN LATERAL (SELECT 1 FROM {table} e
                                WHERE e.campaign_id = :c AND e.viewer_id = ch.author_id
                                  AND {ids_between("e.id")} AND {ids_near("e.id", "ch.created_at")}
                                  AND e.{at} >= greatest(CAST(:f AS timestamptz),
                                                        ch.created_at - CAST(:w AS interval))
                                  AND e.{at} < least(CAST(:t AS timestamptz), ch.created_at)
                                LIMIT 1) AS exposed
            WHERE ch.place_id = :p AND {_PUBLIC} AND ch.created_at > CAST(:f AS timestamptz)
              AND ch.created_at < CAST(:t AS timestamptz) + CAST(:w AS interval)"""),
            {
                "p": campaign.place_id,
                "c": campaign.id,
                "f": start,
                "t": end,
                "w": window,
                **id_range(start, end),
                **SLACK,
            },
        )
        return int(value or 0)

    async def cells(
        self, campaign_id: int, start: datetime, end: datetime
    ) -> list[tuple[int, int, int]]:
        """(H3 cell, impressions, accounts) of every map cell of the range (the service decides
        which clear the floor)."""
        rows = await self.session.execute(
            text("""
            SELECT cell, sum(impressions)::bigint,
                   hll_cardinality(hll_union_agg(viewers))::bigint AS accounts
            FROM report_cells WHERE campaign_id = :c AND hour >= :f AND hour < :t
            GROUP BY cell"""),
            {"c": campaign_id, "f": start, "t": end},
        )
        return [(int(c), int(i), int(a)) for c, i, a in rows]

    async def lock_access(self, owner_id: int) -> None:
        # Two concurrent reports of one owner must not both pass the data access budget.
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(7305, hashtext(CAST(:o AS text)))"),
            {"o": str(owner_id)},
        )

    async def released_before(self, campaign_id: int, figures: list[str]) -> set[str]:
        """Which of these figures were released before (their values are fixed: free again)."""
        rows = await self.session.execute(
            text("""SELECT figure FROM report_access
                    WHERE campaign_id = :c AND figure = ANY(:f)"""),
            {"c": campaign_id, "f": figures},
        )
        return {r[0] for r in rows}

    async def epsilon_spent(self, owner_id: int, day: date) -> float:
        """Epsilon spent on `day` by the figures of all the owner's campaigns together."""
        value = await self.session.scalar(
            text("""SELECT coalesce(sum(a.epsilon), 0) FROM report_access a
                    JOIN campaigns c ON c.id = a.campaign_id
                    WHERE c.owner_id = :o AND a.day = :d"""),
            {"o": owner_id, "d": day},
        )
        return float(value or 0)

    async def record_access(self, campaign_id: int, day: date, figures: dict[str, float]) -> None:
        if not figures:
            return
        await self.session.execute(
            text("""
            INSERT INTO report_access (campaign_id, figure, day, epsilon)
            SELECT :c, f, :d, e FROM unnest(CAST(:f AS text[]), CAST(:e AS real[])) AS u(f, e)
            ON CONFLICT DO NOTHING"""),
            {"c": campaign_id, "d": day, "f": list(figures), "e": list(figures.values())},
        )

    async def clickers(
        self, campaign_id: int, start: datetime, end: datetime, *, unit: str, tz: str
    ) -> dict[tuple[str, Any], int]:
        """Distinct accounts who clicked, by the hour their impression was served: per bucket,
        band and in total (the floor of clicks and CTR).

        Each click looks its impression up by primary key (LATERAL ... LIMIT 1: at most one row,
        and never a join the planner could hash): a hash join read every impression of the range
        to find the ~1 % that were clicked (0.9 s at 2M impressions; the lookups 0.35-0.4 s)."""
        rows = await self.session.execute(
            text(f"""
            SELECT bucket, band, GROUPING(bucket), GROUPING(band), count(DISTINCT viewer)
            FROM (SELECT date_trunc(:u, i.served_at, :tz) AS bucket, {BAND_SQL} AS band,
                         k.viewer_id AS viewer
                  FROM ad_clicks k
                  CROSS JOIN LATERAL (SELECT served_at, distance_m FROM ad_impressions i
                                      WHERE i.id = k.impression_id AND i.campaign_id = :c
                                        AND {ids_between("i.id")}
                                        AND i.served_at >= :f AND i.served_at < :t
                                      LIMIT 1) AS i
                  WHERE k.campaign_id = :c AND {ids_between("k.impression_id")}) AS clicked
            GROUP BY GROUPING SETS ((bucket), (band), ())"""),
            {"c": campaign_id, "f": start, "t": end, "u": unit, "tz": tz, **id_range(start, end)},
        )
        out: dict[tuple[str, Any], int] = {}
        for bucket, band, no_bucket, no_band, n in rows:
            if not no_bucket:
                out[("bucket", bucket)] = int(n)
            elif not no_band:
                out[("band", int(band))] = int(n)
            else:
                out[("total", None)] = int(n)
        return out


class RollupRepository:
    """Recomputes rollup rows of one (campaign, hour) from the ledger; idempotent."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim_dirty(self, limit: int) -> list[tuple[int, datetime]]:
        rows = await self.session.execute(
            text("""
            SELECT campaign_id, hour FROM report_dirty ORDER BY hour
            LIMIT :n FOR UPDATE SKIP LOCKED"""),
            {"n": limit},
        )
        return [(int(c), h) for c, h in rows]

    async def forget_dirty(self, campaign_id: int, hour: datetime) -> None:
        await self.session.execute(
            text("DELETE FROM report_dirty WHERE campaign_id = :c AND hour = :h"),
            {"c": campaign_id, "h": hour},
        )

    async def recompute_exposures(self, campaign_id: int, hour: datetime) -> None:
        params = _hour(campaign_id, hour)
        await self.session.execute(
            text("DELETE FROM report_hourly WHERE campaign_id = :c AND hour = :h"), params
        )
        await self.session.execute(
            text(f"""
            INSERT INTO report_hourly (campaign_id, hour, band, impressions, clicks,
                                       spend_milli_yen, viewers, accounts)
            SELECT c, h, band, impressions, clicks, spend, viewers, hll_cardinality(viewers)
            FROM (SELECT CAST(:c AS bigint) AS c, CAST(:h AS timestamptz) AS h,
                         {BAND_SQL} AS band, count(*) AS impressions,
                         count(k.impression_id) AS clicks, sum(i.cost_milli_yen) AS spend,
                         hll_add_agg(hll_hash_bigint(i.viewer_id), {HLL_PARAMS}) AS viewers
                  FROM ad_impressions i LEFT JOIN ad_clicks k
                    ON k.impression_id = i.id AND {ids_between("k.impression_id")}
                  WHERE i.campaign_id = :c AND {ids_between("i.id")}
                    AND i.served_at >= :h AND i.served_at < :e
                  GROUP BY 3) AS cells"""),
            params,
        )
        # Band -1: the whole hour, so an hourly series needs no cardinality estimate per hour.
        await self.session.execute(
            text("""
            INSERT INTO report_hourly (campaign_id, hour, band, impressions, clicks,
                                       spend_milli_yen, viewers, accounts)
            SELECT CAST(:c AS bigint), CAST(:h AS timestamptz), -1, impressions, clicks,
                   spend, u, hll_cardinality(u)
            FROM (SELECT sum(impressions) AS impressions, sum(clicks) AS clicks,
                         sum(spend_milli_yen) AS spend, hll_union_agg(viewers) AS u
                  FROM report_hourly WHERE campaign_id = :c AND hour = :h AND band >= 0
                  HAVING count(*) > 0) AS everyone"""),
            params,
        )

    async def recompute_holdouts(self, campaign_id: int, hour: datetime) -> None:
        params = _hour(campaign_id, hour)
        await self.session.execute(
            text("DELETE FROM report_holdout_hourly WHERE campaign_id = :c AND hour = :h"), params
        )
        await self.session.execute(
            text(f"""
            INSERT INTO report_holdout_hourly (campaign_id, hour, logged, viewers)
            SELECT :c, :h, count(*), hll_add_agg(hll_hash_bigint(viewer_id), {HLL_PARAMS})
            FROM ad_holdouts WHERE campaign_id = :c AND {ids_between("id")}
              AND logged_at >= :h AND logged_at < :e
            HAVING count(*) > 0"""),
            params,
        )

    async def grid_points(self, campaign_id: int, hour: datetime) -> list[tuple[float, float]]:
        """Viewer positions of the hour rounded to 1e-4 degrees (about 10 m)."""
        rows = await self.session.execute(
            text(f"""
            SELECT DISTINCT round(ST_Y(position::geometry)::numeric, 4)::float8,
                            round(ST_X(position::geometry)::numeric, 4)::float8
            FROM ad_impressions WHERE campaign_id = :c AND {ids_between("id")}
              AND served_at >= :h AND served_at < :e"""),
            _hour(campaign_id, hour),
        )
        return [(float(a), float(b)) for a, b in rows]

    async def recompute_cells(
        self, campaign_id: int, hour: datetime, mapping: list[tuple[float, float, int]]
    ) -> None:
        params = _hour(campaign_id, hour)
        await self.session.execute(
            text("DELETE FROM report_cells WHERE campaign_id = :c AND hour = :h"), params
        )
        if not mapping:
            return
        params.update(
            lat=[m[0] for m in mapping], lon=[m[1] for m in mapping], cell=[m[2] for m in mapping]
        )
        await self.session.execute(
            text(f"""
            INSERT INTO report_cells (campaign_id, hour, cell, impressions, viewers)
            SELECT :c, :h, m.cell, count(*), hll_add_agg(hll_hash_bigint(i.viewer_id), {HLL_PARAMS})
            FROM ad_impressions i
            JOIN unnest(CAST(:lat AS float8[]), CAST(:lon AS float8[]), CAST(:cell AS bigint[]))
                 AS m(lat, lon, cell)
              ON m.lat = round(ST_Y(i.position::geometry)::numeric, 4)::float8
             AND m.lon = round(ST_X(i.position::geometry)::numeric, 4)::float8
            WHERE i.campaign_id = :c AND {ids_between("i.id")}
              AND i.served_at >= :h AND i.served_at < :e
            GROUP BY m.cell"""),
            params,
        )
