"""Training: runner, loops, hooks, optimizers and schedules, checkpoints, distributed helpers."""

from visdet.engine.checkpoint_io import CheckpointMismatchError, atomic_torch_save, read_checkpoint
from visdet.engine.runner import NonFiniteLossError, Runner
from visdet.engine.seeding import seed_everything
from visdet.engine.train_loop import TrainLoop
from visdet.engine.val_loop import ValLoop

__all__ = [
    "CheckpointMismatchError",
    "NonFiniteLossError",
    "Runner",
    "TrainLoop",
    "ValLoop",
    "atomic_torch_save",
    "read_checkpoint",
    "seed_everything",
]
