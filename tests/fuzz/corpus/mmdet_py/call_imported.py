# expect: error line=3 calling the imported
from mmdet.models import RetinaNet
model = RetinaNet(depth=50)
