"""Fine-tuning a detector: LoRA wrapping, merging, gradients, adapter checkpoints, resume, config."""

import copy

import pytest
import torch

from visdet.build import build_model, build_pipeline
from visdet.data import CocoDataset, build_dataloader
from visdet.engine import Runner
from visdet.engine.detection_step import detection_losses
from visdet.engine.finetune import (
    load_pretrained,
    load_trainable_state_dict,
    lora_layers,
    merge_lora,
    prepare_finetune,
    read_adapters,
    save_finetuned,
)
from visdet.engine.hooks import CheckpointHook, Hook
from visdet.engine.optim import build_optimizer
from visdet.testing.coco_synth import write_coco_synth
from visdet.testing.tiny_models import tiny_faster_rcnn, tiny_faster_rcnn_config

HEAD_KEYS = {f"roi_head.bbox_head.{layer}.{p}" for layer in ("fc_cls", "fc_reg") for p in ("weight", "bias")}
PIPELINE = [
    {"type": "LoadImageFromFile"},
    {"type": "LoadAnnotations", "with_bbox": True},
    {"type": "Resize", "scale": (64, 48), "keep_ratio": False},
    {"type": "RandomFlip", "prob": 0.5},
    {"type": "PackDetInputs"},
]


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return write_coco_synth(tmp_path_factory.mktemp("coco"))


def _loader(synth, batch_size=2):
    dataset = CocoDataset(ann_file=str(synth.ann_file), metainfo={"classes": synth.classes},
                          data_prefix={"img": str(synth.img_dir)}, pipeline=build_pipeline(PIPELINE))  # fmt: skip
    return build_dataloader(dataset, batch_size=batch_size, seed=0)


def _inputs(seed=0):
    torch.manual_seed(seed)
    images = torch.rand(2, 3, 64, 64) * 2 - 1
    metas = [{"img_shape": (64, 64), "ori_shape": (64, 64), "scale_factor": (1.0, 1.0),
              "pad_shape": (64, 64), "batch_input_shape": (64, 64)} for _ in range(2)]  # fmt: skip
    return images, metas


def _predict(model, images, metas):
    model.eval()
    with torch.no_grad():
        return model.predict(images, metas, rescale=True)


def _assert_same(a, b, exact=True):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert len(x.bboxes) > 0 and torch.equal(x.labels, y.labels)
        for name in ("bboxes", "scores"):
            if exact:
                assert torch.equal(getattr(x, name), getattr(y, name)), name
            else:
                # issue 16: merged vs unmerged within 1e-5 (B @ A folded into the weight rounds differently)
                torch.testing.assert_close(getattr(x, name), getattr(y, name), atol=1e-5, rtol=1e-5)


def test_lora_model_predicts_exactly_as_the_base_and_merges_within_1e5():
    base = tiny_faster_rcnn(3, small_proposal_counts=True)
    images, metas = _inputs()
    expected = _predict(base, images, metas)
    model = copy.deepcopy(base)
    summary = prepare_finetune(model, method="lora", rank=4, alpha=8.0)
    assert summary.adapted and "backbone.conv1" not in summary.adapted  # frozen_stages=1: stem untouched
    assert "roi_head.bbox_head.fc_cls" not in summary.adapted  # trained in full instead
    _assert_same(_predict(model, images, metas), expected, exact=True)
    base_keys = list(base.state_dict())
    assert [k for k in model.state_dict() if ".lora_" not in k] == base_keys  # mmdet's keys kept
    torch.manual_seed(1)
    with torch.no_grad():
        for layer in lora_layers(model).values():
            layer.lora_B.normal_(0, 0.02)
    unmerged = _predict(model, images, metas)
    merged_model = merge_lora(copy.deepcopy(model))
    assert not lora_layers(merged_model) and list(merged_model.state_dict()) == base_keys
    _assert_same(_predict(merged_model, images, metas), unmerged, exact=False)
    plain = tiny_faster_rcnn(3, small_proposal_counts=True, seed=5)
    plain.load_state_dict(merged_model.state_dict(), strict=True)  # a plain visdet model
    _assert_same(_predict(plain, images, metas), unmerged, exact=False)


