"""Lift of the visit rate of exposed accounts over held-out ones, with a 95% interval.

The interval is Katz's log relative-risk interval: ln(RR) ± 1.96·sqrt((1-p1)/x1 + (1-p0)/x0).
"""

import math

from geo.reports.schemas import Lift, LiftGroup, Verdict

Z95 = 1.959963984540054


def lift_summary(
    *,
    exposed: int | None,
    exposed_visitors: int | None,
    held_out: int | None,
    held_out_visitors: int | None,
) -> Lift:
    """Rates of both groups, relative lift and its interval, or why it cannot be told.

    A `None` input is a withheld figure (under the k-floor): the lift is then not computed.
    """
    exposed_group = _group(exposed, exposed_visitors)
    holdout_group = _group(held_out, held_out_visitors)
    if exposed is None or exposed_visitors is None or held_out is None or held_out_visitors is None:
        return Lift(
            exposed=exposed_group,
            holdout=holdout_group,
            verdict="too_small",
            reason="A group or its visitors are under the k-floor.",
        )
    assert exposed
    assert held_out
    assert exposed_visitors
    assert held_out_visitors
    if exposed_visitors > exposed or held_out_visitors > held_out:
        # Released counts are noisy and the exposed accounts are the reach sketch's estimate,
        # so visitors can come out above their group; a rate past 1 has no interval (its
        # variance term goes negative), and the groups are too small against the noise to tell.
        return Lift(
            exposed=exposed_group,
            holdout=holdout_group,
            verdict="too_small",
            reason="A group's visitors outnumber its accounts after noise: too small to tell.",
        )
    p1, p0 = exposed_visitors / exposed, held_out_visitors / held_out
    se = math.sqrt((1 - p1) / exposed_visitors + (1 - p0) / held_out_visitors)
    log_rr = math.log(p1 / p0)
    low, high = math.exp(log_rr - Z95 * se) - 1, math.exp(log_rr + Z95 * se) - 1
    verdict: Verdict = "positive" if low > 0 else "negative" if high < 0 else "inconclusive"
    return Lift(
        exposed=exposed_group,
        holdout=holdout_group,
        lift=round(p1 / p0 - 1, 4),
        ci95=[round(low, 4), round(high, 4)],
        verdict=verdict,
        reason=None
        if verdict != "inconclusive"
        else "The 95% interval includes zero: the groups are too small to tell.",
    )


def _group(accounts: int | None, visitors: int | None) -> LiftGroup:
    rate = None if not accounts or visitors is None else round(visitors / accounts, 6)
    return LiftGroup(
        accounts=accounts,
        visitors=visitors,
        visit_rate=rate,
        suppressed=accounts is None or visitors is None,
    )
