"""``torch.autograd.gradcheck`` in float64 on the public ops: on the compiled kernels (the CPU
kernels support float64; CUDA ones do not, so those fall back to the reference) and on the
reference twins (under ``use_reference``)."""

from __future__ import annotations

import pytest
import torch
from torch.autograd import gradcheck

from bootvid import ops
from helpers import DEVICES, KERNELS, bootvid_ops_in, rand, record_ops

PATHS = [pytest.param(False, id="kernel"), pytest.param(True, id="reference")]


def leaf(*shape, device="cpu", seed=0, layout="contiguous", scale=1.0, offset=0.0):
    return rand(*shape, dtype=torch.float64, device=device, seed=seed, layout=layout,
                scale=scale, offset=offset, requires_grad=True)


def check(fn, inputs, reference, device, expect_op=None):
    with ops.use_reference(reference):
        assert gradcheck(fn, inputs, eps=1e-6, atol=1e-6, rtol=1e-4)
        if expect_op and not reference and KERNELS and device == "cpu":
            with record_ops() as names:
                fn(*inputs)
            assert expect_op in bootvid_ops_in(names), "the float64 CPU kernel did not run"


CONV_CASES = {
    # name: (weight shape, stride, padding, pad_mode, bias, cache frames or None, T)
    "k333": ((3, 2, 3, 3, 3), (1, 1, 1), (1, 1), "replicate", True, None, 4),
    "k333-zeros": ((3, 2, 3, 3, 3), (1, 1, 1), (1, 0), "zeros", False, None, 3),
    "k333-st2-s2": ((2, 2, 3, 3, 3), (2, 2, 2), (1, 1), "replicate", True, None, 5),
    "k333-cache": ((3, 2, 3, 3, 3), (1, 1, 1), (1, 1), "replicate", True, 2, 2),
    "k333-st2-cache": ((2, 2, 3, 3, 3), (2, 1, 1), (0, 1), "replicate", False, 1, 4),
    "depthwise": ((2, 1, 3, 2, 2), (1, 1, 1), (0, 0), "replicate", True, None, 3),
    "k1": ((3, 2, 1, 1, 1), (1, 1, 1), (0, 0), "zeros", True, None, 2),
}


@pytest.mark.parametrize("reference", PATHS)
@pytest.mark.parametrize("case", list(CONV_CASES))
@pytest.mark.parametrize("device", DEVICES)
def test_gradcheck_causal_conv3d(device, case, reference):
    wshape, stride, padding, pad_mode, bias, cache, T = CONV_CASES[case]
    x = leaf(1, 2, T, 4, 5, device=device)
    w = leaf(*wshape, device=device, seed=1, scale=0.5)
    b = leaf(wshape[0], device=device, seed=2) if bias else None
    c = leaf(1, 2, cache, 4, 5, device=device, seed=3) if cache is not None else None

    def fn(x, w, b, c):
        return ops.causal_conv3d(x, w, b, stride, padding, pad_mode, c)

    check(fn, (x, w, b, c), reference, device, "bootvid::causal_conv3d")


GN_CASES = [(pf, c, a, aff) for pf in (True, False) for c in (True, False)
            for a in ("silu", "none") for aff in (True, False)]


@pytest.mark.parametrize("reference", PATHS)
@pytest.mark.parametrize("per_frame,center,act,affine", GN_CASES,
                         ids=[f"{'pf' if p else 'all'}-{'c' if c else 'rms'}-{a}"
                              f"{'-affine' if f else ''}" for p, c, a, f in GN_CASES])
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("device", DEVICES)
def test_gradcheck_group_norm_act(device, layout, per_frame, center, act, affine, reference):
    x = leaf(1, 4, 3, 3, 4, device=device, layout=layout)
    w = leaf(4, device=device, seed=1, offset=1.0, scale=0.3) if affine else None
    b = leaf(4, device=device, seed=2) if affine else None

    def fn(x, w, b):
        return ops.group_norm_act(x, 2, w, b, 1e-5, per_frame, center, act)

    check(fn, (x, w, b), reference, device, "bootvid::group_norm_act")


AGN_CASES = {
    "r2-s2-beta": ((5, 4, 4), (3, 2, 2), True, (True, True, "none")),
    "broadcast-silu": ((3, 4, 4), (1, 1, 1), True, (False, True, "silu")),
    "r1-sw2-rms": ((2, 4, 4), (2, 4, 2), False, (True, False, "silu")),
    "r4-all-rms": ((5, 2, 3), (2, 1, 3), True, (False, False, "none")),
}


@pytest.mark.parametrize("reference", PATHS)
@pytest.mark.parametrize("case", list(AGN_CASES))
@pytest.mark.parametrize("device", DEVICES)
def test_gradcheck_adaptive_group_norm(device, case, reference):
    xs, gs, beta, (per_frame, center, act) = AGN_CASES[case]
    x = leaf(1, 4, *xs, device=device, layout="channels_last")
    g = leaf(1, 4, *gs, device=device, seed=1, scale=0.5)
    bt = leaf(1, 4, *gs, device=device, seed=2) if beta else None

    def fn(x, g, bt):
        return ops.adaptive_group_norm(x, g, bt, 2, 1e-5, per_frame, center, act)

    check(fn, (x, g, bt), reference, device, "bootvid::adaptive_group_norm")


@pytest.mark.parametrize("reference", PATHS)
@pytest.mark.parametrize("factors,causal", [((2, 2, 2), True), ((3, 1, 2), True),
                                            ((2, 2, 1), False)])
@pytest.mark.parametrize("device", DEVICES)
def test_gradcheck_shuffles(device, factors, causal, reference):
    ft, fh, fw = factors
    x = leaf(1, 2, 1 + ft if causal else 2 * ft, 2 * fh, fw, device=device, layout="channels_last")
    check(lambda x: ops.pixel_unshuffle_3d(x, factors, causal), (x,), reference, device,
          "bootvid::space_to_depth_3d")
    z = leaf(1, 2 * ft * fh * fw, 2, 2, 1, device=device)
    check(lambda z: ops.pixel_shuffle_3d(z, factors, causal), (z,), reference, device,
          "bootvid::depth_to_space_3d")
