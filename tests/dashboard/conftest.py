from tests.reports.conftest import advertiser, small_k  # noqa: F401  (shared fixtures)
