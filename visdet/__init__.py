"""visdet: object detection in pure PyTorch, numerically the same as MMDetection 3.3."""

__version__ = "0.1.0.dev0"
