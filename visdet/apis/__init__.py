"""High-level API: build detectors from configs and run them on images."""

from visdet.apis.builder import build_detector, load_detector_config
from visdet.apis.inference import inference_detector, init_detector
from visdet.apis.simple_runner import SimpleRunner

__all__ = ["SimpleRunner", "build_detector", "inference_detector", "init_detector", "load_detector_config"]
