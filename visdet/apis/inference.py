"""``init_detector`` and ``inference_detector``: a detector from a config, run on images.

Images are file paths or ``np.ndarray[H, W, 3]`` uint8 arrays in BGR order (OpenCV's,
as in mmdet). Each runs through the config's test pipeline (``test_dataloader.dataset.
pipeline``, else ``test_pipeline``, else mmdet's COCO test pipeline) without its
annotation loading, then through the model's data preprocessor and ``predict``.
Results are ``Instances`` with ``bboxes`` (``Tensor[N, 4]`` xyxy, in the original
image's pixels), ``scores`` (``Tensor[N]``) and ``labels`` (``Tensor[N]`` int64); models
with a mask head (Mask R-CNN) add ``masks`` (``Tensor[N, H, W]`` bool at the original size).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from visdet.apis.builder import build_detector, load_detector_config
from visdet.config.merge import merge
from visdet.config.model_zoo import zoo_entry
from visdet.download import download, is_url
from visdet.structures.instances import Instances

# mmdet's COCO test pipeline (configs/_base_/datasets/coco_detection.py), without
# annotation loading; used when a config has no pipeline of its own.
DEFAULT_TEST_PIPELINE: tuple[dict[str, Any], ...] = (
    {"type": "LoadImageFromFile"},
    {"type": "Resize", "scale": [1333, 800], "keep_ratio": True},
    {"type": "PackDetInputs", "meta_keys": ["img_id", "img_path", "ori_shape", "img_shape", "scale_factor"]},
)
# Pipeline steps that need ground truth; inference has none.
ANNOTATION_STEPS = frozenset({"LoadAnnotations"})

ImageInput = str | os.PathLike[str] | np.ndarray


def test_pipeline_config(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The test pipeline of a whole config, without annotation loading."""
    dataset = ((config.get("test_dataloader") or {}).get("dataset")) or {}
    steps = dataset.get("pipeline") or config.get("test_pipeline") or DEFAULT_TEST_PIPELINE
    return [dict(step) for step in steps if step.get("type") not in ANNOTATION_STEPS]


def _class_names(model: nn.Module) -> tuple[str, ...]:
    """COCO's names for 80 classes, else ``class_<i>`` (every detector exposes ``num_classes``)."""
    from visdet.data.datasets.coco_classes import COCO_CLASSES

    num_classes = int(model.num_classes)
    if num_classes == len(COCO_CLASSES):
        return COCO_CLASSES
    return tuple(f"class_{i}" for i in range(num_classes))


