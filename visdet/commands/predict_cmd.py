"""``visdet predict IMAGE... --config C --checkpoint W --out DIR``: detect and draw.

For each image, writes ``DIR/<name>.json`` (the detections with a score of at least
``--score-thr``: ``bbox`` as ``[x1, y1, x2, y2]`` in the image's pixels, ``score``,
``label``, ``class``, and for models with a mask head ``segmentation``, the mask as a
COCO RLE) and ``DIR/<name>.png`` with the boxes, labels and masks drawn.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from visdet.commands.guard import guarded


def add_parser(subparsers: Any) -> None:
    """Add ``predict`` to the top-level ``subparsers``."""
    predict = subparsers.add_parser("predict", help="detect objects in images; write JSON and drawn images")
    predict.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    predict.add_argument("--config", required=True, help="preset name, YAML path or mmdet .py path")
    predict.add_argument("--checkpoint", required=True, help="mmdet or visdet checkpoint (.pth)")
    predict.add_argument("--out", required=True, help="output directory")
    predict.add_argument("--score-thr", type=float, default=0.3, help="keep detections scoring at least this")
    predict.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    predict.add_argument("--batch-size", type=int, default=1, help="images per forward pass")
    predict.add_argument(
        "--no-fuse",
        action="store_true",
        help="run the model as built (by default BatchNorm is folded into the convolutions and weights "
        "are channels-last: same detections up to float32 rounding, faster on CPU)",
    )
    predict.add_argument(
        "--compile",
        action="store_true",
        help="also compile the backbone, neck and dense head with torch.compile (10-30 s more on the first "
        "image and on the first of a second size, then faster; needs a C++ compiler and Python's headers on CPU)",
    )
    predict.set_defaults(handler=_predict)


def _output_stem(path: Path, taken: set[str]) -> str:
    stem, n = path.stem, 1
    while stem in taken:
        n += 1
        stem = f"{path.stem}_{n}"
    taken.add(stem)
    return stem


def _write(image_path: str, found: Any, score_thr: float, class_names: Any, out_dir: Path, stem: str) -> None:
    """Write ``<stem>.json`` and ``<stem>.png`` for one image's detections."""
    import cv2

    from visdet.apis.draw import draw_detections

    image = cv2.imread(image_path, cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"cannot decode image file {image_path}: it is empty, truncated or not an image")
    keep = found.scores >= score_thr
    bboxes, scores, labels = found.bboxes[keep].numpy(), found.scores[keep].numpy(), found.labels[keep].numpy()
    masks = found.masks[keep].numpy().astype(bool) if found.has("masks") else None
    record = {
        "image": image_path,
        "height": int(image.shape[0]),
        "width": int(image.shape[1]),
        "detections": [
            {"bbox": [round(float(v), 2) for v in box], "score": round(float(score), 5),
             "label": int(label), "class": class_names[int(label)]}
            for box, score, label in zip(bboxes, scores, labels)
        ],
    }  # fmt: skip
    if masks is not None:
        from visdet.evaluation.coco_metric import encode_masks

        for detection, rle in zip(record["detections"], encode_masks(masks)):
            detection["segmentation"] = {"size": [int(v) for v in rle["size"]], "counts": rle["counts"]}
    (out_dir / f"{stem}.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    cv2.imwrite(str(out_dir / f"{stem}.png"), draw_detections(image, bboxes, scores, labels, class_names, masks))


@guarded("predict")
def _predict(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from visdet.apis import inference_detector, init_detector

    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    if not 0 <= args.score_thr <= 1:
        raise ValueError(f"--score-thr must be in [0, 1], got {args.score_thr}")
    missing = [image for image in args.images if not Path(image).is_file()]
    if missing:
        raise FileNotFoundError(f"image file not found: {', '.join(missing)}")
    if args.compile and args.no_fuse:
        raise ValueError("--compile compiles the fused model: it cannot be combined with --no-fuse")
    model = init_detector(args.config, args.checkpoint, device=args.device, fuse=not args.no_fuse, compile=args.compile)
    class_names = model.dataset_meta["classes"]
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    with tqdm(total=len(args.images), desc="predict", unit="image", file=sys.stderr) as progress:
        for start in range(0, len(args.images), args.batch_size):
            chunk = args.images[start : start + args.batch_size]
            for image_path, found in zip(chunk, inference_detector(model, chunk, batch_size=args.batch_size)):
                _write(image_path, found, args.score_thr, class_names, out_dir, _output_stem(Path(image_path), taken))
                progress.update(1)
    print(f"wrote detections for {len(args.images)} image(s) to {out_dir}", file=sys.stderr)
    return 0
