"""loop_threads: the ops' loops run on VISDET_OP_THREADS threads and leave torch's count as it was."""

from __future__ import annotations

import importlib
import threading

import pytest
import torch

from visdet.ops import batched_nms, multiclass_nms, nms, roi_align, soft_nms
from visdet.ops._threads import ENV_VARIABLE, loop_threads


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def threads_at(monkeypatch):
    """``threads_at(owner, name)`` wraps ``owner.<name>``; ``threads_at.seen[name]``: the thread count at each call."""
    seen: dict[str, list[int]] = {}

    def record(owner, name):
        original = getattr(owner, name)

        def wrapped(*args, **kwargs):
            seen.setdefault(name, []).append(torch.get_num_threads())
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, wrapped)

    record.seen = seen
    return record


def test_lowers_inside_and_restores(two_threads, monkeypatch):
    monkeypatch.delenv(ENV_VARIABLE, raising=False)
    with loop_threads():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2


def test_nested_blocks_restore_once_at_the_outermost(two_threads, monkeypatch):
    monkeypatch.delenv(ENV_VARIABLE, raising=False)
    with loop_threads():
        with loop_threads():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2


def test_restores_after_an_exception(two_threads, monkeypatch):
    monkeypatch.delenv(ENV_VARIABLE, raising=False)
    with pytest.raises(RuntimeError, match="inside"):
        with loop_threads():
            raise RuntimeError("inside")
    assert torch.get_num_threads() == 2


def test_zero_leaves_torch_alone(two_threads, monkeypatch):
    monkeypatch.setenv(ENV_VARIABLE, "0")
    with loop_threads():
        assert torch.get_num_threads() == 2


def test_a_count_above_torch_s_does_not_raise_it(two_threads, monkeypatch):
    monkeypatch.setenv(ENV_VARIABLE, "8")
    with loop_threads():
        assert torch.get_num_threads() == 2
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("raw, message", [("two", "must be an integer"), ("-1", "must be >= 0")])
def test_bad_values_name_the_variable(monkeypatch, raw, message):
    monkeypatch.setenv(ENV_VARIABLE, raw)
    with pytest.raises(ValueError, match=f"{ENV_VARIABLE} {message}"):
        with loop_threads():
            pass


def test_each_python_thread_keeps_its_own_count(two_threads, monkeypatch):
    monkeypatch.delenv(ENV_VARIABLE, raising=False)
    inside = threading.Barrier(2)
    seen = []

    def worker():
        with loop_threads():
            inside.wait(timeout=30)
            seen.append(torch.get_num_threads())
            inside.wait(timeout=30)
        seen.append(torch.get_num_threads())

    workers = [threading.Thread(target=worker, daemon=True) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    assert not any(w.is_alive() for w in workers)
    # Both were inside at once and each ran its block on one thread.
    assert seen[:2] == [1, 1]
    # Both restored the count from before either entered, also the one that started while
    # the other had lowered it (a new thread starts from the last count set anywhere).
    assert seen[2:] == [2, 2]
    assert torch.get_num_threads() == 2


def test_ops_give_the_same_result_at_any_loop_thread_count(two_threads, monkeypatch):
    generator = torch.Generator().manual_seed(0)
    xy = torch.rand(600, 2, generator=generator) * 200
    boxes = torch.cat([xy, xy + 10 + torch.rand(600, 2, generator=generator) * 40], dim=1)
    scores = torch.rand(600, generator=generator)
    features = torch.randn(2, 4, 32, 40, generator=generator)
    rois = torch.tensor([[0, 1.0, 2.0, 20.0, 30.0], [1, 5.0, 0.0, 38.0, 12.0], [0, 0.0, 0.0, 39.0, 31.0]])
    results = {}
    for value in ("1", "0"):
        monkeypatch.setenv(ENV_VARIABLE, value)
        dets, keep = nms(boxes, scores, 0.5)
        pooled = roi_align(features, rois, (7, 7), spatial_scale=1.0, sampling_ratio=2, aligned=True)
        assert torch.get_num_threads() == 2
        results[value] = (keep, dets, pooled)
    assert keep.numel() > 0
    torch.testing.assert_close(results["1"][0], results["0"][0], rtol=0, atol=0)
    torch.testing.assert_close(results["1"][2], results["0"][2])


def test_roi_align_and_nms_loops_run_on_one_thread(two_threads, threads_at, monkeypatch):
    import visdet.ops._greedy as greedy
    import visdet.ops._roi_align_avg as avg

    monkeypatch.delenv(ENV_VARIABLE, raising=False)
    threads_at(avg, "_pool_rois")
    threads_at(greedy, "_greedy_dense")
    features = torch.randn(1, 2, 16, 16)
    rois = torch.tensor([[0, 1.0, 1.0, 12.0, 9.0]])
    roi_align(features, rois, (2, 2), sampling_ratio=2)
    # with gradients, so the general pass runs (the small-input fast path is numpy only, no torch loop)
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0]], requires_grad=True)
    nms(boxes, torch.tensor([0.9, 0.8]), 0.5)
    assert {name: set(counts) for name, counts in threads_at.seen.items()} == {"_pool_rois": {1}, "_greedy_dense": {1}}
    assert torch.get_num_threads() == 2


