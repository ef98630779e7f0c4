"""Redis keys of the fan-out (built only here).

- `tl:{u<id>}:home`: ZSET of check-in ids delivered to an account, score = ms of the id; capped
  at HOME_CAP.
- `pub:{global}`: ZSET of public check-in ids; capped at PUBLIC_CAP.
- `live:{u<id>}:home`: sharded pub/sub channel for that home timeline's live streams (SSE):
  `<id>` announces a check-in pushed to it, `-<id>` one taken out of it (deleted or no longer
  the account's to see).
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
"""

from geo.core.ids import EPOCH_MS

HOME_CAP = 800
PUBLIC_CAP = 5000
STREAM = "fanout:{events}"
BULK = "fanout:{events}:bulk"
PRIORITY = "fanout:{events}:priority"
STREAM_CAP = 100_000
GROUP = "fanout"


def home(account_id: int) -> str:
    return f"tl:{{u{account_id}}}:home"


def live_home(account_id: int) -> str:
    return f"live:{{u{account_id}}}:home"


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
