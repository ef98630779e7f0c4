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
   1..k-1 is withheld. The same check runs between the figures of one answer. A figure counting
   a subset of another's accounts (a band's reach, the visitors among those reached; the visitors
   among those held out) is checked against that whole too, so a small complement is withheld.
"""

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

Release = tuple[str, datetime, datetime, int]


# The figure whose accounts include this one's over the same range.
WHOLE = {"converters": "reach", "holdout_converters": "holdout_accounts"}


def whole_of(metric: str) -> str:
    return "reach" if metric.startswith("reach:") else WHOLE.get(metric, metric)


def _nested(f1: datetime, t1: datetime, f2: datetime, t2: datetime) -> bool:
    return (f1 <= f2 and t1 >= t2) or (f2 <= f1 and t2 >= t1)


class DifferencingGuard:
    """Decides, figure by figure, whether a distinct count may be released (rule 2)."""

    def __init__(self, k: int, prior: Iterable[Release]) -> None:
        self.k = k
        # metric -> value -> ranges released with that value: a conflict needs a value within
        # k of the new one, so only 2k-1 values are ever looked at.
        self._by_metric: dict[str, dict[int, list[tuple[datetime, datetime]]]] = defaultdict(dict)
        self.released: list[Release] = []
        for metric, start, end, value in prior:
            self._by_metric[metric].setdefault(value, []).append((start, end))

    def allow(self, metric: str, start: datetime, end: datetime, value: int | None) -> bool:
        """True when `value` may be published; it is then remembered for later figures."""
        if value is None or value < self.k:
            return False
        if any(
            self._conflicts(other, start, end, value, relation)
            for other, relation in self._related(metric)
        ):
            return False
        self._by_metric[metric].setdefault(value, []).append((start, end))
        self.released.append((metric, start, end, value))
        return True

    def _related(self, metric: str) -> list[tuple[str, str]]:
        """(figure, relation) pairs to check: the same figure nested either way, the whole over
        a range containing this one, or the parts over ranges inside this one."""
        whole = whole_of(metric)
        if whole != metric:
            return [(metric, "nested"), (whole, "contains")]
        parts = [m for m in list(self._by_metric) if m != metric and whole_of(m) == metric]
        return [(metric, "nested"), *((m, "inside") for m in parts)]

    def _conflicts(
        self, metric: str, start: datetime, end: datetime, value: int, relation: str
    ) -> bool:
        by_value = self._by_metric.get(metric)
        if not by_value:
            return False
        # Look at whichever is fewer: the values released, or the 2k-2 values that would clash.
        if len(by_value) < 2 * self.k:
            close = [v for v in by_value if v != value and abs(v - value) < self.k]
        else:
            close = [
                v for v in range(value - self.k + 1, value + self.k) if v != value and v in by_value
            ]
        for other in close:
            for f, t in by_value[other]:
                if relation == "nested" and _nested(start, end, f, t):
                    return True
                if relation == "contains" and f <= start and t >= end:
                    return True
                if relation == "inside" and start <= f and end >= t:
                    return True
        return False
