import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from visdet.ops import bbox_overlaps

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA"))]


def _boxes(seed: int, n: int, batch: tuple[int, ...] = ()) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    xy = torch.rand(*batch, n, 2, generator=gen) * 50
    wh = torch.rand(*batch, n, 2, generator=gen) * 30 + 0.5
    return torch.cat([xy, xy + wh], -1)


@st.composite
def box_sets(draw, max_n: int = 8):
    seed = draw(st.integers(0, 2**31 - 1))
    return _boxes(seed, draw(st.integers(1, max_n))), _boxes(seed + 1, draw(st.integers(1, max_n)))


def test_known_values():
    a = torch.tensor([[0.0, 0.0, 10.0, 10.0], [10.0, 10.0, 20.0, 20.0]])
    b = torch.tensor([[5.0, 0.0, 15.0, 10.0], [0.0, 0.0, 10.0, 10.0]])
    iou = bbox_overlaps(a, b)
    assert torch.allclose(iou, torch.tensor([[50 / 150, 1.0], [0.0, 0.0]]))
    iof = bbox_overlaps(a, b, mode="iof")
    assert torch.allclose(iof, torch.tensor([[0.5, 1.0], [0.0, 0.0]]))
    giou = bbox_overlaps(a, b, mode="giou", is_aligned=True)
    # second pair: disjoint, enclosing box 20x20, union 200 -> 0 - (400 - 200) / 400
    assert torch.allclose(giou, torch.tensor([50 / 150, -0.5]))


def test_iof_uses_first_area():
    small = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    big = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    assert bbox_overlaps(small, big, mode="iof").item() == 1.0
    assert bbox_overlaps(big, small, mode="iof").item() == pytest.approx(0.04)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_dtype_and_device_preserved(device, dtype):
    a, b = _boxes(0, 4).to(device, dtype), _boxes(1, 3).to(device, dtype)
    out = bbox_overlaps(a, b, mode="giou")
    assert out.dtype == dtype and out.device.type == device and out.shape == (4, 3)


@pytest.mark.parametrize("mode", ["iou", "iof", "giou"])
def test_batched_leading_dims_match_loop(mode):
    a, b = _boxes(2, 5, (2, 3)), _boxes(3, 4, (2, 3))
    out = bbox_overlaps(a, b, mode=mode)
    assert out.shape == (2, 3, 5, 4)
    for i in range(2):
        for j in range(3):
            assert torch.equal(out[i, j], bbox_overlaps(a[i, j], b[i, j], mode=mode))


@pytest.mark.parametrize(
    "rows,cols,aligned,batch,expected",
    [
        (0, 3, False, (), (0, 3)),
        (3, 0, False, (), (3, 0)),
        (0, 0, True, (), (0,)),
        (0, 4, False, (2,), (2, 0, 4)),
        (0, 0, True, (1, 2), (1, 2, 0)),
    ],
)
def test_empty_inputs(rows, cols, aligned, batch, expected):
    out = bbox_overlaps(torch.zeros(*batch, rows, 4), torch.zeros(*batch, cols, 4), is_aligned=aligned)
    assert out.shape == expected


