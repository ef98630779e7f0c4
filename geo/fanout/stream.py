"""The fan-out stream's writes beyond the relay: splitting a big audience into chunk entries.

A check-in whose audience exceeds CHUNK recipients is not delivered by the worker that reads its
event. That worker appends one `checkin.deliver` entry per CHUNK recipients to the bulk stream and
acknowledges. Workers take bulk entries only beside (or when there are no) main-stream events, so
check-ins of everyone else are not held up behind a big audience, and every consumer of the group
takes a share of the chunks.
"""

import json

from geo.core.redis import RedisClient
from geo.fanout import keys

CHUNK = 1000
DELIVER_TOPIC = "checkin.deliver"
# A redelivered split (the worker died between the script and its XACK) must not add the chunks
# twice: the marker, in the stream's hash slot, makes the split happen once per check-in.
SPLIT_MARKER_TTL_S = 7 * 24 * 3600

_SPLIT = """
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) == false then return 0 end
for i = 4, #ARGV do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'topic', ARGV[3], 'payload', ARGV[i])
end
return #ARGV - 3
"""


def chunk_payloads(checkin_id: int, recipients: list[int]) -> list[str]:
    return [
        json.dumps(
            {
                "checkin_id": str(checkin_id),
                "recipients": [str(r) for r in recipients[start : start + CHUNK]],
            }
        )
        for start in range(0, len(recipients), CHUNK)
    ]


async def split_delivery(redis: RedisClient, checkin_id: int, recipients: list[int]) -> int:
    """Append the chunk entries of one delivery, once; returns how many were appended (0: done
    before)."""
    payloads = chunk_payloads(checkin_id, recipients)
    added = await redis.eval(
        _SPLIT,
        2,
        keys.BULK,
        keys.split_marker(checkin_id),  # type: ignore[misc]
        SPLIT_MARKER_TTL_S,
        keys.STREAM_CAP,
        DELIVER_TOPIC,
        *payloads,
    )
    return int(added)