def test_the_small_soft_nms_paths_gaussian_exp_runs_on_one_thread(two_threads, threads_at, monkeypatch):
    """The small-input soft-NMS path is numpy, except the gaussian weights' exp (torch's, as the torch loop's).

    With 2 threads and both cores busy, an exp of 400 doubles took 5.4 ms against 9 us on
    one thread (gaussian soft-NMS of 128 boxes: 30x mmcv's time), so it runs on one thread.
    """
    monkeypatch.delenv(ENV_VARIABLE, raising=False)
    threads_at(torch.Tensor, "exp_")
    generator = torch.Generator().manual_seed(5)
    xy = torch.rand(128, 2, generator=generator) * 300
    boxes = torch.cat([xy, xy + 10 + torch.rand(128, 2, generator=generator) * 40], dim=1)
    scores = torch.rand(128, generator=generator)
    dets, keep = soft_nms(boxes, scores, 0.3, 0.5, 1e-3, "gaussian")
    assert keep.numel() > 0 and bool((dets[:, 4] < scores[keep]).any())  # some scores decayed
    assert threads_at.seen["exp_"] and set(threads_at.seen["exp_"]) == {1}
    assert torch.get_num_threads() == 2


def test_the_ops_general_cpu_paths_run_on_one_thread(two_threads, threads_at, monkeypatch):
    """Past the small-input paths, every torch call of an op (sorts, gathers, checks) runs on one thread.

    Under load a parallel region of a few thousand elements (``boxes[order]`` of 1000 boxes)
    waits for a descheduled worker: with 2 threads and one core busy, nms of 1000 boxes took
    16 ms against 2 ms on one thread (and 1.97x mmcv's time with 2 busy processes).
    """
    monkeypatch.delenv(ENV_VARIABLE, raising=False)
    for module_name, name in (
        ("visdet.ops.nms", "_nms"),
        ("visdet.ops.nms", "_batched_nms"),
        ("visdet.ops.multiclass_nms", "_multiclass_nms"),
        ("visdet.ops.soft_nms", "_soft_nms_numpy"),
        ("visdet.ops.soft_nms", "_soft_nms_sparse_by_score"),
        ("visdet.ops.roi_align", "roi_align_max_no_grad"),
    ):
        threads_at(importlib.import_module(module_name), name)
    generator = torch.Generator().manual_seed(3)
    xy = torch.rand(600, 2, generator=generator) * 300
    boxes = torch.cat([xy, xy + 10 + torch.rand(600, 2, generator=generator) * 40], dim=1)
    scores = torch.rand(600, generator=generator)
    idxs = torch.randint(0, 3, (600,), generator=generator)
    # 600 boxes: above the small-input paths' 512
    assert nms(boxes, scores, 0.5)[1].numel() > 0
    assert batched_nms(boxes, scores, idxs, {"type": "nms", "iou_threshold": 0.5})[1].numel() > 0
    assert soft_nms(boxes, scores, 0.3, 0.5, 1e-3, "linear")[1].numel() > 0
    assert soft_nms(boxes[:40], scores[:40], 0.0, 0.5, 1e-3, "naive")[1].numel() > 0  # the numpy loop
    class_scores = torch.rand(600, 4, generator=generator)
    assert multiclass_nms(boxes, class_scores, 0.5, {"type": "nms", "iou_threshold": 0.5})[0].numel() > 0
    features = torch.randn(1, 2, 16, 16)
    rois = torch.tensor([[0, 1.0, 1.0, 12.0, 9.0]])
    assert roi_align(features, rois, (2, 2), sampling_ratio=2, pool_mode="max").shape == (1, 2, 2, 2)
    names = ("_nms", "_batched_nms", "_multiclass_nms", "_soft_nms_numpy", "_soft_nms_sparse_by_score")
    assert {name: set(counts) for name, counts in threads_at.seen.items()} == {
        name: {1} for name in (*names, "roi_align_max_no_grad")
    }
    assert torch.get_num_threads() == 2
