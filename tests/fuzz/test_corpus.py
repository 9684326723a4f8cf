"""The hand-made corpus of nasty files (``tests/fuzz/corpus/<kind>/``), each with its expected outcome.

``expected.json`` in each folder lists every file (``make_corpus.py`` writes both and
says how each file was made). A file whose outcome is an error must raise the loader's
documented error type with a message naming the file and matching the recorded regex.
"""

import json
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.fuzz.corpus.make_corpus import PAYLOAD_MARKER, corpus_model
from visdet.checkpoint import load_checkpoint
from visdet.config import load_config
from visdet.config.errors import ConfigError
from visdet.data.datasets import CocoAnnotationWarning, CocoDataset
from visdet.data.transforms.loading import LoadImageFromFile
from visdet.engine.runner import Runner

pytestmark = pytest.mark.fuzz
CORPUS = Path(__file__).parent / "corpus"


def _cases(kind):
    folder = CORPUS / kind
    expected = json.loads((folder / "expected.json").read_text())
    files = sorted(p.name for p in folder.iterdir() if p.name != "expected.json")
    assert files == sorted(expected), f"{kind}: files and expected.json disagree"
    return [pytest.param(folder / name, expected[name], id=name) for name in files]


def _expect_error(call, error_type, path, pattern):
    with pytest.raises(error_type) as info:
        call()
    message = str(info.value)
    assert str(path) in message or repr(str(path)) in message, f"message does not name the file: {message}"
    assert re.search(pattern, message), f"{message!r} does not match {pattern!r}"


@pytest.mark.parametrize(("path", "expect"), _cases("coco"))
def test_coco_corpus(path, expect):
    def load():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CocoAnnotationWarning)
            return CocoDataset(ann_file=str(path), metainfo={"classes": ("dog", "cat")}, pipeline=[])

    if expect["outcome"] == "error":
        _expect_error(load, ValueError, path, expect["match"])
        return
    dataset = load()
    assert len(dataset) == expect["images"]
    assert sum(len(info["instances"]) for info in dataset.data_list) == expect["instances"]


@pytest.mark.parametrize(("path", "expect"), _cases("yaml"))
def test_yaml_corpus(path, expect):
    if expect["outcome"] == "error":
        _expect_error(lambda: load_config(path), ConfigError, path.name, expect["match"])
        assert not os.path.exists(PAYLOAD_MARKER)
        return
    assert load_config(path) == expect["config"]


def _runner(tmp_path):
    model = corpus_model()
    data = [{"x": torch.randn(3)} for _ in range(4)]
    loader = torch.utils.data.DataLoader(data, batch_size=2, collate_fn=lambda b: b)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return Runner(model=model, train_loader=loader, optimizer=optimizer, work_dir=tmp_path, max_iters=1)


@pytest.mark.parametrize(("path", "expect"), _cases("checkpoint"))
def test_checkpoint_corpus(path, expect, tmp_path):
    if os.path.exists(PAYLOAD_MARKER):
        os.remove(PAYLOAD_MARKER)
    runner = _runner(tmp_path)
    if expect["resume"] == "ok":
        runner.load_checkpoint(path)
        assert runner.iter == 3 and runner.inner_iter == 1
    else:
        _expect_error(lambda: runner.load_checkpoint(path), ValueError, path, expect["resume"])
    model = corpus_model()
    if expect["weights"] == "ok":
        for p in model.parameters():
            p.data.fill_(7.0)
        load_checkpoint(model, path)
        for key, value in corpus_model().state_dict().items():  # the corpus was written from this model
            assert torch.equal(model.state_dict()[key], value.to(model.state_dict()[key].dtype)) or (
                "fp16" in path.name and torch.allclose(model.state_dict()[key], value, atol=1e-3)
            ), key  # fp16: the weights went through float16 (about 3 significant digits)
    else:
        _expect_error(lambda: load_checkpoint(model, path), ValueError, path, expect["weights"])
    assert not os.path.exists(PAYLOAD_MARKER), "a pickled payload ran"


@pytest.mark.parametrize(("path", "expect"), _cases("image"))
def test_image_corpus(path, expect):
    load = LoadImageFromFile()
    if expect["outcome"] == "error":
        _expect_error(lambda: load({"img_path": str(path), "img_id": 1}), ValueError, path, expect["match"])
        return
    img = load({"img_path": str(path), "img_id": 1})["img"]
    assert list(img.shape) == expect["shape"] and img.dtype == np.uint8
