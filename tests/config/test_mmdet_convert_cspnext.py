"""mmdet's RTMDet configs: their backbone and neck fields reach CSPNeXt and CSPNeXtPAFPN through conversion."""

from pathlib import Path

import pytest
from torch import nn

from visdet.build import build_component, validate_component
from visdet.config import ConfigError
from visdet.engine.components.convert import convert_mmdet_config

RTMDET = Path(__file__).parents[1] / "data" / "mmdet_configs" / "rtmdet"


@pytest.mark.parametrize(
    ("name", "deepen", "widen", "neck_in", "neck_out", "csp_blocks"),
    [
        ("rtmdet_tiny_8xb32-300e_coco.py", 0.167, 0.375, [96, 192, 384], 96, 1),
        ("rtmdet_s_8xb32-300e_coco.py", 0.33, 0.5, [128, 256, 512], 128, 1),
        ("rtmdet_l_8xb32-300e_coco.py", 1, 1, [256, 512, 1024], 256, 3),
    ],
)
def test_rtmdet_backbone_and_neck_convert_and_build(name, deepen, widen, neck_in, neck_out, csp_blocks):
    cfg, _ = convert_mmdet_config(RTMDET / name)
    backbone_cfg, neck_cfg = cfg["model"]["backbone"], cfg["model"]["neck"]
    assert backbone_cfg["deepen_factor"] == deepen and backbone_cfg["widen_factor"] == widen
    assert backbone_cfg["norm_cfg"] == {"type": "SyncBN"}
    assert backbone_cfg["act_cfg"] == {"type": "SiLU", "inplace": True}
    schema = validate_component("backbone", backbone_cfg)
    assert schema.arch == "P5" and schema.channel_attention and schema.expand_ratio == 0.5
    backbone = schema.build()
    # SyncBN from the config: torch's SyncBatchNorm, batch norm on one process, BatchNorm2d's keys
    assert type(backbone.stem[0].bn) is nn.SyncBatchNorm and backbone.stem[0].bn.momentum == 0.1
    assert type(backbone.stem[0].activate) is nn.SiLU and backbone.stem[0].activate.inplace
    assert list(backbone.out_channels) == neck_in
    neck = build_component("neck", neck_cfg)
    assert neck.in_channels == neck_in and neck.out_channels == neck_out
    assert len(neck.top_down_blocks[0].blocks) == csp_blocks
    assert type(neck.out_convs[0].activate) is nn.SiLU and type(neck.out_convs[0].bn) is nn.SyncBatchNorm


def test_the_schemas_hold_mmdets_defaults():
    backbone = validate_component("backbone", {"type": "CSPNeXt"})
    assert backbone.out_indices == [2, 3, 4] and backbone.spp_kernel_sizes == [5, 9, 13]
    assert backbone.norm_cfg.plain() == {"type": "BN", "momentum": 0.03, "eps": 0.001}
    assert backbone.act_cfg.plain() == {"type": "SiLU"} and not backbone.norm_eval
    neck = validate_component("neck", {"type": "CSPNeXtPAFPN", "in_channels": [4, 8], "out_channels": 4})
    assert neck.num_csp_blocks == 3 and neck.upsample_cfg == {"scale_factor": 2, "mode": "nearest"}
    assert neck.act_cfg.plain() == {"type": "Swish"}


@pytest.mark.parametrize(
    ("kind", "config", "where"),
    [
        ("backbone", {"type": "CSPNeXt", "arch": "P7"}, "arch"),
        ("backbone", {"type": "CSPNeXt", "spp_kernal_sizes": [5]}, "spp_kernal_sizes"),  # a misspelt key
        ("backbone", {"type": "CSPNeXt", "widen_factor": 0}, "widen_factor"),
        ("neck", {"type": "CSPNeXtPAFPN", "in_channels": [4], "out_channels": 4}, "in_channels"),
    ],
)
def test_bad_fields_are_named(kind, config, where):
    with pytest.raises(ConfigError, match=where):
        validate_component(kind, config)
