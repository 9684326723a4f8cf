"""Optimizers with parameter-wise options, discriminative LRs and LR schedules."""

from visdet.engine.optim.builder import build_optimizer, param_groups
from visdet.engine.optim.clip import clip_gradients
from visdet.engine.optim.discriminative import detector_layer_groups, layerwise_lr_mults
from visdet.engine.optim.schedules import SCHEDULES, build_scheduler, plot_schedule, schedule_values

__all__ = [
    "SCHEDULES",
    "build_optimizer",
    "build_scheduler",
    "clip_gradients",
    "detector_layer_groups",
    "layerwise_lr_mults",
    "param_groups",
    "plot_schedule",
    "schedule_values",
]
