"""The noise, attacked the way an advertiser would: averaging, inclusion-exclusion, twins.

Each "try" is a different campaign (a different seed), with the one person in or out of the
data. Over many tries, an attacker who sees figures with total privacy loss E can guess "in or
out" correctly at most e^E / (1 + e^E) of the time (the best test between two distributions
whose likelihood ratio is bounded by e^E). The same attacks without noise always win, which is
what shows these tests can fail.
"""

import math
from datetime import UTC, datetime, timedelta

from geo.reports.noise import Noise, discrete_laplace, events_sensitivity, figure_key

EPSILON = 0.5
K = 20
TRIES = 3000
A = datetime(2026, 11, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _bound(total_epsilon: float) -> float:
    return math.exp(total_epsilon) / (1 + math.exp(total_epsilon))


def _noise(campaign: int, epsilon: float = EPSILON) -> Noise:
    return Noise("test-secret", campaign, epsilon, K)


def _success(attack, epsilon: float) -> float:  # type: ignore[no-untyped-def]
    """Share of tries the attacker guesses right; half the tries the person is in."""
    right = 0
    for t in range(TRIES):
        person_in = t % 2 == 0
        right += attack(_noise(t, epsilon), int(person_in)) == person_in
    return right / TRIES


def _three_ranges(noise: Noise, x: int) -> bool:
    """reach(A) + reach(B) - reach(A u B) = |A n B|: 0, or 1 with the person."""
    ra = noise.release("reach", A, A + 2 * HOUR, 40 + x)
    rb = noise.release("reach", A + HOUR, A + 3 * HOUR, 45 + x)
    rab = noise.release("reach", A, A + 3 * HOUR, 60 + x)
    assert None not in (ra, rb, rab)
    return (ra + rb - rab) - 25 >= 0.5  # type: ignore[operator]


def test_inclusion_exclusion_over_three_ranges_is_no_better_than_epsilon_allows():
    assert _success(_three_ranges, 1e9) == 1.0, "without noise the attack always wins"
    rate = _success(_three_ranges, EPSILON)
    assert rate <= _bound(3 * EPSILON) + 0.02, rate
    assert rate < 0.7


def _twins(noise: Noise, x: int) -> bool:
    """Twin campaigns, one with a hole around a house: reach(whole) - reach(holed) = the house.
    The twin is another campaign, so another seed."""
    twin = Noise(noise.secret, noise.campaign_id + 10**9, noise.epsilon, noise.k)
    whole = noise.release("reach", A, A + HOUR, 50 + x)
    holed = twin.release("reach", A, A + HOUR, 50)
    return whole - holed >= 0.5  # type: ignore[operator]


def test_twin_campaigns_with_a_hole_are_no_better_than_epsilon_allows():
    assert _success(_twins, 1e9) == 1.0
    rate = _success(_twins, EPSILON)
    assert rate <= _bound(2 * EPSILON) + 0.02, rate


def _half_hour_zone(noise: Noise, x: int) -> bool:
    """A day figure against an hour-range figure that differs by the person's hour."""
    day = noise.release("reach", A, A + 24 * HOUR, 60 + x)
    hours = noise.release("reach", A + HOUR, A + 24 * HOUR, 60)
    return day - hours >= 0.5  # type: ignore[operator]


def test_a_day_against_an_hour_range_is_no_better_than_epsilon_allows():
    assert _success(_half_hour_zone, 1e9) == 1.0
    assert _success(_half_hour_zone, EPSILON) <= _bound(2 * EPSILON) + 0.02


def test_asking_again_returns_the_same_noise_so_averaging_gains_nothing():
    noise = _noise(7)
    answers = {noise.release("reach", A, A + HOUR, 100) for _ in range(500)}
    assert len(answers) == 1
    other_range = noise.release("reach", A, A + 2 * HOUR, 100)
    other_secret = Noise("another-secret", 7, EPSILON, K).release("reach", A, A + HOUR, 100)
    draws = {d for d in (other_range, other_secret)} | answers
    assert len(draws) > 1 or answers == {100}, "other figures get other noise"
    assert len(noise.released) == 2, "one figure, asked 500 times, is one release"


def test_the_noise_has_the_stated_distribution():
    p = math.exp(-EPSILON)
    draws = [
        discrete_laplace(_noise(1).seed(figure_key(f"m{i}", A, A + HOUR)), EPSILON, 1.0)
        for i in range(20_000)
    ]
    mean = sum(draws) / len(draws)
    zero = draws.count(0) / len(draws)
    variance = sum(d * d for d in draws) / len(draws)
    assert abs(mean) < 0.1
    assert abs(zero - (1 - p) / (1 + p)) < 0.015
    assert abs(variance - 2 * p / (1 - p) ** 2) < 0.1 * 2 * p / (1 - p) ** 2
    # The likelihood ratio of neighbouring outputs is exp(epsilon): the definition of the bound.
    ones = draws.count(1) / len(draws)
    assert abs(ones / zero - p) < 0.03


def test_the_floor_is_decided_on_the_noisy_value():
    """Five people are withheld (noise of +15 or more: p^15/(1+p), about 1 in 2,900); 200 are
    shown, noisily. A shown small figure is still just a noisy count: the floor is
    post-processing of it, so it adds no loss."""
    shown = [_noise(t).release("reach", A, A + HOUR, 5) for t in range(2000)]
    assert shown.count(None) >= 1995
    noisy = [_noise(t).release("reach", A, A + HOUR, 200) for t in range(2000)]
    assert None not in noisy
    assert len(set(noisy)) > 5, "the figure is noised"


def test_event_counts_are_noised_by_what_one_person_can_add():
    # A cap of 3 per 24 h: over one hour a person adds at most 3 (+3 if a window restarts).
    assert events_sensitivity(3, 24, A, A + HOUR) == 6
    assert events_sensitivity(3, 24, A, A + 48 * HOUR) == 9
    assert events_sensitivity(10, 1, A, A + 24 * HOUR) == 250
