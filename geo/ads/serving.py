"""Where other domains ask for ads to show beside their results."""

from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from geo.core.auth import Actor


async def ads_next_to_places(request: Request, session: AsyncSession, *, actor: Actor, lat: float,
                             lon: float, category: str | None) -> list[dict[str, Any]]:
    """Ads for a viewer looking at places near a point.

    The ad engine is not built yet (see the ads issue): no campaign can exist, so there is never an
    ad to show and the contract's `ads` slot is an empty list.
    """
    return []
