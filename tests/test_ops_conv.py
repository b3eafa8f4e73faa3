"""causal_conv3d: kernel vs reference vs an independent composite (F.pad + F.conv3d),
forward and backward, odd sizes, layouts, dtypes, the streaming cache."""

from __future__ import annotations

import pytest
import torch

import composites as comp
from bootvid import ops
from helpers import (DEVICE_DTYPES, DEVICES, LAYOUTS, assert_kernel_layout, assert_rel_close,
                     bootvid_ops_in, f64, needs_kernels, rand, record_ops, to_layout)

# name: (C_in, C_out, (kt, kh, kw), stride, padding, groups, bias)
CONFIGS = {
    "k333": (4, 6, (3, 3, 3), (1, 1, 1), (1, 1), 1, True),
    "k333-st2": (4, 4, (3, 3, 3), (2, 1, 1), (1, 1), 1, False),
    "k333-s2": (4, 8, (3, 3, 3), (1, 2, 2), (1, 1), 1, True),
    "k333-st2-s2-g2": (4, 6, (3, 3, 3), (2, 2, 2), (0, 1), 2, True),
    "depthwise": (6, 6, (3, 3, 3), (1, 1, 1), (1, 1), 6, False),
    "k111": (4, 5, (1, 1, 1), (1, 1, 1), (0, 0), 1, True),
    "k133-s2": (4, 4, (1, 3, 3), (1, 2, 2), (1, 1), 1, False),
    "k222-st2": (4, 6, (2, 2, 2), (2, 2, 2), (0, 0), 1, True),  # patchify: no cache kept
}
FRAMES = (1, 2, 5, 17)
H, W = 7, 9  # not multiples of 8


