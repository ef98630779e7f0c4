"""Invalid traffic: requests that must neither be charged nor counted, each logged with why.

Three rules, checked only when at least one campaign covers the position (so requests where no
ad could be served cost nothing here):

- `young`: the account is younger than `ads_min_account_age_s` (its age is read from its id,
  which PostgreSQL's `geo_next_id()` makes from the clock, so no lookup is needed). Fresh
  accounts are free to make; without this, a competitor could sign up fifty and drain a budget.
- `rate`: the account asked for ads more than `ads_max_decisions_per_minute` times this minute.
- `speed`: the position is implausible for the account: reaching it from the last position it
  asked from would need more than `ads_max_speed_kmh` (after `SLACK_M` of position noise). An
  implausible position is not remembered, so the account's plausible trail stays the reference.

Rate and speed are one Lua call on the viewer's own key (`keys.traffic`), atomic per viewer.
Every invalid request is appended to a capped stream (`keys.INVALID_LOG`) and counted in
`geo_ad_invalid_total{reason}`; the caller then serves nothing, so nothing is charged, capped,
held out or written to the ledger.
"""

import logging
import time

from geo.ads import keys
from geo.core.config import Settings
from geo.core.ids import EPOCH_MS
from geo.core.metrics import AD_INVALID
from geo.core.redis import RedisClient

log = logging.getLogger("geo.ads.traffic")

SLACK_M = 500.0  # GPS and Wi-Fi positions jump; a jump this large is never called travel
INVALID_LOG_CAP = 100_000

# KEYS: the viewer's traffic hash. ARGV: now ms, lat, lon, max requests per minute (0: off),
# max metres per second (0: off), slack metres. Returns 'ok', 'rate' or 'speed'.
CHECK = """
local k = KEYS[1]
local now, lat, lon = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local limit, vmax, slack = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local f = redis.call('HMGET', k, 'w', 'n', 'lat', 'lon', 't')
local window = math.floor(now / 60000)
local n = 1
if tonumber(f[1]) == window then n = tonumber(f[2]) + 1 end
redis.call('HSET', k, 'w', window, 'n', n)
redis.call('PEXPIRE', k, 86400000)
if limit > 0 and n > limit then return 'rate' end
if vmax > 0 and f[5] then
  local p1, p2 = math.rad(tonumber(f[3])), math.rad(lat)
  local dp, dl = p2 - p1, math.rad(lon - tonumber(f[4]))
  local a = math.sin(dp / 2) ^ 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ^ 2
  local d = 2 * 6371008.8 * math.asin(math.sqrt(math.min(1, a)))
  local seconds = math.max(now - tonumber(f[5]), 1000) / 1000
  if math.max(0, d - slack) / seconds > vmax then return 'speed' end
end
redis.call('HSET', k, 'lat', ARGV[2], 'lon', ARGV[3], 't', now)
return 'ok'
"""


def account_age_s(account_id: int, now: float) -> float:
    """Seconds since the account's id was made (the id holds its creation millisecond)."""
    return now - ((account_id >> 22) + EPOCH_MS) / 1000


class TrafficFilter:
    def __init__(self, redis: RedisClient, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self._check = redis.register_script(CHECK)

    async def invalid_reason(
        self, viewer_id: int, lat: float, lon: float, now: float | None = None
    ) -> str | None:
        """Why this request is invalid traffic (logged), or None when it may be served."""
        now = time.time() if now is None else now
        reason = self._young(viewer_id, now) or await self._rate_or_speed(viewer_id, lat, lon, now)
        if reason is not None:
            await self._log(viewer_id, lat, lon, now, reason)
        return reason

    def _young(self, viewer_id: int, now: float) -> str | None:
        least = self.settings.ads_min_account_age_s
        return "young" if least > 0 and account_age_s(viewer_id, now) < least else None

    async def _rate_or_speed(
        self, viewer_id: int, lat: float, lon: float, now: float
    ) -> str | None:
        result = await self._check(
            keys=[keys.traffic(viewer_id)],
            args=[
                int(now * 1000),
                repr(lat),
                repr(lon),
                self.settings.ads_max_decisions_per_minute,
                self.settings.ads_max_speed_kmh / 3.6,
                SLACK_M,
            ],
        )
        answer = result.decode() if isinstance(result, bytes) else str(result)
        return None if answer == "ok" else answer

    async def _log(self, viewer_id: int, lat: float, lon: float, now: float, reason: str) -> None:
        AD_INVALID.labels(reason).inc()
        await self.redis.xadd(
            keys.INVALID_LOG,
            {"v": viewer_id, "r": reason, "lat": repr(lat), "lon": repr(lon), "t": int(now * 1000)},
            maxlen=INVALID_LOG_CAP,
            approximate=True,
        )
