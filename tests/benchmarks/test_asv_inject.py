"""The benchmark-only slowdown switch (benchmarks/_common.py) used to test the harness."""

import time

import pytest

from benchmarks._common import parse_slowdowns, skip_slow, with_injected_slowdown


def _work():
    start = time.process_time()
    while time.process_time() - start < 0.02:
        pass
    return 7


def _cpu_seconds(fn):
    start = time.process_time()
    assert fn() == 7
    return time.process_time() - start


def test_parse_slowdowns():
    assert parse_slowdowns("nms:1.5, roi_align:2") == {"nms": 1.5, "roi_align": 2.0}
    assert parse_slowdowns("") == {}
    for bad in ("nms", "nms:fast", "nms:0.5", ":2"):
        with pytest.raises(ValueError, match="name:factor"):
            parse_slowdowns(bad)


def test_unset_switch_returns_the_function_itself(monkeypatch):
    monkeypatch.delenv("VISDET_BENCH_INJECT_SLOWDOWN", raising=False)
    assert with_injected_slowdown("nms", _work) is _work
    monkeypatch.setenv("VISDET_BENCH_INJECT_SLOWDOWN", "roi_align:2")
    assert with_injected_slowdown("nms", _work) is _work


def test_injected_op_takes_at_least_factor_times_as_long(monkeypatch):
    monkeypatch.setenv("VISDET_BENCH_INJECT_SLOWDOWN", "nms:2")
    monkeypatch.delenv("VISDET_BENCH_INJECT_COMMIT", raising=False)
    slowed = with_injected_slowdown("nms", _work)
    assert slowed is not _work
    # The real call burns >= 0.02 s of CPU time, then the wait as much again (CPU time
    # counts only this process's work, so the bound holds on a loaded machine too).
    assert _cpu_seconds(slowed) >= 0.04


def test_commit_restriction_uses_asv_commit(monkeypatch):
    monkeypatch.setenv("VISDET_BENCH_INJECT_SLOWDOWN", "nms:2")
    monkeypatch.setenv("VISDET_BENCH_INJECT_COMMIT", "abc123")
    monkeypatch.setenv("ASV_COMMIT", "def456")
    assert with_injected_slowdown("nms", _work) is _work
    monkeypatch.setenv("ASV_COMMIT", "abc1234567")
    assert with_injected_slowdown("nms", _work) is not _work


def test_skip_slow(monkeypatch):
    monkeypatch.setenv("ASV_SKIP_SLOW", "1")
    with pytest.raises(NotImplementedError):
        skip_slow(True)
    skip_slow(False)
    monkeypatch.setenv("ASV_SKIP_SLOW", "0")
    skip_slow(True)
