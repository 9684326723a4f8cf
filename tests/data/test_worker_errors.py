"""A data loader worker that fails on one image reports that image's path in the main process."""

import pytest

from visdet.build import build_pipeline
from visdet.data import CocoDataset, build_dataloader
from visdet.data.datasets import DataItemError


class FailOn:
    """A transform that raises a bare error (no file name in it) on one image."""

    def __init__(self, name):
        self.name = name

    def __call__(self, results):
        if results["img_path"].endswith(self.name):
            raise ZeroDivisionError("division by zero")
        return results


def _loader(dataset_kwargs, extra):
    pipeline = build_pipeline([{"type": "LoadImageFromFile"}, {"type": "LoadAnnotations", "with_bbox": True}])
    dataset = CocoDataset(**dataset_kwargs, pipeline=[*pipeline, *extra], test_mode=True)
    return build_dataloader(dataset, batch_size=1, num_workers=1, shuffle=False)


def test_worker_exception_names_the_image(dataset_kwargs):
    with pytest.raises(DataItemError) as info:
        for _ in _loader(dataset_kwargs, [FailOn("b.jpg")]):
            pass
    message = str(info.value)
    assert "DataLoader worker process" in message  # raised in a worker, re-raised here
    assert "b.jpg" in message and "img_id=2" in message and "ZeroDivisionError: division by zero" in message


def test_worker_corrupt_image_names_the_file(dataset_kwargs, synth):
    victim = synth.img_dir / "sub" / "c.jpg"
    victim.write_bytes(victim.read_bytes()[:100])  # truncated JPEG
    with pytest.raises(ValueError) as info:
        for _ in _loader(dataset_kwargs, []):
            pass
    assert "DataLoader worker process" in str(info.value)
    assert repr(str(victim)) in str(info.value) and "img_id=9" in str(info.value)


def test_single_process_error_keeps_the_cause(dataset_kwargs):
    pipeline = build_pipeline([{"type": "LoadImageFromFile"}])
    dataset = CocoDataset(**dataset_kwargs, pipeline=[*pipeline, FailOn("a.png")], test_mode=True)
    with pytest.raises(DataItemError, match=r"image '.*a\.png' \(img_id=1, item 0 of '.*annotations.json'\)") as info:
        dataset[0]
    assert isinstance(info.value.__cause__, ZeroDivisionError)
