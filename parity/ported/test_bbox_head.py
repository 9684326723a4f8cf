# Ported from mmdet tests/test_models/test_roi_heads/test_bbox_heads/test_bbox_head.py
# (mmdet 3.3.0), rewritten for visdet: mmdet's rcnn_test_cfg=None ("without nms") is
# visdet's test_cfg=None. Upstream checks the absence of a misspelt 'label' field; the
# port checks 'labels', the field mmdet actually leaves out.
import torch

from visdet.build import build_component
from visdet.models.roi_heads import RCNNTestConfig
from visdet.structures import Instances


def test_init():
    cfg = {"type": "Shared2FCBBoxHead", "in_channels": 1, "fc_out_channels": 1, "num_classes": 4}
    head = build_component("bbox_head", cfg)
    assert head.fc_cls and head.fc_reg and len(head.shared_fcs) == 2
    head = build_component("bbox_head", {"type": "Shared4Conv1FCBBoxHead", "in_channels": 1, "fc_out_channels": 1,
                            "num_classes": 4})
    assert head.fc_cls and head.fc_reg and len(head.shared_convs) == 4 and len(head.shared_fcs) == 1


def test_bbox_head_get_results():
    num_classes = 6
    head = build_component("bbox_head", {"type": "BBoxHead", "reg_class_agnostic": True, "num_classes": num_classes})
    metas = [{"img_shape": (128, 128, 3), "scale_factor": 1}]
    cfg = RCNNTestConfig(score_thr=0.0, nms={"type": "nms", "iou_threshold": 0.5}, max_per_img=100)
    for num_samples in (2, 0):
        rois = (torch.rand(num_samples, 5),)
        scores = (torch.rand(num_samples, num_classes + 1),)
        preds = (torch.rand(num_samples, 4),)
        (res,) = head.predict_by_feat(rois, scores, preds, metas, test_cfg=cfg)
        assert isinstance(res, Instances)
        assert len(res) <= num_samples * num_classes
        assert res.bboxes.shape[1] == 4
        assert res.scores.dim() == res.labels.dim() == 1
        if num_samples == 0:
            assert len(res) == 0

        # without nms: every RoI's class-agnostic box and its K + 1 scores, no labels
        (raw,) = head.predict_by_feat(rois, scores, preds, metas, test_cfg=None)
        assert isinstance(raw, Instances) and len(raw) == num_samples
        assert raw.bboxes.shape == preds[0].shape
        assert raw.scores.shape == scores[0].shape
        if num_samples:
            assert "labels" not in raw
