"""The k-floor and the differencing guard: what a report may say.

Two rules, documented in docs/README-reports-section.md:

1. Cells. The smallest unit of a report is a cell: one campaign, one UTC hour, one distance band.
   A cell seen by fewer than k unique accounts is withheld from everything: every additive figure
   (impressions, clicks, spend) of a series point, a band or the totals is a sum of published
   cells only, and reach is a union of published cells only. Any difference of two such figures
   is again a sum of published cells, so subtraction never reaches a withheld cell.
2. Distinct counts (reach, visits, visitors, group sizes) are not sums, so two nested ranges could
   differ by one person. Every such figure released is logged per campaign; a new one whose range
   contains or lies inside a logged range of the same figure and differs from its value by
   1..k-1 is withheld. The same check runs between the figures of one answer.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from geo.reports.repository import Atom

HOUR = timedelta(hours=1)
Release = tuple[str, datetime, datetime, int]


def published(atoms: Iterable[Atom], k: int) -> list[Atom]:
    """The cells seen by at least k accounts."""
    return [a for a in atoms if a.accounts >= k]


def _nested(f1: datetime, t1: datetime, f2: datetime, t2: datetime) -> bool:
    return (f1 <= f2 and t1 >= t2) or (f2 <= f1 and t2 >= t1)


@dataclass
class _Released:
    exact: dict[tuple[datetime, datetime], set[int]] = field(default_factory=dict)
    wide: list[Release] = field(default_factory=list)
    every: list[Release] = field(default_factory=list)

    def add(self, item: Release) -> None:
        _, f, t, v = item
        self.exact.setdefault((f, t), set()).add(v)
        if t - f > HOUR:
            self.wide.append(item)
        self.every.append(item)


class DifferencingGuard:
    """Decides, figure by figure, whether a distinct count may be released (rule 2)."""

    def __init__(self, k: int, prior: Iterable[Release]) -> None:
        self.k = k
        self._by_metric: dict[str, _Released] = defaultdict(_Released)
        self.released: list[Release] = []
        for item in prior:
            self._by_metric[item[0]].add(item)

    def _too_close(self, value: int, other: int) -> bool:
        return value != other and abs(value - other) < self.k

    def allow(self, metric: str, start: datetime, end: datetime, value: int | None) -> bool:
        """True when `value` may be published; it is then remembered for later figures."""
        if value is None or value < self.k:
            return False
        seen = self._by_metric[metric]
        # An hour is the smallest range, so only itself and wider ranges can nest with it.
        candidates = seen.wide if end - start <= HOUR else seen.every
        if any(self._too_close(value, v) for v in seen.exact.get((start, end), ())):
            return False
        if any(self._too_close(value, v) and _nested(start, end, f, t)
               for _, f, t, v in candidates):
            return False
        item = (metric, start, end, value)
        seen.add(item)
        self.released.append(item)
        return True
