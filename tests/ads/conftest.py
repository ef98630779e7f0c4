import pytest


@pytest.fixture(autouse=True)
def _every_ads_test_has_a_fresh_index(fresh_ads_index):  # type: ignore[no-untyped-def]
    """tests/fixtures/ads.py: campaign edits seen at once, new accounts may be served."""
