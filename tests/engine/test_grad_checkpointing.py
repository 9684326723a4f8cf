import torch
import torch.utils.checkpoint as torch_checkpoint

from visdet.build import build_model
from visdet.engine.grad_checkpointing import set_grad_checkpointing
from visdet.structures import Instances
from visdet.testing.tiny_models import tiny_faster_rcnn_config


def _model():
    cfg = tiny_faster_rcnn_config(3)
    torch.manual_seed(0)
    return build_model(cfg)


def _loss_and_grads(model):
    g = torch.Generator().manual_seed(1)
    images = [torch.randint(0, 256, (3, 64, 64), generator=g, dtype=torch.uint8)]
    batch, metas = model.data_preprocessor(images, [{"img_shape": (64, 64)}])
    gt = [Instances(bboxes=torch.tensor([[4.0, 6.0, 40.0, 50.0]]), labels=torch.tensor([1]))]
    model.train()
    torch.manual_seed(2)
    losses = model.loss(batch, metas, gt)
    total = sum(v for k, v in losses.items() if "loss" in k)
    model.zero_grad()
    total.backward()
    return total.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_checkpointing_gives_the_same_gradients(monkeypatch):
    model = _model()
    plain_loss, plain_grads = _loss_and_grads(model)
    calls = []
    real = torch_checkpoint.checkpoint

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch_checkpoint, "checkpoint", counting)
    assert set_grad_checkpointing(model, True) >= 8
    blocks = [b for name in ("layer1", "layer2", "layer3", "layer4") for b in getattr(model.backbone, name)]
    assert len(blocks) == 8 and all(b.with_cp for b in blocks)  # ResNet-18: 8 basic blocks
    cp_loss, cp_grads = _loss_and_grads(model)
    assert calls  # the blocks really recomputed their activations
    assert torch.equal(plain_loss, cp_loss)
    assert plain_grads.keys() == cp_grads.keys()
    for name, grad in plain_grads.items():
        torch.testing.assert_close(cp_grads[name], grad, rtol=1e-5, atol=1e-7, msg=name)
    set_grad_checkpointing(model, False)
    assert not any(b.with_cp for b in blocks)
