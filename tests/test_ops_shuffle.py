"""pixel_unshuffle_3d / pixel_shuffle_3d: kernel vs reference vs an independent composite
(strided slicing), bitwise forward, backward, round trips, layouts, dtypes."""

from __future__ import annotations

import pytest
import torch

import composites as comp
from bootvid import ops
from helpers import (DEVICE_DTYPES_FP16_CPU, DEVICES, LAYOUTS, assert_close, assert_equal,
                     assert_kernel_layout, bootvid_ops_in, needs_kernels, rand, record_ops)

FACTORS = [(1, 1, 1), (1, 2, 2), (2, 2, 2), (4, 2, 2), (2, 1, 3), (3, 2, 1)]


def frames(ft, causal):
    """Frame counts the op accepts: 1 + ft*k (causal) or ft*k, small k, and 17 when it fits."""
    if causal:
        ts = [1 + ft * k for k in (0, 1, 2)]
        if (17 - 1) % ft == 0:
            ts.append(17)
    else:
        ts = [ft * k for k in (1, 2, 3)]
    return sorted(set(ts))


CASES = [(f, T, causal) for f in FACTORS for causal in (True, False) for T in frames(f[0], causal)]
CASE_IDS = ["f{}{}{}-T{}-{}".format(*f, T, "causal" if c else "plain") for f, T, c in CASES]


def grad_of(fn, x, seed=3):
    x = x.detach().requires_grad_()
    y = fn(x)
    gy = rand(*y.shape, dtype=y.dtype, device=y.device, seed=seed)
    (g,) = torch.autograd.grad(y, x, gy)
    return y, g


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("device,dtype", DEVICE_DTYPES_FP16_CPU)
def test_unshuffle_matches_composite(device, dtype, case, layout):
    (ft, fh, fw), T, causal = case
    B, C, H, W = 2, 3, 3 * fh, 5 * fw
    x = rand(B, C, T, H, W, dtype=dtype, device=device, layout=layout)
    f = (ft, fh, fw)
    y, g = grad_of(lambda t: ops.pixel_unshuffle_3d(t, f, causal), x)
    with ops.use_reference():
        ry, rg = grad_of(lambda t: ops.pixel_unshuffle_3d(t, f, causal), x)
    ey, eg = grad_of(lambda t: comp.pixel_unshuffle_3d(t, f, causal), x)
    T_out = (T + ft - 1) // ft if causal else T // ft
    assert y.shape == (B, C * ft * fh * fw, T_out, H // fh, W // fw)
    tag = f"{case} {layout} {dtype}"
    assert_equal(y, ey, f"y {tag}")
    assert_equal(ry, ey, f"reference y {tag}")
    # frame 0's gradient sums the ft copies made of it: the order of that sum may differ
    assert_close(g, eg, dtype, f"grad x {tag}")
    assert_close(rg, eg, dtype, f"reference grad x {tag}")
    if ops.kernels_available(device):
        assert_kernel_layout(y, x)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("device,dtype", DEVICE_DTYPES_FP16_CPU)
def test_shuffle_matches_composite(device, dtype, case, layout):
    (ft, fh, fw), T, causal = case
    Fk = ft * fh * fw
    T_in = (T + ft - 1) // ft if causal else T // ft  # latent frames of a T-frame video
    B, C, Hs, Ws = 2, 3, 3, 5
    z = rand(B, C * Fk, T_in, Hs, Ws, dtype=dtype, device=device, layout=layout)
    f = (ft, fh, fw)
    y, g = grad_of(lambda t: ops.pixel_shuffle_3d(t, f, causal), z)
    with ops.use_reference():
        ry, rg = grad_of(lambda t: ops.pixel_shuffle_3d(t, f, causal), z)
    ey, eg = grad_of(lambda t: comp.pixel_shuffle_3d(t, f, causal), z)
    assert y.shape == (B, C, T, Hs * fh, Ws * fw)
    tag = f"{case} {layout} {dtype}"
    assert_equal(y, ey, f"y {tag}")
    assert_equal(ry, ey, f"reference y {tag}")
    assert_equal(g, eg, f"grad z {tag}")  # each input element has one (or no) output
    assert_equal(rg, eg, f"reference grad z {tag}")
    if ops.kernels_available(device):
        assert_kernel_layout(y, z)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("factors", FACTORS, ids=["f{}{}{}".format(*f) for f in FACTORS])
@pytest.mark.parametrize("causal", [True, False], ids=["causal", "plain"])
@pytest.mark.parametrize("device", DEVICES)
def test_shuffle_inverts_unshuffle(device, causal, factors, layout):
    ft = factors[0]
    T = 1 + 2 * ft if causal else 2 * ft
    x = rand(1, 4, T, 2 * factors[1], 3 * factors[2], device=device, layout=layout)
    z = ops.pixel_unshuffle_3d(x, factors, causal)
    assert_equal(ops.pixel_shuffle_3d(z, factors, causal), x, "shuffle(unshuffle(x))")
    if not causal:  # a bijection: the other way round too
        assert_equal(ops.pixel_unshuffle_3d(ops.pixel_shuffle_3d(z, factors, causal), factors,
                                            causal), z, "unshuffle(shuffle(z))")


@pytest.mark.parametrize("device", DEVICES)
def test_unshuffle_channel_order(device):
    """Output channel c*(ft*fh*fw) + (it*fh*fw + ih*fw + iw) holds P[c, t*ft+it, h*fh+ih, w*fw+iw],
    checked on an index-valued input."""
    ft, fh, fw = 2, 2, 3
    B, C, T, H, W = 1, 2, 5, 4, 6
    x = torch.arange(B * C * T * H * W, dtype=torch.float32, device=device).reshape(B, C, T, H, W)
    y = ops.pixel_unshuffle_3d(x, (ft, fh, fw), causal=True)
    P = torch.cat([x[:, :, :1]] * (ft - 1) + [x], dim=2)
    for c in range(C):
        for it in range(ft):
            for ih in range(fh):
                for iw in range(fw):
                    k = c * ft * fh * fw + it * fh * fw + ih * fw + iw
                    assert torch.equal(y[0, k], P[0, c, it::ft, ih::fh, iw::fw]), (c, it, ih, iw)


@pytest.mark.parametrize("device", DEVICES)
def test_unshuffle_tokenizer_size(device):
    """(1, 128, 17, 64, 64) -> (1, 1024, 9, 32, 32) and back, channels_last."""
    x = rand(1, 128, 17, 64, 64, device=device, layout="channels_last")
    y = ops.pixel_unshuffle_3d(x, (2, 2, 2))
    assert_equal(y, comp.pixel_unshuffle_3d(x, (2, 2, 2)), "unshuffle")
    assert_equal(ops.pixel_shuffle_3d(y, (2, 2, 2)), x, "shuffle")


@needs_kernels
def test_shuffles_run_the_kernels():
    x = rand(1, 2, 5, 4, 4, requires_grad=True)
    with record_ops() as names:
        z = ops.pixel_unshuffle_3d(x, (2, 2, 2))
        y = ops.pixel_shuffle_3d(z, (2, 2, 2))
    assert bootvid_ops_in(names) == ["bootvid::depth_to_space_3d", "bootvid::space_to_depth_3d"]
    with record_ops() as names:
        y.sum().backward()
    assert bootvid_ops_in(names) == ["bootvid::depth_to_space_3d", "bootvid::space_to_depth_3d"]
    with ops.use_reference(), record_ops() as names:
        ops.pixel_shuffle_3d(ops.pixel_unshuffle_3d(x, (2, 2, 2)), (2, 2, 2))
    assert bootvid_ops_in(names) == []