def make_params(cfg, dtype, device, seed=0):
    cin, cout, k, stride, padding, groups, has_bias = CONFIGS[cfg]
    w = rand(cout, cin // groups, *k, dtype=dtype, device=device, seed=seed + 100, scale=0.3)
    b = rand(cout, dtype=dtype, device=device, seed=seed + 200) if has_bias else None
    return w, b, stride, padding


def run_conv(fn, x, w, b, stride, padding, pad_mode, cache=None, gy_seed=7):
    """Forward, then backward of sum(y * gy) + sum(new_cache * gc) with seeded gy, gc.
    Returns y, new_cache and the gradients of (x, w, b, cache) (None where not requiring grad)."""
    y, nc = fn(x, w, b, stride, padding, pad_mode, cache)
    gy = rand(*y.shape, dtype=y.dtype, device=y.device, seed=gy_seed)
    gc = rand(*nc.shape, dtype=nc.dtype, device=nc.device, seed=gy_seed + 1)
    inputs = [t for t in (x, w, b, cache) if t is not None and t.requires_grad]
    # (an output of 0 frames may be disconnected from the graph: test_conv_zero_frames_grad)
    outs = [(o, g) for o, g in ((y, gy), (nc, gc)) if o.requires_grad]
    g = torch.autograd.grad([o for o, _ in outs], inputs, [g for _, g in outs],
                            allow_unused=True)
    g = [torch.zeros_like(t) if a is None else a for a, t in zip(g, inputs)]
    it = iter(g)
    out = [next(it) if (t is not None and t.requires_grad) else None for t in (x, w, b, cache)]
    return y, nc, out


def compare(device, dtype, cfg, T, pad_mode, layout, cache_frames=None, seed=0):
    w, b, stride, padding = make_params(cfg, dtype, device, seed)
    cin = CONFIGS[cfg][0]
    x = rand(1 if T > 2 else 2, cin, T, H, W, dtype=dtype, device=device, layout=layout,
             seed=seed)
    cache = None
    if cache_frames is not None:
        cache = rand(x.shape[0], cin, cache_frames, H, W, dtype=dtype, device=device,
                     layout="strided" if layout == "contiguous" else "contiguous", seed=seed + 3)
    args = [t.requires_grad_() if t is not None else None for t in (x, w, b, cache)]
    y, nc, g = run_conv(ops.causal_conv3d, *args[:3], stride, padding, pad_mode, args[3])
    e_args = f64(*args)
    ey, enc, eg = run_conv(comp.causal_conv3d, *e_args[:3], stride, padding, pad_mode, e_args[3])

    tag = f"{cfg} T={T} {pad_mode} {layout} {dtype}"
    assert y.dtype == dtype and nc.dtype == dtype
    assert y.shape[2] == (T + (cache_frames if cache is not None else w.shape[2] - 1)
                          - w.shape[2]) // stride[0] + 1
    assert_rel_close(y, ey, dtype, f"y {tag}")
    assert_rel_close(nc, enc, dtype, f"new_cache {tag}")
    for name, a, e in zip(("grad x", "grad weight", "grad bias", "grad cache"), g, eg):
        assert (a is None) == (e is None), name
        if a is not None:
            assert_rel_close(a, e, dtype, f"{name} {tag}")
    if ops.kernels_available(device):
        assert_kernel_layout(y, x)
        assert_kernel_layout(nc, x)
    # the reference twin agrees with the composite too
    with ops.use_reference():
        ry, rnc, rg = run_conv(ops.causal_conv3d, *args[:3], stride, padding, pad_mode, args[3])
    assert_rel_close(ry, ey, dtype, f"reference y {tag}")
    assert_rel_close(rnc, enc, dtype, f"reference new_cache {tag}")
    for name, a, e in zip(("grad x", "grad weight", "grad bias", "grad cache"), rg, eg):
        if a is not None:
            assert_rel_close(a, e, dtype, f"reference {name} {tag}")


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("pad_mode", ["replicate", "zeros"])
@pytest.mark.parametrize("T", FRAMES)
@pytest.mark.parametrize("cfg", list(CONFIGS))
@pytest.mark.parametrize("device,dtype", DEVICE_DTYPES)
def test_conv_matches_composite(device, dtype, cfg, T, pad_mode, layout):
    compare(device, dtype, cfg, T, pad_mode, layout)


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("T", (1, 2, 5))
@pytest.mark.parametrize("cfg", list(CONFIGS))
@pytest.mark.parametrize("device,dtype", DEVICE_DTYPES)
def test_conv_with_cache_matches_composite(device, dtype, cfg, T, layout):
    """A given cache (L = kt - st frames, the length the op keeps) replaces the padding;
    gradients flow to it."""
    kt, st = CONFIGS[cfg][2][0], CONFIGS[cfg][3][0]
    compare(device, dtype, cfg, T, "replicate", layout, cache_frames=kt - st)


@pytest.mark.parametrize("device", DEVICES)
def test_conv_cache_of_other_length(device):
    """Any cache length L with L + T >= kt - st is allowed: T + L - kt frames of windows."""
    for L, T in ((1, 3), (4, 2), (3, 1)):
        compare(device, torch.float32, "k333-st2", T, "replicate", "contiguous", cache_frames=L)


@pytest.mark.parametrize("device", DEVICES)
def test_conv_chunk_without_output(device):
    """A chunk too short for one window yields 0 frames and passes its frames on in the cache."""
    w, b, stride, padding = make_params("k333-st2", torch.float32, device)
    x = rand(1, 4, 1, H, W, device=device, requires_grad=True)
    cache = rand(1, 4, 0, H, W, device=device, requires_grad=True)
    y, nc = ops.causal_conv3d(x, w, b, stride, padding, cache=cache)
    with ops.use_reference():
        ry, rnc = ops.causal_conv3d(x, w, b, stride, padding, cache=cache)
    assert y.shape == ry.shape == (1, 4, 0, H, W)
    assert torch.equal(nc, rnc) and torch.equal(nc, x[:, :, -1:].detach())
    gc = rand(*nc.shape, device=device, seed=9)
    (gx,) = torch.autograd.grad([nc], [x], [gc])
    torch.testing.assert_close(gx, gc)


@pytest.mark.parametrize("reference", [False, True], ids=["op", "reference"])
def test_conv_zero_frames_grad(reference):
    """An output of 0 frames is still part of the autograd graph (so a streaming loop can
    call backward on every chunk's output, empty or not), on the kernel and the reference."""
    w, b, stride, padding = make_params("k333-st2", torch.float32, "cpu")
    w.requires_grad_()
    x = rand(1, 4, 1, H, W, requires_grad=True)
    cache = rand(1, 4, 0, H, W, requires_grad=True)
    with ops.use_reference(reference):
        y, _ = ops.causal_conv3d(x, w, b, stride, padding, cache=cache)
    assert y.shape[2] == 0
    assert y.requires_grad, "y (0 frames) does not require grad although x and weight do"


# ---- streaming: chunks through the cache == the whole video ---------------------------

def chunk_plans(st, T, init_cache):
    """Chunk lengths: without a first cache, the first 1 + st*m frames and the rest multiples
    of st; with one, every chunk a multiple of st (the cache stands for earlier frames)."""
    if st == 1:
        return [[T], [1] * T, [1, 4, 5, T - 10], [5, T - 5]]
    if init_cache:
        assert T % st == 0
        return [[T], [2] * (T // 2), [4, 2, T - 6]]
    assert (T - 1) % st == 0
    return [[T], [1] + [2] * ((T - 1) // 2), [1, 6, 2, T - 9], [5, T - 5]]


def stream(fn, x, w, b, stride, padding, pad_mode, lengths, cache=None):
    ys, t = [], 0
    for n in lengths:
        y, cache = fn(x[:, :, t:t + n], w, b, stride, padding, pad_mode, cache)
        ys.append(y)
        t += n
    assert t == x.shape[2]
    return torch.cat(ys, dim=2), cache


@pytest.mark.parametrize("init_cache", [False, True], ids=["pad", "cache0"])
@pytest.mark.parametrize("pad_mode", ["replicate", "zeros"])
@pytest.mark.parametrize("cfg", list(CONFIGS))
@pytest.mark.parametrize("device", DEVICES)
def test_conv_chunked_equals_whole(device, cfg, pad_mode, init_cache):
    """Forward and backward (w.r.t. x, weight, bias, the first cache and through every
    new_cache) of a video fed in chunks equal those of the whole video."""
    dtype = torch.float32
    w, b, stride, padding = make_params(cfg, dtype, device)
    cin, kt, st = CONFIGS[cfg][0], CONFIGS[cfg][2][0], CONFIGS[cfg][3][0]
    T = 16 if init_cache and st > 1 else 17
    x = rand(1, cin, T, H, W, dtype=dtype, device=device, seed=1)
    cache0 = (rand(1, cin, kt - st, H, W, dtype=dtype, device=device, seed=2)
              if init_cache else None)
    params = [t.requires_grad_() if t is not None else None for t in (x, w, b, cache0)]
    whole_y, whole_nc = ops.causal_conv3d(*params[:3], stride, padding, pad_mode, params[3])
    gy = rand(*whole_y.shape, device=device, seed=8)
    gc = rand(*whole_nc.shape, device=device, seed=9)
    inputs = [t for t in params if t is not None]
    whole_g = torch.autograd.grad([whole_y, whole_nc], inputs, [gy, gc])
    ey, enc = comp.causal_conv3d(*f64(*params[:3]), stride, padding, pad_mode, f64(params[3]))
    assert_rel_close(whole_y, ey, dtype, "whole vs composite")
    for lengths in chunk_plans(st, T, init_cache):
        y, nc = stream(ops.causal_conv3d, *params[:3], stride, padding, pad_mode, lengths,
                       params[3])
        tag = f"{cfg} {pad_mode} chunks {lengths}"
        assert_rel_close(y, whole_y, dtype, f"y {tag}", tol=1e-5)
        assert_rel_close(nc, whole_nc, dtype, f"new_cache {tag}", tol=1e-5)
        g = torch.autograd.grad([y, nc], inputs, [gy, gc])
        for i, (a, e) in enumerate(zip(g, whole_g)):
            assert_rel_close(a, e, dtype, f"grad {['x', 'weight', 'bias', 'cache'][i]} {tag}",
                             tol=1e-5)


@pytest.mark.parametrize("device,dtype", DEVICE_DTYPES)
def test_conv_chunked_equals_whole_low_precision(device, dtype):
    """In bf16/fp16 too, streaming gives the whole-video result (same kernel, same rounding
    of each output)."""
    w, b, stride, padding = make_params("k333", dtype, device)
    x = rand(1, 4, 17, H, W, dtype=dtype, device=device, seed=1)
    whole, _ = ops.causal_conv3d(x, w, b, stride, padding)
    y, _ = stream(ops.causal_conv3d, x, w, b, stride, padding, "replicate", [1, 4, 12])
    assert_rel_close(y, whole, dtype, "chunked vs whole", tol={torch.float32: 1e-5}.get(dtype))


# ---- the tokenizer-sized case ---------------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
def test_conv_tokenizer_size(device):
    """One tokenizer-sized layer (64 -> 64 channels, 3x3x3, 17 frames of 32x32), channels_last."""
    dtype = torch.float32
    x = rand(1, 64, 17, 32, 32, device=device, layout="channels_last", seed=3)
    w = rand(64, 64, 3, 3, 3, device=device, seed=4, scale=0.05)
    b = rand(64, device=device, seed=5)
    y, nc = ops.causal_conv3d(x, w, b, padding=(1, 1))
    ey, enc = comp.causal_conv3d(*f64(x, w, b), padding=(1, 1))
    assert_rel_close(y, ey, dtype, "y")
    assert torch.equal(nc, x[:, :, -2:])


def test_conv_over_the_chunk_cap():
    """Outputs over 64 MiB run in several time pieces on the CPU (forward and backward), whose
    gradients are scattered into x's with their overlaps added: the same as the composite."""
    dtype = torch.float32
    x = rand(1, 16, 21, 128, 128, seed=6).requires_grad_()
    w = rand(64, 16, 3, 3, 3, seed=7, scale=0.05).requires_grad_()
    b = rand(64, seed=8).requires_grad_()
    y, _ = ops.causal_conv3d(x, w, b, padding=(1, 1))
    assert y[:, :, 2:].numel() * y.element_size() > 64 << 20  # the body, after the head
    gy = rand(*y.shape, seed=9)
    g = torch.autograd.grad(y, (x, w, b), gy)
    ey, _ = comp.causal_conv3d(x, w, b, padding=(1, 1))
    eg = torch.autograd.grad(ey, (x, w, b), gy)
    assert_rel_close(y, ey, dtype, "y", tol=1e-4)
    for name, a, e in zip(("grad x", "grad weight", "grad bias"), g, eg):
        assert_rel_close(a, e, dtype, name, tol=1e-4)


@needs_kernels
@pytest.mark.parametrize("frozen", ["weight", "input", "bias"])
@pytest.mark.parametrize("device", DEVICES)
def test_conv_backward_computes_only_the_gradients_asked_for(device, frozen):
    """A frozen layer (a grown model's lower stages) needs no weight gradient, the input video
    no input gradient: the backward op is told (output_mask) and skips them, and what it does
    compute equals the composite's."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Masks(TorchDispatchMode):
        seen: list = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if "causal_conv3d_backward" in str(func):
                self.seen.append(list(args[-1]))
            return func(*args, **(kwargs or {}))

    dtype = torch.float32
    x = rand(1, 4, 7, 6, 6, device=device, seed=1).requires_grad_(frozen != "input")
    w = rand(8, 4, 3, 3, 3, device=device, seed=2, scale=0.2).requires_grad_(frozen != "weight")
    b = rand(8, device=device, seed=3).requires_grad_(frozen != "bias")
    wanted = [t for t in (x, w, b) if t.requires_grad]
    gy = rand(1, 8, 7, 6, 6, device=device, seed=4)
    with Masks() as mode:
        y, _ = ops.causal_conv3d(x, w, b, padding=(1, 1))
        got = torch.autograd.grad(y, wanted, gy)
    assert mode.seen == [[frozen != "input", frozen != "weight", frozen != "bias"]]
    e_args = f64(x, w, b)
    ey, _ = comp.causal_conv3d(*e_args, padding=(1, 1))
    expected = torch.autograd.grad(ey, [t for t in e_args if t.requires_grad], gy.double())
    for a, e in zip(got, expected):
        assert_rel_close(a, e, dtype, f"frozen {frozen}")


@pytest.mark.parametrize("device", DEVICES)
def test_conv_cache_gradient_without_an_input_gradient(device):
    """Streaming training through a cache: only the cache (and weight) may need gradients."""
    dtype = torch.float32
    x = rand(1, 4, 5, 6, 6, device=device, seed=1)
    w = rand(8, 4, 3, 3, 3, device=device, seed=2, scale=0.2).requires_grad_()
    cache = rand(1, 4, 2, 6, 6, device=device, seed=3).requires_grad_()
    y, nc = ops.causal_conv3d(x, w, None, padding=(1, 1), cache=cache)
    gy, gc = rand(*y.shape, device=device, seed=4), rand(*nc.shape, device=device, seed=5)
    got = torch.autograd.grad((y, nc), (w, cache), (gy, gc))
    e_args = f64(x, w, cache)
    ey, enc = comp.causal_conv3d(e_args[0], e_args[1], None, padding=(1, 1), cache=e_args[2])
    expected = torch.autograd.grad((ey, enc), (e_args[1], e_args[2]), (gy.double(), gc.double()))
    for name, a, e in zip(("grad weight", "grad cache"), got, expected):
        assert_rel_close(a, e, dtype, name)


# ---- dispatch, autocast ---------------------------------------------------------------

@needs_kernels
def test_conv_runs_the_kernel():
    x = rand(1, 4, 5, H, W)
    w, b, stride, padding = make_params("k333", torch.float32, "cpu")
    with record_ops() as names:
        ops.causal_conv3d(x, w, b, stride, padding)
    assert bootvid_ops_in(names) == ["bootvid::causal_conv3d"]
    with ops.use_reference(), record_ops() as names:
        ops.causal_conv3d(x, w, b, stride, padding)
    assert bootvid_ops_in(names) == []


def test_conv_autocast_casts_inputs():
    x = rand(1, 4, 5, H, W)
    w, b, stride, padding = make_params("k333", torch.float32, "cpu")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, nc = ops.causal_conv3d(x, w, b, stride, padding)
    assert y.dtype == nc.dtype == torch.bfloat16
    y2, _ = ops.causal_conv3d(x.bfloat16(), w.bfloat16(), b.bfloat16(), stride, padding)
    assert torch.equal(y, y2)


@pytest.mark.parametrize("device", DEVICES)
def test_conv_new_cache_is_not_a_view(device):
    """new_cache is a fresh tensor: changing x afterwards does not change it."""
    w, b, stride, padding = make_params("k333", torch.float32, device)
    x = rand(1, 4, 5, H, W, device=device)
    _, nc = ops.causal_conv3d(x, w, b, stride, padding)
    keep = nc.clone()
    x.add_(1.0)
    assert torch.equal(nc, keep)


def test_layout_helper_makes_distinct_layouts():
    t = rand(1, 3, 2, 4, 5)
    s = to_layout(t, "strided")
    assert torch.equal(s, t) and not s.is_contiguous()
    assert not s.is_contiguous(memory_format=torch.channels_last_3d)
