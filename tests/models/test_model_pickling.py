import copy
import io

import torch

from visdet.build import build_model
from visdet.testing.tiny_models import tiny_faster_rcnn_config


def _tiny():
    cfg = tiny_faster_rcnn_config(3)
    torch.manual_seed(0)
    return build_model(cfg).eval()


def test_detector_survives_torch_save_and_deepcopy():
    """Whole-module saving and process hand-off (DataParallel, spawn) need picklable modules."""
    model = _tiny()
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    clone = copy.deepcopy(model)
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model.forward(x)
        for other in (loaded, clone):
            got = other.forward(x)
            flat_e = torch.cat([t.flatten() for t in _tensors(expected)])
            flat_g = torch.cat([t.flatten() for t in _tensors(got)])
            assert torch.equal(flat_e, flat_g)


def _tensors(value):
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    raise TypeError(type(value))
