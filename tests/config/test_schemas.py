import copy
import json

import pytest
import yaml

from visdet.build import REGISTRIES
from visdet.cli import main
from visdet.config import ConfigError, list_presets, load_config
from visdet.engine.components import config_json_schema, validate_config


@pytest.fixture(scope="module")
def full_config():
    cfg = {}
    for name in ("faster_rcnn_r50_fpn", "coco_detection", "sgd", "1x"):
        cfg.update(load_config(name))
    return cfg


@pytest.mark.parametrize("name", list_presets())
def test_every_preset_validates(name):
    validate_config(load_config(name))


def _set(cfg, path, value):
    *parents, leaf = path
    node = cfg
    for part in parents:
        node = node[part]
    node[leaf] = value


BAD_VALUES = [
    (("model", "backbone", "depth"), 51, "model.backbone.depth: 51 is not one of 18, 34, 50, 101, 152"),
    (("model", "backbone", "style"), "torch", "model.backbone.style: 'torch' is not one of 'pytorch', 'caffe'"),
    (("model", "roi_head", "bbox_head", "num_classes"), "many", "model.roi_head.bbox_head.num_classes: "),
    (("model", "test_cfg", "rcnn", "score_thr"), 1.5, "model.test_cfg.rcnn.score_thr: "),
    (("model", "rpn_head", "anchor_generator", "strides"), "4", "model.rpn_head.anchor_generator.strides: "),
    (("train_dataloader", "dataset", "pipeline", 2, "keep_ratio"), "maybe",
     "train_dataloader.dataset.pipeline[2].keep_ratio: "),
    (("optim_wrapper", "optimizer", "lr"), -1, "optim_wrapper.optimizer.lr: "),
    (("param_scheduler", 1, "milestones"), 8, "param_scheduler[1].milestones: "),
]


@pytest.mark.parametrize(("path", "value", "expected"), BAD_VALUES)
def test_wrong_values_name_the_full_path(full_config, path, value, expected):
    cfg = copy.deepcopy(full_config)
    _set(cfg, path, value)
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    assert expected in str(err.value)
    assert str(err.value).count("\n") == 0  # exactly one problem reported, on one line


UNKNOWN_KEYS = [
    (("model", "backbone"), "deph", "depth"),
    (("model", "neck"), "num_out", "num_outs"),
    (("model", "rpn_head", "anchor_generator"), "ratio", "ratios"),
    (("model", "roi_head", "bbox_head", "loss_cls"), "use_sigmod", "use_sigmoid"),
    (("model", "train_cfg", "rcnn", "sampler"), "pos_fraktion", "pos_fraction"),
    (("model", "test_cfg", "rcnn"), "scor_thr", "score_thr"),
    (("train_dataloader", "dataset", "pipeline", 2), "keep_ration", "keep_ratio"),
    (("train_dataloader",), "batchsize", "batch_size"),
    (("optim_wrapper", "optimizer"), "momentun", "momentum"),
    ((), "optim_wraper", "optim_wrapper"),
]


@pytest.mark.parametrize(("parent", "key", "suggestion"), UNKNOWN_KEYS)
def test_unknown_keys_are_errors_with_did_you_mean(full_config, parent, key, suggestion):
    cfg = copy.deepcopy(full_config)
    node = cfg
    for part in parent:
        node = node[part]
    node[key] = 1
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in (*parent, key)).lstrip(".")
    message = str(err.value)
    assert f"{path}: unknown key; did you mean {suggestion!r}?" in message


def test_unknown_type_lists_allowed_types(full_config):
    cfg = copy.deepcopy(full_config)
    cfg["model"]["rpn_head"]["loss_bbox"]["type"] = "L2Loss"
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    assert "model.rpn_head.loss_bbox.type: unknown type 'L2Loss'; did you mean 'L1Loss'?" in str(err.value)
    assert "SmoothL1Loss" in str(err.value)


def test_missing_required_key_and_several_errors(full_config):
    cfg = copy.deepcopy(full_config)
    del cfg["model"]["rpn_head"]["anchor_generator"]["strides"]
    cfg["model"]["backbone"]["depth"] = 51
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    message = str(err.value)
    assert "2 errors" in message
    assert "model.rpn_head.anchor_generator.strides: required key is missing" in message
    assert "model.backbone.depth: 51 is not one of" in message


def test_every_registered_schema_forbids_extra_keys():
    schemas = {name: schema for reg in REGISTRIES.values() for name, schema in reg.items()}
    assert len(schemas) >= 45
    for name, schema in schemas.items():
        assert schema.model_config.get("extra") == "forbid", name


jsonschema = pytest.importorskip("jsonschema")


def test_json_schema_written_by_cli_validates_yaml_with_modeline(tmp_path, full_config, capsys):
    schema_path = tmp_path / "schema.json"
    assert main(["config", "schema", "-o", str(schema_path)]) == 0
    schema = json.loads(schema_path.read_text())
    assert schema == config_json_schema()
    good = tmp_path / "good.yaml"
    good.write_text(f"# yaml-language-server: $schema={schema_path}\n" + yaml.safe_dump(full_config))
    bad = tmp_path / "bad.yaml"
    broken = copy.deepcopy(full_config)
    broken["model"]["backbone"]["depth"] = 51
    bad.write_text(f"# yaml-language-server: $schema={schema_path}\n" + yaml.safe_dump(broken))

    def validate(path):
        text = path.read_text()
        modeline = text.splitlines()[0]
        referenced = json.loads(open(modeline.split("$schema=", 1)[1]).read())
        jsonschema.validate(yaml.safe_load(text), referenced)

    validate(good)
    with pytest.raises(jsonschema.ValidationError) as err:
        validate(bad)
    assert list(err.value.absolute_path)[-1] == "depth"
    unknown = copy.deepcopy(full_config)
    unknown["model"]["backbone"]["deph"] = 50
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(unknown, schema)
