"""Budgets that are never overspent: Redis spends only what PostgreSQL leased to it first.

Every impression is checked and charged by one Lua script (`CHARGE`): the viewer's frequency cap,
today's paced share, the lease left, then the charge and the ledger event, all atomically, so
concurrent requests cannot spend past a budget or a cap.

Durability: Redis may spend a campaign's budget only after a lease row in PostgreSQL
(`ad_budget_leases`, per campaign and local day) recorded it as handed out; a lease never exceeds
the total budget, nor the day's budget and paced share. If Redis loses its data (and with it the
impressions still in the event stream), everything leased counts as spent: Redis starts again with
no lease and must lease afresh from what is left, so total and daily spend stay below their
budgets whatever was lost. What this costs is under-delivery of at most one unspent lease chunk per
loss (`ads_lease_chunk_impressions` impressions' worth), never overspend. Unspent lease of a past
day is handed back to PostgreSQL when Redis rolls the day over.
"""

import math
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from redis.commands.core import AsyncScript
from sqlalchemy.ext.asyncio import AsyncSession

from geo.ads import keys
from geo.ads.ledger_repository import LedgerRepository
from geo.core.redis import RedisClient

# KEYS: budget hash, viewer's cap zset, event stream.
# ARGV: day, price, paced limit (milli-yen spendable today so far), cap count, cap window ms,
#       now ms, event id, holdout flag, campaign id, viewer id, lat, lon, distance, stream cap,
#       low-water mark (answer 'low' instead of 'ok' when the lease left drops below it, so the
#       caller tops the lease up in the background before requests have to wait for it).
CHARGE = """
local b = KEYS[1]
if redis.call('HGET', b, 'day') ~= ARGV[1] then return 'day' end
if redis.call('HGET', b, 'caps') == 'lost' then return 'caps' end
local now, window = tonumber(ARGV[6]), tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then
  -- capped until the oldest exposure in the window ages out: tell the caller when
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')[2]
  return 'capped:' .. tostring(math.max(0, tonumber(oldest) + window - now))
end
local price = tonumber(ARGV[2])
if tonumber(redis.call('HGET', b, 'day_spent') or '0') + price > tonumber(ARGV[3]) then
  return 'paced'
end
if tonumber(redis.call('HGET', b, 'lease') or '0') < price then return 'lease' end
redis.call('ZADD', KEYS[2], now, ARGV[7])
redis.call('PEXPIRE', KEYS[2], window)
local kind = 'i'
if ARGV[8] == '1' then
  kind = 'h'
  redis.call('HINCRBY', b, 'h', 1)
  price = 0
else
  redis.call('HINCRBY', b, 'lease', -price)
  redis.call('HINCRBY', b, 'day_spent', price)
  redis.call('HINCRBY', b, 'spent', price)
  redis.call('HINCRBY', b, 'n', 1)
end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[14], '*', 'k', kind, 'id', ARGV[7],
           'c', ARGV[9], 'v', ARGV[10], 't', ARGV[6], 'lat', ARGV[11], 'lon', ARGV[12],
           'd', ARGV[13], 'cost', price)
if kind == 'h' then return 'holdout' end
if tonumber(redis.call('HGET', b, 'lease')) < tonumber(ARGV[15])
   and redis.call('HGET', b, 'final') ~= '1' then
  return 'low'
end
return 'ok'
"""

# Start a new local day (also after Redis lost the hash): returns {old day, unspent old lease}.
# No hash at all means Redis lost the campaign's state (or never had it): its viewers' frequency
# caps went with it, so `caps` = lost makes every charge answer 'caps' until they are rebuilt
# from the ledger (geo/ads/caps.py) and the field is cleared.
ROLLOVER = """
local old = redis.call('HGET', KEYS[1], 'day')
if old == ARGV[1] then return {old, '0'} end
local unspent = redis.call('HGET', KEYS[1], 'lease') or '0'
redis.call('HSET', KEYS[1], 'day', ARGV[1], 'lease', 0, 'day_spent', 0, 'final', 0)
if not old then redis.call('HSET', KEYS[1], 'caps', 'lost') end
return {old or '', unspent}
"""

# Credit a lease to Redis only if the day it was taken for is still Redis's day. `final` (ARGV[3])
# marks a lease cut short by the budget: no background top-up until the day or terms change.
CREDIT = """
if redis.call('HGET', KEYS[1], 'day') ~= ARGV[1] then return 0 end
redis.call('HINCRBY', KEYS[1], 'lease', ARGV[2])
redis.call('HSET', KEYS[1], 'final', ARGV[3])
return 1
"""

