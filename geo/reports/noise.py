"""Calibrated noise on every released count, drawn so that asking again cannot average it away.

Each figure (a metric over one range of one campaign) gets discrete Laplace noise (the two-sided
geometric mechanism, Ghosh et al. 2009): P(noise = z) is proportional to exp(-epsilon*|z|/D),
where D is the figure's sensitivity, the most one person can change it (1 for a count of
accounts; a clip or a frequency-cap bound for counts of events). Releasing it is epsilon-
differentially private for that person.

The noise is not random per request: it is drawn from HMAC-SHA256(secret, campaign, metric,
range), so the same figure always comes back with the same value, and repeating a query a
thousand times tells nothing the first answer did not. Figures over other ranges get other noise;
each distinct figure spends its epsilon once, against the campaign's data access budget
(`access.py`). A noisy value under k is withheld (`None`), like before; the withholding itself
is decided on the noisy value, so it is as noisy as the figure.
"""

import hashlib
import hmac
import math
from dataclasses import dataclass, field
from datetime import datetime

_TWO_64 = float(2**64)


def figure_key(metric: str, start: datetime, end: datetime) -> str:
    """A figure's name: what it counts and over which whole hours (UTC)."""
    return f"{metric}|{start:%Y%m%dT%H}|{end:%Y%m%dT%H}"


def discrete_laplace(seed: bytes, epsilon: float, sensitivity: float) -> int:
    """A draw of the two-sided geometric distribution with p = exp(-epsilon/sensitivity), made
    from the seed's bytes (the difference of two geometric draws by inversion)."""
    if epsilon <= 0:
        raise ValueError("epsilon must be positive")
    p = math.exp(-epsilon / sensitivity)
    if p <= 0.0:
        return 0
    u1 = (int.from_bytes(seed[:8], "big") + 0.5) / _TWO_64
    u2 = (int.from_bytes(seed[8:16], "big") + 0.5) / _TWO_64
    log_p = math.log(p)
    return int(math.floor(math.log(u1) / log_p)) - int(math.floor(math.log(u2) / log_p))


@dataclass
class Noise:
    """The noise of one campaign's figures; remembers the figures it released (for the budget)."""

    secret: str
    campaign_id: int
    epsilon: float  # per figure
    k: int
    released: dict[str, float] = field(default_factory=dict)  # figure key -> epsilon spent

    def seed(self, key: str) -> bytes:
        message = f"report-noise|{self.campaign_id}|{key}".encode()
        return hmac.new(self.secret.encode(), message, hashlib.sha256).digest()

    def noisy(self, key: str, true: int, sensitivity: float = 1.0) -> int:
        """The figure plus its fixed noise, never below 0 (a clamp is post-processing)."""
        return max(0, true + discrete_laplace(self.seed(key), self.epsilon, sensitivity))

    def release(
        self, metric: str, start: datetime, end: datetime, true: int, sensitivity: float = 1.0
    ) -> int | None:
        """The noisy figure, or None when it is under k; either way its epsilon is spent."""
        key = figure_key(metric, start, end)
        self.released[key] = self.epsilon
        value = self.noisy(key, true, sensitivity)
        return value if value >= self.k else None

    def noisy_spent(
        self, metric: str, start: datetime, end: datetime, true: int, sensitivity: float = 1.0
    ) -> int:
        """The noisy figure without the floor (its holder passed a floor already); spends."""
        key = figure_key(metric, start, end)
        self.released[key] = self.epsilon
        return self.noisy(key, true, sensitivity)

    def passes(self, key: str, accounts: int) -> bool:
        """Whether a cell (an hour and band, or a map hexagon) clears the floor, decided on its
        noisy account count with noise fixed by the cell, so the same cell always decides the
        same way and a threshold cannot be probed one person at a time."""
        return self.noisy(key, accounts) >= self.k


def events_sensitivity(cap_count: int, cap_hours: int, start: datetime, end: datetime) -> float:
    """The most impressions (or clicks) one person can add to a figure over [start, end): the
    frequency cap allows `cap_count` per `cap_hours` window, and a range can cut windows at both
    ends."""
    hours = max(1.0, (end - start).total_seconds() / 3600)
    return float(cap_count * (math.ceil(hours / cap_hours) + 1))
