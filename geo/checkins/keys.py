"""Redis keys of the check-ins domain (the only place they are built).

- `rl:{u<id>}:checkins:<minute>`: check-ins by one author in one clock minute; TTL 120 s.
"""


def rate_key(author_id: int, minute: int) -> str:
    return f"rl:{{u{author_id}}}:checkins:{minute}"
