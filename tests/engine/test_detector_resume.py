import torch

from visdet.build import build_model, build_pipeline
from visdet.data import CocoDataset, build_dataloader
from visdet.engine import Runner
from visdet.engine.hooks import CheckpointHook, Hook
from visdet.engine.optim import build_optimizer, build_scheduler
from visdet.testing.coco_synth import write_coco_synth
from visdet.testing.tiny_models import tiny_faster_rcnn_config


def _model():
    cfg = tiny_faster_rcnn_config(3)
    torch.manual_seed(0)
    return build_model(cfg)


class Record(Hook):
    def __init__(self):
        self.logs = []

    def after_train_iter(self, runner):
        self.logs.append(dict(runner.log_vars))


class StopAt(Hook):
    def __init__(self, at):
        self.at = at

    def after_train_iter(self, runner):
        if runner.iter == self.at:
            runner.request_stop("test interruption")


def _run(synth, work_dir, hooks, resume=False):
    pipeline = [
        {"type": "LoadImageFromFile"},
        {"type": "LoadAnnotations", "with_bbox": True},
        {"type": "Resize", "scale": (64, 48), "keep_ratio": False},
        {"type": "RandomFlip", "prob": 0.5},  # draws from numpy's global RNG
        {"type": "PackDetInputs"},
    ]
    dataset = CocoDataset(ann_file=str(synth.ann_file), metainfo={"classes": synth.classes},
                          data_prefix={"img": str(synth.img_dir)}, pipeline=build_pipeline(pipeline))  # fmt: skip
    loader = build_dataloader(dataset, batch_size=2, seed=0)
    model = _model()
    optimizer = build_optimizer(model, name="sgd", lr=0.01)
    scheduler = build_scheduler(optimizer, name="cosine", total_steps=6, warmup_steps=2)
    runner = Runner(model=model, train_loader=loader, optimizer=optimizer, scheduler=scheduler, work_dir=work_dir,
                    max_iters=6, hooks=hooks, seed=3, resume=resume)  # fmt: skip
    runner.train()
    return runner


def test_faster_rcnn_kill_and_resume_matches_uninterrupted_run(tmp_path):
    synth = write_coco_synth(tmp_path / "coco")
    full = Record()
    _run(synth, tmp_path / "full", [full])
    first, second = Record(), Record()
    cut = _run(synth, tmp_path / "cut", [first, StopAt(3), CheckpointHook(interval=0)])
    assert (cut.iter, cut.epoch, cut.inner_iter) == (3, 1, 1)  # stopped mid-epoch
    _run(synth, tmp_path / "cut", [second], resume=True)
    assert len(full.logs) == 6
    assert first.logs + second.logs == full.logs  # every loss term, iteration by iteration
