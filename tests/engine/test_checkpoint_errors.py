"""Bad checkpoint files: every one is a ValueError naming the file (and the key); none runs code.

Covers the resume path (``visdet.engine.checkpoint_io.read_checkpoint`` and
``Runner.load_checkpoint``), the weights path (``visdet.load_checkpoint`` /
``read_state_dict``) and ``visdet train --resume FILE`` on the command line.
"""

import os
import pickle

import pytest
import torch
from torch import nn

from visdet.checkpoint import load_checkpoint, read_state_dict
from visdet.engine.checkpoint_io import CheckpointMismatchError, atomic_torch_save, read_checkpoint
from visdet.engine.runner import Runner


class _Payload:
    """Unpickling this would run ``os.system("touch <marker>")``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))


def _bad_files(tmp_path):
    """name -> (path, text the error must contain besides the file name)."""
    model = _model()
    good = tmp_path / "good.pth"
    torch.save({"state_dict": model.state_dict()}, good)
    data = good.read_bytes()
    files = {}

    def add(name, content, expect):
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            torch.save(content, path)
        files[name] = (path, expect)

    add("junk.pth", b"this is not a checkpoint\n" * 10, "")
    add("empty.pth", b"", "")
    add("truncated.pth", data[: len(data) // 2], "")
    add("zip_header_only.pth", data[:64], "")
    add("list_state.pth", {"state_dict": [torch.ones(1)]}, "state_dict")
    add("str_value.pth", {"state_dict": {"0.weight": "abc"}}, "0.weight")
    add("int_key.pth", {"state_dict": {3: torch.ones(1)}}, "3")
    state = model.state_dict()
    add("wrong_shape.pth", {"state_dict": {**state, "0.weight": torch.ones(5, 3)}}, "0.weight")
    add("wrong_dtype.pth", {"state_dict": {**state, "0.weight": torch.ones(2, 3, dtype=torch.int32)}}, "0.weight")
    add("missing_key.pth", {"state_dict": {k: v for k, v in state.items() if k != "0.bias"}}, "0.bias")
    add("not_a_dict.pth", [1, 2, 3], "")
    return files


def test_load_checkpoint_and_read_state_dict_name_the_file_and_key(tmp_path):
    for name, (path, expect) in _bad_files(tmp_path).items():
        with pytest.raises(ValueError) as info:
            load_checkpoint(_model(), path)
        message = str(info.value)
        assert name in message and expect in message, (name, message)
        if name not in ("wrong_shape.pth", "wrong_dtype.pth", "missing_key.pth"):  # valid state dicts
            with pytest.raises(ValueError, match=name):
                read_state_dict(path)


def _runner(tmp_path, model, resume):
    data = [{"x": torch.randn(3)} for _ in range(4)]
    loader = torch.utils.data.DataLoader(data, batch_size=2, collate_fn=lambda b: b)
    return Runner(model=model, train_loader=loader, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                  work_dir=tmp_path / "work", max_iters=1, resume=resume)  # fmt: skip


def test_resume_names_the_file_and_key(tmp_path):
    for name, (path, expect) in _bad_files(tmp_path).items():
        runner = _runner(tmp_path, _model(), resume=path)
        with pytest.raises(ValueError) as info:
            runner.load_checkpoint(path)
        message = str(info.value)
        assert name in message and expect in message, (name, message)
        if name in ("wrong_shape.pth", "wrong_dtype.pth", "missing_key.pth"):
            assert isinstance(info.value, CheckpointMismatchError)


def test_resume_sections_that_cannot_be_restored_are_named(tmp_path):
    model = _model()
    runner = _runner(tmp_path, model, resume=False)
    state = runner.state()
    cases = {
        "no_iter.pth": ({k: v for k, v in state.items() if k != "iter"}, "'iter'"),
        "neg_epoch.pth": ({**state, "epoch": -1}, "'epoch'"),
        "bad_rng.pth": ({**state, "rng": {"python": 1}}, "'rng'"),
        "bad_optimizer.pth": ({**state, "optimizer": {"state": {}, "param_groups": []}}, "'optimizer'"),
        "list_optimizer.pth": ({**state, "optimizer": [1]}, "'optimizer'"),
    }
    for name, (content, key) in cases.items():
        torch.save(content, tmp_path / name)
        with pytest.raises(ValueError) as info:
            _runner(tmp_path, _model(), resume=False).load_checkpoint(tmp_path / name)
        assert name in str(info.value) and key in str(info.value), str(info.value)


def test_pickle_globals_never_run(tmp_path):
    marker = tmp_path / "pwned"
    payloads = {
        "torch_zip.pth": lambda p: torch.save({"state_dict": {"w": _Payload(marker)}}, p),
        "raw_pickle.pth": lambda p: p.write_bytes(pickle.dumps({"state_dict": _Payload(marker)})),
        "legacy_torch.pth": lambda p: torch.save({"state_dict": _Payload(marker)}, p,
                                                 _use_new_zipfile_serialization=False),  # fmt: skip
    }
    for name, write in payloads.items():
        path = tmp_path / name
        write(path)
        with pytest.raises(ValueError, match=name):
            read_checkpoint(path)
        with pytest.raises(ValueError, match=name):
            load_checkpoint(_model(), path)
        with pytest.raises(ValueError, match=name):
            read_state_dict(path)
        assert not marker.exists(), f"{name}: the pickle's payload ran"
    # the payload is real: a plain unpickle would run it
    pickle.loads(pickle.dumps(_Payload(marker)))
    assert marker.exists()


def test_train_cli_resume_junk_is_one_line(tmp_path, capsys):
    from tests.engine.test_train_cmd import _config_file
    from visdet.cli import main

    path = _config_file(tmp_path)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"\x00\x01garbage" * 100)
    code = main(["train", str(path), "--work-dir", str(tmp_path / "w"), "--resume", str(junk),
                 "--set", "visdet.progress=false"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("visdet train: error: resume checkpoint") and str(junk) in err
    listed = tmp_path / "list.pth"
    torch.save({"state_dict": [1, 2]}, listed)
    code = main(["train", str(path), "--work-dir", str(tmp_path / "w"), "--resume", str(listed),
                 "--set", "visdet.progress=false"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "'state_dict' must be a dict" in err and str(listed) in err


def test_atomic_save_keeps_previous_checkpoint_on_enospc(tmp_path, monkeypatch):
    import errno

    path = tmp_path / "latest.pth"
    atomic_torch_save({"state_dict": {"w": torch.ones(3)}, "iter": 1}, path)
    before = path.read_bytes()

    def full_disk_save(obj, f, *args, **kwargs):
        f.write(b"\x50\x4b" + b"x" * 4096)  # part of the new file reaches the disk
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", full_disk_save)
    with pytest.raises(OSError) as info:
        atomic_torch_save({"state_dict": {"w": torch.zeros(3)}, "iter": 2}, path)
    assert info.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert read_checkpoint(path)["iter"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.pth"]  # no temporary file left


def test_atomic_save_keeps_previous_checkpoint_when_fsync_fails(tmp_path, monkeypatch):
    import errno

    path = tmp_path / "latest.pth"
    atomic_torch_save({"state_dict": {"w": torch.ones(3)}, "iter": 1}, path)

    def failing_fsync(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="No space left"):
        atomic_torch_save({"state_dict": {"w": torch.zeros(3)}, "iter": 2}, path)
    monkeypatch.undo()
    assert read_checkpoint(path)["iter"] == 1 and torch.equal(read_checkpoint(path)["state_dict"]["w"], torch.ones(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.pth"]
    atomic_torch_save({"state_dict": {"w": torch.zeros(3)}, "iter": 2}, path)  # and the next save works
    assert read_checkpoint(path)["iter"] == 2
