# expect: error line=4 it does not look into installed packages
from mmengine.config import read_base
with read_base():
    from mmdet.configs.retinanet import *
