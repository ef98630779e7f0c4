"""Redis keys of the accounts domain (the only module that names them).

Every key is hash-tagged by what it is about ({a<account id>}, {h<handle digest>}, ...), so keys
read together share a cluster slot, and each has a stated bound.
"""

import hashlib

# The `limits` library prefixes its own keys with this; its moving window keeps one list per
# limit and identifier (at most `limit` entries, expiring after the window).
THROTTLE_PREFIX = "auth:rl"


def _digest(value: str) -> str:
    # A fixed-length digest: a handle or an address never widens a key, and no client-chosen
    # text (braces included) reaches a key.
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def handle_identifier(action: str, handle: str) -> str:
    """The `limits` identifier of one handle's attempts at `action` (sign-in or sign-up)."""
    return f"{{h{_digest(handle.lower())}}}:{action}"


def address_identifier(action: str, address: str) -> str:
    return f"{{ip{_digest(address)}}}:{action}"


def revoked(account_id: int) -> str:
    """HASH of revocation marks: field `all` -> UNIX time of the last revoke-all, and one field per
    revoked token (its hash, hex). Bounded by its TTL: the longest a token can live."""
    return f"auth:{{a{account_id}}}:revoked"


def dashboard_session(session_id: str) -> str:
    """STRING: a dashboard session's token hash and CSRF token (JSON), with the session's TTL.

    Keyed by a digest of the cookie's session id, so a copy of Redis holds no live session id.
    """
    return f"auth:{{s{_digest(session_id)}}}:dash"
