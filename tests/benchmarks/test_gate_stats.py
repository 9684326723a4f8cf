"""benchmarks/gate/stats.py: the sign-test interval of the median ratio and the verdict rule."""

import math

import pytest

from benchmarks.gate.stats import (
    FASTER,
    NO_CHANGE,
    POSSIBLE,
    REGRESSION,
    Rule,
    Summary,
    ratios,
    sign_interval_order,
    summarize,
    verdict,
)


@pytest.mark.parametrize(
    ("n", "k"),
    # The order statistics of the textbook 95% interval for a median (e.g. Conover,
    # "Practical Nonparametric Statistics", table A3): n=6..8 -> 1st, 9..11 -> 2nd,
    # 12..14 -> 3rd, 15..16 -> 4th, 17..19 -> 5th, 20 -> 6th.
    [(6, 1), (8, 1), (9, 2), (11, 2), (12, 3), (14, 3), (15, 4), (16, 4), (17, 5), (19, 5), (20, 6)],
)
def test_interval_order_matches_the_binomial_table(n, k):
    got_k, coverage = sign_interval_order(n, 0.95)
    assert got_k == k
    # coverage = 1 - 2 P(Binom(n, 1/2) <= k - 1), written out here from its definition
    tail = sum(math.comb(n, i) for i in range(k)) / 2**n
    assert coverage == pytest.approx(1 - 2 * tail)
    assert coverage >= 0.95


def test_too_few_pairs_give_min_max_with_their_true_coverage():
    assert sign_interval_order(5, 0.95) == (1, pytest.approx(1 - 2 / 32))
    assert sign_interval_order(1, 0.95) == (1, 0.0)
    with pytest.raises(ValueError, match="no pairs"):
        sign_interval_order(0, 0.95)


def test_summarize_picks_the_order_statistics():
    values = [1.30, 1.10, 1.21, 1.19, 0.90, 1.25, 1.22, 1.18, 1.20]  # n=9: 2nd and 8th smallest
    s = summarize(values)
    assert (s.n, s.median, s.low, s.high) == (9, 1.20, 1.10, 1.25)


def test_ratios_are_head_over_base_and_reject_bad_input():
    assert ratios([2.0, 4.0], [3.0, 4.0]) == [1.5, 1.0]
    with pytest.raises(ValueError, match="differ in number"):
        ratios([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="positive"):
        ratios([0.0], [1.0])


@pytest.mark.parametrize(
    ("median", "low", "high", "expected"),
    [
        (1.20, 1.10, 1.30, REGRESSION),
        (1.10, 1.051, 1.20, REGRESSION),  # both thresholds just met
        (1.12, 1.05, 1.20, POSSIBLE),  # lower bound not above 1.05
        (1.09, 1.06, 1.12, POSSIBLE),  # confidently slower, but less than 1.10 in the estimate
        (1.15, 0.98, 1.30, POSSIBLE),  # slower in the estimate, interval reaches 1
        (1.03, 1.01, 1.05, POSSIBLE),  # a small but certain slowdown
        (1.00, 0.95, 1.06, NO_CHANGE),
        (1.08, 0.97, 1.15, NO_CHANGE),
        (0.85, 0.80, 0.90, FASTER),
    ],
)
def test_verdict_rule(median, low, high, expected):
    assert verdict(Summary(9, median, low, high, 0.96), Rule()) == expected


def test_rule_thresholds_are_parameters():
    s = Summary(9, 1.15, 1.08, 1.20, 0.96)
    assert verdict(s, Rule(lower=1.05, median=1.10)) == REGRESSION
    assert verdict(s, Rule(lower=1.10, median=1.20)) == POSSIBLE
