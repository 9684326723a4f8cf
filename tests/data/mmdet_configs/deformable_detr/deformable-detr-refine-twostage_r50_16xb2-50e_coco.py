# Copied unmodified (apart from this header) from mmdet 3.3.0,
# configs/deformable_detr/deformable-detr-refine-twostage_r50_16xb2-50e_coco.py
# (https://github.com/open-mmlab/mmdetection), licensed under the Apache License 2.0.
# Test data for visdet's mmdet-config converter.
_base_ = 'deformable-detr-refine_r50_16xb2-50e_coco.py'
model = dict(as_two_stage=True)
