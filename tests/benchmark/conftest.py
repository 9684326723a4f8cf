"""Fixtures for the visdet.benchmark tests: tiny fake runs built by hand."""

import pytest

from visdet.benchmark.schema import BenchmarkRun, ComponentResult, Metric


def make_run(
    scale: float = 1.0, *, created: str = "2026-01-01T00:00:00+00:00", commit: str = "a" * 40, impls=("visdet",)
) -> BenchmarkRun:
    results = []
    for impl in impls:
        for size, base in ((10, 1e-3), (100, 4e-3)):
            t = base * (scale if impl == "visdet" else 1.0)
            results.append(
                ComponentResult(
                    component="ops/nms",
                    family="ops",
                    impl=impl,
                    size=size,
                    size_name="boxes",
                    metrics={
                        "forward_time": Metric(t, "s", iqr=t * 0.02, repeats=10, method="test"),
                        "forward_peak_memory": Metric(1024.0 * size, "B", method="test"),
                        "forward_flops": Metric(0.0, "FLOP"),
                    },
                )
            )
    results.append(
        ComponentResult(
            component="ops/roi_align",
            family="ops",
            impl="visdet",
            size=8,
            size_name="rois",
            status="unavailable",
            message="not available yet: visdet.ops:roi_align",
        )
    )
    machine = {
        "cpu_model": "test cpu",
        "cpu_cores": 2,
        "threads_used": 1,
        "torch": "2.13.0",
        "device": "cpu",
        "git_commit": commit,
    }
    return BenchmarkRun(machine=machine, settings={"quick": True}, results=results, created=created)


@pytest.fixture
def fake_run():
    return make_run


@pytest.fixture
def run_files(tmp_path):
    base = make_run(1.0).save(tmp_path / "base.json")
    same = make_run(1.0, created="2026-01-02T00:00:00+00:00").save(tmp_path / "same.json")
    slower = make_run(2.0, created="2026-01-03T00:00:00+00:00", commit="b" * 40).save(tmp_path / "slower.json")
    return base, same, slower
