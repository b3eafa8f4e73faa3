"""group_norm_act and adaptive_group_norm: kernel vs reference vs an independent composite
(F.group_norm per frame, explicit RMS, repeat_interleave + F.interpolate alignment), forward
and backward, odd sizes, layouts, dtypes."""

from __future__ import annotations

import itertools

import pytest
import torch

import composites as comp
from bootvid import ops
from helpers import (DEVICE_DTYPES, DEVICE_DTYPES_FP16_CPU, DEVICES, LAYOUTS, assert_close,
                     assert_kernel_layout, assert_rel_close, bootvid_ops_in, f64, needs_kernels,
                     rand, record_ops)

FRAMES = (1, 2, 5, 17)
FLAGS = list(itertools.product([True, False], [True, False], ["silu", "none"]))
FLAG_IDS = [f"{'pf' if p else 'all'}-{'c' if c else 'rms'}-{a}" for p, c, a in FLAGS]


def backward(y, inputs, seed=11):
    gy = rand(*y.shape, dtype=y.dtype, device=y.device, seed=seed)
    want = [t for t in inputs if t is not None]
    g = iter(torch.autograd.grad(y, want, gy))
    return [next(g) if t is not None else None for t in inputs]


def other_layout(layout):
    return LAYOUTS[(LAYOUTS.index(layout) + 1) % len(LAYOUTS)]


# ---- group_norm_act -------------------------------------------------------------------

def check_gn(device, dtype, shape, G, per_frame, center, act, layout, affine=("w", "b"),
             seed=0, offset=0.0, grad=True, fwd_tol=None, ref_tol=None):
    B, C, T, H, W = shape
    x = rand(*shape, dtype=dtype, device=device, layout=layout, seed=seed, offset=offset,
             requires_grad=grad)
    w = rand(C, dtype=dtype, device=device, seed=seed + 1, offset=1.0, scale=0.3,
             requires_grad=grad) if "w" in affine else None
    b = rand(C, dtype=dtype, device=device, seed=seed + 2, scale=0.5,
             requires_grad=grad) if "b" in affine else None
    eps = 1e-6
    tag = f"{shape} G={G} per_frame={per_frame} center={center} act={act} {layout} {dtype}"
    y = ops.group_norm_act(x, G, w, b, eps, per_frame, center, act)
    with ops.use_reference():
        ry = ops.group_norm_act(x, G, w, b, eps, per_frame, center, act)
    ex, ew, eb = f64(x, w, b)
    ey = comp.group_norm_act(ex, G, ew, eb, eps, per_frame, center, act)
    assert y.dtype == dtype and y.shape == x.shape
    # (without kernels, ops.X is the reference: hold it to the reference's tolerance)
    kernel_tol = fwd_tol if ops.kernels_available(device) else (ref_tol or fwd_tol)
    assert_close(y, ey, dtype, f"y {tag}", **(kernel_tol or {}))
    assert_close(ry, ey, dtype, f"reference y {tag}", **(ref_tol or fwd_tol or {}))
    if ops.kernels_available(device):
        assert_kernel_layout(y, x)
    if not grad:
        return
    g = backward(y, [x, w, b])
    rg = backward(ry, [x, w, b])
    eg = backward(ey, [ex, ew, eb])
    assert_close(g[0], eg[0], dtype, f"grad x {tag}")
    assert_close(rg[0], eg[0], dtype, f"reference grad x {tag}")
    for name, a, r, e in zip(("weight", "bias"), g[1:], rg[1:], eg[1:]):
        if e is not None:
            assert_rel_close(a, e, dtype, f"grad {name} {tag}")
            assert_rel_close(r, e, dtype, f"reference grad {name} {tag}")


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("flags", FLAGS, ids=FLAG_IDS)
@pytest.mark.parametrize("T", FRAMES)
@pytest.mark.parametrize("device,dtype", DEVICE_DTYPES_FP16_CPU)
def test_group_norm_act_matches_composite(device, dtype, T, flags, layout):
    per_frame, center, act = flags
    check_gn(device, dtype, (2 if T < 5 else 1, 8, T, 5, 11), 4, per_frame, center, act, layout)


@pytest.mark.parametrize("affine", [(), ("w",), ("b",), ("w", "b")],
                         ids=["no-affine", "weight", "bias", "weight+bias"])
