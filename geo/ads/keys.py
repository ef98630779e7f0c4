"""Redis keys of the ads engine (built only here).

A campaign's keys and the event stream its script appends to must share one cluster slot, because
one Lua script checks the budget and the viewer's cap, charges, and appends the impression event
atomically. One stream per campaign would leave the ledger writer polling thousands of streams, so
campaigns are spread over SHARDS hash tags `{a<shard>}` (shard = campaign id mod SHARDS): each tag
holds its campaigns' keys and one event stream, and a cluster spreads the tags over its nodes.

- `ad:{a<s>}:c<id>:b`: HASH of a campaign's money in milli-yen: `day` (local day the fields below
  belong to), `lease` (leased from PostgreSQL and not yet spent), `final` (1: the last lease was
  cut short by the budget, so no background top-up), `day_spent`, `spent`, `n` (impressions)
  and `h` (holdouts) since Redis last lost its data. One per campaign; no TTL (small).
- `ad:{a<s>}:c<id>:fc:<viewer>`: ZSET, the viewer's exposures in the cap window (score = ms); at
  most cap_count members; expires cap_hours after the last exposure.
- `ad:{a<s>}:events`: STREAM of impression and holdout events for the ledger writer (group
  LEDGER_GROUP); entries are deleted once committed to PostgreSQL, and capped near STREAM_CAP.
- `ad:{v<viewer>}:t`: HASH of a viewer's ad traffic (geo/ads/traffic.py): this minute's window
  `w` and request count `n`, and the last plausible position `lat`, `lon`, `t` (ms). Expires a
  day after the last request. Tagged by viewer: one script reads and writes it atomically.
- `ad:{inv}:log`: STREAM of invalid-traffic requests (viewer, reason, position, time), capped.
"""

SHARDS = 16
INVALID_LOG = "ad:{inv}:log"
LEDGER_GROUP = "ads-ledger"
STREAM_CAP = 1_000_000


def shard(campaign_id: int) -> int:
    return campaign_id % SHARDS


def budget(campaign_id: int) -> str:
    return f"ad:{{a{shard(campaign_id)}}}:c{campaign_id}:b"


def frequency(campaign_id: int, viewer_id: int) -> str:
    return f"ad:{{a{shard(campaign_id)}}}:c{campaign_id}:fc:{viewer_id}"


def events(shard_no: int) -> str:
    return f"ad:{{a{shard_no}}}:events"


def events_for(campaign_id: int) -> str:
    return events(shard(campaign_id))


def all_event_streams() -> list[str]:
    return [events(s) for s in range(SHARDS)]


def traffic(viewer_id: int) -> str:
    return f"ad:{{v{viewer_id}}}:t"
