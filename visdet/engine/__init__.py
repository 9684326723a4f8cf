"""Training: runner, loops, hooks, optimizers and schedules, checkpoints, distributed helpers."""

from visdet.engine.checkpoint_io import CheckpointMismatchError, atomic_torch_save, read_checkpoint
from visdet.engine.lr_finder import LRFinderResult, find_lr
from visdet.engine.progressive_resize import ProgressiveResizeHook
from visdet.engine.runner import NonFiniteLossError, Runner
from visdet.engine.seeding import seed_everything
from visdet.engine.train_loop import TrainLoop
from visdet.engine.val_loop import ValLoop

__all__ = [
    "CheckpointMismatchError",
    "LRFinderResult",
    "NonFiniteLossError",
    "ProgressiveResizeHook",
    "Runner",
    "TrainLoop",
    "ValLoop",
    "atomic_torch_save",
    "find_lr",
    "read_checkpoint",
    "seed_everything",
]
