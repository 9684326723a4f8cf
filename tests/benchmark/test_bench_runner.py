from dataclasses import replace

import torch

from visdet.benchmark.cases import Case, ComponentUnavailable, Workload, registered_cases
from visdet.benchmark.runner import RunSettings, run_benchmarks, run_case

FAST = RunSettings(quick=True, warmup=0, min_run_time=0.001)


def test_conv_module_figures_match_its_architecture():
    result = run_case(registered_cases()["layers/conv_module"], "visdet", 8, FAST)
    assert result.status == "ok", result.message
    m = result.metrics
    # 3x3 conv 64->64 without bias (a norm follows) + BN(64) weight and bias
    assert m["params"].value == 64 * 64 * 9 + 2 * 64
    # batch 2, 8x8 output: 2 FLOPs per multiply-add
    assert m["forward_flops"].value == 2 * (2 * 8 * 8) * 64 * 64 * 9
    assert m["train_flops"].value == 3 * m["forward_flops"].value  # forward + 2 backward convs
    assert m["forward_peak_memory"].value >= 2 * 64 * 8 * 8 * 4  # at least the output
    assert {"forward_time", "train_time", "train_peak_memory"} <= set(m)


def _case(builder):
    return Case(
        component="fake/thing",
        size_name="n",
        sizes=(2,),
        quick_sizes=(1,),
        builders={"visdet": builder},
        description="test",
    )


def test_unavailable_and_error_results_do_not_stop_a_run():
    def unavailable(size, device):
        raise ComponentUnavailable("not available yet: fake")

    def broken(size, device):
        raise RuntimeError("boom")

    def fine(size, device):
        return Workload(forward=lambda: torch.ones(size) * 2)

    cases = [_case(unavailable), _case(broken), _case(fine)]
    run = run_benchmarks(cases, replace(FAST, impls=("visdet", "mmdet")))
    statuses = [(r.impl, r.status) for r in run.results]
    assert statuses == [
        ("visdet", "unavailable"),
        ("mmdet", "unavailable"),
        ("visdet", "error"),
        ("mmdet", "unavailable"),
        ("visdet", "ok"),
        ("mmdet", "unavailable"),
    ]
    assert "boom" in run.results[2].message
    assert run.results[1].message == "no mmdet equivalent"
    assert torch.get_num_threads() >= 1 and run.machine["threads_used"] == FAST.threads


def test_a_loaded_run_keeps_busy_processes_alive_while_measuring_and_records_the_load(monkeypatch):
    import visdet.benchmark.runner as runner

    seen = []
    original = runner.background_load

    def spying(processes, max_seconds):
        context = original(processes, max_seconds)

        class Spy:
            def __enter__(self):
                seen.extend(context.__enter__())
                return seen

            def __exit__(self, *exc):
                return context.__exit__(*exc)

        return Spy()

    monkeypatch.setattr(runner, "background_load", spying)
    alive = []

    def fine(size, device):
        def forward():
            alive.append(all(p.poll() is None for p in seen))
            return torch.ones(size)

        return Workload(forward=forward)

    run = run_benchmarks([_case(fine)], replace(FAST, load=2, load_seconds=60, memory=False, flops=False))
    assert run.results[0].status == "ok"
    assert len(seen) == 2 and alive and all(alive)
    assert all(p.poll() is not None for p in seen)
    assert run.settings["load"] == 2
