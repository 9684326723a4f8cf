"""The mmdet side of ``visdet parity check``: mmdet's own model, predictions and losses.

Runs only where mmdet is installed (the user's own mmdet 3.x environment or visdet's
reference environment). Supported: mmdet 3.0 to 3.3, mmcv 2.0 to 2.1 with its compiled
ops, mmengine 0.7 to 0.10; anything else is refused with the versions found.

The mmdet side reads the config with mmengine's ``Config.fromfile``, which executes the
``.py`` file (that is how mmdet reads it; the user runs their own config with their own
mmdet). visdet's side reads the same file without executing it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

# (module, lowest supported version, first unsupported version)
SUPPORTED = (("mmdet", (3, 0), (3, 4)), ("mmcv", (2, 0), (2, 2)), ("mmengine", (0, 7), (0, 11)))


def _version(text: str) -> tuple[int, int]:
    major, minor = (text.split("+")[0].split(".") + ["0"])[:2]
    return int(major), int("".join(c for c in minor if c.isdigit()) or 0)


def reference_problem() -> str | None:
    """``None`` when a supported mmdet/mmcv/mmengine imports (with mmcv's ops); else why not."""
    import importlib

    found = {}
    for name, low, high in SUPPORTED:
        try:
            module = importlib.import_module(name)
        except Exception as err:  # any import failure means no usable reference
            return f"{name} is not importable here ({type(err).__name__}: {err}); install mmdet 3.x to compare"
        found[name] = module.__version__
        if not low <= _version(module.__version__) < high:
            wanted = ", ".join(f"{n} >={'.'.join(map(str, lo))},<{'.'.join(map(str, hi))}" for n, lo, hi in SUPPORTED)
            return f"unsupported {name} {module.__version__} (supported: {wanted})"
    try:
        from mmcv.ops import nms  # noqa: F401  (needs mmcv's compiled ops)
    except Exception as err:
        return f"mmcv {found['mmcv']} has no compiled ops ({type(err).__name__}: {err}); mmdet cannot run without them"
    return None


def read_config(path: str, score_thr: float | None) -> Any:
    """Mmengine's config of ``path``, with the test score threshold overridden when given."""
    from mmengine.config import Config

    cfg = Config.fromfile(path)
    if score_thr is not None:
        test_cfg = cfg.model.get("test_cfg") or {}
        if "rcnn" in test_cfg:
            test_cfg.rcnn.score_thr = score_thr
        else:
            test_cfg["score_thr"] = score_thr
    for part in ("backbone", "neck"):
        if isinstance(cfg.model.get(part), Mapping):
            cfg.model[part]["init_cfg"] = None  # weights come from the checkpoint; nothing downloads
    return cfg


def build_model(cfg: Any, state_dict: Mapping[str, Tensor], device: str) -> tuple[Any, list[str], list[str]]:
    """Mmdet's detector with ``state_dict`` loaded; its missing and unexpected keys."""
    from mmdet.apis import init_detector

    model = init_detector(cfg, checkpoint=None, device="cpu")
    result = model.load_state_dict(dict(state_dict), strict=False)
    return model.to(device).eval(), list(result.missing_keys), list(result.unexpected_keys)


def predict(model: Any, image_path: str) -> dict[str, Tensor]:
    """Mmdet's ``inference_detector`` on one image: ``bboxes``, ``scores``, ``labels`` (``masks``)."""
    from mmdet.apis import inference_detector

    with torch.no_grad():
        pred = inference_detector(model, image_path).pred_instances
    out = {k: getattr(pred, k).detach().cpu() for k in ("bboxes", "scores", "labels")}
    if "masks" in pred:
        masks = pred.masks
        out["masks"] = torch.as_tensor(np.asarray(masks)) if not isinstance(masks, Tensor) else masks.cpu()
    return out


def losses(cfg: Any, model: Any, ann_file: str, img_dir: str, count: int, seed: int) -> dict[str, float]:
    """Every loss term mmdet logs on the first ``count`` images of ``ann_file`` (one batch).

    The config's training pipeline runs with numpy seeded by ``seed + i`` before item
    ``i``, and torch seeded by ``seed`` before the loss, as visdet's side does.
    """
    from mmdet.registry import DATASETS
    from mmdet.utils import register_all_modules
    from mmengine.dataset import pseudo_collate

    register_all_modules(init_default_scope=True)
    dataset_cfg = cfg.train_dataloader.dataset
    pipeline = dataset_cfg.get("pipeline") or cfg.get("train_pipeline")
    dataset = DATASETS.build({
        "type": "CocoDataset", "ann_file": ann_file, "data_prefix": {"img": img_dir}, "pipeline": pipeline,
        "metainfo": dataset_cfg.get("metainfo"), "filter_cfg": None, "test_mode": False,
    })  # fmt: skip
    items = []
    for i in range(min(count, len(dataset))):
        np.random.seed(seed + i)
        items.append(dataset[i])
    model.train()
    data = model.data_preprocessor(pseudo_collate(items), training=True)
    torch.manual_seed(seed)
    with torch.no_grad():
        raw = model.loss(data["inputs"], data["data_samples"])
    model.eval()
    return {name: float(_total(value)) for name, value in raw.items()}


def _total(value: Tensor | Sequence[Tensor]) -> Tensor:
    if isinstance(value, Tensor):
        return value.mean()
    return sum(v.mean() for v in value)
