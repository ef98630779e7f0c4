"""The lift's interval over released (noisy) counts: it must answer, never fail the report."""

from geo.reports.lift import lift_summary


def test_a_clear_difference_is_positive():
    lift = lift_summary(
        exposed=10_000, exposed_visitors=900, held_out=10_000, held_out_visitors=500
    )

    assert lift.verdict == "positive"
    assert lift.lift == 0.8
    assert lift.ci95 is not None
    assert lift.ci95[0] > 0


def test_noise_pushing_visitors_past_their_group_is_too_small_to_tell():
    # Found by bench/reports_report.py: the exposed accounts are the reach sketch's noisy
    # estimate, the converters an exact count plus noise, so converters can come out above
    # them; the interval's variance term then goes negative and math.sqrt raised (HTTP 500).
    lift = lift_summary(exposed=614, exposed_visitors=1_990, held_out=120, held_out_visitors=60)

    assert lift.verdict == "too_small"
    assert lift.lift is None
    assert lift.ci95 is None
    assert lift.exposed.visitors == 1_990


def test_a_holdout_with_more_visitors_than_accounts_is_too_small_to_tell():
    lift = lift_summary(exposed=5_000, exposed_visitors=100, held_out=40, held_out_visitors=43)

    assert lift.verdict == "too_small"
    assert lift.ci95 is None


def test_every_visitor_a_converter_still_has_an_interval():
    lift = lift_summary(exposed=50, exposed_visitors=50, held_out=50, held_out_visitors=25)

    assert lift.verdict == "positive"
    assert lift.lift == 1.0