def _nest(options: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1}`` -> ``{"a": {"b": 1}}`` (keys without dots stay as they are)."""
    nested: dict[str, Any] = {}
    for key, value in options.items():
        *parents, leaf = str(key).split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def _short_reason(err: Exception) -> str:
    """The gist of a checkpoint loading error, on one line."""
    message = str(err)
    if not isinstance(err, ValueError) or "weights-only" in message or "not a PyTorch checkpoint" in message:
        return "not a PyTorch checkpoint file (or one that needs untrusted code to read)"
    return message.splitlines()[0] if message else type(err).__name__


def init_detector(
    config: str | os.PathLike[str] | Mapping[str, Any],
    checkpoint: str | os.PathLike[str] | None = None,
    device: str | torch.device = "cpu",
    cfg_options: Mapping[str, Any] | None = None,
    fuse: bool = True,
    *,
    pretrained: bool = False,
    compile: bool = False,  # shadows the builtin on purpose: torch's own word (torch.compile)
) -> nn.Module:
    """Build a detector, load its weights and put it in eval mode on ``device``.

    Args:
        config: A preset name, a YAML or mmdet ``.py`` path, or a config dict.
        checkpoint: An mmdet or visdet checkpoint, or its ``http(s)://`` URL (downloaded
            once into the cache, hash-checked: :mod:`visdet.download`); ``None`` keeps
            random weights.
        device: Where the model runs.
        cfg_options: Overrides merged into the config, as nested dicts or with dotted
            keys (``{"model.test_cfg.rcnn.score_thr": 0.3}``), as in mmdet.
        fuse: Prepare the model for inference with
            :func:`visdet.models.fuse.fuse_for_inference` (BatchNorm folded into the
            convolutions, channels-last weights: the same detections up to float32
            rounding, about a quarter faster on CPU). A fused model cannot train and its
            ``state_dict`` no longer has mmdet's keys: pass ``False`` to get the plain
            model (to train it, save it or compare it with mmdet).
        pretrained: Load mmdet's released COCO checkpoint of the model preset ``config``
            (its URL from :mod:`visdet.config.model_zoo`; downloaded once, then cached).
            Only with a preset name and no ``checkpoint``.
        compile: Also compile the fused model's backbone, neck and dense head with
            ``torch.compile`` (:func:`visdet.models.compile.compile_for_inference`): the
            first image, and the first of a second size, take 10-30 s longer; after that
            ResNet-50 + FPN runs in about two thirds of the fused model's time on CPU.
            Worth it for many images. Needs ``fuse=True`` and, on CPU, a C++ compiler and Python's headers.

    Returns:
        The detector, with ``cfg`` (the whole resolved config) and ``dataset_meta``
        (``{"classes": names}``: COCO's for 80 classes) attached, as mmdet does.

    Raises:
        ConfigError: For bad configs, or ``pretrained=True`` for a preset the zoo lacks.
        FileNotFoundError: When ``checkpoint`` does not exist.
        DownloadError: When a checkpoint URL cannot be downloaded or fails its hash.
        ValueError: When ``checkpoint`` is not a checkpoint or does not fit the model, or
            for ``compile=True`` with ``fuse=False``.
        RuntimeError: For ``compile=True`` on CPU without a C++ compiler or ``Python.h``.
    """
    from visdet.checkpoint import load_checkpoint

    if compile and not fuse:
        raise ValueError("compile=True compiles the fused model: it needs fuse=True")

    if pretrained:
        if checkpoint is not None:
            raise ValueError("pass either checkpoint=... or pretrained=True, not both")
        if not isinstance(config, str):
            raise ValueError(f"pretrained=True needs a model preset name, got a {type(config).__name__}")
        checkpoint = zoo_entry(config).url
    resolved = load_detector_config(config)
    if cfg_options:
        resolved = merge(resolved, _nest(cfg_options))
    model = build_detector(resolved)
    classes = _class_names(model)
    if is_url(checkpoint):
        checkpoint = download(checkpoint)  # DownloadError names the URL; outside the catch-all below
    if checkpoint is not None:
        try:
            loaded = load_checkpoint(model, checkpoint, map_location="cpu")
        except FileNotFoundError:
            raise
        except Exception as err:  # noqa: BLE001 - torch's unpickler raises many kinds on junk files
            raise ValueError(f"cannot load checkpoint {os.fspath(checkpoint)!r}: {_short_reason(err)}") from err
        saved = (loaded.meta.get("dataset_meta") or {}).get("classes")
        if saved is not None and len(saved) == len(classes):
            classes = tuple(str(name) for name in saved)  # the names the checkpoint was trained with
    model.cfg = resolved
    model.dataset_meta = {"classes": classes}
    model = model.to(device).eval()
    if fuse:
        from visdet.models.fuse import fuse_for_inference

        fuse_for_inference(model)
    if compile:
        from visdet.models.compile import compile_for_inference

        compile_for_inference(model)
    return model


def _start(image: ImageInput, index: int, to_float32: bool) -> dict[str, Any]:
    """The ``results`` dict a pipeline starts from (the image read for arrays)."""
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"image {index}: expected an array of shape (H, W, 3) in BGR order, got {image.shape}")
        array = image.astype(np.float32) if to_float32 else image
        shape = array.shape[:2]
        return {"img": array, "img_shape": shape, "ori_shape": shape, "img_path": None, "img_id": index}
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        if not path.is_file():
            raise FileNotFoundError(f"image file not found: {os.fspath(image)}")
        return {"img_path": os.fspath(image), "img_id": index}
    raise TypeError(f"image {index}: expected a file path or a numpy array, got {type(image).__name__}")


def _prepare(images: Sequence[ImageInput], steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from visdet.build import build_pipeline
    from visdet.data.transforms import Compose

    first = steps[0] if steps else {}
    loads_file = first.get("type") == "LoadImageFromFile"
    transforms = build_pipeline(steps, where="test pipeline")
    file_pipeline = Compose(transforms)
    array_pipeline = Compose(transforms[1:] if loads_file else transforms)
    to_float32 = bool(first.get("to_float32", False)) if loads_file else False
    packed = []
    for index, image in enumerate(images):
        results = _start(image, index, to_float32)
        pipeline = array_pipeline if "img" in results else file_pipeline
        try:
            out = pipeline(results)
        except (FileNotFoundError, ValueError) as err:
            raise ValueError(f"cannot read image {results.get('img_path') or index}: {err}") from None
        if out is None:
            raise ValueError(f"the test pipeline dropped image {results.get('img_path') or index}")
        packed.append(out)
    return packed


@torch.no_grad()
def inference_detector(
    model: nn.Module,
    images: ImageInput | Sequence[ImageInput],
    *,
    batch_size: int = 1,
) -> Instances | list[Instances]:
    """Detect objects in one image or a list of images.

    Args:
        model: A detector from :func:`init_detector` (its ``cfg`` gives the pipeline).
        images: A path or ``np.ndarray[H, W, 3]`` (BGR uint8), or a list of them.
        batch_size: Images per forward pass (1 matches mmdet exactly; larger batches
            pad images to a common size first).

    Returns:
        One ``Instances`` per image (a single one for a single input) with ``bboxes``
        in original image pixels, ``scores`` and ``labels``, on the CPU.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    single = isinstance(images, (str, os.PathLike, np.ndarray))
    image_list: list[ImageInput] = [images] if single else list(images)  # type: ignore[list-item]
    steps = test_pipeline_config(getattr(model, "cfg", None) or {})
    device = next(model.parameters()).device
    results: list[Instances] = []
    for start in range(0, len(image_list), batch_size):
        packed = _prepare(image_list[start : start + batch_size], steps)
        inputs = [item["inputs"].to(device) for item in packed]
        metas = [dict(item["data_samples"].metainfo) for item in packed]
        batch, batch_metas = model.data_preprocessor(inputs, metas)
        for detections in model.predict(batch, batch_metas, rescale=True):
            results.append(detections.to("cpu"))
    return results[0] if single else results
