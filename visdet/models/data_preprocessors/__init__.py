"""Batch preparation between the data pipeline and the model."""

from visdet.models.data_preprocessors.det_data_preprocessor import DetDataPreprocessor

__all__ = ["DetDataPreprocessor"]
