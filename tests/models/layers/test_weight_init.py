import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from visdet.models.layers import (
    bias_init_with_prob,
    constant_init,
    kaiming_init,
    normal_init,
    xavier_init,
)


@settings(max_examples=40, deadline=None)
@given(prob=st.floats(1e-4, 1 - 1e-4))
def test_bias_init_with_prob_inverts_the_sigmoid(prob):
    assert math.isclose(1 / (1 + math.exp(-bias_init_with_prob(prob))), prob, rel_tol=1e-9)


def test_initialisers_fill_weight_and_bias():
    conv = nn.Conv2d(32, 64, 3)
    constant_init(conv, 0.5, bias=0.25)
    assert torch.all(conv.weight == 0.5) and torch.all(conv.bias == 0.25)
    torch.manual_seed(0)
    xavier_init(conv, distribution="uniform", bias=0.1)
    bound = math.sqrt(6 / (32 * 9 + 64 * 9))
    assert conv.weight.abs().max() <= bound and torch.all(conv.bias == 0.1)
    normal_init(conv, std=0.01)
    assert abs(conv.weight.std().item() - 0.01) < 0.001 and torch.all(conv.bias == 0)
    kaiming_init(conv, mode="fan_in", distribution="uniform")
    assert conv.weight.abs().max() <= math.sqrt(6 / (32 * 9))


def test_modules_without_bias_or_weight_are_accepted():
    constant_init(nn.Conv2d(2, 2, 1, bias=False), 1.0)
    kaiming_init(nn.ReLU())
