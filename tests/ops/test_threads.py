"""loop_threads: the ops' loops run on VISDET_OP_THREADS threads and leave torch's count as it was."""

from __future__ import annotations

import threading

import pytest
import torch

from visdet.ops import nms, roi_align
from visdet.ops._threads import ENV_VARIABLE, loop_threads


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


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


def test_roi_align_and_nms_loops_run_on_one_thread(two_threads, monkeypatch):
    import visdet.ops._greedy as greedy
    import visdet.ops._roi_align_avg as avg

    monkeypatch.delenv(ENV_VARIABLE, raising=False)
    seen = {}

    def recording(module, name):
        original = getattr(module, name)

        def wrapped(*args, **kwargs):
            seen[name] = torch.get_num_threads()
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapped)

    recording(avg, "_pool_rois")
    recording(greedy, "_greedy_dense")
    features = torch.randn(1, 2, 16, 16)
    rois = torch.tensor([[0, 1.0, 1.0, 12.0, 9.0]])
    roi_align(features, rois, (2, 2), sampling_ratio=2)
    # with gradients, so the general pass runs (the small-input fast path is numpy only, no torch loop)
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0]], requires_grad=True)
    nms(boxes, torch.tensor([0.9, 0.8]), 0.5)
    assert seen == {"_pool_rois": 1, "_greedy_dense": 1}
    assert torch.get_num_threads() == 2
