# Ported from mmdet tests/test_models/test_task_modules/test_coder/test_delta_xywh_bbox_coder.py
# (mmdet 3.3.0), rewritten for visdet. Expected boxes are upstream's numbers. The GLIP variant
# (DeltaXYWHBBoxCoderForGLIP) is not part of visdet. Upstream expects AssertionError for a
# max_shape list of the wrong length; visdet raises ValueError naming max_shape.
import pytest
import torch

from visdet.models.task_modules import DeltaXYWHBBoxCoder


def test_delta_bbox_coder():
    coder = DeltaXYWHBBoxCoder()
    rois = torch.tensor(
        [[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0], [5.0, 5.0, 5.0, 5.0]]
    )
    deltas = torch.tensor(
        [[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 2.0, -1.0], [0.7, -1.9, -0.5, 0.3]]
    )
    expected = torch.tensor(
        [
            [0.0000, 0.0000, 1.0000, 1.0000],
            [0.1409, 0.1409, 2.8591, 2.8591],
            [0.0000, 0.3161, 4.1945, 0.6839],
            [5.0000, 5.0000, 5.0000, 5.0000],
        ]
    )

    out = coder.decode(rois, deltas, max_shape=(32, 32))
    assert expected.allclose(out, atol=1e-4)
    out = coder.decode(rois, deltas, max_shape=torch.tensor((32.0, 32.0)))
    assert expected.allclose(out, atol=1e-4)

    batch_rois = rois.unsqueeze(0).repeat(2, 1, 1)
    batch_deltas = deltas.unsqueeze(0).repeat(2, 1, 1)
    assert out.allclose(coder.decode(batch_rois, batch_deltas, max_shape=(32, 32))[0])
    assert out.allclose(coder.decode(batch_rois, batch_deltas, max_shape=[(32, 32), (32, 32)])[0])

    with pytest.raises(ValueError, match="max_shape"):
        coder.decode(batch_rois, batch_deltas, max_shape=[(32, 32), (32, 32), (32, 32)])

    rois = torch.zeros((0, 4))
    deltas = torch.zeros((0, 4))
    assert coder.decode(rois, deltas, max_shape=(32, 32)).shape == rois.shape

    coder = DeltaXYWHBBoxCoder(add_ctr_clamp=True, ctr_clamp=2)
    rois = torch.tensor(
        [[0.0, 0.0, 6.0, 6.0], [0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0], [5.0, 5.0, 5.0, 5.0]]
    )
    deltas = torch.tensor(
        [[1.0, 1.0, 2.0, 2.0], [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 2.0, -1.0], [0.7, -1.9, -0.5, 0.3]]
    )
    expected = torch.tensor(
        [
            [0.0000, 0.0000, 27.1672, 27.1672],
            [0.1409, 0.1409, 2.8591, 2.8591],
            [0.0000, 0.3161, 4.1945, 0.6839],
            [5.0000, 5.0000, 5.0000, 5.0000],
        ]
    )
    assert expected.allclose(coder.decode(rois, deltas, max_shape=(32, 32)), atol=1e-4)
