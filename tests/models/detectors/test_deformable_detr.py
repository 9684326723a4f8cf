"""DeformableDETR: head checks, padding masks and valid ratios, two-stage proposals, meta handling."""

import copy

import pytest
import torch

from visdet import build_detector
from visdet.build.components.detr import TINY_DEFORMABLE_DETR
from visdet.config import ConfigError
from visdet.models.detectors import DeformableDETR


def _tiny(**overrides):
    cfg = copy.deepcopy(TINY_DEFORMABLE_DETR)
    cfg.update(overrides)
    return build_detector(cfg)


def test_detector_sets_the_head_keywords_and_refuses_them_in_the_head_config():
    plain, refine = _tiny(), _tiny(with_box_refine=True)
    assert plain.bbox_head.share_pred_layer and plain.bbox_head.num_pred_layer == 2
    assert (
        not refine.bbox_head.share_pred_layer
        and refine.bbox_head.cls_branches[0] is not refine.bbox_head.cls_branches[1]
    )
    cfg = copy.deepcopy(TINY_DEFORMABLE_DETR)
    cfg["bbox_head"]["num_pred_layer"] = 3
    build_detector({**cfg, "bbox_head": {**cfg["bbox_head"], "num_pred_layer": 2, "share_pred_layer": True}})
    with pytest.raises(ConfigError, match="bbox_head sets num_pred_layer=3"):
        build_detector(cfg)
    with pytest.raises(ValueError, match="num_pred_layer"):
        DeformableDETR(backbone=plain.backbone, neck=plain.neck, encoder=plain.encoder, decoder=plain.decoder,
                       positional_encoding=plain.positional_encoding, bbox_head=plain.bbox_head, num_feature_levels=2,
                       as_two_stage=True)  # fmt: skip


def test_two_stage_needs_embed_dims_256():
    with pytest.raises(ValueError, match="embed_dims 256"):
        _tiny(with_box_refine=True, as_two_stage=True)


def test_valid_ratio_and_masks_from_img_shape():
    mask = torch.zeros(2, 4, 6, dtype=torch.bool)
    mask[1, 3:, :] = True
    mask[1, :, 3:] = True
    assert DeformableDETR.get_valid_ratio(mask).tolist() == [[1.0, 1.0], [0.5, 0.75]]
    detector = _tiny().eval()
    feats = detector.extract_feat(torch.randn(2, 3, 64, 64))
    from visdet.structures import ImageMeta

    metas = [ImageMeta(img_shape=(64, 64), batch_input_shape=(64, 64)),
             ImageMeta(img_shape=(32, 48), batch_input_shape=(64, 64))]  # fmt: skip
    encoder_inputs, decoder_inputs = detector.pre_transformer(feats, metas)
    assert encoder_inputs["feat_mask"].shape == (2, 4 * 4 + 2 * 2)  # strides 16 and 32
    assert not encoder_inputs["feat_mask"][0].any() and encoder_inputs["feat_mask"][1].any()
    # nearest resizing of the image mask: level 0 reads columns 0, 16, 32, 48 (48 is padding), level 1 0 and 32
    assert decoder_inputs["valid_ratios"][1].tolist() == [[0.75, 0.5], [1.0, 0.5]]
    same = [ImageMeta(img_shape=(64, 64), batch_input_shape=(64, 64))] * 2
    encoder_inputs, decoder_inputs = detector.pre_transformer(feats, same)
    assert encoder_inputs["feat_mask"] is None and decoder_inputs["valid_ratios"].eq(1).all()
    with pytest.raises(ValueError, match="2 feature levels"):
        detector.pre_transformer(feats[:1], same)


def test_proposals_are_level_sized_boxes_in_logit_space_masked_at_padding_and_borders():
    memory = torch.randn(1, 4 * 4 + 2 * 2, 8)
    shapes = torch.tensor([[4, 4], [2, 2]])
    holder = torch.nn.Module()
    holder.memory_trans_fc, holder.memory_trans_norm = torch.nn.Identity(), torch.nn.Identity()
    mask = torch.zeros(1, 20, dtype=torch.bool)
    mask[0, 3:16:4] = True  # level 0: column 3 is padding (valid width 3)
    out_memory, proposals = DeformableDETR.gen_encoder_output_proposals(holder, memory, mask, shapes)
    boxes = proposals.sigmoid()
    assert torch.allclose(boxes[0, 0], torch.tensor([0.5 / 3, 0.125, 0.05, 0.05]))
    assert torch.allclose(boxes[0, 16], torch.tensor([0.25, 0.25, 0.1, 0.1]))
    assert torch.isinf(proposals[0, 3]).all() and out_memory[0, 3].eq(0).all()
    assert torch.equal(out_memory[0, 0], memory[0, 0])
    embed = DeformableDETR.get_proposal_pos_embed(proposals[:, :2].clamp(-5, 5))
    assert embed.shape == (1, 2, 512)


def test_predict_without_batch_input_shape_uses_the_batch_size_and_forward_without_metas():
    detector = _tiny().eval()
    inputs = torch.randn(1, 3, 48, 64)
    with torch.no_grad():
        given = detector.predict(inputs, [{"img_shape": (48, 64), "batch_input_shape": (48, 64),
                                           "scale_factor": (1.0, 1.0)}])  # fmt: skip
        derived = detector.predict(inputs, [{"img_shape": (48, 64), "scale_factor": (1.0, 1.0)}])
        raw = detector(inputs)
    assert torch.equal(given[0].bboxes, derived[0].bboxes) and len(given[0]) == 5
    assert len(raw) == 4 and raw[0].shape == (1, 5, 3) and raw[2].shape == (1, 5, 4)
    with pytest.raises(KeyError, match="img_shape"):
        detector.predict(inputs, [{"scale_factor": (1.0, 1.0)}])


def test_init_weights_draws_level_embed_and_zeroes_the_regressors():
    detector = _tiny()
    assert detector.level_embed.eq(0).all()
    torch.manual_seed(0)
    detector.init_weights()
    assert detector.level_embed.std() > 0.3
    assert detector.reference_points_fc.bias.eq(0).all()
    assert detector.bbox_head.reg_branches[0][-1].bias.tolist() == [0.0, 0.0, -2.0, -2.0]


def test_gt_ignore_is_refused():
    detector = _tiny()
    from visdet.structures import Instances

    gt = Instances(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match="ignored boxes"):
        detector.loss(torch.randn(1, 3, 32, 32), [{"img_shape": (32, 32)}], [gt], [gt])
