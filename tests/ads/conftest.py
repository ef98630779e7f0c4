import pytest


@pytest.fixture(autouse=True)
def fresh_ads_index(app):  # type: ignore[no-untyped-def]
    """Every decision re-checks the campaign index, so a campaign edit is seen at once; the
    accounts the tests just made may be served (the invalid-traffic tests turn the age rule on)."""
    app.state.settings = app.state.settings.model_copy(
        update={"ads_index_refresh_s": 0.0, "ads_min_account_age_s": 0}
    )