@pytest.mark.parametrize("method", ["lora", "head_only", "full"])
def test_only_the_intended_parameters_receive_gradients(synth, method):
    model = tiny_faster_rcnn(3)
    frozen_before = {n for n, p in model.named_parameters() if not p.requires_grad}
    prepare_finetune(model, method=method, rank=2, alpha=4.0)
    model.train()
    batch = next(iter(_loader(synth)))
    losses = detection_losses(model, batch, torch.device("cpu"))
    sum(v.sum() for k, v in losses.items() if "loss" in k).backward()
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None}
    names = {n for n, _ in model.named_parameters()}
    if method == "lora":
        adapters = {n for n in names if n.endswith((".lora_A", ".lora_B"))}
        assert with_grad == adapters | HEAD_KEYS
        assert not any(n.startswith(("backbone.conv1.", "backbone.layer1.")) for n in adapters)
    elif method == "head_only":
        assert with_grad == HEAD_KEYS
    else:
        assert with_grad == names - frozen_before
    optimizer = build_optimizer(model, name="sgd", lr=0.01)
    assert {id(p) for g in optimizer.param_groups for p in g["params"]} == {
        id(p) for n, p in model.named_parameters() if n in with_grad
    }


def test_adapters_alone_or_merged_round_trip(tmp_path):
    base = tiny_faster_rcnn(3, small_proposal_counts=True)
    model = copy.deepcopy(base)
    torch.manual_seed(3)
    prepare_finetune(model, method="lora", rank=2, alpha=4.0)
    with torch.no_grad():
        for layer in lora_layers(model).values():
            layer.lora_B.normal_(0, 0.02)
        model.roi_head.bbox_head.fc_cls.weight.add_(0.1)
    images, metas = _inputs()
    expected = _predict(model, images, metas)
    small = save_finetuned(model, tmp_path / "adapters.pth")
    full = save_finetuned(model, tmp_path / "merged.pth", merged=True)
    assert small.stat().st_size < full.stat().st_size / 3
    restored = copy.deepcopy(base)
    prepare_finetune(restored, method="lora", rank=2, alpha=4.0)
    load_trainable_state_dict(restored, read_adapters(small))
    _assert_same(_predict(restored, images, metas), expected, exact=True)
    plain = tiny_faster_rcnn(3, small_proposal_counts=True, seed=9)
    from visdet import load_checkpoint

    load_checkpoint(plain, full)  # strict: mmdet's keys
    _assert_same(_predict(plain, images, metas), expected, exact=False)
    other = copy.deepcopy(base)
    prepare_finetune(other, method="lora", rank=2, alpha=4.0, target_modules=["neck.*"])
    with pytest.raises(ValueError, match="unknown keys"):
        load_trainable_state_dict(other, read_adapters(small))


def test_load_pretrained_keeps_fresh_class_layers_when_classes_change(tmp_path):
    trained = tiny_faster_rcnn(3, seed=1)
    torch.save({"state_dict": trained.state_dict()}, tmp_path / "trained.pth")
    model = tiny_faster_rcnn(2, seed=2)
    fresh_cls = model.roi_head.bbox_head.fc_cls.weight.clone()
    with pytest.warns(UserWarning, match="fresh initialisation"):
        skipped = load_pretrained(model, tmp_path / "trained.pth")
    assert set(skipped) == HEAD_KEYS
    assert torch.equal(model.roi_head.bbox_head.fc_cls.weight, fresh_cls)
    assert torch.equal(model.backbone.layer2[0].conv1.weight, trained.backbone.layer2[0].conv1.weight)
    cfg = tiny_faster_rcnn_config(3)
    wider = build_model({**cfg, "neck": {**cfg["neck"], "out_channels": 16}})
    with pytest.raises(ValueError, match="shape mismatches"):
        load_pretrained(wider, tmp_path / "trained.pth")


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


def _lora_run(synth, work_dir, hooks, resume=False):
    model = tiny_faster_rcnn(3)
    prepare_finetune(model, method="lora", rank=2, alpha=4.0, dropout=0.1)  # dropout: RNG state resumes too
    optimizer = build_optimizer(model, name="adamw", lr=0.001)
    runner = Runner(model=model, train_loader=_loader(synth), optimizer=optimizer, work_dir=work_dir,
                    max_iters=4, hooks=hooks, seed=3, resume=resume)  # fmt: skip
    runner.train()
    return runner


