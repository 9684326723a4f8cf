"""Errors of the Deformable DETR / DINO detector schemas name the detector the config asks for."""

from __future__ import annotations

import copy

import pytest

import visdet
from visdet.build.components.detr import DeformableDETRConfig
from visdet.build.components.dino import TINY_DINO
from visdet.config import ConfigError


@pytest.mark.parametrize("example", [DeformableDETRConfig.example, TINY_DINO], ids=["deformable_detr", "dino"])
def test_missing_parts_error_names_the_detector(example):
    config = copy.deepcopy(dict(example))
    del config["encoder"]
    with pytest.raises(ConfigError, match=rf"{config['type']} needs encoder") as caught:
        visdet.build_detector({"model": config})
    other = "DINO" if config["type"] == "DeformableDETR" else "DeformableDETR"
    assert f"{other} needs" not in str(caught.value)


def test_head_keys_set_by_the_detector_error_names_dino():
    config = copy.deepcopy(TINY_DINO)
    config["bbox_head"] = {**config["bbox_head"], "as_two_stage": False}
    with pytest.raises(ConfigError, match=r"but DINO sets share_pred_layer"):
        visdet.build_detector({"model": config})