@pytest.mark.parametrize("C,G", [(6, 1), (6, 3), (32, 32), (48, 16)])
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("device,dtype", DEVICE_DTYPES)
def test_group_norm_act_groups_and_affine(device, dtype, layout, C, G, affine):
    check_gn(device, dtype, (1, C, 3, 9, 7), G, True, True, "silu", layout, affine)
    check_gn(device, dtype, (1, C, 3, 9, 7), G, False, False, "none", layout, affine, seed=5)


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("device", DEVICES)
def test_group_norm_act_large_mean(device, layout):
    """Inputs far from zero (mean 100, std 1): the variance must not come from a
    cancelling E[x^2] - E[x]^2 in fp32."""
    for per_frame in (True, False):
        check_gn(device, torch.float32, (1, 16, 3, 13, 17), 4, per_frame, True, "none", layout,
                 offset=100.0, grad=False, fwd_tol=dict(rtol=1e-4, atol=1e-4),
                 # the reference's fp32 two-pass mean is a few ulps of 100 off
                 ref_tol=dict(rtol=1e-3, atol=1e-3))


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("device", DEVICES)
def test_group_norm_act_tokenizer_size(device, layout):
    """One tokenizer-sized case: B=1, C=128, T=17, 64x64, 32 groups, forward and backward."""
    check_gn(device, torch.float32, (1, 128, 17, 64, 64), 32, True, True, "silu", layout)


@needs_kernels
@pytest.mark.parametrize("per_frame,center", [(True, True), (False, True), (True, False)])
def test_group_norm_act_statistics(per_frame, center):
    """The compiled op also returns the group statistics: mean (0 for the RMS norm) and rstd,
    fp32 (B, G, T or 1)."""
    x = rand(2, 8, 5, 6, 7, seed=3)
    y, mean, rstd = torch.ops.bootvid.group_norm_act(x, 4, None, None, 1e-6, per_frame, center,
                                                     "none")
    xg = x.double().reshape(2, 4, 2, 5, 6, 7)
    dims = (2, 4, 5) if per_frame else (2, 3, 4, 5)
    m = xg.mean(dims) if center else torch.zeros_like(xg.sum(dims))
    v = xg.var(dims, unbiased=False) if center else xg.square().mean(dims)
    shape = (2, 4, 5 if per_frame else 1)
    assert mean.dtype == rstd.dtype == torch.float32
    assert mean.shape == rstd.shape == shape
    assert_close(mean, m.reshape(shape), torch.float32)
    assert_close(rstd, (v + 1e-6).rsqrt().reshape(shape), torch.float32)


@needs_kernels
def test_group_norm_act_runs_the_kernel():
    x = rand(1, 8, 3, 5, 5)
    with record_ops() as names:
        ops.group_norm_act(x, 4)
    assert bootvid_ops_in(names) == ["bootvid::group_norm_act"]
    with ops.use_reference(), record_ops() as names:
        ops.group_norm_act(x, 4)
    assert bootvid_ops_in(names) == []


@needs_kernels
def test_group_norm_act_backward_runs_the_kernel():
    x = rand(1, 8, 3, 5, 5, requires_grad=True)
    w = rand(8, requires_grad=True)
    y = ops.group_norm_act(x, 4, w)
    with record_ops() as names:
        y.sum().backward()
    assert "bootvid::group_norm_act_backward" in bootvid_ops_in(names)


def _collect(checks):
    """Run every check; fail once, listing each case that failed with its first line."""
    failures = []
    for name, fn in checks:
        try:
            fn()
        except AssertionError as e:
            failures.append(f"{name}: {str(e).splitlines()[0]} | "
                            + " ".join(l for l in str(e).splitlines() if "Greatest abs" in l))
    assert not failures, f"{len(failures)}/{len(checks)} cases failed:\n" + "\n".join(failures)


def test_group_norm_act_float64_is_float64_accurate():
    """float64 runs the CPU kernel; its results (forward and backward) must be float64-
    accurate (1e-9), not float32-accurate: gradcheck relies on it."""
    _collect([(f"{fid} affine={bool(aff)}",
               lambda f=f, aff=aff: check_gn("cpu", torch.float64, (1, 8, 3, 5, 6), 4, *f,
                                             "contiguous", aff))
              for f, fid in zip(FLAGS, FLAG_IDS) for aff in ((), ("w", "b"))])


