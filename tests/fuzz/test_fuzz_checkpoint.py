"""Fuzzing checkpoint reading: mutated training checkpoints, cut and corrupted zips, pickles with globals.

Each case writes one file and reads it three ways: as a resume checkpoint
(``Runner.load_checkpoint``), as weights (``visdet.load_checkpoint``) and as a state dict
(``visdet.checkpoint.read_state_dict``). The only outcomes allowed: the file loads (and
the model then holds exactly the file's tensors), or a ``ValueError`` naming the file.
No pickled payload may run: the payloads would create a marker file.
"""

import copy
import io
import os
import pickle
import zipfile

import pytest
import torch
from hypothesis import event, given
from hypothesis import strategies as st
from torch import nn

from tests.fuzz.budget import fuzz_settings
from visdet.checkpoint import load_checkpoint, read_state_dict
from visdet.engine.runner import Runner

pytestmark = pytest.mark.fuzz


class Payload:
    """Unpickling runs ``os.system("touch <marker>")`` (through whichever callable is given)."""

    def __init__(self, func, marker):
        self.func, self.marker = func, marker

    def __reduce__(self):
        if self.func is os.system:
            return (os.system, (f"touch {self.marker}",))
        return (self.func, (f"open({str(self.marker)!r}, 'w').close()",))


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))


def _runner(model, work_dir):
    data = [{"x": torch.randn(3)} for _ in range(4)]
    loader = torch.utils.data.DataLoader(data, batch_size=2, collate_fn=lambda b: b)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return Runner(model=model, train_loader=loader, optimizer=optimizer, work_dir=work_dir, max_iters=1)


def _template(tmp_path):
    model = _model()
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    runner = _runner(model, tmp_path)
    runner.optimizer.step()  # momentum buffers in the optimizer state
    return runner.state()


NASTY = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=True), st.text(max_size=5),
    st.sampled_from([[], {}, [1, 2], {"a": 1}, (1,), b"\x00", torch.ones(0), torch.ones(2, 3), torch.zeros(2),
                     torch.ones(2, 3, dtype=torch.int64), torch.ones(3, 2), torch.tensor(True),
                     torch.ones(2, dtype=torch.complex64), torch.ones(2, 3, dtype=torch.float16),
                     torch.ones(2, 3, dtype=torch.bfloat16)]),
)  # fmt: skip


def _paths(node, prefix=()):
    out = []
    if isinstance(node, dict):
        for key, value in node.items():
            out.append((prefix, key))
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.append((prefix, i))
            out += _paths(value, (*prefix, i))
    return out


def _mutate(obj, data, marker):
    paths = _paths(obj)
    parent_path, key = data.draw(st.sampled_from(paths))
    parent = obj
    for k in parent_path:
        parent = parent[k]
    op = data.draw(st.sampled_from(["delete", "replace", "replace", "payload"]))
    if op == "delete":
        del parent[key]
    elif op == "replace":
        value = data.draw(NASTY)
        parent[key] = value.clone() if isinstance(value, torch.Tensor) else copy.deepcopy(value)
    else:
        func = data.draw(st.sampled_from([os.system, exec, eval]))
        parent[key] = Payload(func, marker)


def _write(path, data, template, marker):
    kind = data.draw(st.sampled_from(["mutated", "mutated", "mutated", "cut", "bytes", "pickle", "zip_member"]))
    if kind == "pickle":  # a plain pickle (not a torch zip), possibly with a payload
        obj = {"state_dict": Payload(data.draw(st.sampled_from([os.system, exec, eval])), marker)}
        if data.draw(st.booleans()):
            obj = {"state_dict": {"w": 1}, "x": Payload(os.system, marker)}
        path.write_bytes(pickle.dumps(obj, protocol=data.draw(st.integers(0, 5))))
        return kind
    ckpt = {k: (copy.deepcopy(v) if not isinstance(v, torch.Tensor) else v.clone()) for k, v in template.items()}
    if kind == "mutated" or data.draw(st.booleans()):
        for _ in range(data.draw(st.integers(1, 3))):
            if _paths(ckpt):
                _mutate(ckpt, data, marker)
    buf = io.BytesIO()
    torch.save(ckpt, buf, _use_new_zipfile_serialization=data.draw(st.sampled_from([True, True, False])))
    raw = buf.getvalue()
    if kind == "cut":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    elif kind == "bytes":
        raw = bytearray(raw)
        for _ in range(data.draw(st.integers(1, 6))):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
        raw = bytes(raw)
    elif kind == "zip_member" and raw[:2] == b"PK":  # rewrite one member of the zip (e.g. the pickle)
        src = zipfile.ZipFile(io.BytesIO(raw))
        names = src.namelist()
        victim = data.draw(st.sampled_from(names))
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
            for name in names:
                body = src.read(name)
                if name == victim:
                    body = data.draw(st.sampled_from([b"", body[: len(body) // 2], body + b"\x00" * 7,
                                                      pickle.dumps(Payload(os.system, marker))]))  # fmt: skip
                dst.writestr(name, body)
        raw = out.getvalue()
    path.write_bytes(raw)
    return kind


def _allowed(err, path):
    assert isinstance(err, ValueError), f"{type(err).__name__}: {err}"
    assert str(path) in str(err), f"error does not name the file: {err!r}"


@fuzz_settings
@given(data=st.data())
def test_checkpoint_files(tmp_path, data):
    marker = tmp_path / "payload-ran"
    template = _template(tmp_path)
    path = tmp_path / "ckpt.pth"
    kind = _write(path, data, template, marker)
    outcomes = []
    runner = _runner(_model(), tmp_path)
    try:
        runner.load_checkpoint(path)
        outcomes.append("resumed")
    except Exception as err:  # noqa: BLE001 - the type is what is checked
        _allowed(err, path)
    model = _model()
    try:
        load_checkpoint(model, path)
        outcomes.append("loaded")
        state = read_state_dict(path)
        for key, value in model.state_dict().items():
            assert torch.equal(value, state[key].to(value.dtype)), key
    except Exception as err:  # noqa: BLE001
        _allowed(err, path)
    try:
        read_state_dict(path)
    except Exception as err:  # noqa: BLE001
        _allowed(err, path)
    assert not marker.exists(), "a pickled payload ran"
    event(f"{kind}: {'+'.join(outcomes) or 'refused'}")