def test_degenerate_boxes():
    zero = torch.tensor([[5.0, 5.0, 5.0, 9.0]])  # zero width
    inverted = torch.tensor([[8.0, 0.0, 2.0, 10.0]])  # x2 < x1, negative area
    normal = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    for mode in ("iou", "iof"):
        assert bbox_overlaps(zero, normal, mode=mode).item() == 0.0
        assert bbox_overlaps(inverted, normal, mode=mode).item() == 0.0
    assert bbox_overlaps(zero, zero).item() == 0.0  # union clamped to eps, not 0/0
    # inverted: zero intersection, area -60, union = 100 - 60 = 40
    assert bbox_overlaps(normal, inverted).item() == 0.0
    giou = bbox_overlaps(normal, inverted, mode="giou").item()
    assert giou == pytest.approx(0.0 - (100 - 40) / 100)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(bboxes1=torch.zeros(3, 5), bboxes2=torch.zeros(2, 4)), ValueError, r"bboxes1.*\(3, 5\)"),
        (dict(bboxes1=torch.zeros(3, 4), bboxes2=torch.zeros(4)), ValueError, r"bboxes2.*\(4,\)"),
        (dict(bboxes1=torch.zeros(3, 4, dtype=torch.long), bboxes2=torch.zeros(2, 4)), TypeError, "bboxes1"),
        (dict(bboxes1=[[0, 0, 1, 1]], bboxes2=torch.zeros(2, 4)), TypeError, "bboxes1"),
        (dict(bboxes1=torch.zeros(3, 4), bboxes2=torch.zeros(2, 4), mode="dice"), ValueError, "mode"),
        (dict(bboxes1=torch.zeros(3, 4), bboxes2=torch.zeros(2, 4), is_aligned=True), ValueError, "is_aligned"),
        (dict(bboxes1=torch.zeros(2, 3, 4), bboxes2=torch.zeros(3, 3, 4)), ValueError, "batch"),
        (dict(bboxes1=torch.tensor([[0.0, 0, float("nan"), 1]]), bboxes2=torch.zeros(2, 4)), ValueError, "NaN"),
        (dict(bboxes1=torch.zeros(1, 4), bboxes2=torch.tensor([[0.0, 0, float("inf"), 1]])), ValueError, "bboxes2"),
    ],
)
def test_bad_inputs(kwargs, error, match):
    with pytest.raises(error, match=match):
        bbox_overlaps(**kwargs)


@pytest.mark.parametrize(("low", "high"), [(torch.float16, torch.float32), (torch.bfloat16, torch.float32),
                                           (torch.float32, torch.float64)])  # fmt: skip
def test_mixed_dtypes_promote_like_torch_arithmetic(low, high):
    # mmdet writes the IoU as plain tensor arithmetic and lets torch promote: each box
    # set's area is computed in its own dtype, everything after in the promoted one.
    a, b = _boxes(0, 4).to(low), _boxes(1, 3).to(high)
    mixed = bbox_overlaps(a, b)
    assert mixed.dtype == high
    area_a = ((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])).to(high)
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    wide = a.to(high)
    wh = (torch.min(wide[:, None, 2:], b[None, :, 2:]) - torch.max(wide[:, None, :2], b[None, :, :2])).clamp(min=0)
    overlap = wh[..., 0] * wh[..., 1]
    expected = overlap / torch.clamp(area_a[:, None] + area_b[None, :] - overlap, min=1e-6)
    assert torch.equal(mixed, expected)
    assert bbox_overlaps(a[:0], b).dtype == high


@settings(max_examples=40, deadline=None)
@given(box_sets())
def test_giou_in_range_and_iou_symmetric(pair):
    a, b = pair
    giou = bbox_overlaps(a, b, mode="giou")
    assert bool(((giou >= -1 - 1e-6) & (giou <= 1 + 1e-6)).all())
    assert torch.equal(bbox_overlaps(a, b), bbox_overlaps(b, a).T)
    iou = bbox_overlaps(a, b)
    assert bool(((iou >= 0) & (iou <= 1)).all())
    assert bool((giou <= iou + 1e-6).all())


@settings(max_examples=40, deadline=None)
@given(box_sets())
def test_self_iou_is_one_and_aligned_is_diagonal(pair):
    a, _ = pair
    for mode in ("iou", "iof", "giou"):
        diag = bbox_overlaps(a, a, mode=mode, is_aligned=True)
        assert torch.allclose(diag, torch.ones(len(a)), atol=1e-6)
    b = _boxes(7, len(a))
    for mode in ("iou", "iof", "giou"):
        assert torch.equal(bbox_overlaps(a, b, mode=mode, is_aligned=True), bbox_overlaps(a, b, mode=mode).diagonal())
