import pytest
import torch

from visdet.models.losses import Accuracy, accuracy


def test_topk_and_thresh():
    pred = torch.tensor([[0.1, 0.5, 0.4], [0.7, 0.2, 0.1], [0.3, 0.3, 0.4], [0.2, 0.35, 0.45]])
    target = torch.tensor([1, 1, 2, 0])
    torch.testing.assert_close(accuracy(pred, target), torch.tensor([50.0]))
    top1, top2, top3 = accuracy(pred, target, topk=(1, 2, 3))
    assert (top1.item(), top2.item(), top3.item()) == (50.0, 75.0, 100.0)
    torch.testing.assert_close(accuracy(pred, target, thresh=0.45), torch.tensor([25.0]))
    torch.testing.assert_close(Accuracy(topk=(1,))(pred, target)[0], torch.tensor([50.0]))


def test_empty_and_errors():
    assert accuracy(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long)) == 0
    assert len(accuracy(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long), topk=(1, 2))) == 2
    with pytest.raises(ValueError, match="topk 4"):
        accuracy(torch.rand(2, 3), torch.tensor([0, 1]), topk=4)
    with pytest.raises(ValueError, match="target"):
        accuracy(torch.rand(2, 3), torch.tensor([[0, 1]]))
    with pytest.raises(TypeError, match="topk"):
        accuracy(torch.rand(2, 3), torch.tensor([0, 1]), topk=[1])
