"""Ad events a viewer causes directly: clicks (impressions come from the decision engine)."""

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from geo.ads import signing
from geo.ads.ledger_repository import LedgerRepository
from geo.core.auth import Actor
from geo.core.config import get_settings
from geo.core.errors import NotFound


async def record_click(
    session: AsyncSession, *, actor: Actor, token: str, secret: str | None = None
) -> bool:
    """Count a click once. Returns False for a repeat (still a success for the client).

    Raises:
        NotFound: the id is garbage, forged, or was served to another account.
    """
    impression = signing.verify(secret or get_settings().secret_key, token, viewer_id=actor.id)
    if impression is None:
        raise NotFound("No such ad impression.")
    return await LedgerRepository(session).insert_click(
        impression_id=impression.id,
        campaign_id=impression.campaign_id,
        viewer_id=actor.id,
        clicked_at=datetime.now(UTC),
    )
