"""``visdet parity check CONFIG CHECKPOINT IMAGE_OR_FOLDER...``: mmdet and visdet on your own model.

Prints the components table, the per-image figures and the verdict; writes the report
as markdown (``--out report.md``) and JSON (same name, ``.json``). Exit code 0: the same
within the stated tolerances; 1: they differ (the report says where and by how much);
2: the check could not run (no supported mmdet here, an unsupported component, ...).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from visdet.commands.guard import guarded


def add_parser(subparsers: Any) -> None:
    """Add ``parity`` (with its ``check`` subcommand) to the top-level ``subparsers``."""
    parity = subparsers.add_parser("parity", help="compare visdet with mmdet on your own model")
    commands = parity.add_subparsers(dest="parity_command", metavar="SUBCOMMAND", required=True)
    check = commands.add_parser("check", help="mmdet and visdet on a config, a checkpoint and images")
    check.add_argument("config", help="the mmdet 3.x .py config")
    check.add_argument("checkpoint", help="the checkpoint (.pth) trained with it")
    check.add_argument("images", nargs="+", metavar="IMAGE_OR_FOLDER", help="image files or folders of them")
    check.add_argument("--score-thr", type=float, help="override the config's test score threshold")
    check.add_argument("--device", default="cpu", help="torch device for both models (default: cpu)")
    check.add_argument("--loss", metavar="ANN_FILE", help="also compare every loss term on the first images "
                       "of this COCO annotation file (its file names relative to the image folder)")  # fmt: skip
    check.add_argument("--loss-images", type=int, default=2, help="images in the loss batch (default: 2)")
    check.add_argument("--out", type=Path, help="write the report here (markdown) and beside it as .json")
    check.set_defaults(handler=_check)


@guarded("parity check")
def _check(args: argparse.Namespace) -> int:
    from visdet.apis.parity_check import check_parity

    report = check_parity(args.config, args.checkpoint, args.images, score_thr=args.score_thr, device=args.device,
                          ann_file=args.loss, loss_images=args.loss_images)  # fmt: skip
    text = report.to_markdown()
    print(text, end="")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        args.out.with_suffix(".json").write_text(report.to_json())
    return report.code
