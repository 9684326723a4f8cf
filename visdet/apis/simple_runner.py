"""``SimpleRunner``: train, validate and predict from presets in a few lines.

    runner = SimpleRunner(model="faster_rcnn_r50_fpn", dataset="coco_detection",
                          optimizer="adamw", scheduler="1cycle", epochs=12)
    runner.find_lr(); runner.train(); runner.val(); runner.predict("image.jpg")

Each of ``model``, ``dataset``, ``optimizer``, ``scheduler`` is a packaged preset name
(see :func:`list_models`, :func:`list_datasets`, :func:`list_optimizers`,
:func:`list_schedules`), a YAML path, or a config dict in mmdet's shape. ``dataset`` may
also be a local COCO set: ``{"train_ann": ..., "train_images": ..., "val_ann": ...,
"val_images": ..., "classes": [...]}`` (classes default to the train file's categories;
the box head's ``num_classes`` follows them). Convenience arguments (``epochs``,
``batch_size``, ``lr``...) are applied next, then ``overrides`` (nested dicts or dotted
keys, e.g. ``{"optim_wrapper.optimizer.weight_decay": 0.01}``) are merged last. The
merged config is :attr:`SimpleRunner.config`; training uses
:func:`visdet.engine.config_runner.build_runner`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from visdet.build import num_classes_override
from visdet.config import find_preset, list_presets, merge, resolve_config

LOCAL_COCO_KEYS = frozenset({"train_ann", "train_images", "val_ann", "val_images", "classes"})


def _names(group: str) -> list[str]:
    return [name.split("/", 1)[1] for name in list_presets() if name.startswith(f"{group}/")]


def list_models() -> list[str]:
    """Model preset names."""
    return _names("models")


def list_datasets() -> list[str]:
    """Dataset preset names."""
    return _names("datasets")


def list_optimizers() -> list[str]:
    """Optimizer preset names."""
    return _names("optimizers")


def list_schedules() -> list[str]:
    """Schedule preset names."""
    return _names("schedules")


def list_finetune() -> list[str]:
    """Fine-tuning preset names."""
    return _names("finetune")


def finetune_section(value: str | Mapping[str, Any]) -> dict[str, Any]:
    """``finetune=`` of :class:`SimpleRunner` as config.

    ``value`` is a preset (``"lora"``, ``"full"``), a method (``"head_only"``) or the
    section's settings as a dict.
    """
    if isinstance(value, Mapping):
        return {"finetune": dict(value)}
    if value in list_finetune():
        return resolve_config(f"finetune/{value}")
    if value == "head_only":
        return {"finetune": {"method": "head_only"}}
    raise ValueError(f"finetune={value!r}: expected one of {[*list_finetune(), 'head_only']} or a dict of settings")


def show_preset(name: str) -> str:
    """The YAML text of preset ``name`` (short or ``group/name``)."""
    _, file = find_preset(name)
    return file.read_text(encoding="utf-8")


def nest(options: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1}`` -> ``{"a": {"b": 1}}`` (nested dicts pass through)."""
    out: dict[str, Any] = {}
    for key, value in options.items():
        node = out
        *parents, leaf = str(key).split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = nest(value) if isinstance(value, Mapping) else value
    return out


def _section(value: str | os.PathLike[str] | Mapping[str, Any], group: str) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return resolve_config(value)  # a bare model dict becomes {"model": ...}
    name = os.fspath(value)
    if not os.path.exists(name) and "/" not in name:
        name = f"{group}/{name}"
    return resolve_config(name)


def _coco_classes(ann_file: str) -> list[str]:
    with open(ann_file, encoding="utf-8") as f:
        return [c["name"] for c in json.load(f)["categories"]]


def local_coco(spec: Mapping[str, Any], base: Mapping[str, Any]) -> dict[str, Any]:
    """Overrides pointing a COCO-shaped dataset config ``base`` at local files."""
    unknown = set(spec) - LOCAL_COCO_KEYS
    if unknown or "train_ann" not in spec:
        raise KeyError(f"a local COCO dataset needs train_ann (and train_images, ...); unknown keys {sorted(unknown)}")
    classes = list(spec.get("classes") or _coco_classes(spec["train_ann"]))
    meta = {"classes": classes}
    out: dict[str, Any] = {
        "train_dataloader": {
            "dataset": {
                "data_root": "",
                "ann_file": spec["train_ann"],
                "metainfo": meta,
                "data_prefix": {"img": spec.get("train_images", "")},
            }
        },  # fmt: skip
        "model": num_classes_override(base.get("model") or {}, len(classes)),
    }
    if spec.get("val_ann"):
        val = {"dataset": {"data_root": "", "ann_file": spec["val_ann"], "metainfo": meta,
                           "data_prefix": {"img": spec.get("val_images", "")}}}  # fmt: skip
        out.update(val_dataloader=val, test_dataloader=val, val_evaluator={"ann_file": spec["val_ann"]})
    else:
        out.update(val_dataloader=None, val_evaluator=None)
    return merge(base, out)


def set_resize_scale(cfg: dict[str, Any], scale: Sequence[int]) -> None:
    """Set the ``scale`` of every ``Resize`` in the config's pipelines (in place)."""
    pipelines = [cfg.get("train_pipeline"), cfg.get("test_pipeline")]
    for key in ("train_dataloader", "val_dataloader", "test_dataloader"):
        pipelines.append(((cfg.get(key) or {}).get("dataset") or {}).get("pipeline"))
    for steps in pipelines:
        for step in steps or []:
            if step.get("type") == "Resize":
                step["scale"] = list(scale)


