import pytest
import torch
from torch import nn

from visdet.build import build_pipeline
from visdet.data import CocoDataset, build_dataloader
from visdet.engine import Runner
from visdet.engine.progressive_resize import ProgressiveResizeHook
from visdet.models.data_preprocessors import DetDataPreprocessor
from visdet.testing.coco_synth import write_coco_synth


class ShapeRecordingDetector(nn.Module):
    """Takes the detector's loss path and records the batch size it is given."""

    def __init__(self):
        super().__init__()
        self.data_preprocessor = DetDataPreprocessor(pad_size_divisor=1)
        self.weight = nn.Parameter(torch.ones(1))
        self.seen = []

    def loss(self, inputs, metas, gt_instances):
        self.seen.append(tuple(inputs.shape[-2:]))
        return {"loss_dummy": (self.weight * inputs.mean()).abs()}


def _dataset(tmp_path):
    synth = write_coco_synth(tmp_path / "coco")
    pipeline = [
        {"type": "LoadImageFromFile"},
        {"type": "LoadAnnotations", "with_bbox": True},
        {"type": "Resize", "scale": (40, 30), "keep_ratio": False},
        {"type": "PackDetInputs"},
    ]
    return CocoDataset(ann_file=str(synth.ann_file), metainfo={"classes": synth.classes},
                       data_prefix={"img": str(synth.img_dir)}, pipeline=build_pipeline(pipeline))  # fmt: skip


@pytest.mark.parametrize("num_workers", [0, 1])  # 1: the worker process sees the new scale
def test_scale_changes_at_stage_boundaries(tmp_path, num_workers):
    dataset = _dataset(tmp_path)
    loader = build_dataloader(dataset, batch_size=1, seed=0, num_workers=num_workers)
    model = ShapeRecordingDetector()
    hook = ProgressiveResizeHook(stages=[(0, (32, 24)), (3, (48, 40)), (6, 64)])
    runner = Runner(model=model, train_loader=loader, optimizer=torch.optim.SGD(model.parameters(), lr=0.01),
                    work_dir=tmp_path, max_iters=8, hooks=[hook])  # fmt: skip
    runner.train()
    assert model.seen == [(24, 32)] * 3 + [(40, 48)] * 3 + [(64, 64)] * 2


def test_epoch_stages_and_resume_position(tmp_path):
    dataset = _dataset(tmp_path)
    loader = build_dataloader(dataset, batch_size=1, seed=0)
    epoch_len = len(loader)
    model = ShapeRecordingDetector()
    hook = ProgressiveResizeHook(stages=[(0, 32), (1, 48)], by_epoch=True)
    Runner(model=model, train_loader=loader, optimizer=torch.optim.SGD(model.parameters(), lr=0.01),
           work_dir=tmp_path, max_epochs=2, hooks=[hook]).train()  # fmt: skip
    assert model.seen == [(32, 32)] * epoch_len + [(48, 48)] * epoch_len
    assert hook.stage_at(0, epoch_len) == 0 and hook.stage_at(epoch_len, epoch_len) == 1


def test_bad_stages_and_missing_resize(tmp_path):
    with pytest.raises(ValueError, match="begin at 0"):
        ProgressiveResizeHook(stages=[(5, 32)])
    with pytest.raises(ValueError, match="increase strictly"):
        ProgressiveResizeHook(stages=[(0, 32), (4, 48), (4, 64)])
    dataset = _dataset(tmp_path)
    dataset.pipeline.transforms = [t for t in dataset.pipeline.transforms if type(t).__name__ != "Resize"]
    loader = build_dataloader(dataset, batch_size=1, seed=0)
    model = ShapeRecordingDetector()
    runner = Runner(model=model, train_loader=loader, optimizer=torch.optim.SGD(model.parameters(), lr=0.01),
                    work_dir=tmp_path, max_iters=2, hooks=[ProgressiveResizeHook(stages=[(0, 32)])])  # fmt: skip
    with pytest.raises(ValueError, match="no Resize transform"):
        runner.train()
