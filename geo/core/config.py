"""Settings from the environment: DATABASE_URL, REDIS_URL and everything else under GEO_."""

import ipaddress
from functools import lru_cache

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Public (it is in the source): anyone could sign click ids and predict the holdout draw with it.
DEV_SECRET = "dev-only-secret-change-me"


class InsecureSettings(Exception):
    """The settings are unsafe to serve with (e.g. the public default secret)."""


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
    # Connections one process keeps to a single Redis. Past it a command waits
    # up to redis_pool_timeout_s for a free one (then 503), instead of failing at once as
    # redis-py's default pool does: a burst of concurrent requests queues, it does not error.
    redis_max_connections: int = Field(default=64, ge=1)
    redis_pool_timeout_s: float = Field(default=5.0, gt=0)
    # Streaming replicas (comma-separated plain postgresql:// URLs) for the reads that tolerate a
    # little lag: nearby, boxes, categories, place pages (geo/core/replicas.py).
    database_replica_urls: str = ""
    # A replica further behind than this is not read from; an account that wrote within this
    # long reads from the primary.
    replica_max_lag_s: float = 2.0
    replica_check_s: float = 0.5
    # Partitioned ledgers and outbox (geo/maintenance.py): days of partitions made ahead; days a
    # ledger row is kept (once its hour's rollup is final); days an exact viewer position is
    # kept before it is reduced to its area cell; days a relayed outbox row is kept.
    partitions_ahead_days: int = Field(default=7, ge=1)
    ledger_retention_days: int = Field(default=90, ge=1)
    ledger_exact_position_days: int = Field(default=7, ge=1)
    outbox_retention_days: int = Field(default=7, ge=1)
    # Connections per process. Size the pool for the concurrency a process serves and keep no
    # overflow: overflow connections are opened and closed per burst, and that churn was the
    # multi-second p99 of /v1/places/nearby at 32 clients (docs/benchmarks.md). Keep
    # workers x pool size below PostgreSQL's max_connections (100 by default).
    db_pool_size: int = 32
    db_max_overflow: int = 0
    # asyncpg's own pool per process for the hot autocommit reads (nearby), opened on demand;
    # 0: those reads use the pool above. Keep workers x (both sizes) below max_connections.
    db_read_pool_size: int = 16
    # asyncpg's own pool per process for the hot write (check-ins), opened on demand; 0: check-ins
    # use the first pool, through a session. Keep workers x (all three sizes) below
    # max_connections; a check-in load opens this one and hardly the first.
    db_write_pool_size: int = 16
    # How long a request waits for a pooled connection before it is answered 503.
    db_pool_timeout: float = 10.0
    # How long opening a PostgreSQL connection may take (asyncpg's default is 60 s): a server
    # that is gone must cost a request a quick 503, not a minute of a pooled slot.
    db_connect_timeout: float = Field(default=5.0, gt=0)
    # Token lookups are cached per process this long. A revocation still bites at once: a cache
    # hit is checked against the account's revocation marks in Redis (geo/accounts/tokens.py).
    token_cache_seconds: float = 10.0
    # Live home streams (SSE) one account may hold open at once, across all processes; one more is
    # answered 429 (GEO_MAX_STREAMS_PER_ACCOUNT).
    max_streams_per_account: int = Field(default=5, ge=1)
    # Tokens expire after this long unused (sliding: use extends them), and at the latest this
    # long after they were issued, used or not.
    token_idle_seconds: int = Field(default=30 * 86400, ge=60)
    token_max_age_seconds: int = Field(default=90 * 86400, ge=60)
    # Signs impression ids, click ids, the holdout draw and dashboard cookies. The service refuses
    # to start with the default unless GEO_ALLOW_DEV_SECRET says this is a dev or test setup.
    secret_key: str = DEV_SECRET
    allow_dev_secret: bool = False
    # Sign-in and sign-up limits (the `limits` notation, a moving window in Redis). Every attempt
    # counts, right or wrong: each one costs an Argon2 hash of 64 MiB.
    rate_limit_sign_in_per_handle: str = "10/5minutes"
    rate_limit_sign_in_per_address: str = "60/5minutes"
    rate_limit_sign_up_per_handle: str = "10/hour"
    rate_limit_sign_up_per_address: str = "20/hour"
    # GEO_RATE_LIMIT_EXEMPT: comma-separated addresses or CIDRs (an operator's load tests and
    # monitors) that skip the per-address limits; the per-handle limits still apply to them.
    rate_limit_exempt: str = ""
    # Behind a reverse proxy: take the client address from the last X-Forwarded-For entry and
    # TLS from X-Forwarded-Proto. Off by default: a client could otherwise choose its address.
    trust_proxy_headers: bool = False
    log_level: str = "INFO"
    # Run the outbox relay and a fan-out consumer inside each API process (`geo worker` otherwise).
    run_workers_in_process: bool = True
    seed_dir: str = "seed_data"
    # Reports withhold any figure over fewer than this many unique accounts (GEO_REPORT_K).
    report_k: int = Field(default=20, ge=2)
    # Every released report count gets discrete Laplace noise with this epsilon (per figure,
    # per person: see the README's reports section), drawn from a seed fixed by the figure.
    report_epsilon: float = Field(default=0.5, gt=0)
    # The data access budget: epsilon a campaign's new figures may spend per UTC day (429 past).
    report_epsilon_per_day: float = Field(default=200.0, gt=0)
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
    # Targets too small to be anonymous are refused: a radius below this, or a polygon smaller
    # than this circle's area (a 15 m square around a house would report on its residents).
    # Invalid traffic (geo/ads/traffic.py) is neither charged nor counted: accounts younger than
    # this (0: rule off), over this many ad requests a minute (0: off), or moving faster than
    # this since the position they last asked from (0: off).
    ads_min_account_age_s: int = Field(default=3600, ge=0)
    ads_max_decisions_per_minute: int = Field(default=60, ge=0)
    ads_max_speed_kmh: float = Field(default=1000.0, ge=0)
    ads_min_target_radius_m: int = Field(default=500, ge=50, le=20_000)

    @field_validator("rate_limit_exempt")
    @classmethod
    def _networks_parse(cls, value: str) -> str:
        exempt_networks(value)  # a typo must stop the start, not exempt nobody silently
        return value

    @field_validator(
        "rate_limit_sign_in_per_handle",
        "rate_limit_sign_in_per_address",
        "rate_limit_sign_up_per_handle",
        "rate_limit_sign_up_per_address",
    )
    @classmethod
    def _limit_parses(cls, value: str) -> str:
        from limits import parse

        parse(value)
        return value


def exempt_networks(value: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The networks of GEO_RATE_LIMIT_EXEMPT (a bare address is its own /32 or /128)."""
    return [ipaddress.ip_network(p.strip(), strict=False) for p in value.split(",") if p.strip()]


def check_secret(settings: Settings) -> None:
    """Refuse the public default secret unless a dev or test setting allows it."""
    if settings.secret_key == DEV_SECRET and not settings.allow_dev_secret:
        raise InsecureSettings(
            "GEO_SECRET_KEY is the public default; set a secret (scripts/up.sh makes one) "
            "or GEO_ALLOW_DEV_SECRET=true for development"
        )


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
