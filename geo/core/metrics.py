"""Prometheus metrics. Each process keeps its own registry; scrape every process (or run one)."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "geo_http_requests_total",
    "HTTP requests by route and status.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "geo_http_request_seconds",
    "HTTP request latency by route.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)
OUTBOX_BACKLOG = Gauge(
    "geo_outbox_backlog",
    "Outbox rows committed but not yet relayed.",
    registry=REGISTRY,
)
AD_DECISIONS = Counter(
    "geo_ad_decisions_total",
    "Ad decisions by outcome.",
    ["outcome"],
    registry=REGISTRY,
)
AD_INVALID = Counter(
    "geo_ad_invalid_total",
    "Ad requests refused as invalid traffic (nothing charged or counted), by reason.",
    ["reason"],
    registry=REGISTRY,
)
AD_DECISION_SECONDS = Histogram(
    "geo_ad_decision_seconds",
    "Time to decide (and charge) the ads of one request.",
    buckets=(0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1),
    registry=REGISTRY,
)
LAG_TOLERANT_READS = Counter(
    "geo_lag_tolerant_reads_total",
    "Reads that may use a replica, by where they went (replica, primary; marker-lost: a write's"
    " read-your-writes marker could not be set).",
    ["target"],
    registry=REGISTRY,
)
OUTAGE_ANSWERS = Counter(
    "geo_outage_answers_total",
    "Requests answered 503 because a server was down, by the server (postgresql, redis).",
    ["component"],
    registry=REGISTRY,
)
OUTAGE_FALLBACKS = Counter(
    "geo_outage_fallbacks_total",
    "Rules decided without a missing server (a fallback or a fail-open), by server and rule.",
    ["component", "rule"],
    registry=REGISTRY,
)
COMPONENT_UP = Gauge(
    "geo_component_up",
    "Whether a server answered the last /healthz check (1) or not (0).",
    ["component"],
    registry=REGISTRY,
)
