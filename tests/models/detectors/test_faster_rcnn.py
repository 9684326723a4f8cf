import copy

import pytest
import torch

from visdet import build_detector
from visdet.build import build_model
from visdet.config import ConfigError
from visdet.structures import Instances
from visdet.testing.tiny_models import faster_rcnn_config, tiny_faster_rcnn_config


def r50_fpn_config(num_classes=80):
    cfg = faster_rcnn_config(num_classes)
    # mmdet's own value; the builder drops init-only keys
    cfg["backbone"]["init_cfg"] = {"type": "Pretrained", "checkpoint": "torchvision://resnet50"}
    return cfg


def tiny_config(num_classes=3):
    cfg = tiny_faster_rcnn_config(num_classes, small_proposal_counts=True)
    return cfg


def test_full_size_state_dict_has_mmdet_keys():
    model = build_detector({"model": r50_fpn_config()})
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    facts = {
        "backbone.conv1.weight": (64, 3, 7, 7),
        "backbone.bn1.running_var": (64,),
        "backbone.layer1.0.downsample.0.weight": (256, 64, 1, 1),
        "backbone.layer4.2.conv3.weight": (2048, 512, 1, 1),
        "neck.lateral_convs.0.conv.weight": (256, 256, 1, 1),
        "neck.fpn_convs.3.conv.bias": (256,),
        "rpn_head.rpn_conv.weight": (256, 256, 3, 3),
        "rpn_head.rpn_cls.weight": (3, 256, 1, 1),
        "rpn_head.rpn_reg.weight": (12, 256, 1, 1),
        "roi_head.bbox_head.shared_fcs.0.weight": (1024, 12544),
        "roi_head.bbox_head.shared_fcs.1.weight": (1024, 1024),
        "roi_head.bbox_head.fc_cls.weight": (81, 1024),
        "roi_head.bbox_head.fc_reg.bias": (320,),
    }
    for key, shape in facts.items():
        assert shapes.get(key) == shape, key
    prefixes = {k.split(".")[0] for k in shapes}
    assert prefixes == {"backbone", "neck", "rpn_head", "roi_head"}
    assert not any("roi_extractor" in k or "loss" in k for k in shapes)
    assert "neck.fpn_convs.4.conv.weight" not in shapes  # the 5th level is max-pooled


def _tiny_model(seed=0):
    torch.manual_seed(seed)
    return build_model(tiny_config())


def _batch():
    g = torch.Generator().manual_seed(0)
    images = [torch.randint(0, 256, (3, 60, 80), generator=g, dtype=torch.uint8),
              torch.randint(0, 256, (3, 50, 70), generator=g, dtype=torch.uint8)]
    metas = [{"img_shape": (60, 80), "ori_shape": (120, 160), "scale_factor": (0.5, 0.5)},
             {"img_shape": (50, 70), "ori_shape": (50, 70), "scale_factor": (1.0, 1.0)}]
    return images, metas


def test_train_with_empty_ground_truth_is_finite():
    model = _tiny_model()
    model.train()
    images, metas = _batch()
    batch, metas = model.data_preprocessor(images, metas)
    gts = [Instances(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long)),
           Instances(bboxes=torch.tensor([[5.0, 5.0, 40.0, 30.0]]), labels=torch.tensor([2]))]
    losses = model.loss(batch, metas, gts)
    assert set(losses) == {"loss_rpn_cls", "loss_rpn_bbox", "loss_cls", "acc", "loss_bbox"}
    total = sum(v for k, v in losses.items() if "loss" in k)
    assert torch.isfinite(total)
    total.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    both_empty = [gts[0], gts[0]]
    model.zero_grad()
    losses = model.loss(batch, metas, both_empty)
    assert losses["loss_rpn_bbox"] == 0 and losses["loss_bbox"] == 0 and losses["loss_cls"] > 0


def test_predict_rescales_to_original_image():
    model = _tiny_model().eval()
    images, metas = _batch()
    batch, metas = model.data_preprocessor(images, metas)
    with torch.no_grad():
        rescaled = model.predict(batch, metas, rescale=True)
        raw = model.predict(batch, metas, rescale=False)
    assert len(rescaled) == 2 and len(rescaled[0]) > 0
    assert torch.allclose(rescaled[0].bboxes, raw[0].bboxes * 2.0)
    assert torch.all(rescaled[0].bboxes[:, 2] <= 160) and torch.all(rescaled[0].labels < 3)
    rois, cls_score, bbox_pred = model(batch)
    assert rois.shape[1] == 5 and cls_score.shape == (len(rois), 4) and bbox_pred.shape == (len(rois), 12)


