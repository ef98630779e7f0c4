"""The data access budget: how much epsilon an owner's new figures may spend per UTC day.

The budget is the owner's, over all its campaigns: twin campaigns (one with a hole around a
house, say) get independent noise, so a budget per campaign would let an owner average noise
away by buying many twins.

A figure released before is free: its noise is fixed, so its value is too. A new figure spends
its epsilon on the day it is first released; when a report would take the day's spend past the
budget, it is refused with 429 and `Retry-After` (until the next UTC midnight), and nothing of it
is released or recorded. This is what stops an advertiser from averaging noise away by asking
for many slightly different ranges: each one costs, and the day's allowance runs out.
"""

from datetime import UTC, datetime, timedelta

from geo.core.errors import TooManyRequests
from geo.reports.repository import CampaignRow, ReportRepository


async def charge(
    repo: ReportRepository,
    campaign: CampaignRow,
    figures: dict[str, float],
    *,
    per_day: float,
    now: datetime,
) -> float:
    """Spend the epsilon of the figures not released before; 429 if the day's budget is short.
    Returns the epsilon spent by this call. The caller holds `repo.lock_access(owner)`."""
    campaign_id = campaign.id
    known = await repo.released_before(campaign_id, list(figures))
    new = {key: eps for key, eps in figures.items() if key not in known}
    if not new:
        return 0.0
    day = now.astimezone(UTC).date()
    spent = await repo.epsilon_spent(campaign.owner_id, day)
    cost = sum(new.values())
    if spent + cost > per_day + 1e-9:
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
        raise TooManyRequests(
            int((midnight - now).total_seconds()) + 1,
            f"Your data access budget for today is spent ({spent:.1f} of "
            f"{per_day:.1f}; this report needs {cost:.1f} more). Figures asked before are "
            "still answered; new ones again tomorrow (UTC).",
        )
    await repo.record_access(campaign_id, day, new)
    return cost
