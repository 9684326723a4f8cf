"""background_load: busy processes that run during the block, end with it, and end by themselves."""

from __future__ import annotations

import time

import pytest

from visdet.benchmark.load import background_load


def test_processes_run_inside_and_are_gone_after():
    with background_load(2, max_seconds=60) as processes:
        assert len(processes) == 2
        assert all(p.poll() is None for p in processes)
    assert all(p.poll() is not None for p in processes)


def test_processes_end_by_themselves_after_max_seconds():
    with background_load(1, max_seconds=0.5) as processes:
        deadline = time.monotonic() + 30
        while processes[0].poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert processes[0].returncode == 0


def test_processes_are_stopped_when_the_block_raises():
    with pytest.raises(RuntimeError, match="benchmark failed"):
        with background_load(1, max_seconds=60) as processes:
            raise RuntimeError("benchmark failed")
    assert processes[0].poll() is not None


def test_zero_processes_is_an_idle_run():
    with background_load(0) as processes:
        assert processes == []


@pytest.mark.parametrize("processes, seconds, message", [(-1, 10, "load must be >= 0"), (1, 0, "max_seconds")])
def test_bad_settings_are_refused(processes, seconds, message):
    with pytest.raises(ValueError, match=message):
        with background_load(processes, seconds):
            pass
