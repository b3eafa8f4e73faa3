"""torch.compile(fullgraph=True) runs a small composition of all five ops (no graph break),
forward and backward equal to eager."""

from __future__ import annotations

import pytest
import torch

from bootvid import ops
from helpers import DEVICES, assert_close, assert_rel_close, needs_kernels, rand


def block(x, w, b, gn_w, gn_b, gamma, beta):
    """conv -> group_norm_act -> unshuffle -> adaptive norm -> shuffle (+ the streaming cache)."""
    y, cache = ops.causal_conv3d(x, w, b, (1, 1, 1), (1, 1))
    y = ops.group_norm_act(y, 4, gn_w, gn_b)
    z = ops.pixel_unshuffle_3d(y, (2, 2, 2))
    z = ops.adaptive_group_norm(z, gamma, beta, 8, act="silu")
    return ops.pixel_shuffle_3d(z, (2, 2, 2)), cache


def inputs(device, layout="contiguous"):
    return [
        rand(1, 4, 5, 8, 8, device=device, layout=layout, requires_grad=True),
        rand(8, 4, 3, 3, 3, device=device, seed=1, scale=0.2, requires_grad=True),
        rand(8, device=device, seed=2, requires_grad=True),
        rand(8, device=device, seed=3, offset=1.0, scale=0.2, requires_grad=True),
        rand(8, device=device, seed=4, requires_grad=True),
        rand(1, 64, 2, 2, 2, device=device, seed=5, scale=0.5, requires_grad=True),
        rand(1, 64, 2, 2, 2, device=device, seed=6, requires_grad=True),
    ]


def run(fn, args):
    out, cache = fn(*args)
    gy = rand(*out.shape, device=out.device, seed=9)
    loss = (out * gy).sum() + cache.square().sum()
    return out, cache, torch.autograd.grad(loss, args)


def check_compiled(device, backend, reference, layout="contiguous", dynamic=False):
    torch._dynamo.reset()
    args = inputs(device, layout)
    with ops.use_reference(reference):
        eager = run(block, args)
        compiled_fn = torch.compile(block, fullgraph=True, backend=backend, dynamic=dynamic)
        got = run(compiled_fn, args)
    tag = f"{backend} reference={reference} {layout}"
    assert_close(got[0], eager[0], torch.float32, f"output {tag}")
    assert_close(got[1], eager[1], torch.float32, f"cache {tag}")
    names = ["x", "weight", "bias", "gn weight", "gn bias", "gamma", "beta"]
    for n, a, e in zip(names, got[2], eager[2]):
        assert_rel_close(a, e, torch.float32, f"grad {n} {tag}", tol=1e-5)


@needs_kernels
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("device", DEVICES)
def test_compile_aot_eager_kernels(device, layout):
    check_compiled(device, "aot_eager", reference=False, layout=layout)


@needs_kernels
@pytest.mark.parametrize("device", DEVICES)
def test_compile_dynamic_shapes(device):
    check_compiled(device, "aot_eager", reference=False, dynamic=True)


@pytest.mark.parametrize("device", DEVICES)
def test_compile_aot_eager_reference(device):
    check_compiled(device, "aot_eager", reference=True)


@needs_kernels
@pytest.mark.parametrize("device", DEVICES)
def test_compile_inductor_kernels(device):
    check_compiled(device, "inductor", reference=False)
