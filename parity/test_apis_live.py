"""Live parity of the config converter and the inference API with mmdet/mmengine.

* The converter reads mmdet's own configs (a sample of every tenth file in
  ``mmdet/.mim/configs``, plus Faster R-CNN), and the pure-Python (``read_base``) configs
  of ``tests/data/mmdet_pure_python_configs``, to the same dict as mmengine's
  ``Config.fromfile``.
* The converted Faster R-CNN config builds a model whose ``state_dict`` keys and shapes
  are mmdet's.
* ``visdet.inference_detector`` gives mmdet's ``inference_detector`` detections on the
  same picture (a file and an array) with the same seeded random weights, through the
  whole test pipeline (load, resize to 1333x800, pack, preprocess, predict, rescale).

Marker ``live``: runs only where mmdet/mmengine/mmcv import (``.venv-ref``).
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from parity.compare import compare_outputs
from parity.reference import reference_missing

pytestmark = pytest.mark.live
CASE_KEY = "apis/inference_detector/live"
FASTER_RCNN = Path(__file__).parents[1] / "tests/data/mmdet_configs/faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py"
# A narrow Faster R-CNN, so the live run takes seconds; random weights need a low threshold.
NARROW = {
    "backbone": {"depth": 18, "base_channels": 8, "init_cfg": None},
    "neck": {"in_channels": [8, 16, 32, 64], "out_channels": 16},
    "rpn_head": {"in_channels": 16, "feat_channels": 16},
    "roi_head": {"bbox_roi_extractor": {"out_channels": 16},
                 "bbox_head": {"in_channels": 16, "fc_out_channels": 32}},
    "test_cfg": {"rcnn": {"score_thr": 0.001}},
}


def _require_reference():
    missing = reference_missing()
    if missing:
        pytest.skip(missing)


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _mmdet_config_files():
    if reference_missing():
        return []
    import mmdet

    root = os.path.join(os.path.dirname(mmdet.__file__), ".mim", "configs")
    files = sorted(f for f in glob.glob(f"{root}/**/*.py", recursive=True) if "/_base_/" not in f)
    return files[::10]


@pytest.mark.parametrize("path", [str(FASTER_RCNN), *_mmdet_config_files()],
                         ids=lambda p: Path(p).name)
def test_converter_reads_configs_like_mmengine(path):
    _require_reference()
    from mmengine.config import Config

    from visdet.config.errors import ConfigError
    from visdet.config.mmdet_convert import read_mmdet_config

    try:
        expected = _plain(Config.fromfile(path).to_dict())
    except Exception as err:  # a config mmengine itself cannot read (missing plugins, ...)
        pytest.skip(f"mmengine cannot read it: {type(err).__name__}")
    try:
        got = read_mmdet_config(path)
    except ConfigError as err:
        if "importing the module" in str(err):  # override_category.py: a script importing argparse
            pytest.skip("the file imports standard-library modules (a script, not a config)")
        raise
    # mmengine leaves a `_delete_` marker where nothing was inherited; visdet drops them all
    assert got == _strip_delete(expected)


PURE_PYTHON_CONFIGS = Path(__file__).parents[1] / "tests/data/mmdet_pure_python_configs"


@pytest.mark.parametrize("path", sorted(str(p) for p in PURE_PYTHON_CONFIGS.glob("[!_]*/*.py")),
                         ids=lambda p: Path(p).name)
def test_converter_reads_read_base_configs_like_mmengine(path):
    """mmengine's pure-Python style (``with read_base():``, imported class names as types)."""
    _require_reference()
    from mmengine.config import Config

    from visdet.config.mmdet_convert import read_mmdet_config

    assert read_mmdet_config(path) == _strip_delete(_plain(Config.fromfile(path).to_dict()))


def _strip_delete(value):
    if isinstance(value, dict):
        return {k: _strip_delete(v) for k, v in value.items() if k != "_delete_"}
    if isinstance(value, list):
        return [_strip_delete(v) for v in value]
    return value


def test_converted_model_has_mmdet_state_dict_keys_and_shapes():
    _require_reference()
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config

    import visdet

    register_all_modules()
    cfg = Config.fromfile(str(FASTER_RCNN))
    cfg.model.backbone.init_cfg = None
    ref = {k: tuple(v.shape) for k, v in MODELS.build(cfg.model).state_dict().items()}
    got = {k: tuple(v.shape) for k, v in visdet.build_detector(str(FASTER_RCNN)).state_dict().items()}
    assert got == ref


def _scene(path):
    import cv2

    rng = np.random.default_rng(7)
    image = rng.integers(0, 255, (180, 260, 3), dtype=np.uint8)
    cv2.rectangle(image, (30, 40), (140, 160), (0, 200, 255), -1)
    cv2.circle(image, (200, 80), 45, (255, 120, 0), -1)
    cv2.imwrite(str(path), image)
    return image


def test_inference_detector_matches_mmdet(tmp_path, parity_record):
    _require_reference()
    from mmdet.apis import inference_detector as mmdet_inference
    from mmdet.apis import init_detector as mmdet_init
    from mmengine.config import Config

    import visdet
    from visdet.config import merge

    cfg = Config.fromfile(str(FASTER_RCNN))
    cfg.merge_from_dict({"model": NARROW})
    torch.manual_seed(0)
    ref_model = mmdet_init(cfg, device="cpu")
    checkpoint = tmp_path / "narrow.pth"
    torch.save({"state_dict": ref_model.state_dict(), "meta": {}}, checkpoint)

    config = merge(visdet.config.load_config(FASTER_RCNN), {"model": NARROW})
    model = visdet.init_detector(config, checkpoint, fuse=False)  # the parity suite compares the unfused model
    image_path = tmp_path / "scene.png"
    image = _scene(image_path)

    ref_out, got = {}, {}
    for source_name, source in (("file", str(image_path)), ("array", image)):
        ref_pred = mmdet_inference(ref_model, source).pred_instances
        pred = visdet.inference_detector(model, source)
        for field in ("bboxes", "scores", "labels"):
            ref_out[f"{source_name}.{field}"] = getattr(ref_pred, field).clone()
            got[f"{source_name}.{field}"] = getattr(pred, field).clone()
    assert len(ref_out["file.scores"]) > 0, "lower the score threshold: random weights found nothing"
    result = compare_outputs(CASE_KEY, got, ref_out, exact=("*.labels",))
    component, name = CASE_KEY.rsplit("/", 1)
    parity_record(component, name, "live", result=result, examples=1)
    assert result.ok, result.failure_text()


PURE_FASTER_RCNN = PURE_PYTHON_CONFIGS / "faster_rcnn/faster-rcnn_r50_fpn_pure.py"


def test_pure_python_config_builds_mmdets_model():
    """A pure-Python config (classes imported, not named) builds the model mmdet builds from it."""
    _require_reference()
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config

    import visdet

    register_all_modules()
    cfg = Config.fromfile(str(PURE_FASTER_RCNN))
    cfg.model.backbone.init_cfg = None
    ref = {k: tuple(v.shape) for k, v in MODELS.build(cfg.model).state_dict().items()}
    got = {k: tuple(v.shape) for k, v in visdet.build_detector(str(PURE_FASTER_RCNN)).state_dict().items()}
    assert len(ref) > 300 and got == ref
