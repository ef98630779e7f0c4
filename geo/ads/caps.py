"""Frequency caps rebuilt from the ledger after Redis lost a campaign's state.

The cap ZSETs (`keys.frequency`) live only in Redis. When Redis loses its data, the campaign's
budget hash goes too; the charge script then answers 'day', the lease rolls the hash over from
nothing and marks its caps lost, and every charge answers 'caps' until `rebuild` has put back each
viewer's exposures in the cap window from `ad_impressions` and `ad_holdouts` and cleared the mark.
So a viewer is not shown an ad up to its cap again after a loss. Several processes may rebuild at
once: ZADD by event id makes it idempotent.

What the ledger writer had not yet committed when Redis lost its stream is lost from both, so a
viewer may see up to that many more (the writer lags by about a second).
"""

from datetime import UTC, datetime, timedelta

from geo.ads import keys
from geo.ads.index import LiveCampaign
from geo.ads.ledger_repository import LedgerRepository
from geo.core.db import Database
from geo.core.ids import id_floor_for
from geo.core.redis import RedisClient

BATCH = 500


async def rebuild(db: Database, redis: RedisClient, campaign: LiveCampaign, *, now: float) -> int:
    """Put back the campaign's cap ZSETs from the ledger, then clear its `caps` mark. Returns how
    many viewers have exposures in the window."""
    since = datetime.fromtimestamp(now, UTC) - timedelta(milliseconds=campaign.cap_ms)
    async with db.sessionmaker() as session:
        rows = await LedgerRepository(session).exposures_since(
            campaign.id, since=since, since_id=id_floor_for(since)
        )
    by_viewer: dict[int, list[tuple[int, int]]] = {}
    for viewer_id, event_id, at in rows:
        by_viewer.setdefault(viewer_id, []).append((event_id, int(at.timestamp() * 1000)))
    viewers = list(by_viewer.items())
    for start in range(0, len(viewers), BATCH):
        async with redis.pipeline(transaction=False) as pipe:
            for viewer_id, exposures in viewers[start : start + BATCH]:
                key = keys.frequency(campaign.id, viewer_id)
                # The newest cap_count are all the charge script ever keeps.
                newest = sorted(exposures, key=lambda e: e[1])[-campaign.cap_count :]
                pipe.zadd(key, {str(event_id): at_ms for event_id, at_ms in newest})
                pipe.pexpireat(key, newest[-1][1] + campaign.cap_ms)
            await pipe.execute()
    await redis.hdel(keys.budget(campaign.id), "caps")
    return len(viewers)
