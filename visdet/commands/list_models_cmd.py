"""``visdet list-models``: the model presets with mmdet's released checkpoints.

One row per model preset: the preset, box AP and mask AP as mmdet 3.3 published them
(COCO val2017; ``AR@1000`` for the RPN), and the checkpoint's URL, which
``init_detector(preset, pretrained=True)`` downloads. ``--json`` prints the table as JSON.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from visdet.commands.guard import guarded


def add_parser(subparsers: Any) -> None:
    """Add ``list-models`` to the top-level ``subparsers``."""
    parser = subparsers.add_parser("list-models", help="model presets with mmdet's published AP and checkpoint URL")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(handler=_list_models)


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


@guarded("list-models")
def _list_models(args: argparse.Namespace) -> int:
    from visdet.config import list_presets
    from visdet.config.model_zoo import model_zoo

    zoo = model_zoo()
    presets = [name.split("/", 1)[1] for name in list_presets() if name.startswith("models/")]
    rows = []
    for preset in presets:
        entry = zoo.get(preset)
        rows.append(
            {
                "preset": preset,
                "box_ap": entry.box_ap if entry else None,
                "mask_ap": entry.mask_ap if entry else None,
                "other_metrics": {k: v for k, v in entry.metrics.items() if k not in ("box AP", "mask AP")}
                if entry
                else {},
                "mmdet_config": entry.mmdet_config if entry else None,
                "url": entry.url if entry else None,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = ("preset", "box AP", "mask AP", "url")
    table = [
        (
            row["preset"],
            _cell(row["box_ap"]) if row["box_ap"] is not None or not row["other_metrics"]
            else ", ".join(f"{k} {v:.1f}" for k, v in row["other_metrics"].items()),
            _cell(row["mask_ap"]),
            row["url"] or "(no released checkpoint)",
        )
        for row in rows
    ]  # fmt: skip
    widths = [max(len(str(line[i])) for line in (header, *table)) for i in range(len(header))]
    for line in (header, *table):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths)).rstrip())
    return 0