# ---- adaptive_group_norm ----------------------------------------------------------------

# (T, H, W, Tl, Hl, Wl): time ratio r = (T - 1) / (Tl - 1), spatial ratios H / Hl, W / Wl
ALIGN = [
    (1, 6, 10, 1, 1, 1),    # broadcast in time and space
    (2, 6, 10, 2, 3, 5),    # r = 1, 2x2 nearest
    (5, 6, 10, 2, 6, 10),   # r = 4, same size in space
    (5, 6, 9, 3, 3, 3),     # r = 2, 2x3 nearest (sh != sw)
    (17, 5, 7, 5, 1, 1),    # r = 4, spatial broadcast
    (17, 6, 10, 1, 3, 5),   # time broadcast, 2x2 nearest
    (17, 6, 10, 17, 6, 10),  # no alignment needed
    (9, 4, 6, 3, 2, 6),     # r = 4, 2x1
    (5, 6, 10, 5, 1, 10),   # Hl = 1 < H: nearest stretches one row
]
ALIGN_IDS = ["T{}x{}x{}-from-{}x{}x{}".format(*a) for a in ALIGN]
# (per_frame, center, act, beta)
AGN_FLAGS = [(True, True, "none", True), (True, False, "silu", False),
             (False, True, "silu", True), (False, False, "none", False)]
AGN_FLAG_IDS = ["pf-c-none-beta", "pf-rms-silu", "all-c-silu-beta", "all-rms-none"]


def check_agn(device, dtype, B, C, G, align, per_frame, center, act, with_beta, layout,
              gamma_layout=None, seed=0, grad=True):
    T, H, W, Tl, Hl, Wl = align
    gl = gamma_layout or other_layout(layout)
    x = rand(B, C, T, H, W, dtype=dtype, device=device, layout=layout, seed=seed,
             requires_grad=grad)
    gamma = rand(B, C, Tl, Hl, Wl, dtype=dtype, device=device, layout=gl, seed=seed + 1,
                 scale=0.5, requires_grad=grad)
    beta = rand(B, C, Tl, Hl, Wl, dtype=dtype, device=device, layout=gl, seed=seed + 2,
                scale=0.5, requires_grad=grad) if with_beta else None
    eps = 1e-6
    tag = (f"{(B, C, T, H, W)} gamma {(Tl, Hl, Wl)} G={G} per_frame={per_frame} "
           f"center={center} act={act} beta={with_beta} {layout}/{gl} {dtype}")
    y = ops.adaptive_group_norm(x, gamma, beta, G, eps, per_frame, center, act)
    with ops.use_reference():
        ry = ops.adaptive_group_norm(x, gamma, beta, G, eps, per_frame, center, act)
    ex, eg_, eb_ = f64(x, gamma, beta)
    ey = comp.adaptive_group_norm(ex, eg_, eb_, G, eps, per_frame, center, act)
    assert y.dtype == dtype and y.shape == x.shape
    assert_close(y, ey, dtype, f"y {tag}")
    assert_close(ry, ey, dtype, f"reference y {tag}")
    if ops.kernels_available(device):
        assert_kernel_layout(y, x)
    if not grad:
        return
    g = backward(y, [x, gamma, beta])
    rg = backward(ry, [x, gamma, beta])
    eg = backward(ey, [ex, eg_, eb_])
    assert_close(g[0], eg[0], dtype, f"grad x {tag}")
    assert_close(rg[0], eg[0], dtype, f"reference grad x {tag}")
    for name, a, r, e in zip(("gamma", "beta"), g[1:], rg[1:], eg[1:]):
        if e is not None:
            assert a.shape == e.shape and a.dtype == dtype
            assert_rel_close(a, e, dtype, f"grad {name} {tag}")
            assert_rel_close(r, e, dtype, f"reference grad {name} {tag}")


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("flags", AGN_FLAGS, ids=AGN_FLAG_IDS)
@pytest.mark.parametrize("align", ALIGN, ids=ALIGN_IDS)
@pytest.mark.parametrize("device,dtype", DEVICE_DTYPES_FP16_CPU)
def test_adaptive_group_norm_matches_composite(device, dtype, align, flags, layout):
    per_frame, center, act, with_beta = flags
    check_agn(device, dtype, 2 if align[0] < 5 else 1, 8, 4, align, per_frame, center, act,
              with_beta, layout)


