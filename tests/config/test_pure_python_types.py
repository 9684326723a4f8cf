"""mmengine's pure-Python configs name classes by import; visdet builds from them by name."""

from pathlib import Path

import pytest

import visdet
from visdet.config.errors import ConfigError
from visdet.config.mmdet_convert import read_mmdet_config, short_type_names
from visdet.engine.components.convert import convert_mmdet_config

DATA = Path(__file__).parents[1] / "data"
PURE = DATA / "mmdet_pure_python_configs/faster_rcnn/faster-rcnn_r50_fpn_pure.py"
NAMED = DATA / "mmdet_configs/faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py"


def test_import_paths_become_registered_names():
    config = {"type": "mmdet.models.detectors.faster_rcnn.FasterRCNN",
              "backbone": {"type": "mmdet.models.ResNet", "norm_cfg": {"type": "BN"}},
              "heads": [{"type": "mmcv.ops.RoIAlign"}, ({"type": "torch.optim.sgd.SGD"},)],
              "name": "mmdet.models.ResNet"}  # fmt: skip
    assert short_type_names(config) == {
        "type": "FasterRCNN", "backbone": {"type": "ResNet", "norm_cfg": {"type": "BN"}},
        "heads": [{"type": "RoIAlign"}, ({"type": "SGD"},)], "name": "mmdet.models.ResNet"}  # fmt: skip


def test_paths_of_other_packages_are_kept_and_refused_by_name():
    assert short_type_names({"type": "mypkg.models.Net"}) == {"type": "mypkg.models.Net"}
    assert short_type_names({"type": "mmdet..X"}) == {"type": "mmdet..X"}


def test_reader_keeps_mmengines_dotted_form():
    # what mmengine's Config.to_dict writes (compared live in parity/test_apis_live.py)
    assert read_mmdet_config(PURE)["model"]["type"] == "mmdet.models.FasterRCNN"


def test_pure_python_config_builds_the_same_model_as_the_named_one():
    pure = visdet.build_detector(str(PURE))
    named = visdet.build_detector(str(NAMED))
    assert type(pure).__name__ == "FasterRCNN"
    shapes = {k: tuple(v.shape) for k, v in pure.state_dict().items()}
    assert len(shapes) > 300 and shapes == {k: tuple(v.shape) for k, v in named.state_dict().items()}


def test_convert_writes_registered_names():
    config, _ = convert_mmdet_config(PURE)
    assert config["model"]["type"] == "FasterRCNN"
    assert config["model"]["roi_head"]["bbox_roi_extractor"]["roi_layer"]["type"] == "RoIAlign"


def test_unknown_package_path_is_refused_naming_it(tmp_path):
    path = tmp_path / "odd.py"
    path.write_text("from mypkg.models import Net\nmodel = dict(type=Net)\n")
    with pytest.raises(ConfigError, match="mypkg"):
        visdet.build_detector(str(path))
