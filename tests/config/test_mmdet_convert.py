import copy
import textwrap
from pathlib import Path

import pytest

from visdet import build_detector
from visdet.cli import main
from visdet.config import ConfigError, load_config, load_config_tree
from visdet.config.mmdet_convert import read_mmdet_config
from visdet.engine.components import validate_config
from visdet.engine.components.convert import convert_mmdet_config

CONFIGS = Path(__file__).parents[1] / "data" / "mmdet_configs"
FASTER_RCNN = CONFIGS / "faster_rcnn" / "faster-rcnn_r50_fpn_1x_coco.py"


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture(scope="module")
def converted():
    return convert_mmdet_config(FASTER_RCNN)


def test_faster_rcnn_chain_resolves_like_the_files_say(converted):
    cfg, dropped = converted
    assert dropped == []
    model = cfg["model"]
    assert model["backbone"]["depth"] == 50 and model["backbone"]["out_indices"] == [0, 1, 2, 3]
    assert model["backbone"]["init_cfg"] == {"type": "Pretrained", "checkpoint": "torchvision://resnet50"}
    # variables are substituted where they were used, tuples become lists
    assert cfg["train_dataloader"]["dataset"]["type"] == "CocoDataset"
    assert cfg["val_evaluator"]["ann_file"] == "data/coco/annotations/instances_val2017.json"
    assert cfg["test_pipeline"][1]["scale"] == [1333, 800]
    assert cfg["train_cfg"] == {"type": "EpochBasedTrainLoop", "max_epochs": 12, "val_interval": 1}
    assert cfg["default_scope"] == "mmdet"
    validate_config(cfg)


def test_presets_match_the_mmdet_configs(converted):
    cfg, _ = converted
    model = copy.deepcopy(cfg["model"])
    model["backbone"]["init_cfg"] = None  # visdet presets never download weights
    assert load_config("faster_rcnn_r50_fpn")["model"] == model
    dataset = load_config("coco_detection")
    for key in ("train_pipeline", "test_pipeline", "train_dataloader", "val_dataloader", "test_dataloader"):
        expected = copy.deepcopy(cfg[key])
        for step in expected if isinstance(expected, list) else expected["dataset"]["pipeline"]:
            step.pop("backend_args", None)
        if isinstance(expected, dict):
            expected["dataset"].pop("backend_args")
        assert dataset[key] == expected, key
    schedule = load_config("1x")
    for key in ("train_cfg", "val_cfg", "test_cfg", "param_scheduler"):
        assert schedule[key] == cfg[key]
    sgd = load_config("sgd")
    assert sgd["optim_wrapper"] == cfg["optim_wrapper"] and sgd["auto_scale_lr"] == cfg["auto_scale_lr"]


def test_converted_model_builds_with_the_preset_state_dict(converted):
    from visdet import build_detector

    cfg, _ = converted
    from_mmdet = build_detector(cfg)
    from_path = build_detector(str(FASTER_RCNN))
    shapes = {k: v.shape for k, v in from_mmdet.state_dict().items()}
    assert shapes == {k: v.shape for k, v in from_path.state_dict().items()}
    assert "roi_head.bbox_head.fc_cls.weight" in shapes and shapes["roi_head.bbox_head.fc_cls.weight"][0] == 81


def test_cli_convert_writes_yaml_that_loads_back(tmp_path, converted, capsys):
    out = tmp_path / "faster_rcnn.yaml"
    assert main(["config", "convert", str(FASTER_RCNN), "-o", str(out)]) == 0
    assert out.read_text().startswith("# Converted by `visdet config convert`")
    assert load_config(out) == converted[0]


def test_cli_convert_help_says_the_file_is_not_run(capsys):
    with pytest.raises(SystemExit):
        main(["config", "convert", "--help"])
    assert "read without running it" in " ".join(capsys.readouterr().out.split())


def test_show_prints_inheritance_tree(capsys):
    assert main(["config", "show", str(FASTER_RCNN)]) == 0
    out = capsys.readouterr().out
    assert "#     " + str((CONFIGS / "_base_/models/faster-rcnn_r50_fpn.py").resolve()) in out
    assert "max_epochs: 12" in out
    node = load_config_tree(FASTER_RCNN)
    assert [Path(b.source).name for b in node.bases] == [
        "faster-rcnn_r50_fpn.py", "coco_detection.py", "schedule_1x.py", "default_runtime.py"]


