# ruff: noqa: F403, F405 (a config: its names come from the read_base() star imports)
from mmengine.config import read_base

with read_base():
    from .._base_.models.retina_like import model
    from .._base_.models.retina_like import norm as base_norm
    from .._base_.schedule_1x import train_cfg

model.backbone.norm_cfg = dict(base_norm, requires_grad=False)
del model.neck
train_cfg['max_epochs'] = 24
scales = [(1333, 640 + 32 * i) for i in range(6)]
