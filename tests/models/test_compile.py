"""``visdet.models.compile``: the optional ``torch.compile`` path for inference.

A compiled model must give the fused model's detections up to float32 rounding (Inductor's
convolutions sum in another order), at the first image size and after a second one has
made the graphs shape-generic; it must really be compiled, with its weights frozen; and
what it cannot do (pickle, copy, run unfused, run on CPU without a C++ compiler) must be
an error that says why. Compiling takes seconds per model, so the cases share models.
"""

from __future__ import annotations

import copy
import pickle
from pathlib import Path

import pytest
import torch
from torch import nn

import visdet
from visdet.models.compile import compile_for_inference, compiled_parts, cpp_compiler, is_compiled, missing_toolchain
from visdet.models.fuse import fuse_for_inference

APIS = Path(__file__).parents[1] / "apis"

pytestmark = pytest.mark.skipif(missing_toolchain() is not None, reason=str(missing_toolchain()))


def _metas(height: int, width: int, batch: int = 1) -> list[dict]:
    shape = (height, width)
    return [{"img_shape": shape, "ori_shape": shape, "pad_shape": shape, "batch_input_shape": shape,
             "scale_factor": (1.0, 1.0)}] * batch  # fmt: skip


def _randomise_norms(model: nn.Module, seed: int = 1) -> nn.Module:
    """BatchNorm statistics away from 0/1, so that folding and freezing have something to fold."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.copy_(torch.randn(module.num_features, generator=gen) * 0.1)
                module.running_var.copy_(torch.rand(module.num_features, generator=gen) + 0.5)
    return model


def _pair(config: str | dict) -> tuple[nn.Module, nn.Module]:
    """A fused model and a compiled copy of it (same weights)."""
    torch.manual_seed(0)
    fused = fuse_for_inference(_randomise_norms(visdet.build_detector(config)).eval())
    compiled = compile_for_inference(fuse_for_inference(copy.deepcopy(fused)))
    return fused, compiled


def _assert_same_detections(got, want, box_tol: float, score_tol: float) -> None:
    """Detections equal up to rounding, matched one to one (near-equal scores may swap places)."""
    assert len(got) == len(want) > 0
    free = list(range(len(want)))
    for box, score, label in zip(got.bboxes, got.scores, got.labels):
        match = next(
            (j for j in free
             if want.labels[j] == label
             and (want.bboxes[j] - box).abs().max().item() <= box_tol
             and abs(want.scores[j].item() - score.item()) <= score_tol),
            None,
        )  # fmt: skip
        assert match is not None, f"no fused detection matches {box.tolist()} ({score.item():.6f}, label {int(label)})"
        free.remove(match)


@pytest.fixture(scope="module")
def tiny_pair() -> tuple[nn.Module, nn.Module]:
    return _pair(str(APIS / "tiny_faster_rcnn.yaml"))


def test_compiled_parts_by_detector_kind() -> None:
    assert compiled_parts(visdet.build_detector(str(APIS / "tiny_faster_rcnn.yaml"))) == (
        "backbone",
        "neck",
        "rpn_head",
    )
    assert compiled_parts(visdet.build_detector("retinanet_r50_fpn")) == ("backbone", "neck", "bbox_head")


def test_compiled_tiny_detector_predicts_the_fused_detections_at_two_sizes(tiny_pair) -> None:
    fused, compiled = tiny_pair
    assert is_compiled(compiled) and compiled.visdet_compiled.parts == ("backbone", "neck", "rpn_head")
    torch._dynamo.utils.counters.clear()
    # the second size makes the graphs shape-generic (dynamic=None); the third reuses them
    for height, width, batch in ((96, 128, 1), (64, 96, 2), (96, 160, 1)):
        x = torch.randn(batch, 3, height, width, generator=torch.Generator().manual_seed(height + width))
        with torch.no_grad():
            want = fused.predict(x, _metas(height, width, batch), rescale=True)
            got = compiled.predict(x, _metas(height, width, batch), rescale=True)
        for a, b in zip(got, want, strict=True):
            # float32 rounding only (Inductor's packed convolutions sum in another order than
            # oneDNN's eager ones); boxes up to 160 px, so 1e-3 px is still ~6e-6 relative
            _assert_same_detections(a, b, box_tol=1e-3, score_tol=1e-5)
    # really compiled: each part's graph was captured (at least once per part; a recompile adds more)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 3


def test_compiled_one_stage_detector_predicts_the_fused_detections() -> None:
    """RetinaNet (reduced widths): the dense head is compiled too."""
    from visdet.apis.builder import load_detector_config
    from visdet.config.merge import merge

    config = merge(load_detector_config("retinanet_r50_fpn"), {"model": {
        "backbone": {"depth": 18, "base_channels": 4},
        "neck": {"in_channels": [4, 8, 16, 32], "out_channels": 8},
        "bbox_head": {"num_classes": 3, "in_channels": 8, "feat_channels": 8},
        "test_cfg": {"score_thr": 0.0, "max_per_img": 30},
    }})  # fmt: skip
    fused, compiled = _pair(config)
    assert compiled.visdet_compiled.parts == ("backbone", "neck", "bbox_head")
    x = torch.randn(1, 3, 96, 128, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        want = fused.predict(x, _metas(96, 128), rescale=True)[0]
        got = compiled.predict(x, _metas(96, 128), rescale=True)[0]
    assert len(want) == 30
    _assert_same_detections(got, want, box_tol=1e-3, score_tol=1e-5)  # float32 rounding, as above


def test_compiled_with_freezing_prepacks_every_convolution() -> None:
    """Freezing on: Inductor packs each convolution's weight for oneDNN once (the speed-up's source).

    Without freezing the weights stay graph inputs and no convolution is packed (the counter
    stays at 0; ``torch.compile(options={"freezing": True})`` alone does that, hence the check).
    """
    model = compile_for_inference(fuse_for_inference(visdet.build_detector(str(APIS / "tiny_faster_rcnn.yaml"))))
    convs = sum(isinstance(m, nn.Conv2d) for m in model.backbone.modules())
    torch._dynamo.utils.counters.clear()
    model.backbone(torch.randn(1, 3, 96, 128))
    assert convs == 20
    assert torch._dynamo.utils.counters["inductor"]["mkldnn_conv_weight_pack_matcher_count"] == convs


def test_compiled_calls_from_threads_leave_inductor_settings_as_they_were(tiny_pair) -> None:
    """Freezing is switched on around each call only, and threads take turns (process-wide setting)."""
    import threading

    from torch._inductor import config as inductor_config

    _, compiled = tiny_pair
    x = torch.randn(1, 3, 96, 128, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        want = compiled.backbone(x)
    assert inductor_config.freezing is False
    results, errors = [], []

    def work() -> None:
        try:
            for _ in range(3):
                results.append(compiled.backbone(x))
        except Exception as err:  # noqa: BLE001 - reported by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(results) == 9
    assert inductor_config.freezing is False
    for got in results:
        for a, b in zip(got, want, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_compiled_model_runs_without_autograd(tiny_pair) -> None:
    _, compiled = tiny_pair
    x = torch.randn(1, 3, 96, 128, requires_grad=True)
    feats = compiled.backbone(x)
    assert not any(f.requires_grad for f in feats)


def test_compiled_model_refuses_pickle_and_copy(tiny_pair) -> None:
    _, compiled = tiny_pair
    with pytest.raises(TypeError, match="compile the copy"):
        pickle.dumps(compiled)
    with pytest.raises(TypeError, match="compile the copy"):
        copy.deepcopy(compiled)


def test_compile_needs_a_fused_model_and_is_idempotent(tiny_pair) -> None:
    with pytest.raises(ValueError, match="needs a fused model"):
        compile_for_inference(visdet.build_detector(str(APIS / "tiny_faster_rcnn.yaml")))
    _, compiled = tiny_pair
    forward = compiled.backbone.forward
    assert compile_for_inference(compiled) is compiled and compiled.backbone.forward is forward


def test_compile_without_a_cpp_compiler_says_so(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no g++, c++ or clang++
    monkeypatch.delenv("CXX", raising=False)
    assert cpp_compiler() is None
    model = fuse_for_inference(visdet.build_detector(str(APIS / "tiny_faster_rcnn.yaml")))
    with pytest.raises(RuntimeError, match="no C\\+\\+ compiler"):
        compile_for_inference(model)
    assert not is_compiled(model)


def test_compile_without_python_headers_says_so(monkeypatch, tmp_path) -> None:
    import sysconfig

    monkeypatch.setattr(sysconfig, "get_path", lambda name, *args, **kwargs: str(tmp_path))  # no Python.h there
    model = fuse_for_inference(visdet.build_detector(str(APIS / "tiny_faster_rcnn.yaml")))
    with pytest.raises(RuntimeError, match="Python.h, which is not in"):
        compile_for_inference(model)
    assert not is_compiled(model)


def test_init_detector_compile_option() -> None:
    config = str(APIS / "tiny_faster_rcnn.yaml")
    with pytest.raises(ValueError, match="needs fuse=True"):
        visdet.init_detector(config, fuse=False, compile=True)
    assert not is_compiled(visdet.init_detector(config))
    model = visdet.init_detector(config, compile=True)
    assert is_compiled(model) and model.visdet_fused.folded_norms > 0


# Same bounds as fusion's full-size test (tests/models/test_fuse.py): boxes within 5e-3 px
# (float32 noise of this model with boxes up to 1216 px), scores within the 1e-4.
BOX_TOL_PX = 5e-3
SCORE_TOL = 1e-4


def test_compiled_full_size_faster_rcnn_changes_detections_within_bounds() -> None:
    """float32, 1x3x800x1216, randomised BatchNorm statistics, 100 detections."""
    fused, compiled = _pair("faster_rcnn_r50_fpn")
    for model in (fused, compiled):
        model.roi_head.test_cfg = model.roi_head.test_cfg.model_copy(update={"score_thr": 0.0})
    x = torch.randn(1, 3, 800, 1216, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        want = fused.predict(x, _metas(800, 1216), rescale=True)[0]
        got = compiled.predict(x, _metas(800, 1216), rescale=True)[0]
    assert len(want) == 100
    _assert_same_detections(got, want, box_tol=BOX_TOL_PX, score_tol=SCORE_TOL)
