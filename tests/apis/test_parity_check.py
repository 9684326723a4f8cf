"""``visdet parity check`` pieces that need no mmdet: matching, coverage, the report."""

import json

import torch

from visdet.apis.parity_check.coverage import coverage
from visdet.apis.parity_check.matching import compare_detections
from visdet.apis.parity_check.report import DIFFERS, NOT_RUN, ParityReport


def _dets(boxes, scores, labels):
    return {"bboxes": torch.tensor(boxes, dtype=torch.float32), "scores": torch.tensor(scores),
            "labels": torch.tensor(labels)}  # fmt: skip


def test_matching_ignores_order_and_measures_the_pairs():
    ref = _dets([[0, 0, 10, 10], [20, 20, 40, 40], [50, 5, 60, 9]], [0.9, 0.8, 0.3], [1, 2, 2])
    got = _dets([[20, 20, 40, 40.5], [0, 0, 10, 10]], [0.8, 0.90002], [2, 3])
    result = compare_detections("img.jpg", ref, got)
    assert (result.reference_count, result.visdet_count, result.matched) == (3, 2, 2)
    assert result.worst_box_px == 0.5
    assert abs(result.worst_score - 2e-5) < 1e-7
    assert result.label_disagreements == 1  # the first box is label 1 in one, 3 in the other
    assert result.unmatched_reference == [(2, 0.30000001192092896)] and result.unmatched_visdet == []


def test_matching_counts_differing_mask_pixels():
    masks = torch.zeros(1, 8, 8, dtype=torch.bool)
    masks[0, 2:6, 2:6] = True
    other = masks.clone()
    other[0, 2, 2] = False
    ref = {**_dets([[2, 2, 6, 6]], [0.5], [0]), "masks": masks}
    got = {**_dets([[2, 2, 6, 6]], [0.5], [0]), "masks": other}
    assert compare_detections("m.png", ref, got).worst_mask_pixels == 1


def test_boxes_too_far_apart_are_not_paired():
    result = compare_detections("x", _dets([[0, 0, 10, 10]], [0.5], [0]), _dets([[0, 0, 10, 30]], [0.5], [0]))
    assert result.matched == 0 and len(result.unmatched_reference) == len(result.unmatched_visdet) == 1


def test_coverage_marks_unknown_types_and_skips_layer_specs():
    model = {
        "type": "FasterRCNN",
        "backbone": {"type": "ResNet", "depth": 18, "norm_cfg": {"type": "BN"}, "init_cfg": {"type": "Pretrained"}},
        "rpn_head": {"type": "RPNHead", "loss_cls": {"type": "GHMC"}},
    }
    rows = {row.path: row for row in coverage(model)}
    assert rows["model.backbone"].supported and rows["model"].supported
    assert not rows["model.rpn_head.loss_cls"].supported
    assert rows["model.rpn_head.loss_cls"].line() == "model.rpn_head.loss_cls: GHMC ✗ not supported yet"
    assert "model.backbone.norm_cfg" not in rows and "model.backbone.init_cfg" not in rows


def test_coverage_reports_an_option_visdet_rejects():
    from visdet.testing.tiny_models import faster_rcnn_config

    model = faster_rcnn_config()
    model["backbone"]["frobnicate"] = True
    rows = coverage(model)
    bad = [row for row in rows if not row.supported]
    assert bad and any("model.backbone" in row.path for row in bad), rows


def test_report_verdict_keeps_the_worst_code():
    report = ParityReport(config="c.py", checkpoint="w.pth")
    assert report.code == 0 and report.verdict == "same"
    report.fail(DIFFERS, "a.jpg: a box differs by 0.5 px")
    report.fail(NOT_RUN, "mmdet missing")
    report.fail(DIFFERS, "later")
    assert report.code == NOT_RUN and report.verdict == "could not run"
    assert json.loads(report.to_json())["reasons"] == ["a.jpg: a box differs by 0.5 px", "mmdet missing", "later"]
    assert "**Verdict: could not run** (exit code 2)" in report.to_markdown()


def test_without_mmdet_the_check_could_not_run(monkeypatch, tmp_path, capsys):
    from visdet.apis.parity_check import reference
    from visdet.cli import main

    monkeypatch.setattr(reference, "reference_problem", lambda: "mmdet is not importable here")
    assert main(["parity", "check", "c.py", "w.pth", str(tmp_path)]) == 2
    assert "mmdet is not importable here" in capsys.readouterr().out


def test_no_detection_anywhere_is_not_same():
    from visdet.apis.parity_check.matching import ImageComparison

    report = ParityReport(config="c.py", checkpoint="w.pth")
    report.images = [ImageComparison("a.jpg", 0, 0, 0), ImageComparison("b.jpg", 0, 0, 0)]
    report.require_detections(None)
    assert report.code == NOT_RUN and report.verdict == "could not run"
    assert "nothing to compare" in report.reasons[0] and "2 image(s)" in report.reasons[0]

    report = ParityReport(config="c.py", checkpoint="w.pth")
    report.images = [ImageComparison("a.jpg", 0, 0, 0), ImageComparison("b.jpg", 3, 3, 3)]
    report.require_detections(0.01)  # one empty image among others is a result, not a failure
    assert report.code == 0 and report.reasons == []
