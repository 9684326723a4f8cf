import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from visdet.ops import roi_align
from visdet.ops.roi_align import MAX_POOL_INITIAL

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA"))]


def oracle_roi_align(feat, rois, out_hw, scale, ratio, mode, aligned):
    """mmcv's CPU forward, transcribed loop by loop in float64 (independent of visdet)."""
    n, c, h, w = feat.shape
    ph_n, pw_n = out_hw
    out = torch.zeros(len(rois), c, ph_n, pw_n, dtype=torch.float64)
    f = feat.double()
    for k, (b, x1, y1, x2, y2) in enumerate(rois.double().tolist()):
        off = 0.5 if aligned else 0.0
        sw, sh = x1 * scale - off, y1 * scale - off
        rw, rh = x2 * scale - off - sw, y2 * scale - off - sh
        if not aligned:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        bh, bw = rh / ph_n, rw / pw_n
        gh = ratio if ratio > 0 else math.ceil(rh / ph_n)
        gw = ratio if ratio > 0 else math.ceil(rw / pw_n)
        for ph in range(ph_n):
            for pw in range(pw_n):
                vals = []
                for iy in range(gh):
                    y = sh + ph * bh + (iy + 0.5) * bh / gh
                    for ix in range(gw):
                        x = sw + pw * bw + (ix + 0.5) * bw / gw
                        if y < -1 or y > h or x < -1 or x > w:
                            vals.append(torch.zeros(c, dtype=torch.float64))
                            continue
                        yy, xx = max(y, 0.0), max(x, 0.0)
                        yl, xl = int(yy), int(xx)
                        if yl >= h - 1:
                            yl = yh = h - 1
                            yy = float(yl)
                        else:
                            yh = yl + 1
                        if xl >= w - 1:
                            xl = xh = w - 1
                            xx = float(xl)
                        else:
                            xh = xl + 1
                        ly, lx = yy - yl, xx - xl
                        m = f[int(b)]
                        vals.append(
                            (1 - ly) * (1 - lx) * m[:, yl, xl]
                            + (1 - ly) * lx * m[:, yl, xh]
                            + ly * (1 - lx) * m[:, yh, xl]
                            + ly * lx * m[:, yh, xh]
                        )
                if mode == "avg":
                    out[k, :, ph, pw] = sum(vals, torch.zeros(c, dtype=torch.float64)) / max(gh * gw, 1)
                else:
                    best = torch.full((c,), MAX_POOL_INITIAL, dtype=torch.float64)
                    for v in vals:
                        best = torch.maximum(best, v)
                    out[k, :, ph, pw] = best
    return out


def random_case(seed, k=6, shape=(2, 3, 9, 11), scale=0.5, spread=0.3, max_rel=0.7):
    gen = torch.Generator().manual_seed(seed)
    n, c, h, w = shape
    img_h, img_w = h / scale, w / scale
    x1 = (torch.rand(k, generator=gen) * (1 + 2 * spread) - spread) * img_w
    y1 = (torch.rand(k, generator=gen) * (1 + 2 * spread) - spread) * img_h
    size = torch.rand(k, 2, generator=gen) * torch.tensor([img_w, img_h]) * max_rel
    batch = torch.randint(0, n, (k, 1), generator=gen).float()
    rois = torch.cat([batch, x1[:, None], y1[:, None], x1[:, None] + size[:, :1], y1[:, None] + size[:, 1:]], 1)
    return torch.randn(shape, generator=gen), rois


@pytest.mark.parametrize("mode", ["avg", "max"])
@pytest.mark.parametrize("aligned", [True, False])
@pytest.mark.parametrize("ratio", [0, 2])
@pytest.mark.parametrize("seed", range(2))
def test_matches_transcribed_kernel(mode, aligned, ratio, seed):
    feat, rois = random_case(seed)
    got = roi_align(feat, rois, (3, 2), 0.5, ratio, mode, aligned)
    ref = oracle_roi_align(feat, rois, (3, 2), 0.5, ratio, mode, aligned)
    assert torch.allclose(got.double(), ref, atol=1e-5, rtol=1e-5)


def test_upstream_values():
    feat = torch.tensor(
        [[[[1.0, 2.0, 5.0, 6.0], [3.0, 4.0, 7.0, 8.0], [9.0, 10.0, 13.0, 14.0], [11.0, 12.0, 15.0, 16.0]]]],
        requires_grad=True,
    )
    out = roi_align(feat, torch.tensor([[0.0, 0.0, 0.0, 3.0, 3.0]]), (2, 2), 1.0, 2, "avg", True)
    out.backward(torch.ones_like(out))
    assert torch.allclose(out, torch.tensor([[[[1.9375, 4.75], [7.5625, 10.375]]]]))
    assert feat.grad[0, 0, 0, 0].item() == pytest.approx(0.47265625)


@settings(max_examples=30, deadline=None)
@given(
    st.integers(0, 2**31 - 1),
    st.floats(-5, 5),
    st.sampled_from(["avg", "max"]),
    st.booleans(),
    st.sampled_from([0, 1, 3]),
)
def test_constant_map_gives_constant(seed, value, mode, aligned, ratio):
    gen = torch.Generator().manual_seed(seed)
    h, w = 10, 12
    x1 = torch.rand(5, generator=gen) * 8 + 0.5
    y1 = torch.rand(5, generator=gen) * 6 + 0.5
    rois = torch.stack(
        [
            torch.zeros(5),
            x1,
            y1,
            x1 + torch.rand(5, generator=gen) * 3 + 0.1,
            y1 + torch.rand(5, generator=gen) * 3 + 0.1,
        ],
        1,
    )  # inside the map
    feat = torch.full((1, 2, h, w), value)
    out = roi_align(feat, rois, (2, 3), 1.0, ratio, mode, aligned)
    assert torch.allclose(out, torch.full_like(out, value), atol=1e-5)