def test_base_references_delete_and_file_placeholders(tmp_path):
    write(tmp_path / "base.py", """\
        model = dict(backbone=dict(type='ResNet', depth=50, norm_cfg=dict(type='BN')), neck=dict(c=1))
        scale = (1333, 800)
        pipeline = [dict(type='Resize', scale=scale)]
        """)
    child = write(tmp_path / "sub/child.py", """\
        _base_ = '../base.py'
        model = dict(backbone=dict(_delete_=True, type='ResNet', depth=_base_.model.backbone.depth + 51))
        pipeline = {{_base_.pipeline}}
        work_dir = './work_dirs/{{ fileBasenameNoExtension }}'
        """)
    cfg = read_mmdet_config(child)
    assert cfg["model"] == {"backbone": {"type": "ResNet", "depth": 101}, "neck": {"c": 1}}
    assert cfg["pipeline"] == [{"type": "Resize", "scale": [1333, 800]}]
    assert cfg["scale"] == [1333, 800]
    assert cfg["work_dir"] == "./work_dirs/child"


def test_environment_placeholders(tmp_path, monkeypatch):
    cfg_file = write(tmp_path / "c.py", """\
        data_root = '{{$VISDET_TEST_ROOT:/default/root}}/images'
        num_classes = {{'$VISDET_TEST_CLASSES:80'}}
        """)
    monkeypatch.delenv("VISDET_TEST_ROOT", raising=False)
    monkeypatch.setenv("VISDET_TEST_CLASSES", "3")
    assert read_mmdet_config(cfg_file) == {"data_root": "/default/root/images", "num_classes": 3}


def test_helper_variables_are_dropped_on_conversion(tmp_path):
    cfg_file = write(tmp_path / "c.py", "image_size = (512, 512)\nresume = False\n")
    cfg, dropped = convert_mmdet_config(cfg_file)
    assert cfg == {"resume": False} and dropped == ["image_size"]


