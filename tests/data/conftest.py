"""Fixtures for the data tests: the synthetic COCO set written into a tmp folder."""

from __future__ import annotations

import pytest

from visdet.testing.coco_synth import CocoSynth, write_coco_synth


@pytest.fixture
def synth(tmp_path) -> CocoSynth:
    return write_coco_synth(tmp_path / "coco")


@pytest.fixture
def dataset_kwargs(synth: CocoSynth) -> dict:
    return {
        "ann_file": str(synth.ann_file),
        "metainfo": {"classes": synth.classes},
        "data_prefix": {"img": str(synth.img_dir)},
    }