@pytest.mark.parametrize("mode", ["avg", "max"])
@pytest.mark.parametrize("aligned", [True, False])
@pytest.mark.parametrize("ratio", [0, 2])
def test_gradcheck(mode, aligned, ratio):
    feat, rois = random_case(3, k=4, shape=(2, 2, 6, 7), scale=1.0)
    feat = feat.double().requires_grad_()
    assert torch.autograd.gradcheck(
        lambda x: roi_align(x, rois.double(), (2, 2), 1.0, ratio, mode, aligned), (feat,), eps=1e-6, atol=1e-6
    )


def test_rois_outside_and_degenerate():
    feat = torch.randn(1, 2, 8, 8)
    far = torch.tensor([[0.0, 100.0, 100.0, 120.0, 120.0]])  # wholly outside the map
    assert torch.equal(roi_align(feat, far, 2, 1.0, 0, "avg"), torch.zeros(1, 2, 2, 2))
    assert torch.equal(roi_align(feat, far, 2, 1.0, 0, "max"), torch.zeros(1, 2, 2, 2))  # samples count as 0
    zero = torch.tensor([[0.0, 3.0, 3.0, 3.0, 5.0]])  # zero width: empty grid when aligned
    assert torch.equal(roi_align(feat, zero, 2, 1.0, 0, "avg", True), torch.zeros(1, 2, 2, 2))
    assert torch.equal(roi_align(feat, zero, 2, 1.0, 0, "max", True), torch.full((1, 2, 2, 2), MAX_POOL_INITIAL))
    legacy = roi_align(feat, zero, 2, 1.0, 0, "avg", False)  # widened to 1 pixel
    assert legacy.abs().sum() > 0
    with pytest.raises(ValueError, match="x2 >= x1"):
        roi_align(feat, torch.tensor([[0.0, 5.0, 3.0, 3.0, 5.0]]), 2, 1.0, 0, "avg", True)
    inverted_legacy = roi_align(feat, torch.tensor([[0.0, 5.0, 3.0, 3.0, 5.0]]), 2, 1.0, 0, "avg", False)
    assert torch.allclose(
        inverted_legacy.double(),
        oracle_roi_align(feat, torch.tensor([[0.0, 5.0, 3.0, 3.0, 5.0]]), (2, 2), 1.0, 0, "avg", False),
        atol=1e-6,
    )


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mode", ["avg", "max"])
def test_empty_rois_dtype_and_device(device, mode):
    feat = torch.randn(1, 3, 5, 5, dtype=torch.float64, device=device, requires_grad=True)
    out = roi_align(feat, torch.zeros(0, 5, dtype=torch.float64, device=device), (2, 3), 1.0, 0, mode)
    assert out.shape == (0, 3, 2, 3) and out.dtype == torch.float64 and out.device.type == device
    out.sum().backward()
    assert torch.equal(feat.grad, torch.zeros_like(feat))
    feat32, rois = random_case(0)
    out = roi_align(feat32.to(device), rois.to(device), 2, 0.5, 0, mode)
    assert out.device.type == device and out.dtype == torch.float32


@pytest.mark.parametrize(
    "feat,rois,kwargs,error,match",
    [
        (torch.zeros(1, 2, 4), torch.zeros(1, 5), {}, ValueError, r"input.*\(1, 2, 4\)"),
        (torch.zeros(1, 2, 4, 4), torch.zeros(1, 4), {}, ValueError, r"rois.*\(1, 4\)"),
        (torch.zeros(1, 2, 4, 4), torch.zeros(1, 5, dtype=torch.float64), {}, TypeError, "dtype"),
        (torch.zeros(1, 2, 4, 4, dtype=torch.long), torch.zeros(1, 5), {}, TypeError, "input"),
        (torch.zeros(1, 2, 4, 4), torch.tensor([[1.0, 0, 0, 1, 1]]), {}, ValueError, "batch indices"),
        (torch.zeros(1, 2, 4, 4), torch.tensor([[0.0, 0, 0, float("nan"), 1]]), {}, ValueError, "rois.*NaN"),
        (torch.zeros(1, 2, 4, 4), torch.zeros(1, 5), {"pool_mode": "sum"}, ValueError, "pool_mode"),
        (torch.zeros(1, 2, 4, 4), torch.zeros(1, 5), {"output_size": (2, 0)}, ValueError, "output_size"),
        (torch.zeros(1, 2, 4, 4), torch.zeros(1, 5), {"output_size": "7"}, TypeError, "output_size"),
        (torch.zeros(1, 2, 4, 4), torch.zeros(1, 5), {"sampling_ratio": 1.5}, TypeError, "sampling_ratio"),
    ],
)
def test_bad_inputs(feat, rois, kwargs, error, match):
    kwargs = {"output_size": 2, **kwargs}
    with pytest.raises(error, match=match):
        roi_align(feat, rois, **kwargs)
