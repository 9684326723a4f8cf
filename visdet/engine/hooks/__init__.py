"""Training hooks: logging, checkpoints, LR schedule, evaluation, early stopping, EMA, pipeline switch."""

from visdet.engine.hooks.base import Hook
from visdet.engine.hooks.checkpoint import CheckpointHook
from visdet.engine.hooks.early_stopping import EarlyStoppingHook
from visdet.engine.hooks.ema import EMAHook
from visdet.engine.hooks.evaluation import EvalHook
from visdet.engine.hooks.external_loggers import MLflowHook, TensorBoardHook
from visdet.engine.hooks.logger import LoggerHook
from visdet.engine.hooks.pipeline_switch import PipelineSwitchHook
from visdet.engine.hooks.schedule import SchedulerHook

__all__ = [
    "CheckpointHook",
    "EMAHook",
    "EarlyStoppingHook",
    "EvalHook",
    "Hook",
    "LoggerHook",
    "MLflowHook",
    "PipelineSwitchHook",
    "SchedulerHook",
    "TensorBoardHook",
]
