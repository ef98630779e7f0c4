import random

import httpx
import pytest

from geo.reports.rollup import rollup_pending
from tests.conftest import make_account
from tests.reports import factories
from tests.reports.truth import random_ledger


@pytest.fixture
def small_k(app):  # type: ignore[no-untyped-def]
    """Reports with k=3, so a handful of test accounts can pass the floor, and negligible noise
    (epsilon 1e9 per figure), so figures can be compared with the raw ledger exactly. The noise
    itself is proved in test_noise.py."""
    app.state.settings = app.state.settings.model_copy(
        update={"report_k": 3, "report_epsilon": 1e9, "report_epsilon_per_day": 1e15}
    )
    return 3


async def seed_ledger(
    session, *, owner_id: int, base, seed: int = 7, hours: int = 6, n_viewers: int = 60
):  # type: ignore[no-untyped-def]
    """A campaign with a random but deterministic ledger; returns (campaign, place, ledger)."""
    place = await factories.make_place(session, owner_id=owner_id)
    campaign = await factories.make_campaign(session, owner_id=owner_id, place_id=place)
    accounts = await factories.make_accounts(session, n_viewers + 60, prefix=f"v{seed}x")
    viewers, held, others = (
        accounts[:n_viewers],
        accounts[n_viewers : n_viewers + 40],
        accounts[n_viewers + 40 :],
    )
    ledger = random_ledger(
        random.Random(seed), base=base, hours=hours, viewers=viewers, held=held, others=others
    )
    ids = await factories.add_impressions(
        session, campaign_id=campaign, rows=[(v, s, d) for _, v, s, d in ledger.impressions]
    )
    rename = dict(zip((i for i, *_ in ledger.impressions), ids, strict=True))
    ledger.impressions = [(rename[i], v, s, d) for i, v, s, d in ledger.impressions]
    ledger.clicks = {rename[i] for i in ledger.clicks}
    for imp_id, viewer, served, _ in ledger.impressions:
        if imp_id in ledger.clicks:
            await factories.add_click(
                session,
                impression_id=imp_id,
                campaign_id=campaign,
                viewer_id=viewer,
                clicked_at=served,
            )
    await factories.add_holdouts(
        session, campaign_id=campaign, rows=[(v, t, 100.0) for v, t in ledger.holdouts]
    )
    await factories.add_checkins(session, place_id=place, rows=ledger.checkins)
    await rollup_pending(session, limit=10_000)
    return campaign, place, ledger


@pytest.fixture
async def advertiser(client: httpx.AsyncClient) -> dict:
    return await make_account(client, kind="business")
