"""``FinetuneExportHook``: at the end of a fine-tuning run, write its adapters and/or the merged model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from visdet.engine.dist import is_main_process
from visdet.engine.finetune.lora import save_finetuned
from visdet.engine.hooks import Hook

EXPORT_FILES = {"adapters": "finetune_adapters.pth", "merged": "finetune_merged.pth"}


class FinetuneExportHook(Hook):
    """After a successful run, write ``<work_dir>/finetune_adapters.pth`` and/or ``finetune_merged.pth``.

    ``adapters``: the adapters and the other trained layers alone (small; read them back
    with :func:`~visdet.engine.finetune.read_adapters`); ``merged``: a plain checkpoint with
    mmdet's keys (``visdet.load_checkpoint`` into the plain model). Rank 0 writes.
    """

    def __init__(self, *, export: Sequence[str]) -> None:
        unknown = set(export) - set(EXPORT_FILES)
        if unknown:
            raise ValueError(f"finetune export: unknown {sorted(unknown)}; choose from {sorted(EXPORT_FILES)}")
        self.export = list(export)

    def after_train(self, runner: Any) -> None:
        """Write the files (not after an error)."""
        if runner.error is not None or not is_main_process():
            return
        for kind in self.export:
            save_finetuned(runner.model, Path(runner.work_dir) / EXPORT_FILES[kind], merged=kind == "merged")
