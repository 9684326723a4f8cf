"""visdet's parity suite: goldens written by mmdet/mmcv, differential and live tests."""
