"""Paired statistics of the gate: per-pair ratios, their median, its interval, the verdict.

Pair i (a fresh process per side) gives one ratio ``r_i``: the median over the pair's
repeats of head block / base block, two blocks of calls timed one right after the other
(the runner alternates which side goes first). The statistic is the median of the ``r_i``; its
confidence interval is the distribution-free one of the sign test: the k-th smallest
and k-th largest ratio, k the largest order with ``P(Binom(n, 1/2) < k) <= alpha / 2``.
It holds for any continuous distribution of the ratios (heavy tails from other
processes on the machine included) as long as the pairs are independent, and it is
exact at small n, where a bootstrap of the median undercovers. Fewer than 6 pairs give
no 95% interval: the interval is then [min, max] with its smaller true coverage.

The verdict (``Rule``, defaults for catching a 1.2x slowdown):

* ``regression``: the interval's lower bound is above ``lower`` (1.05: the head is
  slower by more than 5% at 95% confidence, so the same code almost never gets here)
  *and* the median is at least ``median`` (1.10: the estimated slowdown is material).
  A true 1.2x has its median near 1.2, so a rule "median >= 1.2" would miss it half
  of the time; the thresholds sit halfway and a quarter of the way to the target.
* ``possible``: not a regression, but the lower bound is above 1 or the median is at
  least ``median``: slower with confidence but maybe less than material, or materially
  slower in the estimate but not confidently. Does not fail the gate.
* ``faster``: the mirror image of ``regression`` (upper bound below 1/lower and median
  at most 1/median).
* ``no change``: anything else.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

REGRESSION, POSSIBLE, NO_CHANGE, FASTER = "regression", "possible", "no change", "faster"


@dataclass(frozen=True)
class Rule:
    """Thresholds of the verdict (see the module docstring)."""

    lower: float = 1.05
    median: float = 1.10
    confidence: float = 0.95


@dataclass(frozen=True)
class Summary:
    """Median ratio head/base of ``n`` pairs, its interval and its actual coverage."""

    n: int
    median: float
    low: float
    high: float
    coverage: float


def ratios(base: Sequence[float], head: Sequence[float]) -> list[float]:
    """``head[i] / base[i]`` for each pair.

    Raises:
        ValueError: The sequences differ in length, or a time is not positive.
    """
    if len(base) != len(head):
        raise ValueError(f"paired times differ in number: {len(base)} base, {len(head)} head")
    bad = [t for t in (*base, *head) if not t > 0]
    if bad:
        raise ValueError(f"times must be positive, got {bad[:3]}")
    return [h / b for b, h in zip(base, head, strict=True)]


def _binom_cdf_half(k: int, n: int) -> float:
    """P(Binom(n, 1/2) <= k)."""
    return sum(math.comb(n, i) for i in range(k + 1)) / 2**n


def sign_interval_order(n: int, confidence: float) -> tuple[int, float]:
    """(k, coverage): [x_(k), x_(n+1-k)] (1-based) covers the median with ``coverage`` >= confidence.

    k = 1 with its (smaller) coverage when n is too small for ``confidence``.
    """
    if n < 1:
        raise ValueError("no pairs")
    alpha = 1.0 - confidence
    k = 1
    while k < (n + 1) // 2 and _binom_cdf_half(k, n) <= alpha / 2:  # P(X <= k) = P(X < k + 1)
        k += 1
    return k, 1.0 - 2.0 * _binom_cdf_half(k - 1, n)


def summarize(pair_ratios: Sequence[float], confidence: float = 0.95) -> Summary:
    """Median of the ratios and its sign-test interval."""
    values = sorted(pair_ratios)
    n = len(values)
    k, coverage = sign_interval_order(n, confidence)
    return Summary(n, statistics.median(values), values[k - 1], values[n - k], coverage)


def verdict(summary: Summary, rule: Rule = Rule()) -> str:
    """The verdict of ``summary`` under ``rule`` (see the module docstring)."""
    if summary.low > rule.lower and summary.median >= rule.median:
        return REGRESSION
    if summary.high < 1.0 / rule.lower and summary.median <= 1.0 / rule.median:
        return FASTER
    if summary.low > 1.0 or summary.median >= rule.median:
        return POSSIBLE
    return NO_CHANGE
