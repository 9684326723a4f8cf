# Copied unmodified (apart from this header) from mmdet 3.3.0, configs/faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py
# (https://github.com/open-mmlab/mmdetection), licensed under the Apache License 2.0.
# Test data for visdet's mmdet-config converter.
_base_ = [
    '../_base_/models/faster-rcnn_r50_fpn.py',
    '../_base_/datasets/coco_detection.py',
    '../_base_/schedules/schedule_1x.py', '../_base_/default_runtime.py'
]
