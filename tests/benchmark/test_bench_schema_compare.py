import json

import pytest

from visdet.benchmark.compare import compare_impls, compare_runs, format_comparisons, regressions
from visdet.benchmark.schema import SCHEMA_VERSION, BenchmarkRun, Metric, SchemaError


def test_json_round_trip_is_lossless(fake_run, tmp_path):
    run = fake_run(1.0)
    path = run.save(tmp_path / "run.json")
    data = json.loads(path.read_text())
    assert data["schema"] == "visdet.benchmark" and data["schema_version"] == SCHEMA_VERSION
    assert data["results"][0]["metrics"]["forward_time"]["unit"] == "s"
    assert BenchmarkRun.load(path) == run


def test_newer_schema_version_and_garbage_are_rejected(fake_run, tmp_path):
    data = fake_run().to_dict()
    data["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(SchemaError, match="schema_version"):
        BenchmarkRun.from_dict(data)
    with pytest.raises(SchemaError, match="not a visdet.benchmark"):
        BenchmarkRun.from_dict({"results": []})
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SchemaError, match="not valid JSON"):
        BenchmarkRun.load(bad)
    data = fake_run().to_dict()
    data["results"][0]["status"] = "maybe"
    with pytest.raises(SchemaError, match="status"):
        BenchmarkRun.from_dict(data)


def test_compare_flags_a_two_times_slower_run(fake_run):
    comparisons = compare_runs(fake_run(1.0), fake_run(2.0), factor=1.5)
    slow = regressions(comparisons)
    assert {(c.component, c.size, c.metric) for c in slow} == {
        ("ops/nms", 10, "forward_time"),
        ("ops/nms", 100, "forward_time"),
    }
    assert all(c.ratio == pytest.approx(2.0) for c in slow)
    # memory did not change, and the unavailable result is not compared
    assert {c.metric for c in comparisons} == {"forward_time", "forward_peak_memory"}
    assert "WORSE" in format_comparisons(comparisons)


def test_compare_does_not_flag_an_equal_run(fake_run):
    comparisons = compare_runs(fake_run(1.0), fake_run(1.0), factor=1.5)
    assert comparisons and not regressions(comparisons)
    assert all(c.flag == "" for c in comparisons)


def test_faster_run_is_flagged_better_not_worse(fake_run):
    comparisons = compare_runs(fake_run(1.0), fake_run(0.25), factor=1.5)
    assert not regressions(comparisons)
    assert {c.flag for c in comparisons if c.metric == "forward_time"} == {"better"}


def test_overlapping_spreads_are_not_flagged(fake_run):
    base = fake_run(1.0)
    noisy = fake_run(1.6)
    # give the head a spread wider than the difference
    results = [
        r.__class__(
            **{
                **r.__dict__,
                "metrics": {k: Metric(m.value, m.unit, iqr=m.value, repeats=m.repeats) for k, m in r.metrics.items()},
            }
        )
        for r in noisy.results
    ]
    noisy = BenchmarkRun(noisy.machine, noisy.settings, results, noisy.created)
    assert not regressions(compare_runs(base, noisy, factor=1.5))


def test_compare_rejects_bad_factor(fake_run):
    with pytest.raises(ValueError, match="factor"):
        compare_runs(fake_run(), fake_run(), factor=1.0)


def test_impl_ratios_pair_visdet_with_mmdet_in_one_run(fake_run):
    run = fake_run(3.0, impls=("visdet", "mmdet"))
    pairs = compare_impls(run, factor=1.5, metrics=("forward_time",))
    assert len(pairs) == 2
    assert all(c.before_label == "mmdet" and c.ratio == pytest.approx(3.0) for c in pairs)
