"""What the ported DETR-family detector tests share (mmdet's test_deformable_detr.py and test_dino.py).

Upstream's one 256x256 image and its meta, its one gt box (label 2) and an empty gt, and its
eval-mode checks: ``_forward`` (visdet's ``forward``) gives every decoder layer's class logits
``[1, Q, 80]`` then boxes ``[1, Q, 4]``; ``predict`` keeps ``max_per_img`` detections inside
the image with labels in ``[0, 80)``.
"""

import torch

from visdet.structures import Instances

SIZE = 256
META = {"img_shape": (SIZE, SIZE), "scale_factor": (1, 1), "pad_shape": (SIZE, SIZE),
        "batch_input_shape": (SIZE, SIZE)}  # fmt: skip
NUM_CLASSES = 80
DECODER_LAYERS = 6


def one_gt() -> Instances:
    """Upstream's single ground-truth box."""
    return Instances(bboxes=torch.tensor([[23.6667, 23.8757, 238.6326, 151.8874]]), labels=torch.tensor([2]))


def empty_gt() -> Instances:
    """An image without ground truth."""
    return Instances(bboxes=torch.empty((0, 4)), labels=torch.zeros(0, dtype=torch.long))


def check_eval_outputs(detector: torch.nn.Module, image: torch.Tensor, num_queries: int, max_per_img: int) -> None:
    """Upstream's eval-mode checks of ``_forward`` and ``predict`` on one image."""
    detector.eval()
    with torch.no_grad():
        raw = detector(image, [META])  # upstream's _forward
        results = detector.predict(image, [META], rescale=True)
    assert len(raw) == 2 * DECODER_LAYERS
    assert raw[0].shape == (1, num_queries, NUM_CLASSES) and raw[DECODER_LAYERS].shape == (1, num_queries, 4)
    (result,) = results
    assert result.bboxes.shape == (max_per_img, 4)
    assert result.scores.shape == (max_per_img,) and result.labels.shape == (max_per_img,)
    assert bool((result.bboxes >= 0).all()) and bool((result.bboxes <= SIZE).all())
    assert bool(((result.labels >= 0) & (result.labels < NUM_CLASSES)).all())
