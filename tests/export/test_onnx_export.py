"""ONNX export of Faster R-CNN checked against eager ``predict`` with onnxruntime (reduced model).

Expected values are the eager model's own detections (visdet's ``predict``, itself
compared with mmdet by the parity suite). Tolerances are the issue's: boxes within 1e-3 px,
scores within 1e-4, the same count and labels. The measured differences (about 3e-5 px and
1e-7 in score here) come from onnxruntime's own convolution and RoiAlign kernels summing in
another order; NMS and RoIAlign semantics are the same (see visdet.export.onnx_ops).
"""

from pathlib import Path

import pytest
import torch

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from visdet import build_detector  # noqa: E402
from visdet.export import ExportError, blockers, to_onnx  # noqa: E402
from visdet.export.two_stage import TwoStageGraph  # noqa: E402
from visdet.export.verify import BOX_TOL_PX, SCORE_TOL, random_batch, run_onnx  # noqa: E402

TINY = Path(__file__).parents[1] / "apis" / "tiny_faster_rcnn.yaml"
TINY_MASK = Path(__file__).parents[1] / "apis" / "tiny_mask_rcnn.yaml"
# mmdet's default score threshold, so that the threshold, NMS and the per-image cap all act
OPTIONS = {"model": {"test_cfg": {"rcnn": {"score_thr": 0.05, "max_per_img": 30}}}}


def _tiny(options=OPTIONS):
    from visdet.apis.builder import load_detector_config
    from visdet.config.merge import merge

    torch.manual_seed(0)
    return build_detector(merge(load_detector_config(str(TINY)), options)).eval()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = _tiny()
    path = to_onnx(model, tmp_path_factory.mktemp("onnx") / "tiny.onnx", input_shape=(1, 3, 64, 96))
    return model, path


def _assert_same(onnx_out, eager, batch_index=None):
    boxes, scores, labels = onnx_out[:3]
    if batch_index is not None:
        keep = onnx_out[3] == batch_index
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    assert len(boxes) == len(eager.bboxes) > 0
    assert torch.equal(labels, eager.labels)
    assert (boxes - eager.bboxes).abs().max() <= BOX_TOL_PX
    assert (scores - eager.scores).abs().max() <= SCORE_TOL


def test_graph_holds_one_nms_and_roialign_per_level(exported):
    _, path = exported
    graph = onnx.load(str(path))
    onnx.checker.check_model(graph)
    ops = [node.op_type for node in graph.graph.node]
    assert ops.count("NonMaxSuppression") == 2  # RPN, then the multi-class NMS
    assert ops.count("RoiAlign") == 4
    roi_align = next(node for node in graph.graph.node if node.op_type == "RoiAlign")
    attributes = {a.name: onnx.helper.get_attribute_value(a) for a in roi_align.attribute}
    assert attributes["coordinate_transformation_mode"] == b"half_pixel" and attributes["mode"] == b"avg"
    assert [o.name for o in graph.graph.output] == ["boxes", "scores", "labels", "batch_index"]


@pytest.mark.parametrize(("height", "width", "seed"), [(64, 96, 1), (90, 61, 2), (150, 200, 3)])
def test_onnxruntime_equals_eager_predict_on_several_sizes(exported, height, width, seed):
    model, path = exported
    inputs, metas = random_batch(height, width, seed=seed)
    with torch.no_grad():
        eager = model.predict(inputs, metas, rescale=True)[0]
    _assert_same(run_onnx(path, inputs, metas), eager)


def test_dynamic_batch_of_images_of_different_sizes(exported):
    model, path = exported
    first, metas_a = random_batch(70, 100, seed=4, scale_factor=(1.5, 1.5))
    second, metas_b = random_batch(96, 128, seed=5, scale_factor=(0.75, 0.8))
    assert first.shape == second.shape == (1, 3, 96, 128)  # both padded to 96 x 128
    inputs = torch.cat([first, second])
    with torch.no_grad():
        eager = model.predict(inputs, metas_a + metas_b, rescale=True)
    out = run_onnx(path, inputs, metas_a + metas_b)
    for index in range(2):
        _assert_same(out, eager[index], batch_index=index)


def test_export_graph_run_eagerly_is_bit_equal_to_predict(exported):
    """The graph's tensor-only rewrite of the post-processing changes no number in PyTorch."""
    from visdet.export import graph_inputs

    model, _ = exported
    inputs, metas = random_batch(90, 61, seed=2)
    with torch.no_grad():
        eager = model.predict(inputs, metas, rescale=True)[0]
        boxes, scores, labels, batch_index = TwoStageGraph(model)(*graph_inputs(inputs, metas))
    assert torch.equal(boxes, eager.bboxes) and torch.equal(scores, eager.scores)
    assert torch.equal(labels, eager.labels) and not batch_index.any()


def test_static_export_and_opset_check(tmp_path):
    model = _tiny()
    with pytest.raises(ValueError, match="opset must be >= 16"):
        to_onnx(model, tmp_path / "x.onnx", opset=13)
    path = to_onnx(model, tmp_path / "static.onnx", input_shape=(1, 3, 64, 64), dynamic=False, opset=16)
    inputs, metas = random_batch(64, 64, seed=7)
    with torch.no_grad():
        eager = model.predict(inputs, metas, rescale=True)[0]
    _assert_same(run_onnx(path, inputs, metas), eager)


def test_detectors_that_cannot_export_are_refused_naming_the_blocker(tmp_path):
    from visdet.apis.builder import load_detector_config
    from visdet.config.merge import merge

    mask = build_detector(str(TINY_MASK))
    with pytest.raises(ExportError, match="MaskRCNN cannot be exported to ONNX: roi_head has a mask branch"):
        to_onnx(mask, tmp_path / "m.onnx")
    soft = build_detector(
        merge(load_detector_config(str(TINY)), {"model": {"test_cfg": {"rcnn": {"nms": {"type": "soft_nms"}}}}})
    )
    assert blockers(soft) == ["roi_head.test_cfg.nms is soft-NMS (ONNX NonMaxSuppression is greedy)"]
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize(
    ("preset", "blocker"),
    [
        ("retinanet_r50_fpn", "RetinaNet is not a two-stage detector"),
        ("fcos_r50_caffe_fpn_gn_head", "FCOS is not a two-stage detector"),
        ("rpn_r50_fpn", "RPN is not a two-stage detector"),
        ("cascade_rcnn_r50_fpn", "roi_head is CascadeRoIHead"),
        ("mask_rcnn_r50_fpn", "roi_head has a mask branch"),
        ("mask_rcnn_swin_t_fpn", "roi_head has a mask branch"),
    ],
)
def test_every_registered_detector_exports_or_is_refused(preset, blocker):
    model = build_detector(preset)
    assert any(line.startswith(blocker) for line in blockers(model)), blockers(model)


def test_full_size_faster_rcnn_preset_is_exportable():
    assert blockers(build_detector("faster_rcnn_r50_fpn")) == []


def test_fused_model_from_init_detector_exports(tmp_path):
    """init_detector fuses by default (BatchNorm folded, channels-last); that model exports too."""
    from visdet import init_detector

    torch.manual_seed(0)
    model = init_detector(str(TINY), None, cfg_options={"model.test_cfg.rcnn.score_thr": 0.05})
    path = to_onnx(model, tmp_path / "fused.onnx", input_shape=(1, 3, 64, 96))
    inputs, metas = random_batch(100, 70, seed=8)
    with torch.no_grad():
        eager = model.predict(inputs, metas, rescale=True)[0]
    _assert_same(run_onnx(path, inputs, metas), eager)
