"""Settings from the environment: DATABASE_URL, REDIS_URL and everything else under GEO_."""

from functools import lru_cache

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Process-wide configuration; every field can be set from the environment."""

    model_config = SettingsConfigDict(env_prefix="GEO_", extra="ignore")

    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/geo",
        validation_alias=AliasChoices("DATABASE_URL", "GEO_DATABASE_URL"),
    )
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        validation_alias=AliasChoices("REDIS_URL", "GEO_REDIS_URL"),
    )
    # Streaming replicas (comma-separated plain postgresql:// URLs) for the reads that tolerate a
    # little lag: nearby, boxes, categories, place pages (geo/core/replicas.py).
    database_replica_urls: str = ""
    # A replica further behind than this is not read from; an account that wrote within this
    # long reads from the primary.
    replica_max_lag_s: float = 2.0
    replica_check_s: float = 0.5
    # Connections per process. Size the pool for the concurrency a process serves and keep no
    # overflow: overflow connections are opened and closed per burst, and that churn was the
    # multi-second p99 of /v1/places/nearby at 32 clients (docs/benchmarks.md). Keep
    # workers x pool size below PostgreSQL's max_connections (100 by default).
    db_pool_size: int = 32
    db_max_overflow: int = 0
    # How long a request waits for a pooled connection before it is answered 503.
    db_pool_timeout: float = 10.0
    # Token lookups are cached per process this long; a revoked token may live this much longer.
    token_cache_seconds: float = 10.0
    # Signs impression ids and session cookies; set it in production.
    secret_key: str = "dev-only-secret-change-me"
    log_level: str = "INFO"
    # Run the outbox relay and a fan-out consumer inside each API process (`geo worker` otherwise).
    run_workers_in_process: bool = True
    seed_dir: str = "seed_data"
    # Reports withhold any figure over fewer than this many unique accounts (GEO_REPORT_K).
    report_k: int = Field(default=20, ge=2)
    # A check-in counts as a visit when its author was shown the ad this many days before.
    report_attribution_days: int = Field(default=7, ge=1, le=90)
    # Run the report rollup worker inside `geo serve` (with the other in-process workers).
    report_rollup_poll_seconds: float = 1.0
    # Ads (geo/ads): slots per decision, the floor price, pacing, and how budget is leased.
    ads_enabled: bool = True  # False: every ads slot is empty (no decision is made)
    ads_slots: int = 2
    ads_reserve_cpm: int = 10  # yen per 1000 impressions: the least a winner pays
    ads_pacing_margin: float = 0.1  # share of the daily budget allowed ahead of the clock
    ads_lease_chunk_impressions: int = 50  # budget Redis leases at once, in max-price impressions
    ads_index_refresh_s: float = 1.0  # how stale a process's campaign index may get
    ads_category_boost: float = 1.5  # relevance when a campaign's categories match the results
    ads_distance_decay_m: float = 1000.0  # relevance halves at this distance from the place


@lru_cache
def get_settings() -> Settings:
    """The settings of this process, read once from the environment."""
    return Settings()


def driver_url(url: str, driver: str) -> str:
    """Turn a plain `postgresql://` URL into one for a SQLAlchemy driver (`asyncpg`, `psycopg`)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"not a database URL: {url!r}")
    base = scheme.split("+", 1)[0]
    if base in ("postgres", "postgresql"):
        return f"postgresql+{driver}://{rest}"
    raise ValueError(f"unsupported database scheme {scheme!r}")
