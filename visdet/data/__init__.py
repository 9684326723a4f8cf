"""Data: COCO datasets, transforms in mmdet's shape, collate, samplers, loaders."""
