"""Fine-tuning a trained detector on new data: full, head-only, or with LoRA adapters."""

from visdet.engine.finetune.export_hook import FinetuneExportHook
from visdet.engine.finetune.lora import (
    apply_lora,
    load_trainable_state_dict,
    lora_layers,
    merge_lora,
    read_adapters,
    save_finetuned,
    trainable_state_dict,
)
from visdet.engine.finetune.prepare import CLASS_LAYERS, FinetuneSummary, load_pretrained, prepare_finetune

__all__ = [
    "CLASS_LAYERS",
    "FinetuneExportHook",
    "FinetuneSummary",
    "apply_lora",
    "load_pretrained",
    "load_trainable_state_dict",
    "lora_layers",
    "merge_lora",
    "prepare_finetune",
    "read_adapters",
    "save_finetuned",
    "trainable_state_dict",
]
