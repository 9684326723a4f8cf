"""mmdet's train_cfg/test_cfg routed onto the heads, for each shape of detector."""

from __future__ import annotations

import copy

import pytest

from visdet.build import route_model, route_settings, validate_model
from visdet.build.routing import RPN_ROUTES, SINGLE_STAGE_ROUTES, TWO_STAGE_ROUTES, Route
from visdet.config import ConfigError
from visdet.testing.tiny_models import tiny_faster_rcnn_config

RPN_TRAIN = {"assigner": {"type": "MaxIoUAssigner", "pos_iou_thr": 0.7, "neg_iou_thr": 0.3}}
RCNN_TEST = {"score_thr": 0.3}


def test_two_stage_sections_go_to_their_heads_and_the_input_is_untouched():
    cfg = {"rpn_head": {"type": "RPNHead"}, "roi_head": {"type": "StandardRoIHead"},
           "train_cfg": {"rpn": RPN_TRAIN, "rpn_proposal": {"nms_pre": 10}, "rcnn": {"pos_weight": 1}},
           "test_cfg": {"rpn": {"max_per_img": 5}, "rcnn": RCNN_TEST}}  # fmt: skip
    before = copy.deepcopy(cfg)
    routed = route_settings(cfg, TWO_STAGE_ROUTES)
    assert cfg == before
    assert "train_cfg" not in routed.config and "test_cfg" not in routed.config
    assert routed.config["rpn_head"] == {"type": "RPNHead", "train_cfg": RPN_TRAIN, "rpn_proposal": {"nms_pre": 10},
                                         "test_cfg": {"max_per_img": 5}}  # fmt: skip
    assert routed.config["roi_head"] == {"type": "StandardRoIHead", "train_cfg": {"pos_weight": 1},
                                         "test_cfg": RCNN_TEST}  # fmt: skip
    assert routed.origins["model.roi_head.test_cfg"] == "model.test_cfg.rcnn"


def test_cascade_lists_move_as_they_are():
    stages = [{"pos_weight": 1}, {"pos_weight": 2}, {"pos_weight": 3}]
    routed = route_settings({"roi_head": {}, "train_cfg": {"rcnn": stages}}, TWO_STAGE_ROUTES)
    assert routed.config["roi_head"]["train_cfg"] == stages


def test_one_stage_heads_take_the_whole_sections():
    train = {"assigner": {"type": "MaxIoUAssigner"}, "allowed_border": -1}
    test = {"nms_pre": 1000, "score_thr": 0.05, "nms": {"type": "nms", "iou_threshold": 0.5}}
    routed = route_settings({"bbox_head": {"type": "RetinaHead"}, "train_cfg": train, "test_cfg": test},
                            SINGLE_STAGE_ROUTES)  # fmt: skip
    assert routed.config == {"bbox_head": {"type": "RetinaHead", "train_cfg": train, "test_cfg": test}}
    assert routed.origins == {"model.bbox_head.train_cfg": "model.train_cfg",
                              "model.bbox_head.test_cfg": "model.test_cfg"}  # fmt: skip


def test_same_value_on_head_and_detector_is_fine_different_is_an_error():
    cfg = {"roi_head": {"test_cfg": RCNN_TEST}, "test_cfg": {"rcnn": RCNN_TEST}}
    assert route_settings(cfg, TWO_STAGE_ROUTES).config["roi_head"]["test_cfg"] == RCNN_TEST
    cfg["roi_head"]["test_cfg"] = {"score_thr": 0.5}
    with pytest.raises(ConfigError, match="model.roi_head.test_cfg differs from model.test_cfg.rcnn"):
        route_settings(cfg, TWO_STAGE_ROUTES)


@pytest.mark.parametrize(("cfg", "routes", "match"), [
    ({"train_cfg": {"rcn": {}}}, TWO_STAGE_ROUTES, r"model.train_cfg.rcn: unknown key; did you mean 'rcnn'\?"),
    ({"test_cfg": {"rcnn": {}}}, RPN_ROUTES, r"model.test_cfg.rcnn: unknown key \(allowed keys: rpn\)"),
    ({"test_cfg": {"rpn": {"max_per_img": 1}}}, TWO_STAGE_ROUTES, "model.test_cfg.rpn is given but model.rpn_head"),
    ({"test_cfg": [1]}, TWO_STAGE_ROUTES, "model.test_cfg: expected a mapping"),
    ({"test_cfg": {"x": 1}}, (Route(("train_cfg", "a"), ("h", "a")),), r"\(this detector takes none\)"),
])  # fmt: skip
def test_bad_sections_are_named(cfg, routes, match):
    with pytest.raises(ConfigError, match=match):
        route_settings(cfg, routes)


def test_errors_of_routed_settings_name_where_they_were_written():
    cfg = tiny_faster_rcnn_config()
    cfg["test_cfg"]["rcnn"]["scor_thr"] = 0.1
    cfg["train_cfg"]["rpn"]["assigner"]["pos_iou_thr"] = "high"
    with pytest.raises(ConfigError) as err:
        validate_model(cfg)
    message = str(err.value)
    assert "model.test_cfg.rcnn.scor_thr: unknown key; did you mean 'score_thr'?" in message
    assert "model.train_cfg.rpn.assigner.pos_iou_thr:" in message
    assert "roi_head.test_cfg" not in message


def test_unknown_detector_types_are_left_for_validation_to_name():
    assert route_model({"type": "NoSuchNet", "train_cfg": {"x": 1}}).config["train_cfg"] == {"x": 1}
    with pytest.raises(ConfigError, match=r"model.type: unknown type 'NoSuchNet' \(allowed: FasterRCNN, (.*, )?RPN"):
        validate_model({"type": "NoSuchNet"})


def test_routed_model_keeps_the_settings_on_its_heads():
    model = validate_model(tiny_faster_rcnn_config(small_proposal_counts=True))
    assert model.train_cfg is None and model.test_cfg is None
    assert model.rpn_head.rpn_proposal.max_per_img == 50 and model.roi_head.test_cfg.score_thr == 0.0
    built = model.build()
    assert built.rpn_head.train_proposals.max_per_img == 50 and built.rpn_head.test_proposals.nms_pre == 100
    assert built.roi_head.test_cfg.score_thr == 0.0 and built.roi_head.bbox_sampler.num == 32
