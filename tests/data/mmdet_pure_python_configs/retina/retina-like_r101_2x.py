# ruff: noqa: F403, F405 (a config: its names come from the read_base() star imports)
from mmengine.config import read_base

with read_base():
    from .._base_.models.retina_like import *
    from .._base_.schedule_1x import *
    from .._base_.schedule_1x import max_epochs as base_epochs

from mmdet.models.losses import FocalLoss

max_epochs = base_epochs * 2
train_cfg.update(max_epochs=max_epochs)
param_scheduler[1].update(end=max_epochs, milestones=[e * 2 for e in param_scheduler[1].milestones])
model.update(dict(backbone=dict(depth=101), bbox_head=dict(loss_cls=dict(type=FocalLoss, gamma=2.0))))
optim_wrapper.merge(dict(optimizer=dict(_delete_=True, type='AdamW', lr=1e-4)))
work_dir = f'./work_dirs/retina_{max_epochs}e_{model.backbone.depth}'
