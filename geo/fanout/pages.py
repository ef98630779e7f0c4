"""Pages of a Redis timeline as one reader sees them: hidden items neither shorten a page nor
shape its cursor.

A timeline is a cache of ids; some of them this reader may no longer see (a block, an unfriend
not yet fanned out, a deleted check-in). A page is filled from further down until it is full, the
timeline ends, or SCAN_BOUND ids were looked at; `next` is the id of the last item *returned*, so
neither the size of a page nor its cursor tells the reader that something was skipped.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from geo.core.pagination import next_cursor

SCAN_BOUND = 1000  # ids looked at per page at most: the home cap (800) always fits

ReadIds = Callable[[int, int | None], Awaitable[list[int]]]  # (limit, before) -> ids, newest first
Render = Callable[[list[int]], Awaitable[list[dict[str, Any]]]]  # ids -> visible items, in order


async def visible_page(
    read: ReadIds, render: Render, *, limit: int, before: int | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Up to `limit` visible items strictly older than `before`, and the cursor after them."""
    items: list[dict[str, Any]] = []
    scanned, cursor = 0, before
    while len(items) < limit and scanned < SCAN_BOUND:
        ask = min(limit - len(items), SCAN_BOUND - scanned)
        ids = await read(ask, cursor)
        items += await render(ids)
        scanned, cursor = scanned + len(ids), ids[-1] if ids else cursor
        if len(ids) < ask:
            break  # the timeline ends here
    # A page cut short by SCAN_BOUND ends the listing too: a cursor past the last item returned
    # would tell the reader where hidden items lie.
    return items, next_cursor([int(i["id"]) for i in items], limit)
