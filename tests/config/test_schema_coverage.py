"""The schemas accept every keyword the components take (so no valid config is rejected)."""

import dataclasses
import inspect

import pytest

from visdet.config.schemas import SCHEMAS
from visdet.config.schemas.heads import ProposalSettings, RCNNTestSettings

# Constructor arguments that a config does not give directly: built objects, or values
# the builder fills in from train_cfg/test_cfg (their schemas are checked separately).
BUILT = {"anchor_generator", "bbox_coder", "loss_cls", "loss_bbox", "assigner", "sampler", "iou_calculator",
         "test_proposals", "train_proposals", "allowed_border", "pos_weight", "roi_layers"}


def _components():
    from visdet.data.datasets import CocoDataset
    from visdet.data.transforms import TRANSFORMS
    from visdet.evaluation import CocoMetric
    from visdet.models.backbones import ResNet
    from visdet.models.data_preprocessors import DetDataPreprocessor
    from visdet.models.dense_heads import RPNHead
    from visdet.models.losses import CrossEntropyLoss, L1Loss, SmoothL1Loss
    from visdet.models.necks import FPN
    from visdet.models.roi_heads import ConvFCBBoxHead, SingleRoIExtractor
    from visdet.models.task_modules import (
        AnchorGenerator,
        BboxOverlaps2D,
        DeltaXYWHBBoxCoder,
        MaxIoUAssigner,
        RandomSampler,
    )

    table = {"ResNet": ResNet, "FPN": FPN, "AnchorGenerator": AnchorGenerator,
             "DeltaXYWHBBoxCoder": DeltaXYWHBBoxCoder, "MaxIoUAssigner": MaxIoUAssigner,
             "RandomSampler": RandomSampler, "BboxOverlaps2D": BboxOverlaps2D,
             "CrossEntropyLoss": CrossEntropyLoss, "L1Loss": L1Loss, "SmoothL1Loss": SmoothL1Loss,
             "RPNHead": RPNHead, "ConvFCBBoxHead": ConvFCBBoxHead, "SingleRoIExtractor": SingleRoIExtractor,
             "RoIAlign": SingleRoIExtractor.build_roi_layers, "DetDataPreprocessor": DetDataPreprocessor,
             "CocoDataset": CocoDataset, "CocoMetric": CocoMetric}  # fmt: skip
    table.update(TRANSFORMS)
    return table


@pytest.mark.parametrize("name", sorted(_components()))
def test_schema_has_every_constructor_keyword(name):
    factory = _components()[name]
    params = inspect.signature(factory).parameters.values()
    keywords = {p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)} - {"self"}
    if name == "RoIAlign":
        keywords -= {"featmap_strides"}  # the extractor's, passed on by the builder
    if name in ("DefaultSampler",):
        keywords -= {"dataset"}
    missing = keywords - BUILT - set(SCHEMAS[name].model_fields)
    assert not missing, f"{name} schema lacks {sorted(missing)}"


@pytest.mark.parametrize(("settings", "dataclass_path"), [
    (ProposalSettings, "visdet.models.dense_heads.ProposalConfig"),
    (RCNNTestSettings, "visdet.models.roi_heads.RCNNTestConfig"),
])
def test_settings_schemas_match_the_dataclasses(settings, dataclass_path):
    import importlib

    module, name = dataclass_path.rsplit(".", 1)
    fields = {f.name for f in dataclasses.fields(getattr(importlib.import_module(module), name))}
    assert fields == set(settings.model_fields)
