"""Redis keys of the fan-out (built only here).

- `tl:{u<id>}:home`: ZSET of check-in ids delivered to an account, score = ms of the id; capped
  at HOME_CAP.
- `pub:{global}`: ZSET of public check-in ids; capped at PUBLIC_CAP.
- `live:{u<id>}:home`: sharded pub/sub channel for that home timeline's live streams (SSE):
  `<id>` announces a check-in pushed to it, `-<id>` one taken out of it (deleted or no longer
  the account's to see).
- `live:{u<id>}:streams`: ZSET of that account's open live streams (any process), score = ms when
  the slot lapses unless its stream renews it; expires with its last slot.
- `live:{listeners}`: ZSET account id -> ms until which that account has an open live stream
  somewhere (any API process); refreshed by the stream, so a crashed process's entries lapse after
  LISTEN_TTL_MS. Deliveries announce only to accounts in it: most have no stream open.
- `fanout:{events}`: the stream the outbox relay writes and the workers read (group GROUP);
  trimmed to about STREAM_CAP entries.
- `fanout:{events}:bulk`: the chunk entries of split big deliveries (same group GROUP, read only
  with room left after the main stream, so a big account never holds up everyone else); trimmed
  to about STREAM_CAP entries.
- `fanout:{events}:priority`: the priority lane (safety reports, emergency alerts): the relay
  moves its outbox rows first and workers read it before anything else (same group GROUP);
  trimmed to about STREAM_CAP entries.
- `fanout:{events}:split:<checkin id>`: set once a big delivery was split into chunk entries (so a
  redelivered split adds none); expires after a week.
- `fanout:{events}:epoch`: this Redis's data epoch, the ms when the fan-out last found Redis
  without it and rebuilt (geo/fanout/recovery.py): missing means Redis lost its data (or is new).
  One small string, no TTL; in the stream's hash slot.
- `recovery:{u<id>}:regen`: set once the account's home timeline was regenerated (or needed none) in
  this epoch, so that lazy regeneration runs once per account per loss, never on every read of
  an empty feed. One per account (as the timeline itself), no TTL: it goes with the data it marks.
"""

from geo.core.ids import EPOCH_MS

HOME_CAP = 800
PUBLIC_CAP = 5000
STREAM = "fanout:{events}"
BULK = "fanout:{events}:bulk"
PRIORITY = "fanout:{events}:priority"
STREAM_CAP = 100_000
GROUP = "fanout"
LISTENERS = "live:{listeners}"
LISTEN_TTL_MS = 60_000
LISTEN_REFRESH_S = 15.0


def home(account_id: int) -> str:
    return f"tl:{{u{account_id}}}:home"


EPOCH = "fanout:{events}:epoch"


def regen_marker(account_id: int) -> str:
    return f"recovery:{{u{account_id}}}:regen"


def live_home(account_id: int) -> str:
    return f"live:{{u{account_id}}}:home"


def live_streams(account_id: int) -> str:
    return f"live:{{u{account_id}}}:streams"


def emergency_alert(emergency_id: int) -> str:
    """The live message alerting a home stream to a newly declared emergency."""
    return f"e{emergency_id}"


def retraction(checkin_id: int) -> str:
    """The live message saying a check-in left a home timeline."""
    return f"-{checkin_id}"


def public_global() -> str:
    return "pub:{global}"


def score(checkin_id: int) -> int:
    """The id's milliseconds: exact in a double, unlike the 64-bit id itself."""
    return (checkin_id >> 22) + EPOCH_MS


def split_marker(checkin_id: int) -> str:
    return f"{STREAM}:split:{checkin_id}"