# Take back everything Redis holds unspent (a budget was lowered, or the campaign paused/ended):
# returns {day, unspent}; the caller hands it back to that day's lease row.
REVOKE = """
local day = redis.call('HGET', KEYS[1], 'day')
if not day then return {'', '0'} end
local unspent = redis.call('HGET', KEYS[1], 'lease') or '0'
redis.call('HSET', KEYS[1], 'lease', 0, 'final', 0)
return {day, unspent}
"""


@dataclass
class Scripts:
    charge: AsyncScript
    rollover: AsyncScript
    credit: AsyncScript


def register_scripts(redis: RedisClient) -> Scripts:
    return Scripts(
        redis.register_script(CHARGE),
        redis.register_script(ROLLOVER),  # type: ignore[arg-type]
        redis.register_script(CREDIT),
    )  # type: ignore[arg-type]


def local_day(now: datetime, tz: ZoneInfo) -> date:
    return now.astimezone(tz).date()


def paced_limit_milli(
    budget_daily: int, hours: frozenset[int] | None, now_local: datetime, margin: float
) -> int:
    """Milli-yen a campaign may have spent so far today: the elapsed share of its serving hours
    plus a margin, never more than the daily budget."""
    serving = sorted(hours) if hours else list(range(24))
    into_hour = (now_local.minute * 60 + now_local.second) / 3600
    elapsed = sum(1.0 for h in serving if h < now_local.hour)
    if now_local.hour in serving:
        elapsed += into_hour
    share = min(1.0, elapsed / len(serving) + margin)
    return min(budget_daily * 1000, math.floor(budget_daily * 1000 * share))


async def take_lease(
    session: AsyncSession,
    *,
    campaign_id: int,
    day: date,
    chunk_milli: int,
    paced_milli: int,
    old_day: str,
    unspent_milli: int,
) -> int:
    """Hand back a past day's unspent lease and lease up to a chunk for `day`.

    Runs in its own transaction, committed before Redis may spend the lease. Returns the
    milli-yen leased (0 when the total, daily or paced budget is used up).
    """
    repo = LedgerRepository(session)
    state = await repo.lease_state(campaign_id, day, lock=True)
    if state is None:
        return 0
    if unspent_milli > 0 and old_day:
        await repo.add_lease(campaign_id, date.fromisoformat(old_day), -unspent_milli)
        state = await repo.lease_state(campaign_id, day)
        assert state is not None
    if not state.live:  # paused or ended: a stale index elsewhere must not lease for it
        return 0
    room = min(
        state.budget_total * 1000 - state.leased_total_milli,
        min(state.budget_daily * 1000, paced_milli) - state.leased_today_milli,
    )
    grant = max(0, min(chunk_milli, room))
    if grant > 0:
        await repo.add_lease(campaign_id, day, grant)
    return grant


async def revoke_lease(session: AsyncSession, redis: RedisClient, *, campaign_id: int) -> int:
    """Hand what Redis holds unspent back to PostgreSQL, so the next charge must lease under the
    campaign's current budgets. Call it while holding the campaign row's lock (as an edit does),
    so no lease can be taken in between. Returns the milli-yen handed back."""
    day, unspent = await redis.eval(REVOKE, 1, keys.budget(campaign_id))  # type: ignore[misc]
    amount = int(unspent)
    if amount > 0 and day:
        await LedgerRepository(session).add_lease(
            campaign_id, date.fromisoformat(day.decode()), -amount
        )
    return amount


@dataclass(frozen=True, slots=True)
class BudgetLeft:
    """A campaign's money as the engine knows it now (internal: reports show finished hours)."""

    total_left_yen: int
    today_left_yen: int
    spent_total_milli_yen: int
    spent_today_milli_yen: int


async def budget_left(
    session: AsyncSession, redis: RedisClient, *, campaign_id: int, tz: ZoneInfo, now: datetime
) -> BudgetLeft:
    """Yen left in total and today: budgets minus leases, plus what Redis holds unspent."""
    day = local_day(now, tz)
    state = await LedgerRepository(session).lease_state(campaign_id, day)
    if state is None:  # the campaign is gone: nothing left, nothing leased
        return BudgetLeft(0, 0, 0, 0)
    fields = await redis.hmget(keys.budget(campaign_id), ["day", "lease"])  # type: ignore[misc]
    unspent = int(fields[1] or 0) if fields[0] == day.isoformat().encode() else 0
    spent_total = state.leased_total_milli - unspent
    spent_today = state.leased_today_milli - unspent
    total_left = state.budget_total * 1000 - spent_total
    today_left = min(total_left, state.budget_daily * 1000 - spent_today)
    return BudgetLeft(
        total_left_yen=max(0, total_left) // 1000,
        today_left_yen=max(0, today_left) // 1000,
        spent_total_milli_yen=spent_total,
        spent_today_milli_yen=spent_today,
    )