def test_no_proposals_gives_empty_detections():
    cfg = tiny_config()
    cfg["test_cfg"]["rpn"]["min_bbox_size"] = 10_000
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    images, metas = _batch()
    batch, metas = model.data_preprocessor(images, metas)
    with torch.no_grad():
        results = model.predict(batch, metas)
    assert [len(r) for r in results] == [0, 0]
    assert results[0].bboxes.shape == (0, 4) and results[0].labels.dtype == torch.long


def test_bad_inputs_and_metas_raise_clear_errors():
    model = _tiny_model().eval()
    images, metas = _batch()
    batch, metas = model.data_preprocessor(images, metas)
    with pytest.raises(KeyError, match="scale_factor"):
        model.predict(batch, [{k: v for k, v in m.items() if k != "scale_factor"} for m in metas])
    with pytest.raises(KeyError, match="img_shape"):
        model.predict(batch, [{}, {}], rescale=False)
    with pytest.raises(KeyError, match="pad_shape"):
        empty = Instances(bboxes=torch.zeros(0, 4), labels=torch.zeros(0))
        model.loss(batch, [{"img_shape": (60, 80)}] * 2, [empty, empty])
    with pytest.raises(ValueError, match="2 metas"):
        model.predict(batch[:1], metas)
    with pytest.raises(ValueError, match=r"\(3, 64, 96\)"):
        model.predict(batch[0], metas)
    with pytest.raises(ValueError, match="channels"):
        model.predict(batch[:, :1], metas)
    with pytest.raises(TypeError, match="list of per-image dicts"):
        model.predict(batch, metas[0])


@pytest.mark.parametrize(
    "edit, error, match",
    [
        (lambda c: c.update(type="MaskRCNN"), ConfigError, "model.roi_head: MaskRCNN needs a mask head"),
        (lambda c: c["rpn_head"].update(foo=1), ConfigError, r"model.rpn_head.foo: unknown key"),
        (lambda c: c["roi_head"]["bbox_head"]["loss_bbox"].update(type="BalancedL1Loss"), ConfigError,
         r"model.roi_head.bbox_head.loss_bbox.type: unknown type 'BalancedL1Loss'"),
        (lambda c: c["train_cfg"]["rcnn"]["sampler"].update(type="OHEMSampler"), ConfigError,
         r"model.train_cfg.rcnn.sampler.type: unknown type 'OHEMSampler'"),
        (lambda c: c["test_cfg"]["rcnn"].update(mask_thr_binar=0.5), ConfigError,
         "model.test_cfg.rcnn.mask_thr_binar: unknown key; did you mean 'mask_thr_binary'"),
        (lambda c: c["test_cfg"].update(rcn={}), ConfigError, r"model.test_cfg.rcn: unknown key; did you mean 'rcnn'"),
        (lambda c: c["roi_head"]["bbox_roi_extractor"]["roi_layer"].update(type="RoIPool"), ConfigError,
         "roi_layer.type: unknown type 'RoIPool'"),
        (lambda c: c["roi_head"].update(mask_head={"type": "FCNMaskHead"}), ConfigError,
         r"model.roi_head: mask_head.num_classes \(80\) differs from bbox_head.num_classes \(3\)"),
        (lambda c: c["backbone"].pop("type"), ConfigError, "model.backbone: missing 'type' key"),
        (lambda c: c["roi_head"].update(test_cfg={"score_thr": 0.3}), ConfigError,
         "model.roi_head.test_cfg differs from model.test_cfg.rcnn"),
    ],
)
def test_builder_rejects_unsupported_configs(edit, error, match):
    cfg = copy.deepcopy(tiny_config())
    edit(cfg)
    with pytest.raises(error, match=match):
        build_model(cfg)


def test_build_detector_takes_preset_names_and_whole_configs():
    with pytest.raises(ValueError, match="unknown detector preset"):
        build_detector("faster_rcnn_r9000")
    with pytest.raises(TypeError, match="config dict"):
        build_detector(3)
    model = build_detector({"model": tiny_config(), "train_dataloader": {}})
    assert model.roi_head.bbox_head.num_classes == 3
    assert model.num_classes == 3 and model.dataset_meta is None
