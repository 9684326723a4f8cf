"""``clip_gradients``: mmengine's clip, its float32 total norm summed in mmengine's parameter order."""

import torch
from torch import nn

from visdet.engine.optim import build_optimizer, clip_gradients


def _model(frozen: bool = False) -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(*[nn.Linear(3, 3) for _ in range(50)])
    model[49].requires_grad_(not frozen)
    return model


def _grads(model: nn.Module) -> None:
    gen = torch.Generator().manual_seed(1)
    for p in model.parameters():
        if p.requires_grad:
            p.grad = torch.randn(p.shape, generator=gen) * float(torch.rand(1, generator=gen) * 100)


def test_the_norm_is_summed_in_the_models_order_whatever_the_groups():
    model, twin = _model(), _model()
    # a custom key on the biases puts them in a group of their own: the groups' order is not the model's.
    # Summed in the groups' order, this norm differs from mmengine's in its last bit (1546.5437 against
    # 1546.5436 on the machine this was written on; parity/test_detr_optim_live.py saw it on DETR).
    optimizer = build_optimizer(model, name="adamw", lr=1e-3, custom_keys={".bias": {"lr_mult": 0.5}})
    _grads(model)
    _grads(twin)
    # mmengine: one group per parameter, in the model's order
    reference = torch.nn.utils.clip_grad_norm_([p for p in twin.parameters() if p.requires_grad], 0.1)
    assert torch.equal(clip_gradients(optimizer, 0.1), reference)
    assert all(torch.equal(a.grad, b.grad) for a, b in zip(model.parameters(), twin.parameters()) if a.requires_grad)


def test_frozen_and_gradless_parameters_are_left_out():
    model = _model(frozen=True)
    optimizer = build_optimizer(model, name="sgd", lr=0.1)
    assert clip_gradients(optimizer, 1.0) is None  # no gradient yet: nothing to clip (mmengine logs nothing)
    model[0].weight.grad = torch.full_like(model[0].weight, 3.0)
    model[49].weight.grad = torch.full_like(model[49].weight, 100.0)  # frozen: not in the optimizer
    norm = clip_gradients(optimizer, 1.0)
    assert torch.isclose(norm, torch.tensor(3.0 * model[0].weight.numel() ** 0.5))
    assert torch.isclose(model[0].weight.grad.norm(), torch.tensor(1.0), atol=1e-5)


def test_an_optimizer_built_elsewhere_is_clipped_in_its_group_order():
    model, twin = _model(), _model()
    optimizer = torch.optim.SGD([p for p in reversed(list(model.parameters())) if p.requires_grad], lr=0.1)
    _grads(model)
    _grads(twin)
    expected = torch.nn.utils.clip_grad_norm_([p for p in reversed(list(twin.parameters())) if p.requires_grad], 0.5)
    assert torch.equal(clip_gradients(optimizer, 0.5), expected)