class SimpleRunner:
    """Presets + overrides -> a configured training run (see the module docstring).

    Args:
        model: Model preset, YAML path or config dict.
        dataset: Dataset preset, YAML path, config dict or local-COCO spec.
        optimizer: Optimizer preset (``"sgd"``, ``"adamw"``), path or dict.
        scheduler: Schedule preset (``"1x"``, ``"1cycle"``), path or dict.
        work_dir: Where logs and checkpoints go.
        epochs: ``train_cfg.max_epochs``.
        iters: Iteration-based training of this many batches instead of epochs.
        batch_size: Training batch size per process.
        num_workers: Loader workers (train and val).
        lr: Base learning rate (also 1cycle's peak).
        image_scale: ``(w, h)`` of every ``Resize`` of the pipelines.
        device: ``"cpu"``, ``"cuda"``...
        precision: ``"fp32"``, ``"bf16"``, ``"fp16"``.
        seed: Seed of every RNG.
        finetune: Fine-tune ``load_from``'s model: ``"lora"``, ``"full"``, ``"head_only"``
            or the ``finetune`` section's settings (see :mod:`visdet.engine.finetune`).
        load_from: Checkpoint to start from.
        overrides: Merged last (nested dicts or dotted keys).
    """

    def __init__(
        self,
        *,
        model: str | Mapping[str, Any] = "faster_rcnn_r50_fpn",
        dataset: str | Mapping[str, Any] = "coco_detection",
        optimizer: str | Mapping[str, Any] = "sgd",
        scheduler: str | Mapping[str, Any] = "1x",
        work_dir: str | os.PathLike[str] = "work_dirs/simple_runner",
        epochs: int | None = None,
        iters: int | None = None,
        batch_size: int | None = None,
        num_workers: int | None = None,
        lr: float | None = None,
        image_scale: Sequence[int] | None = None,
        device: str = "cpu",
        precision: str | None = None,
        seed: int | None = None,
        finetune: str | Mapping[str, Any] | None = None,
        load_from: str | os.PathLike[str] | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> None:
        cfg = _section(model, "models")
        is_local = isinstance(dataset, Mapping) and set(dataset) <= LOCAL_COCO_KEYS
        cfg = merge(cfg, _section("coco_detection" if is_local else dataset, "datasets"))
        if is_local:
            cfg = local_coco(dataset, cfg)  # type: ignore[arg-type]
        cfg = merge(cfg, _section(optimizer, "optimizers"))
        cfg = merge(cfg, _section(scheduler, "schedules"))
        extra: dict[str, Any] = {"work_dir": os.fspath(work_dir), "visdet": {"device": device}}
        if epochs is not None:
            extra["train_cfg"] = {"type": "EpochBasedTrainLoop", "max_epochs": epochs}
        if iters is not None:
            extra["train_cfg"] = {
                "_delete_": True,
                "type": "IterBasedTrainLoop",
                "max_iters": iters,
                "val_interval": iters,
            }
        if batch_size is not None:
            extra["train_dataloader"] = {"batch_size": batch_size}
        if num_workers is not None:
            for key in ("train_dataloader", "val_dataloader", "test_dataloader"):
                if cfg.get(key):
                    extra.setdefault(key, {}).update(num_workers=num_workers, persistent_workers=num_workers > 0)
        if lr is not None:
            extra["optim_wrapper"] = {"optimizer": {"lr": lr}}
            for sched in cfg.get("param_scheduler") or []:
                if sched.get("type") == "OneCycleLR":
                    sched["eta_max"] = lr
        if precision is not None:
            extra["visdet"]["precision"] = precision
        if seed is not None:
            extra["randomness"] = {"seed": seed}
        if load_from is not None:
            extra["load_from"] = os.fspath(load_from)
        if finetune is not None:
            cfg = merge(cfg, finetune_section(finetune))
        cfg = merge(cfg, extra)
        if image_scale is not None:
            set_resize_scale(cfg, image_scale)
        self.config: dict[str, Any] = merge(cfg, nest(overrides or {}))
        self._runner: Any = None

    @property
    def runner(self) -> Any:
        """The :class:`visdet.engine.Runner` (built on first use)."""
        if self._runner is None:
            from visdet.engine.config_runner import build_runner

            self._runner = build_runner(self.config)
        return self._runner

    @property
    def model(self) -> Any:
        """The detector being trained."""
        return self.runner.model

    def train(self) -> Any:
        """Train; returns the model."""
        return self.runner.train()

    def val(self) -> dict[str, float]:
        """Validate with the config's ``val_evaluator``; returns the metrics."""
        return self.runner.val()

    def find_lr(self, **kwargs: Any) -> Any:
        """LR range test on the training data (``visdet.engine.find_lr``); weights are restored after."""
        from visdet.engine.lr_finder import find_lr

        runner = self.runner
        return find_lr(model=runner.model, loader=runner.loop.loader, optimizer=runner.optimizer,
                       device=runner.device, **kwargs)  # fmt: skip

    def predict(self, images: Any, *, batch_size: int = 1) -> Any:
        """Detections for an image path / array or a list of them (``inference_detector``)."""
        from visdet.apis.inference import inference_detector

        model = self.model
        model.cfg = self.config
        was_training = model.training
        model.eval()
        try:
            return inference_detector(model, images, batch_size=batch_size)
        finally:
            model.train(was_training)
