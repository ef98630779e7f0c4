"""What an erased account leaves in the ad ledger: rows that no longer point at anyone.

Impressions, holdouts and clicks keep their campaign, time and cost (budgets and the books must
still add up) but their viewer becomes one random negative pseudonym (no account id is
negative), fresh per erasure, so nothing joins them back to the person. Their exact positions
are snapped to a 0.01 degree grid (about 1 km), so the rows cannot be tied together again by a
home or a workplace. Rollups already made are not recomputed (the ledger's triggers fire on
insert only): figures already released stay as they were.
"""

import secrets

from sqlalchemy.ext.asyncio import AsyncSession

from geo.ads.erasure_repository import LedgerErasureRepository


async def forget_viewer(session: AsyncSession, *, viewer_id: int) -> None:
    pseudonym = -1 - secrets.randbelow(2**62)
    await LedgerErasureRepository(session).replace_viewer(viewer_id, pseudonym=pseudonym)
