"""The full-size Faster R-CNN R50-FPN exported and checked with onnxruntime (slow: `make test-slow`).

Random weights (seeded) predict nothing above mmdet's 0.05 threshold, so the threshold is
set to 0: every one of the 1000 RoIs x 80 classes is a candidate of the multi-class NMS
(eager then takes mmcv's split path; the exported graph one offset NMS, which keeps the same
boxes, see visdet.export.two_stage), and the 100 best per image are compared.
"""

import os

import pytest
import torch

pytest.importorskip("onnxruntime")

from visdet import build_detector  # noqa: E402
from visdet.export import to_onnx  # noqa: E402
from visdet.export.verify import compare_with_eager  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.environ.get("VISDET_SLOW"), reason="full size: set VISDET_SLOW=1 (make test-slow)"),
]


def test_full_size_faster_rcnn_onnxruntime_equals_eager(tmp_path):
    from visdet.apis.builder import load_detector_config
    from visdet.config.merge import merge

    torch.manual_seed(0)
    config = merge(load_detector_config("faster_rcnn_r50_fpn"), {"model": {"test_cfg": {"rcnn": {"score_thr": 0.0}}}})
    model = build_detector(config).eval()
    path = to_onnx(model, tmp_path / "faster_rcnn.onnx", input_shape=(1, 3, 800, 1216))
    for height, width in [(800, 1199), (480, 640)]:
        report = compare_with_eager(model, path, height, width, seed=height)
        print(report.line())
        assert report.eager_count == report.onnx_count == 100
        assert report.same, report.line()