def test_resuming_a_lora_run_is_exact(synth, tmp_path):
    full = Record()
    straight = _lora_run(synth, tmp_path / "full", [full])
    first, second = Record(), Record()
    _lora_run(synth, tmp_path / "cut", [first, StopAt(2), CheckpointHook(interval=0)])
    resumed = _lora_run(synth, tmp_path / "cut", [second], resume=True)
    assert len(full.logs) == 4 and first.logs + second.logs == full.logs
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name


def test_train_command_with_the_preset_and_finetune_lora(synth, tmp_path, capsys):
    from visdet.cli import main

    trained = tiny_faster_rcnn(3, seed=1)
    torch.save({"state_dict": trained.state_dict()}, tmp_path / "trained.pth")
    pipeline = ("[{type: LoadImageFromFile}, {type: LoadAnnotations, with_bbox: true}, "
                "{type: Resize, scale: [64, 48], keep_ratio: false}, {type: PackDetInputs}]")  # fmt: skip
    sets = {
        "finetune.method": "lora", "finetune.rank": 2, "load_from": tmp_path / "trained.pth",
        "model.backbone.depth": 18, "model.backbone.base_channels": 4, "model.backbone.init_cfg": "null",
        "model.neck.in_channels": "[4, 8, 16, 32]", "model.neck.out_channels": 8,
        "model.rpn_head.in_channels": 8, "model.rpn_head.feat_channels": 8,
        "model.roi_head.bbox_roi_extractor.out_channels": 8,
        "model.roi_head.bbox_head.in_channels": 8, "model.roi_head.bbox_head.fc_out_channels": 16,
        "model.roi_head.bbox_head.num_classes": 2,  # other classes than the checkpoint's 3
        "train_dataloader.dataset.data_root": "''", "train_dataloader.dataset.ann_file": synth.ann_file,
        "train_dataloader.dataset.data_prefix.img": synth.img_dir,
        "train_dataloader.dataset.metainfo.classes": "[dog, cat]",
        "train_dataloader.dataset.pipeline": pipeline, "train_dataloader.num_workers": 0,
        "train_dataloader.persistent_workers": "false", "train_dataloader.batch_size": 1,
        "val_dataloader": "null", "val_evaluator": "null", "test_dataloader": "null", "test_evaluator": "null",
        "train_cfg": "{_delete_: true, type: IterBasedTrainLoop, max_iters: 2}", "param_scheduler": "null",
        "visdet.progress": "false", "randomness.seed": 0,
    }  # fmt: skip
    argv = ["train", "faster_rcnn_r50_fpn", "--work-dir", str(tmp_path / "work")]
    for key, value in sets.items():
        argv += ["--set", f"{key}={value}"]
    with pytest.warns(UserWarning, match="fresh initialisation"):
        code = main(argv)
    assert code == 0, capsys.readouterr().err
    state = torch.load(tmp_path / "work" / "latest.pth", weights_only=True)["state_dict"]
    assert any(k.endswith(".lora_A") for k in state)
    assert torch.equal(state["backbone.layer2.0.conv1.weight"], trained.backbone.layer2[0].conv1.weight)  # frozen
    plain = tiny_faster_rcnn(2, seed=4)
    from visdet import load_checkpoint

    load_checkpoint(plain, tmp_path / "work" / "finetune_merged.pth")  # strict: a plain model's keys
    adapters = read_adapters(tmp_path / "work" / "finetune_adapters.pth")
    assert set(adapters) == {k for k in state if ".lora_" in k} | HEAD_KEYS
    code = main([*argv, "--set", "finetune.method=lora_x"])
    assert code == 2 and "finetune.method" in capsys.readouterr().err


def test_simple_runner_finetune_argument():
    from visdet.apis.simple_runner import SimpleRunner

    assert SimpleRunner(finetune="lora").config["finetune"]["method"] == "lora"
    assert SimpleRunner(finetune="full").config["finetune"]["method"] == "full"
    assert SimpleRunner(finetune="head_only", load_from="x.pth").config["load_from"] == "x.pth"
    assert SimpleRunner(finetune={"method": "lora", "rank": 4}).config["finetune"]["rank"] == 4
    with pytest.raises(ValueError, match="finetune='lorra'"):
        SimpleRunner(finetune="lorra")
