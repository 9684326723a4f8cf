"""``visdet export CONFIG CHECKPOINT --out model.onnx``: a detector as an ONNX file.

The file takes a preprocessed batch (``inputs [B, 3, H, W]``, ``img_shape [B, 2]``,
``scale_factor [B, 2]`` float64) and returns the final ``boxes``, ``scores``, ``labels``
and ``batch_index`` (:mod:`visdet.export`). ``--check`` then runs it with onnxruntime on
random images of the given sizes and compares with the model's eager ``predict``: exit
code 1 when the detections differ by more than 1e-3 px / 1e-4 in score or in count.
A detector that cannot be exported exits 2 naming what blocks it.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from visdet.commands.guard import guarded

EXIT_DIFFERENT = 1


def add_parser(subparsers: Any) -> None:
    """Add ``export`` to the top-level ``subparsers``."""
    parser = subparsers.add_parser("export", help="export a detector with its post-processing to ONNX")
    parser.add_argument("config", help="preset name, YAML path or mmdet .py path")
    parser.add_argument("checkpoint", help="checkpoint path or http(s) URL (use 'none' for random weights)")
    parser.add_argument("--out", required=True, help="the .onnx file to write")
    parser.add_argument("--shape", type=int, nargs=2, default=(800, 1216), metavar=("H", "W"),
                        help="example input size traced (default 800 1216); the file takes any size")  # fmt: skip
    parser.add_argument("--batch", type=int, default=1, help="example batch size traced (the file takes any)")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (>= 16; default 17)")
    parser.add_argument("--static", action="store_true", help="fix batch and image size to the example's")
    parser.add_argument("--check", type=int, nargs=2, action="append", metavar=("H", "W"),
                        help="after export, compare onnxruntime with eager predict on a random image "
                        "of this size (repeatable; needs onnxruntime)")  # fmt: skip
    parser.set_defaults(handler=_export)


@guarded("export")
def _export(args: argparse.Namespace) -> int:
    from visdet.apis import init_detector
    from visdet.export import to_onnx

    checkpoint = None if args.checkpoint.lower() == "none" else args.checkpoint
    model = init_detector(args.config, checkpoint, fuse=False)
    path = to_onnx(model, args.out, input_shape=(args.batch, 3, *args.shape), dynamic=not args.static, opset=args.opset)
    print(f"wrote {path}", file=sys.stderr)
    if not args.check:
        return 0
    from visdet.export.verify import compare_with_eager

    worst_ok = True
    for height, width in args.check:
        report = compare_with_eager(model, path, height, width)
        print(report.line())
        worst_ok = worst_ok and report.same
    return 0 if worst_ok else EXIT_DIFFERENT
