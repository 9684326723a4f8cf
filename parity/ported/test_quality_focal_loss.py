# Ported from mmdet tests/test_models/test_losses/test_loss.py (mmdet 3.3.0):
# test_QualityFocalLoss_Loss, rewritten for visdet. The two target forms of QualityFocalLoss,
# (labels, quality scores) and the dense one-hot-times-quality tensor, give the same loss, on
# logits and (activated) on probabilities.
import pytest
import torch
import torch.nn.functional as F

from visdet.models.losses import QualityFocalLoss


@pytest.mark.parametrize("activated", [False, True])
def test_quality_focal_loss(activated):
    num_samples, num_classes = 4, 5
    pred = torch.rand((num_samples, num_classes))
    labels = torch.tensor([0, 1, 2, 0])
    quality = torch.rand(num_samples)

    pair_loss = QualityFocalLoss(activated=activated)(pred, (labels, quality))
    assert isinstance(pair_loss, torch.Tensor)

    dense_target = F.one_hot(labels, num_classes) * quality.reshape(num_samples, 1)
    dense_loss = QualityFocalLoss(activated=activated)(pred, dense_target)
    assert isinstance(dense_loss, torch.Tensor)
    assert dense_loss == pair_loss
