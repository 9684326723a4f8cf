import torch

from visdet.benchmark.cases.base import ComponentUnavailable, require
from visdet.benchmark.measures import count_flops, count_parameters, time_callable
from visdet.benchmark.memory import peak_memory


def test_time_callable_reports_median_iqr_in_seconds():
    calls = []
    metric = time_callable(lambda: calls.append(1), warmup=3, min_run_time=0.01)
    assert metric.unit == "s" and metric.value > 0 and metric.iqr >= 0 and metric.repeats >= 1
    assert len(calls) > 3


def test_flops_of_a_matmul():
    a, b = torch.randn(8, 16), torch.randn(16, 4)
    assert count_flops(lambda: a @ b).value == 2 * 8 * 16 * 4


def test_parameters_are_counted():
    assert count_parameters(torch.nn.Linear(3, 5)).value == 3 * 5 + 5


def test_cpu_peak_memory_counts_live_tensor_bytes():
    def work():
        a = torch.ones(1000, dtype=torch.float32)  # 4000 B
        b = a * 2  # 4000 B, both alive
        del a
        c = b + 1  # a freed before c: peak stays at 8000 B
        return c.sum()

    metric = peak_memory(work, torch.device("cpu"))
    assert metric.unit == "B" and metric.method
    assert 8000 <= metric.value < 8100


def test_views_and_inplace_allocate_nothing():
    x = torch.ones(1000)
    assert peak_memory(lambda: (x.view(10, 100).t(), x.add_(1)), torch.device("cpu")).value == 0


def test_require_reports_every_missing_candidate():
    try:
        require("no_such_module:thing", "torch:no_such_attr")
    except ComponentUnavailable as exc:
        assert "no_such_module" in str(exc) and "no_such_attr" in str(exc)
    else:
        raise AssertionError("require should have raised")
    assert require("no_such_module:x", "torch:cat") is torch.cat  # first importable wins
    try:
        require("torch:nn")  # a module where a callable is expected
    except ComponentUnavailable as exc:
        assert "is a module" in str(exc)
    else:
        raise AssertionError("a module must not pass for a callable")


def test_heap_scratch_counts_numpy_temporaries_not_outputs_or_tensors():
    import numpy as np

    from visdet.benchmark.memory import heap_scratch

    def work():
        scratch = np.ones(1 << 17)  # 1 MiB, freed before returning
        torch.ones(1 << 18)  # 1 MiB of torch storage: not on the Python heap
        out = np.zeros(1 << 10)  # 8 KiB output, still held when the call returns
        out += scratch[: 1 << 10]
        return out

    work()
    value = heap_scratch(work).value
    assert 1 << 20 <= value < (1 << 20) + (1 << 12)
