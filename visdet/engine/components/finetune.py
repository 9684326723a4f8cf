"""The ``finetune`` section: how a run adapts a trained detector (``full``, ``head_only``, ``lora``).

Presets ``finetune/lora`` and ``finetune/full`` hold the usual settings; ``load_from``
names the trained checkpoint (layers under ``trainable`` whose shapes differ, because the
classes changed, keep their fresh initialisation).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from torch import nn

from visdet.build.component import Section
from visdet.engine.finetune.export_hook import FinetuneExportHook
from visdet.engine.finetune.prepare import CLASS_LAYERS, FinetuneSummary, prepare_finetune
from visdet.engine.hooks import Hook


class FinetuneSettings(Section):
    """``finetune``: the method and, for LoRA, the adapters' rank, scale, dropout and targets."""

    method: Literal["full", "head_only", "lora"] = Field("full", description="what trains (see visdet.engine.finetune)")
    rank: int = Field(8, ge=1, description="lora: rank of each update")
    alpha: float = Field(16.0, gt=0, description="lora: the update is scaled by alpha / rank")
    dropout: float = Field(0.0, ge=0, lt=1, description="lora: dropout on the adapter branch in training")
    target_modules: list[str] = Field(
        ["*"], min_length=1, description="lora: fnmatch patterns of the module names given adapters"
    )
    trainable: list[str] = Field(
        list(CLASS_LAYERS), description="fnmatch patterns of layers trained in full (head_only and lora)"
    )
    export: list[Literal["adapters", "merged"]] = Field(
        ["adapters", "merged"],
        description="lora: after training, write work_dir/finetune_adapters.pth and/or finetune_merged.pth",
    )

    def hooks(self) -> list[Hook]:
        """The export hook of a LoRA run (none for the other methods: their checkpoints are plain)."""
        return [FinetuneExportHook(export=self.export)] if self.method == "lora" and self.export else []

    def apply(self, model: nn.Module) -> FinetuneSummary:
        """Set ``model`` up for this method (in place)."""
        return prepare_finetune(model, method=self.method, rank=self.rank, alpha=self.alpha, dropout=self.dropout,
                                target_modules=self.target_modules, trainable=self.trainable)  # fmt: skip