@pytest.mark.parametrize("flags", list(itertools.product([True, False], [True, False],
                                                         ["silu", "none"], [True, False])))
@pytest.mark.parametrize("device,dtype", DEVICE_DTYPES)
def test_adaptive_group_norm_all_flags(device, dtype, flags):
    per_frame, center, act, with_beta = flags
    check_agn(device, dtype, 1, 12, 3, (9, 6, 6, 3, 3, 2), per_frame, center, act, with_beta,
              "channels_last", gamma_layout="contiguous", seed=4)


def test_adaptive_group_norm_float64_is_float64_accurate():
    _collect([(fid, lambda f=f: check_agn("cpu", torch.float64, 1, 8, 4, (5, 6, 9, 3, 3, 3), *f,
                                          "channels_last"))
              for f, fid in zip(AGN_FLAGS, AGN_FLAG_IDS)])


@pytest.mark.parametrize("gamma_layout", LAYOUTS)
@pytest.mark.parametrize("device", DEVICES)
def test_adaptive_group_norm_gamma_layouts(device, gamma_layout):
    for layout in LAYOUTS:
        check_agn(device, torch.float32, 1, 8, 2, (5, 6, 9, 3, 3, 3), True, True, "silu", True,
                  layout, gamma_layout=gamma_layout)


@pytest.mark.parametrize("device", DEVICES)
def test_adaptive_group_norm_tokenizer_size(device):
    """Tokenizer-sized: (1, 128, 17, 64, 64) modulated by a (1, 128, 5, 32, 32) latent."""
    check_agn(device, torch.float32, 1, 128, 32, (17, 64, 64, 5, 32, 32), True, True, "none",
              True, "channels_last", gamma_layout="channels_last")


@pytest.mark.parametrize("device", DEVICES)
def test_adaptive_group_norm_zero_modulation_is_group_norm(device):
    """gamma = beta = 0 reduces to group_norm_act without affine (cross-op consistency)."""
    x = rand(1, 8, 5, 6, 6, device=device)
    gamma = torch.zeros(1, 8, 3, 3, 3, device=device)
    for per_frame, center, act in FLAGS:
        a = ops.adaptive_group_norm(x, gamma, torch.zeros_like(gamma), 4, 1e-6, per_frame,
                                    center, act)
        b = ops.group_norm_act(x, 4, None, None, 1e-6, per_frame, center, act)
        assert_close(a, b, torch.float32, f"{per_frame} {center} {act}")


@pytest.mark.parametrize("device", DEVICES)
def test_adaptive_alignment_composite_is_causal(device):
    """The test composite's alignment itself, on a hand-made example: x frame 0 <- gamma
    frame 0, frames 1..r <- 1, r+1..2r <- 2; rows/cols by nearest neighbour."""
    p = torch.arange(3, device=device, dtype=torch.float64).reshape(1, 1, 3, 1, 1)
    a = comp.align(p, 5, 1, 1).flatten().tolist()
    assert a == [0, 1, 1, 2, 2]
    q = torch.arange(4, device=device, dtype=torch.float64).reshape(1, 1, 1, 2, 2)
    s = comp.align(q, 1, 4, 6)[0, 0, 0]
    assert s.tolist() == [[0, 0, 0, 1, 1, 1]] * 2 + [[2, 2, 2, 3, 3, 3]] * 2


@needs_kernels
def test_adaptive_group_norm_runs_the_kernel():
    x = rand(1, 8, 5, 4, 4, requires_grad=True)
    gamma = rand(1, 8, 2, 2, 2, requires_grad=True)
    with record_ops() as names:
        y = ops.adaptive_group_norm(x, gamma, None, 4)
    assert bootvid_ops_in(names) == ["bootvid::adaptive_group_norm"]
    with record_ops() as names:
        y.sum().backward()
    assert "bootvid::adaptive_group_norm_backward" in bootvid_ops_in(names)
