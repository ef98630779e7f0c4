"""Signed impression ids: `<impression id>.<campaign id>.<HMAC>` bound to the viewer served.

The HMAC (settings.secret_key) covers the impression, the campaign and the viewer, so an id cannot
be forged, nor clicked by another account; a replayed one finds its click already counted.
"""

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

_TOKEN = re.compile(r"^([0-9]{1,19})\.([0-9]{1,19})\.([A-Za-z0-9_-]{22})$")


@dataclass(frozen=True, slots=True)
class Impression:
    id: int
    campaign_id: int


def _mac(secret: str, impression_id: int, campaign_id: int, viewer_id: int) -> str:
    message = f"ad-impression:{impression_id}:{campaign_id}:{viewer_id}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign(secret: str, *, impression_id: int, campaign_id: int, viewer_id: int) -> str:
    return f"{impression_id}.{campaign_id}.{_mac(secret, impression_id, campaign_id, viewer_id)}"


def verify(secret: str, token: str, *, viewer_id: int) -> Impression | None:
    """The impression behind a token this viewer was served, or None."""
    match = _TOKEN.match(token)
    if match is None:
        return None
    impression_id, campaign_id = int(match[1]), int(match[2])
    if impression_id >= 2**63 or campaign_id >= 2**63:
        return None
    expected = _mac(secret, impression_id, campaign_id, viewer_id)
    if not hmac.compare_digest(expected, match[3]):
        return None
    return Impression(impression_id, campaign_id)


def holdout_draw(secret: str, campaign_id: int, viewer_id: int) -> float:
    """A number in [0, 1) fixed per viewer and campaign: held out when below holdout_share."""
    digest = hmac.new(
        secret.encode(), f"holdout:{campaign_id}:{viewer_id}".encode(), hashlib.sha256
    ).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
