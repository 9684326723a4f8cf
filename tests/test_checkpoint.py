import collections
import pickle

import numpy as np
import pytest
import torch
from torch import nn

from visdet.checkpoint import extract_state_dict, load_checkpoint


class _Foreign:
    """A class a checkpoint may name (like mmengine's HistoryBuffer); must never run."""

    constructed = 0

    def __init__(self, values):
        type(self).constructed += 1
        self.values = values

    def __reduce__(self):
        return (type(self), (list(self.values),))


class _ViaClassmethod:
    """Pickles as ``getattr(cls, "build")(...)``, the way numpy/mmengine objects often do."""

    built = 0

    @classmethod
    def build(cls, value):
        cls.built += 1
        return cls()

    def __reduce__(self):
        return (type(self).build, (1,))


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))


def test_loads_mmdet_style_checkpoint_with_module_prefix_and_foreign_objects(tmp_path):
    source = _model()
    for p in source.parameters():
        p.data.normal_()
    state = collections.OrderedDict(("module." + k, v) for k, v in source.state_dict().items())
    path = tmp_path / "mm.pth"
    extra = {"hub": _Foreign([1.0, 2.0]), "np": np.float64(3.0), "arr": np.arange(3), "call": _ViaClassmethod()}
    torch.save({"meta": {"epoch": 12}, "state_dict": state, "message_hub": extra}, path)
    _Foreign.constructed = _ViaClassmethod.built = 0
    target = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    result = load_checkpoint(target, path)
    assert _Foreign.constructed == 0 and _ViaClassmethod.built == 0  # no foreign code ran
    assert any(name.endswith("_Foreign") for name in result.placeholders)
    assert "builtins.getattr" in result.placeholders
    assert result.missing_keys == [] and result.unexpected_keys == []
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value), key


def test_bare_state_dict_roundtrip(tmp_path):
    source = _model()
    for p in source.parameters():
        p.data.uniform_()
    path = tmp_path / "bare.pth"
    torch.save(source.state_dict(), path)
    target = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    load_checkpoint(target, path)
    assert torch.equal(target[0].weight, source[0].weight)


def test_strict_reports_missing_and_unexpected(tmp_path):
    state = _model().state_dict()
    state["extra.weight"] = torch.zeros(1)
    del state["0.bias"]
    path = tmp_path / "bad.pth"
    torch.save({"state_dict": state}, path)
    with pytest.raises(ValueError, match=r"0\.bias") as info:
        load_checkpoint(_model(), path)
    assert "extra.weight" in str(info.value)
    result = load_checkpoint(_model(), path, strict=False)
    assert result.missing_keys == ["0.bias"]
    assert result.unexpected_keys == ["extra.weight"]


def test_shape_mismatch_is_an_error(tmp_path):
    path = tmp_path / "shape.pth"
    torch.save({"state_dict": nn.Sequential(nn.Conv2d(3, 5, 3)).state_dict()}, path)
    with pytest.raises(ValueError, match="shape mismatch"):
        load_checkpoint(nn.Sequential(nn.Conv2d(3, 4, 3)), path, strict=False)


def test_non_checkpoint_files_are_refused_naming_the_path(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint at all")
    with pytest.raises(ValueError, match="notes.txt"):
        load_checkpoint(_model(), text)
    pickled = tmp_path / "list.pkl"
    pickled.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(ValueError, match="list.pkl"):
        load_checkpoint(_model(), pickled)
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        load_checkpoint(_model(), tmp_path / "missing.pth")


def test_non_tensor_entries_are_refused():
    with pytest.raises(ValueError, match="not a tensor"):
        extract_state_dict({"a": torch.zeros(1), "b": "text"})


@pytest.mark.parametrize("content", [b"x", b"hello world", b"", b"PK\x03\x04junk", bytes(range(256))])
def test_junk_bytes_are_refused_with_value_error(tmp_path, content):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(content)
    with pytest.raises(ValueError, match="junk.pth"):
        load_checkpoint(_model(), junk)
