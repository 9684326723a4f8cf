"""benchmarks/gate: the worker's protocol and counters, the runner's environment, the cases."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks.gate import cases, runner, worker


def test_counters_of_a_matmul():
    a, b = torch.ones(4, 6), torch.ones(6, 5)
    got = worker.count(lambda: torch.mm(a, b) + 1)
    assert got["flops"] == 2 * 4 * 6 * 5  # torch's formula for mm: 2 m k n
    assert got["aten_ops"] == {"aten.mm": 1, "aten.add": 1}
    assert got["aten_calls"] == 2
    assert got["peak_bytes"] == 2 * 4 * 5 * 4  # the product and the sum, float32, both alive at the end


def test_serve_answers_blocks_counts_and_statuses(monkeypatch):
    monkeypatch.delenv("VISDET_BENCH_INJECT_SLOWDOWN", raising=False)
    missing = cases.Case("missing", "ops.NMS", "time_nms", ("mmdet", 1000))  # mmcv is not in this environment
    chosen = [cases.CASES["bbox_overlaps"], missing]
    commands = [{"op": "block", "case": "bbox_overlaps", "number": 2}, {"op": "count", "case": "bbox_overlaps"},
                {"op": "quit"}]  # fmt: skip
    stdin = io.StringIO("".join(json.dumps(c) + "\n" for c in commands))
    stdout = io.StringIO()
    saved = os.sys.stdout
    try:
        worker.serve(chosen, stdin, stdout)
    finally:
        os.sys.stdout = saved
    hello, timed, counted = (json.loads(line) for line in stdout.getvalue().splitlines())
    assert hello["visdet_file"].endswith(os.path.join("visdet", "__init__.py"))
    assert hello["cases"]["bbox_overlaps"] == {"status": "ok"}
    assert hello["cases"]["missing"]["status"] == "n/a"
    assert set(timed) == {"cpu", "wall"} and timed["cpu"] > 0 and timed["wall"] > 0
    assert counted["flops"] == 0  # elementwise work only: the flop counter has no formula for it
    assert counted["aten_calls"] > 0 and counted["peak_bytes"] >= 1000 * 1000 * 4  # the 1000x1000 float32 IoUs


def test_setup_error_is_reported_with_its_message():
    bad = cases.Case("bad", "ops.NMS", "time_nms", ("visdet", "not a size"))
    status, parts = worker.prepare(bad)
    assert parts is None
    assert status["status"] == "error" and status["error"].startswith("setup: TypeError")


def test_worker_env_keeps_injection_to_the_side_asked(monkeypatch, tmp_path):
    monkeypatch.setenv("VISDET_BENCH_INJECT_SLOWDOWN", "nms:3")
    monkeypatch.setenv("VISDET_BENCH_INJECT_COMMIT", "abc")
    monkeypatch.setenv("ASV_COMMIT", "abc")
    base = runner.worker_env(tmp_path, 1, "")
    assert "VISDET_BENCH_INJECT_SLOWDOWN" not in base and "VISDET_BENCH_INJECT_COMMIT" not in base
    assert "ASV_COMMIT" not in base
    assert base["PYTHONPATH"] == str(tmp_path) and base["VISDET_BENCH_THREADS"] == "1"
    head = runner.worker_env(tmp_path, 2, "backbone:1.2")
    assert head["VISDET_BENCH_INJECT_SLOWDOWN"] == "backbone:1.2" and head["VISDET_BENCH_THREADS"] == "2"


def test_worker_env_fixes_glibc_malloc_thresholds_unless_the_caller_set_them(monkeypatch, tmp_path):
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    env = runner.worker_env(tmp_path, 1, "")
    assert env["MALLOC_MMAP_THRESHOLD_"] == str(32 * 1024 * 1024)  # a 1000x1000 float32 IoU (4 MB) stays on the heap
    assert env["MALLOC_TRIM_THRESHOLD_"] == str(1024**3)
    head = runner.worker_env(tmp_path, 1, "backbone:1.2")  # both sides alike
    assert {k: head[k] for k in runner.STEADY_MALLOC} == {k: env[k] for k in runner.STEADY_MALLOC}
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "131072")
    assert runner.worker_env(tmp_path, 1, "")["MALLOC_MMAP_THRESHOLD_"] == "131072"


def test_select_cases():
    assert [c.name for c in cases.select("")] == list(cases.DEFAULT)
    assert [c.name for c in cases.select("nms, backbone")] == ["nms", "backbone"]
    with pytest.raises(ValueError, match="unknown gate case.*'nope'"):
        cases.select("nms,nope")


def test_bad_arguments_exit_2(capsys, tmp_path):
    assert runner.main(["--pairs", "4", "--max-pairs", "3"]) == 2
    assert "--max-pairs" in capsys.readouterr().err
    workdir, report = tmp_path / "gate", tmp_path / "report.md"
    assert runner.main(["--base", "no-such-ref-here", "--workdir", str(workdir), "-o", str(report)]) == 2
    assert "no-such-ref-here" in capsys.readouterr().err
    assert not workdir.exists()  # nothing is made before the commits are known
    text = report.read_text()
    assert text.startswith("## Benchmark gate: error (exit 2)") and "no-such-ref-here" in text


def test_pair_cpus_share_one_cpu_set_per_pair_and_walk_the_cpus():
    assert runner.pair_cpus(0, 1, {0, 1}) == {0}
    assert runner.pair_cpus(1, 1, {0, 1}) == {1}
    assert runner.pair_cpus(2, 1, {0, 1}) == {0}
    assert [runner.pair_cpus(p, 1, {2, 5, 7}) for p in range(4)] == [{2}, {5}, {7}, {2}]  # CPUs allowed
    assert runner.pair_cpus(1, 2, {0, 1, 2, 3}) == {2, 3}
    assert runner.pair_cpus(1, 3, {0, 1, 2, 3}) == {3, 0, 1}
    assert runner.pair_cpus(0, 2, {0, 1}) is None  # every CPU wanted: nothing to bind
    assert runner.pair_cpus(0, 1, {0}) is None


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs")
def test_a_bound_worker_runs_on_the_cpus_given(tmp_path):
    cpu = max(os.sched_getaffinity(0))
    where = subprocess.run([sys.executable, "-c", "import visdet; print(visdet.__file__)"], cwd=tmp_path,
                           env=runner.envs.isolated_environ(), capture_output=True, text=True, check=True)  # fmt: skip
    src = Path(where.stdout.strip()).resolve().parents[1]  # the visdet a worker imports (without PYTHONPATH)
    env = runner.envs.Env("base", "0" * 40, src, Path(sys.executable))
    harness = runner.copy_harness(tmp_path)
    bound = runner.Worker(env, harness, ["bbox_overlaps"], 1, "", {cpu})
    try:
        assert bound.ready()["bbox_overlaps"] == {"status": "ok"}
        assert os.sched_getaffinity(bound.proc.pid) == {cpu}
        assert "wall" in bound.ask(op="block", case="bbox_overlaps", number=1)
    finally:
        bound.close()
    assert bound.proc.returncode == 0
