"""Cursor pagination: `?limit=` (default 20, max 100) and `?before=<cursor>`.

Lists answer `{items, next}`.
"""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query

from geo.core.errors import Unprocessable

MAX_CURSOR = 2**63 - 1


@dataclass(frozen=True)
class PageParams:
    limit: int
    before: int | None


async def page_params(  # async: FastAPI runs a plain `def` dependency in its thread pool
    limit: Annotated[int, Query(ge=1, le=100, description="Page size.")] = 20,
    before: Annotated[
        str | None, Query(pattern=r"^[0-9]{1,19}$", description="Cursor from a previous `next`.")
    ] = None,
) -> PageParams:
    cursor = None
    if before is not None:
        cursor = int(before)
        if cursor > MAX_CURSOR:
            raise Unprocessable(
                "The cursor is out of range.",
                errors=[{"field": "query.before", "message": "out of range"}],
            )
    return PageParams(limit=limit, before=cursor)


PageDep = Annotated[PageParams, Depends(page_params)]


def next_cursor(ids: list[int], limit: int) -> str | None:
    """The cursor for the next page: the last id, when the page came back full."""
    return str(ids[-1]) if len(ids) >= limit and ids else None