@pytest.mark.parametrize(("text", "match"), [
    ("model = dict(a=1\n", r"c\.py:1:\d+: Python syntax error"),
    ("import os\nx = 1\n", r"c\.py:1: importing the module 'os' is not allowed"),
    ("x = 1\ny = undefined_name + 1\n", r"c\.py:2: NameError: name 'undefined_name' is not defined"),
    ("x = open('/etc/passwd')\n", r"c\.py:1: NameError: name 'open' is not defined"),
    ("_base_ = ['missing.py']\n", r"not found: .*missing\.py \(listed in _base_ of .*c\.py\)"),
])
def test_bad_mmdet_configs_give_clear_errors(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        read_mmdet_config(write(tmp_path / "c.py", text))


def test_mmdet_base_cycle(tmp_path):
    write(tmp_path / "a.py", "_base_ = ['b.py']\n")
    write(tmp_path / "b.py", "_base_ = ['a.py']\n")
    with pytest.raises(ConfigError, match=r"cycle: .*a\.py -> .*b\.py -> .*a\.py"):
        read_mmdet_config(tmp_path / "a.py")


def test_yaml_can_inherit_an_mmdet_config(tmp_path):
    child = write(tmp_path / "exp.yaml", f"_base_: {FASTER_RCNN}\nmodel: {{backbone: {{depth: 101}}}}\n")
    cfg = load_config(child)
    assert cfg["model"]["backbone"]["depth"] == 101 and cfg["model"]["neck"]["num_outs"] == 5


def test_cli_convert_rejects_non_python_and_reports_one_line(tmp_path, capsys):
    assert main(["config", "convert", str(tmp_path / "x.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("visdet config convert: error:") and err.count("\n") == 1


PURE = Path(__file__).parents[1] / "data" / "mmdet_pure_python_configs"


def test_read_base_config_binds_bases_and_writes_imported_classes_as_dotted_names():
    cfg = read_mmdet_config(PURE / "retina" / "retina-like_r50_names.py")
    # only the names asked for come from the bases; imported classes are not variables
    assert set(cfg) == {"model", "base_norm", "train_cfg", "scales"}
    assert cfg["model"] == {
        "type": "mmdet.models.detectors.retinanet.RetinaNet",
        "backbone": {"type": "mmdet.models.backbones.resnet.ResNet", "depth": 50, "out_indices": [0, 1, 2, 3],
                     "norm_cfg": {"type": "BN", "requires_grad": False}, "act": "torch.nn.ReLU"},
    }
    assert cfg["base_norm"] == {"type": "BN", "requires_grad": True}
    assert cfg["train_cfg"]["max_epochs"] == 24
    assert cfg["scales"] == [[1333, 640], [1333, 672], [1333, 704], [1333, 736], [1333, 768], [1333, 800]]


def test_read_base_config_update_merges_and_merge_honours_delete():
    cfg = read_mmdet_config(PURE / "retina" / "retina-like_r101_2x.py")
    assert cfg["max_epochs"] == 24 and cfg["base_epochs"] == 12
    assert cfg["model"]["backbone"]["depth"] == 101 and cfg["model"]["backbone"]["out_indices"] == [0, 1, 2, 3]
    assert cfg["model"]["bbox_head"] == {"loss_cls": {"type": "mmdet.models.losses.FocalLoss", "gamma": 2.0}}
    assert cfg["param_scheduler"][1]["end"] == 24 and cfg["param_scheduler"][1]["milestones"] == [16, 22]
    assert cfg["optim_wrapper"] == {"type": "OptimWrapper", "optimizer": {"type": "AdamW", "lr": 1e-4}}
    assert cfg["work_dir"] == "./work_dirs/retina_24e_101"
    assert "FocalLoss" not in cfg and "read_base" not in cfg and "SGD" not in cfg


def test_read_base_tree_lists_the_imported_configs(capsys):
    assert main(["config", "show", str(PURE / "retina" / "retina-like_r101_2x.py")]) == 0
    out = capsys.readouterr().out
    assert "retina_like.py" in out and "schedule_1x.py" in out


def test_base_style_cannot_inherit_a_read_base_config(tmp_path):
    write(tmp_path / "pure.py", "from mmdet.models import RetinaNet\nmodel = dict(type=RetinaNet)\n")
    child = write(tmp_path / "child.py", "_base_ = ['pure.py']\n")
    with pytest.raises(ConfigError, match=r"pure\.py: a pure-Python .* listed in _base_ of .*child\.py"):
        read_mmdet_config(child)


def test_two_bases_defining_one_key_is_an_error_as_in_mmengine(tmp_path):
    write(tmp_path / "a.py", "model = dict(a=1)\n")
    write(tmp_path / "b.py", "model = dict(b=1)\n")
    child = write(tmp_path / "c.py", "_base_ = ['a.py', 'b.py']\n")
    with pytest.raises(ConfigError, match=r"c\.py: the key 'model' is defined by two bases"):
        read_mmdet_config(child)


def test_config_dict_semantics_of_base_values(tmp_path):
    write(tmp_path / "base.py", "model = dict(head=dict(a=1, b=dict(c=2)), extra=[dict(k=1)])\n")
    child = write(tmp_path / "c.py", """\
        _base_ = ['base.py']
        detector = _base_.model
        detector.head.update(dict(b=dict(d=3)))  # ConfigDict.update merges nested dicts
        detector.extra[0].k = 5                   # dicts inside lists read as attributes too
        gone = _base_.model.pop('missing')        # ConfigDict.pop: None for a missing key
        del _base_.model
        model = dict(detector=detector, gone=gone)
        """)
    cfg = read_mmdet_config(child)
    assert cfg["model"] == {"detector": {"head": {"a": 1, "b": {"c": 2, "d": 3}}, "extra": [{"k": 5}]}, "gone": None}


def test_a_base_style_config_importing_os_is_refused_for_the_import(tmp_path):
    write(tmp_path / "base.py", "x = 1\n")
    child = write(tmp_path / "c.py", "_base_ = ['base.py']\nimport os\n")
    with pytest.raises(ConfigError, match=r"c\.py:2: importing the module 'os' is not allowed"):
        read_mmdet_config(child)


def test_a_dict_over_a_non_dict_base_needs_delete_as_in_mmengine(tmp_path):
    write(tmp_path / "base.py", "model = dict(neck=None, head=dict(a=1))\n")
    bad = write(tmp_path / "bad.py", "_base_ = ['base.py']\nmodel = dict(neck=dict(type='FPN'))\n")
    with pytest.raises(ConfigError, match=r"bad\.py: model\.neck is a dict here but a NoneType in the bases"):
        read_mmdet_config(bad)
    good = write(tmp_path / "good.py", "_base_ = ['base.py']\nmodel = dict(neck=dict(_delete_=True, type='FPN'))\n")
    assert read_mmdet_config(good)["model"] == {"neck": {"type": "FPN"}, "head": {"a": 1}}


MASK_RCNN = CONFIGS / "mask_rcnn" / "mask-rcnn_r50_fpn_1x_coco.py"


def test_mask_rcnn_preset_matches_the_mmdet_config():
    from visdet import build_detector

    cfg, dropped = convert_mmdet_config(MASK_RCNN)
    assert dropped == []
    model = copy.deepcopy(cfg["model"])
    model["backbone"]["init_cfg"] = None  # visdet presets never download weights
    assert load_config("mask_rcnn_r50_fpn")["model"] == model
    built = build_detector("mask_rcnn_r50_fpn")
    shapes = {k: tuple(v.shape) for k, v in built.state_dict().items()}
    assert shapes["roi_head.mask_head.conv_logits.weight"] == (80, 256, 1, 1)
    assert shapes["roi_head.mask_head.upsample.weight"] == (256, 256, 2, 2)
    assert built.roi_head.test_cfg.mask_thr_binary == 0.5 and built.roi_head.mask_size == 28
    assert built.data_preprocessor.pad_mask
    validate_config(cfg)


MASK_RCNN_SWIN = CONFIGS / "swin" / "mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py"


def test_mask_rcnn_swin_preset_matches_the_mmdet_config():
    from visdet import build_detector

    cfg, dropped = convert_mmdet_config(MASK_RCNN_SWIN)
    assert sorted(dropped) == ["max_epochs", "pretrained"]  # the config's own helper variables
    model = copy.deepcopy(cfg["model"])
    assert model["backbone"]["init_cfg"]["type"] == "Pretrained"
    model["backbone"]["init_cfg"] = None  # visdet presets never download weights
    assert load_config("mask_rcnn_swin_t_fpn")["model"] == model
    assert load_config("optimizers/adamw_swin")["optim_wrapper"] == cfg["optim_wrapper"]
    built = build_detector("mask_rcnn_swin_t_fpn")
    shapes = {k: tuple(v.shape) for k, v in built.state_dict().items()}
    assert shapes["backbone.patch_embed.projection.weight"] == (96, 3, 4, 4)
    assert shapes["backbone.stages.2.blocks.5.attn.w_msa.relative_position_bias_table"] == (169, 12)
    assert shapes["backbone.stages.2.downsample.reduction.weight"] == (768, 1536)
    assert shapes["backbone.norm3.weight"] == (768,)
    assert shapes["neck.lateral_convs.0.conv.weight"] == (256, 96, 1, 1)
    assert "backbone.stages.3.downsample.reduction.weight" not in shapes
    assert built.backbone.convert_weights
    validate_config(cfg)


@pytest.mark.parametrize(
    ("preset", "path"),
    [("cascade_rcnn_r50_fpn", "cascade-rcnn_r50_fpn_1x_coco.py"),
     ("cascade_mask_rcnn_r50_fpn", "cascade-mask-rcnn_r50_fpn_1x_coco.py")],
)
def test_cascade_presets_match_the_mmdet_configs(preset, path):
    from visdet import build_detector

    cfg, dropped = convert_mmdet_config(CONFIGS / "cascade_rcnn" / path)
    assert dropped == []
    model = copy.deepcopy(cfg["model"])
    model["backbone"]["init_cfg"] = None  # visdet presets never download weights
    assert load_config(preset)["model"] == model
    built = build_detector(preset)
    assert built.roi_head.num_stages == 3 and len(built.roi_head.bbox_head) == 3
    stds = [head.bbox_coder.stds for head in built.roi_head.bbox_head]
    assert [list(s) for s in stds] == [[0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1], [0.033, 0.033, 0.067, 0.067]]
    assert [a.pos_iou_thr for a in built.roi_head.bbox_assigner] == [0.5, 0.6, 0.7]
    assert built.roi_head.with_mask == (preset == "cascade_mask_rcnn_r50_fpn")
    validate_config(cfg)


def test_fcos_preset_matches_the_mmdet_config():
    from visdet import build_detector

    cfg, dropped = convert_mmdet_config(CONFIGS / "fcos" / "fcos_r50-caffe_fpn_gn-head_1x_coco.py")
    assert dropped == []
    model = copy.deepcopy(cfg["model"])
    assert model["backbone"]["init_cfg"] == {"type": "Pretrained",
                                             "checkpoint": "open-mmlab://detectron/resnet50_caffe"}
    model["backbone"]["init_cfg"] = None  # visdet presets never download weights
    assert load_config("fcos_r50_caffe_fpn_gn_head")["model"] == model
    built = build_detector("fcos_r50_caffe_fpn_gn_head")
    head = built.bbox_head
    assert type(head).__name__ == "FCOSHead" and head.cls_out_channels == 80
    assert head.cls_convs[0].norm_name == "gn" and head.cls_convs[0].gn.num_groups == 32
    assert not head.cls_convs[0].with_bias  # conv_bias "auto" with GN
    assert head.regress_ranges == [[-1, 64], [64, 128], [128, 256], [256, 512], [512, 1e8]]
    assert [s.scale.item() for s in head.scales] == [1.0] * 5
    assert type(head.loss_bbox).__name__ == "IoULoss" and head.loss_bbox.mode == "log"
    assert head.loss_centerness.use_sigmoid
    assert built.backbone.style == "caffe" and built.backbone.layer1[0].conv1.stride == (1, 1)
    assert built.backbone.layer2[0].conv1.stride == (2, 2)  # caffe: the stride on the first 1x1 conv
    assert built.neck.relu_before_extra_convs and built.neck.add_extra_convs == "on_output"
    preprocessor = built.data_preprocessor
    assert not preprocessor.channel_conversion and preprocessor.std.flatten().tolist() == [1.0, 1.0, 1.0]
    assert "bbox_head.scales.4.scale" in built.state_dict()
    assert cfg["optim_wrapper"]["clip_grad"] == {"max_norm": 35, "norm_type": 2}
    assert cfg["param_scheduler"][0]["type"] == "ConstantLR"
    validate_config(cfg)  # the whole config, its ConstantLR warm-up and bias_lr_mult included


RETINANET = CONFIGS / "retinanet" / "retinanet_r50_fpn_1x_coco.py"


def test_retinanet_preset_matches_the_mmdet_config():
    from visdet import build_detector

    cfg, dropped = convert_mmdet_config(RETINANET)
    # retinanet_tta.py's test-time augmentation (not in visdet) and its helper variable
    assert sorted(dropped) == ["img_scales", "tta_model", "tta_pipeline"]
    model = copy.deepcopy(cfg["model"])
    assert model["backbone"]["init_cfg"] == {"type": "Pretrained", "checkpoint": "torchvision://resnet50"}
    model["backbone"]["init_cfg"] = None  # visdet presets never download weights
    assert load_config("retinanet_r50_fpn")["model"] == model
    # the rest of the 1x config is the shared presets, except the optimizer's lr (0.01, not 0.02)
    assert cfg["optim_wrapper"]["optimizer"] == {"type": "SGD", "lr": 0.01, "momentum": 0.9, "weight_decay": 0.0001}
    schedule = load_config("1x")
    assert all(schedule[key] == cfg[key] for key in ("train_cfg", "val_cfg", "test_cfg", "param_scheduler"))
    built = build_detector("retinanet_r50_fpn")
    shapes = {k: tuple(v.shape) for k, v in built.state_dict().items()}
    assert shapes["bbox_head.retina_cls.weight"] == (9 * 80, 256, 3, 3)
    assert shapes["bbox_head.retina_reg.weight"] == (9 * 4, 256, 3, 3)
    assert shapes["bbox_head.cls_convs.3.conv.weight"] == (256, 256, 3, 3)
    assert shapes["neck.fpn_convs.4.conv.weight"] == (256, 256, 3, 3)  # extra conv on the backbone's C5
    assert shapes["neck.fpn_convs.3.conv.weight"] == (256, 2048, 3, 3)
    assert "neck.lateral_convs.3.conv.weight" not in shapes  # start_level=1: no lateral on C2
    head = built.bbox_head
    assert head.num_base_priors == 9 and head.use_sigmoid_cls and head.allowed_border == -1
    assert head.test_cfg.nms_pre == 1000 and head.test_cfg.score_thr == 0.05
    assert head.assigner.neg_iou_thr == 0.4 and type(head.sampler).__name__ == "PseudoSampler"
    validate_config(cfg)


# preset, mmdet config, whether mmdet's backbone loads ImageNet weights (tiny, s) or has no init_cfg (m, l, x),
# the head's width (256 * widen_factor), CSP blocks of the backbone's stage 3 (round(6 * deepen_factor)) and of
# the neck (mmdet's num_csp_blocks); the detection heads' exp_on_reg (rtmdet_l's True, tiny and s set False)
RTMDET_PRESETS = [
    ("rtmdet_tiny", "rtmdet_tiny_8xb32-300e_coco.py", True, 96, 1, 1, False),
    ("rtmdet_s", "rtmdet_s_8xb32-300e_coco.py", True, 128, 2, 1, False),
    ("rtmdet_m", "rtmdet_m_8xb32-300e_coco.py", False, 192, 4, 2, True),
    ("rtmdet_l", "rtmdet_l_8xb32-300e_coco.py", False, 256, 6, 3, True),
    ("rtmdet_x", "rtmdet_x_8xb32-300e_coco.py", False, 320, 8, 4, True),
    ("rtmdet_ins_tiny", "rtmdet-ins_tiny_8xb32-300e_coco.py", True, 96, 1, 1, None),
    ("rtmdet_ins_s", "rtmdet-ins_s_8xb32-300e_coco.py", True, 128, 2, 1, None),
    ("rtmdet_ins_m", "rtmdet-ins_m_8xb32-300e_coco.py", False, 192, 4, 2, None),
    ("rtmdet_ins_l", "rtmdet-ins_l_8xb32-300e_coco.py", False, 256, 6, 3, None),
    ("rtmdet_ins_x", "rtmdet-ins_x_8xb16-300e_coco.py", False, 320, 8, 4, None),
]


@pytest.mark.parametrize(("preset", "path", "pretrained", "exp_on_reg"), [p[:3] + p[-1:] for p in RTMDET_PRESETS])
def test_rtmdet_presets_match_the_mmdet_configs(preset, path, pretrained, exp_on_reg):
    cfg, dropped = convert_mmdet_config(CONFIGS / "rtmdet" / path)
    # the TTA model and the stage-2 pipeline are not part of the model; the rest are plain variables
    assert {"tta_model", "tta_pipeline", "train_pipeline_stage2"} <= set(dropped)
    model = copy.deepcopy(cfg["model"])
    if pretrained:
        assert model["backbone"]["init_cfg"]["type"] == "Pretrained"
    else:
        assert "init_cfg" not in model["backbone"]
    model["backbone"]["init_cfg"] = None  # visdet presets never download weights
    assert load_config(preset)["model"] == model
    head = model["bbox_head"]
    assert model["train_cfg"]["assigner"] == {"type": "DynamicSoftLabelAssigner", "topk": 13}
    if exp_on_reg is None:  # RTMDet-Ins: mmdet's _delete_ replaced RTMDet's head wholesale
        assert head["type"] == "RTMDetInsSepBNHead" and "exp_on_reg" not in head
        assert head["loss_mask"] == {"type": "DiceLoss", "loss_weight": 2.0, "eps": 5e-6, "reduction": "mean"}
        assert model["test_cfg"]["mask_thr_binary"] == 0.5
    else:
        assert head["type"] == "RTMDetSepBNHead" and head["exp_on_reg"] is exp_on_reg
        assert head["with_objectness"] is False


@pytest.mark.parametrize(("preset", "width", "stage3_blocks", "neck_blocks"), [p[:1] + p[3:6] for p in RTMDET_PRESETS])
def test_rtmdet_presets_build_with_their_widths(preset, width, stage3_blocks, neck_blocks):
    built = build_detector(preset)
    shapes = {k: tuple(v.shape) for k, v in built.state_dict().items()}
    # CSPNeXt P5: stage 4 ends at 1024 * widen_factor channels, the stem starts at 32 * widen_factor
    assert shapes["backbone.stage4.2.final_conv.conv.weight"] == (4 * width, 4 * width, 1, 1)
    assert shapes["backbone.stem.0.conv.weight"] == (width // 8, 3, 3, 3)
    assert len(built.backbone.stage3[1].blocks) == stage3_blocks
    assert len(built.neck.top_down_blocks[0].blocks) == neck_blocks
    assert [shapes[f"neck.out_convs.{i}.conv.weight"] for i in range(3)] == [
        (width, width * 2**i, 3, 3) for i in range(3)
    ]
    assert shapes["bbox_head.rtm_cls.0.weight"] == (80, width, 1, 1)
    assert shapes["bbox_head.rtm_reg.2.weight"] == (4, width, 1, 1)
    if preset.startswith("rtmdet_ins"):
        assert type(built.bbox_head).__name__ == "RTMDetInsSepBNHead"
        assert shapes["bbox_head.mask_head.projection.weight"] == (8, width, 1, 1)
        assert shapes["bbox_head.rtm_kernel.0.weight"] == (169, width, 1, 1)  # 3 dynamic convs of 8 (+2) channels
    else:
        assert type(built.bbox_head).__name__ == "RTMDetSepBNHead"


def test_rtmdet_tiny_preset_builds_with_mmdets_head_layout():
    from visdet import build_detector

    built = build_detector("rtmdet_tiny")
    head = built.bbox_head
    assert type(built).__name__ == "RTMDet" and type(head).__name__ == "RTMDetSepBNHead"
    assert len(head.cls_convs) == 3 and head.cls_convs[2][0].conv is head.cls_convs[0][0].conv
    assert head.rtm_cls[0].weight.shape == (80, 96, 1, 1) and not hasattr(head, "rtm_obj")
    assert [s[0] for s in head.prior_generator.strides] == [8, 16, 32] and head.prior_generator.offset == 0
    assert type(head.assigner).__name__ == "DynamicSoftLabelAssigner" and head.assigner.topk == 13
    assert head.test_cfg.nms_pre == 30000 and head.test_cfg.max_per_img == 300


def test_rtmdet_ins_s_converts_and_builds():
    cfg, _ = convert_mmdet_config(CONFIGS / "rtmdet" / "rtmdet-ins_s_8xb32-300e_coco.py")
    head = cfg["model"]["bbox_head"]
    assert head["type"] == "RTMDetInsSepBNHead" and head["in_channels"] == 128 and head["feat_channels"] == 128
    cfg["model"]["backbone"]["init_cfg"] = None
    model = build_detector(cfg["model"])  # RTMDet's training transforms (mosaic, mixup) are not mirrored yet
    assert type(model.bbox_head).__name__ == "RTMDetInsSepBNHead"
    assert model.bbox_head.mask_head.projection.weight.shape == (8, 128, 1, 1)


DEFORMABLE_DETR = CONFIGS / "deformable_detr"


@pytest.mark.parametrize(
    ("preset", "path", "refine", "two_stage"),
    [("deformable_detr_r50", "deformable-detr_r50_16xb2-50e_coco.py", False, False),
     ("deformable_detr_refine_twostage_r50", "deformable-detr-refine-twostage_r50_16xb2-50e_coco.py", True, True)],
)
def test_deformable_detr_presets_match_the_mmdet_configs(preset, path, refine, two_stage):
    cfg, dropped = convert_mmdet_config(DEFORMABLE_DETR / path)
    assert dropped == ["max_epochs"]  # the config's own helper variable
    model = copy.deepcopy(cfg["model"])
    assert model["backbone"]["init_cfg"] == {"type": "Pretrained", "checkpoint": "torchvision://resnet50"}
    model["backbone"]["init_cfg"] = None  # visdet presets never download weights
    assert load_config(preset)["model"] == model
    assert load_config("optimizers/adamw_deformable_detr")["optim_wrapper"] == cfg["optim_wrapper"]
    schedule = load_config("schedules/deformable_detr_50e")
    assert all(schedule[key] == cfg[key] for key in ("train_cfg", "val_cfg", "test_cfg", "param_scheduler"))
    assert cfg["optim_wrapper"]["optimizer"] == {"type": "AdamW", "lr": 0.0002, "weight_decay": 0.0001}
    assert cfg["param_scheduler"][0]["milestones"] == [40]
    built = build_detector(preset)
    assert (built.with_box_refine, built.as_two_stage) == (refine, two_stage)
    head = built.bbox_head
    assert head.num_pred_layer == (7 if two_stage else 6) and head.share_pred_layer == (not refine)
    shapes = {k: tuple(v.shape) for k, v in built.state_dict().items()}
    assert shapes["level_embed"] == (4, 256)
    assert shapes["neck.extra_convs.0.conv.weight"] == (256, 2048, 3, 3)
    assert shapes["encoder.layers.5.self_attn.sampling_offsets.weight"] == (256, 8 * 4 * 4 * 2)
    assert shapes["bbox_head.cls_branches.5.weight"] == (80, 256)
    if two_stage:
        assert shapes["pos_trans_fc.weight"] == (512, 512) and shapes["memory_trans_norm.weight"] == (256,)
        assert shapes["bbox_head.reg_branches.6.4.weight"] == (4, 256)
        assert "query_embedding.weight" not in shapes and "reference_points_fc.weight" not in shapes
    else:
        assert shapes["query_embedding.weight"] == (300, 512) and shapes["reference_points_fc.weight"] == (2, 256)
    assert type(head.assigner).__name__ == "HungarianAssigner" and head.test_cfg == {"max_per_img": 100}
    # the model, optimizer and schedule (the training pipeline's RandomChoice augmentation is not in visdet yet)
    keys = ("model", "optim_wrapper", "param_scheduler", "train_cfg", "val_cfg", "test_cfg")
    validate_config({key: cfg[key] for key in keys})


DINO = CONFIGS / "dino" / "dino-4scale_r50_8xb2-12e_coco.py"


def test_dino_preset_and_recipe_match_the_mmdet_config():
    cfg, dropped = convert_mmdet_config(DINO)
    assert dropped == ["max_epochs"]  # the config's own helper variable
    model = copy.deepcopy(cfg["model"])
    assert model["backbone"]["init_cfg"] == {"type": "Pretrained", "checkpoint": "torchvision://resnet50"}
    model["backbone"]["init_cfg"] = None  # visdet presets never download weights
    assert load_config("dino_4scale_r50")["model"] == model
    assert model["dn_cfg"]["group_cfg"] == {"dynamic": True, "num_groups": None, "num_dn_queries": 100}
    optimizer = load_config("optimizers/adamw_dino")
    assert optimizer["optim_wrapper"] == cfg["optim_wrapper"] and optimizer["auto_scale_lr"] == cfg["auto_scale_lr"]
    assert cfg["optim_wrapper"] == {"type": "OptimWrapper", "optimizer": {"type": "AdamW", "lr": 0.0001,
                                                                         "weight_decay": 0.0001},
                                    "clip_grad": {"max_norm": 0.1, "norm_type": 2},
                                    "paramwise_cfg": {"custom_keys": {"backbone": {"lr_mult": 0.1}}}}  # fmt: skip
    schedule = load_config("schedules/dino_12e")
    for key in ("train_cfg", "val_cfg", "test_cfg", "param_scheduler"):
        assert schedule[key] == cfg[key], key
    assert cfg["param_scheduler"] == [{"type": "MultiStepLR", "begin": 0, "end": 12, "by_epoch": True,
                                       "milestones": [11], "gamma": 0.1}]  # fmt: skip
    built = build_detector("dino_4scale_r50")
    assert (built.with_box_refine, built.as_two_stage, built.num_queries) == (True, True, 900)
    head = built.bbox_head
    assert type(head).__name__ == "DINOHead" and head.num_pred_layer == 7 and not head.share_pred_layer
    shapes = {k: tuple(v.shape) for k, v in built.state_dict().items()}
    assert shapes["query_embedding.weight"] == (900, 256) and shapes["level_embed"] == (4, 256)
    assert shapes["memory_trans_fc.weight"] == (256, 256) and shapes["memory_trans_norm.weight"] == (256,)
    assert shapes["dn_query_generator.label_embedding.weight"] == (80, 256)
    assert shapes["decoder.ref_point_head.layers.0.weight"] == (256, 512) and shapes["decoder.norm.weight"] == (256,)
    assert shapes["encoder.layers.5.ffn.layers.0.0.weight"] == (2048, 256)
    assert "pos_trans_fc.weight" not in shapes and "reference_points_fc.weight" not in shapes
    generator = built.dn_query_generator
    assert generator.dynamic_dn_groups and generator.num_dn_queries == 100 and generator.num_matching_queries == 900
    assert (generator.label_noise_scale, generator.box_noise_scale) == (0.5, 1.0)
    assert type(head.assigner).__name__ == "HungarianAssigner" and head.test_cfg == {"max_per_img": 300}
    # the model, optimizer and schedule (the training pipeline's RandomChoice augmentation is not in visdet yet)
    keys = ("model", "optim_wrapper", "param_scheduler", "train_cfg", "val_cfg", "test_cfg")
    validate_config({key: cfg[key] for key in keys})
