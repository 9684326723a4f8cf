import random

import numpy as np
import pytest
import torch

from visdet.engine.checkpoint_io import (
    CheckpointMismatchError,
    atomic_torch_save,
    check_model_matches,
    read_checkpoint,
)
from visdet.engine.rng_state import capture_rng_state, restore_rng_state


def test_crash_mid_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "latest.pth"
    atomic_torch_save({"state_dict": {"w": torch.ones(3)}, "iter": 1}, path)
    before = path.read_bytes()
    real_save = torch.save

    def crashing_save(obj, f, *args, **kwargs):
        f.write(b"partial garbage")  # some bytes reach the disk, then the process "dies"
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crashing_save)
    with pytest.raises(OSError, match="disk full"):
        atomic_torch_save({"state_dict": {"w": torch.zeros(3)}, "iter": 2}, path)
    monkeypatch.setattr(torch, "save", real_save)
    assert path.read_bytes() == before
    assert read_checkpoint(path)["iter"] == 1
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_rng_state_round_trip_through_weights_only_file(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    atomic_torch_save({"state_dict": {}, "rng": capture_rng_state()}, tmp_path / "c.pth")
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    restore_rng_state(read_checkpoint(tmp_path / "c.pth")["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_read_checkpoint_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        read_checkpoint(tmp_path / "missing.pth")
    torch.save({"weights": torch.ones(1)}, tmp_path / "bare.pth")
    with pytest.raises(ValueError, match="bare.pth: not a visdet training checkpoint"):
        read_checkpoint(tmp_path / "bare.pth")


def test_model_mismatch_names_the_file_and_keys():
    model = torch.nn.Linear(3, 2)
    good = {"state_dict": model.state_dict(), "meta": {"model_class": "Linear"}}
    check_model_matches(model, good, "ok.pth")
    wrong_shape = {"state_dict": torch.nn.Linear(4, 2).state_dict()}
    with pytest.raises(
        CheckpointMismatchError,
        match=r"'x.pth' does not fit this model: 1 shape/dtype mismatches \(e.g. weight: checkpoint shape \(2, 4\) vs",
    ):
        check_model_matches(model, wrong_shape, "x.pth")
    with pytest.raises(CheckpointMismatchError, match="written for a FasterRCNN, not a Linear"):
        check_model_matches(model, {"state_dict": {}, "meta": {"model_class": "FasterRCNN"}}, "y.pth")
