"""Live parity of the DETR family's full-size training pipeline, read from mmdet's own config files.

mmdet's ``deformable-detr_r50_16xb2-50e_coco.py`` and ``dino-4scale_r50_8xb2-12e_coco.py`` are read
twice: by mmengine (``Config.fromfile``) for mmdet's ``CocoDataset``, and by visdet's converter
(``convert_mmdet_config``) for visdet's. Both datasets (their train ``pipeline`` and
``filter_cfg`` from the config; ``LoadImageFromFile`` to ``PackDetInputs`` at the real sizes:
short side 480-800 up to 1333, or 400-600, a 384-600 crop and 480-800 again) read the COCO file
of :mod:`parity.cases._coco_segm_file` (five images, two without boxes; its images scaled up 8x
so the crop is a real crop, its boxes replaced by small ones near the top-left corner), and give,
for several numpy seeds, the same packed items: image bytes, boxes, labels, shapes, flip, scale
factor and ``homography_matrix``. The seeds are chosen
so that both branches of the ``RandomChoice`` run and the crop loses every box of an annotated
image at least once (both checked). The small-size goldens are ``data/datasets/coco_pipeline/detr_*``.

Runs only where the reference is installed (marker ``live``).
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path

import cv2
import pytest
import torch

from parity.cases._data_common import seed_numpy
from parity.cases.data_transforms_detr import packed_with_draws
from parity.compare import compare_outputs
from parity.reference import reference_missing

CONFIGS = ("deformable_detr/deformable-detr_r50_16xb2-50e_coco.py", "dino/dino-4scale_r50_8xb2-12e_coco.py")
EXACT = ("num_items", "item*.inputs", "item*.meta.img_id", "item*.meta.img_shape", "item*.meta.ori_shape",
         "item*.meta.flip", "item*.meta.flip_direction", "item*.labels", "item*.meta.scale_idx")  # fmt: skip
UPSCALE = 8
ITEMS = 10


def _config_path(name: str) -> str:
    import mmdet

    return os.path.join(os.path.dirname(mmdet.__file__), ".mim", "configs", name)


def _write_file(root: Path) -> None:
    """The segmentation COCO file with every image (and annotation) scaled up ``UPSCALE`` times."""
    from parity.cases._coco_segm_file import write_coco_segm_file

    write_coco_segm_file(str(root), 5, short_only_polygon=True)
    ann_file = root / "annotations.json"
    data = json.loads(ann_file.read_text())
    for image in data["images"]:
        path = root / "images" / image["file_name"]
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        cv2.imwrite(str(path), cv2.resize(img, None, fx=UPSCALE, fy=UPSCALE, interpolation=cv2.INTER_NEAREST))
        image["height"] *= UPSCALE
        image["width"] *= UPSCALE
    per_image: dict[int, int] = {}
    for ann in data["annotations"]:
        # boxes only (the DETR pipeline loads no masks), small and near the top-left corner, so that
        # a crop away from the corner leaves an image without any box
        j = per_image[ann["image_id"]] = per_image.get(ann["image_id"], -1) + 1
        ann["bbox"] = [4.0 + 7 * j, 6.0 + 5 * j, 20.0, 16.0]
        ann["area"] = 320.0
        ann["segmentation"] = []
    ann_file.write_text(json.dumps(data))


def _dataset_kwargs(root: Path, dataset_cfg: dict) -> dict:
    return {
        "ann_file": str(root / "annotations.json"),
        "metainfo": {"classes": ("person", "car", "kite")},
        "data_prefix": {"img": str(root / "images") + "/"},
        "filter_cfg": dict(dataset_cfg["filter_cfg"]),
    }


def _items(dataset, seed: int) -> dict[str, torch.Tensor]:
    seed_numpy(seed)
    return packed_with_draws([dataset[k % len(dataset)] for k in range(ITEMS)])


def _with_meta_keys(pipeline: list) -> list:
    """The config's pipeline with ``scale_idx`` and ``homography_matrix`` packed into the metas too."""
    last = dict(pipeline[-1])
    assert last["type"] == "PackDetInputs"
    last["meta_keys"] = ("img_id", "img_path", "ori_shape", "img_shape", "scale_factor", "flip", "flip_direction",
                         "scale_idx", "homography_matrix")  # fmt: skip
    return [*pipeline[:-1], last]


@pytest.mark.live
@pytest.mark.parametrize("config_name", CONFIGS)
def test_full_size_detr_train_pipeline_matches_mmdet(config_name, parity_record):
    missing = reference_missing()
    if missing:
        pytest.skip(missing)
    from mmdet.datasets import CocoDataset
    from mmdet.utils import register_all_modules
    from mmengine.config import Config

    from visdet.build import build_pipeline
    from visdet.data.datasets import CocoDataset as VisdetCocoDataset
    from visdet.engine.components.convert import convert_mmdet_config

    register_all_modules(init_default_scope=True)
    ref_cfg = Config.fromfile(_config_path(config_name)).train_dataloader.dataset.to_dict()
    vis_cfg = convert_mmdet_config(_config_path(config_name))[0]["train_dataloader"]["dataset"]
    assert vis_cfg["filter_cfg"] == ref_cfg["filter_cfg"] == {"filter_empty_gt": False, "min_size": 32}
    branches_taken, boxes_lost = set(), 0
    with tempfile.TemporaryDirectory(prefix="visdet-detr-live-") as tmp:
        root = Path(tmp)
        _write_file(root)
        reference = CocoDataset(**_dataset_kwargs(root, ref_cfg), pipeline=_with_meta_keys(ref_cfg["pipeline"]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours = VisdetCocoDataset(**_dataset_kwargs(root, vis_cfg),
                                     pipeline=build_pipeline(_with_meta_keys(vis_cfg["pipeline"])))  # fmt: skip
        choice = next(t for t in ours.pipeline.transforms if type(t).__name__ == "RandomChoice")
        drawn: list[int] = []
        choose = choice.choose
        choice.choose = lambda: drawn.append(choose()) or drawn[-1]  # record visdet's branch of each item
        for seed in (0, 1, 2, 3, 5):
            ref = _items(reference, seed)
            drawn.clear()
            got = _items(ours, seed)
            case = f"live/detr_pipeline/{Path(config_name).stem}"
            result = compare_outputs(f"{case}/seed{seed}", got, ref, EXACT)
            parity_record(case, f"seed{seed}", "live", result=result, examples=ITEMS)
            assert result.ok, result.failure_text()
            for i, branch in enumerate(drawn):  # items are equal, so these are mmdet's branches too
                branches_taken.add(branch)
                had_boxes = int(ref[f"item{i}.meta.img_id"]) not in (4, 6)  # the file's two empty images
                boxes_lost += branch == 1 and had_boxes and ref[f"item{i}.gt_instances.labels"].numel() == 0
    assert branches_taken == {0, 1}
    assert boxes_lost > 0, "no crop left an annotated image without a box: pick other seeds"
