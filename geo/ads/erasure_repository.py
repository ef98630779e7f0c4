"""SQL of erasure in the ad ledger (geo/ads/erasure.py): pseudonymise, coarsen a viewer's rows."""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_SNAP = (
    "ST_SetSRID(ST_MakePoint(round(ST_X(position::geometry)::numeric, 2),"
    " round(ST_Y(position::geometry)::numeric, 2)), 4326)::geography"
)
_UPDATES = (
    f"UPDATE ad_impressions SET viewer_id = :p, position = {_SNAP} WHERE viewer_id = :v",
    f"UPDATE ad_holdouts SET viewer_id = :p, position = {_SNAP} WHERE viewer_id = :v",
    "UPDATE ad_clicks SET viewer_id = :p WHERE viewer_id = :v",
)


class LedgerErasureRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def replace_viewer(self, viewer_id: int, *, pseudonym: int) -> None:
        # No index leads with viewer_id: one scan per table per erasure. Erasure is rare, and a
        # fourth index would cost every ledger insert.
        for sql in _UPDATES:
            await self.session.execute(text(sql), {"p": pseudonym, "v": viewer_id})
