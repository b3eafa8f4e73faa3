"""``torch.library.opcheck`` on each of the eight compiled ops (schema, fake kernel vs real
kernel incl. strides, autograd registration, AOT dispatch with dynamic shapes)."""

from __future__ import annotations

import pytest
import torch

from helpers import DEVICES, needs_kernels, rand

pytestmark = needs_kernels


def _conv_args(device, layout="contiguous", cache=False, stride=(1, 1, 1), pad_mode="replicate",
               bias=True, grad=True):
    x = rand(1, 4, 5, 6, 7, device=device, layout=layout, requires_grad=grad)
    w = rand(6, 4, 3, 3, 3, device=device, seed=1, scale=0.2, requires_grad=grad)
    b = rand(6, device=device, seed=2, requires_grad=grad) if bias else None
    c = rand(1, 4, 3 - stride[0], 6, 7, device=device, seed=3, requires_grad=grad) if cache else None
    return (x, w, b, list(stride), [1, 1], pad_mode, c)


def conv_cases(device):
    return {
        "plain": _conv_args(device),
        "no-bias-zeros": _conv_args(device, pad_mode="zeros", bias=False),
        "cache": _conv_args(device, cache=True),
        "st2-cache-cl": _conv_args(device, "channels_last", cache=True, stride=(2, 2, 2)),
        "strided": _conv_args(device, "strided"),
    }


def conv_backward_cases(device):
    out = {}
    for name, args in conv_cases(device).items():
        x, w, b, stride, padding, pad_mode, c = args
        y, nc = torch.ops.bootvid.causal_conv3d(*(t.detach() if isinstance(t, torch.Tensor)
                                                  else t for t in args))
        gy = rand(*y.shape, device=device, seed=4)
        gc = rand(*nc.shape, device=device, seed=5)
        out[name] = (gy, gc, x.detach(), w.detach(), None if c is None else c.detach(), stride,
                     padding, pad_mode, [True, True, True])
    out["no-grad-new-cache"] = out["plain"][:1] + (None,) + out["plain"][2:]
    # Gradients not asked for come back empty: a frozen layer, the input video.
    for mask in ([False, True, True], [True, False, False], [False, False, True],
                 [True, True, False], [False, False, False]):
        for name in ("plain", "cache", "st2-cache-cl"):
            out[f"{name}-mask{mask}"] = out[name][:-1] + (mask,)
    return out


def gn_cases(device):
    cases = {}
    for layout in ("contiguous", "channels_last", "strided"):
        for per_frame, center, act, affine in ((True, True, "silu", True),
                                               (False, False, "none", False)):
            x = rand(2, 8, 3, 5, 6, device=device, layout=layout, requires_grad=True)
            w = rand(8, device=device, seed=1, requires_grad=True) if affine else None
            b = rand(8, device=device, seed=2, requires_grad=True) if affine else None
            cases[f"{layout}-{per_frame}-{center}-{act}-{affine}"] = (
                x, 4, w, b, 1e-6, per_frame, center, act)
    return cases


def gn_backward_cases(device):
    out = {}
    for name, (x, G, w, b, eps, pf, c, act) in gn_cases(device).items():
        d = [t.detach() if t is not None else None for t in (x, w, b)]
        y, mean, rstd = torch.ops.bootvid.group_norm_act(d[0], G, d[1], d[2], eps, pf, c, act)
        gy = rand(*y.shape, device=device, seed=6)
        out[name] = (gy, d[0], d[1], d[2], mean, rstd, G, pf, c, act)
    return out


def agn_cases(device):
    cases = {}
    for layout, gshape, beta, flags in (
            ("contiguous", (3, 1, 1), True, (True, True, "none")),
            ("channels_last", (3, 5, 3), False, (False, True, "silu")),
            ("strided", (5, 5, 6), True, (True, False, "silu")),
            ("channels_last", (1, 5, 3), True, (False, False, "none"))):
        x = rand(2, 8, 5, 5, 6, device=device, layout=layout, requires_grad=True)
        g = rand(2, 8, *gshape, device=device, seed=1, scale=0.5, requires_grad=True)
        bt = rand(2, 8, *gshape, device=device, seed=2, requires_grad=True) if beta else None
        cases[f"{layout}-{gshape}-{beta}-{flags}"] = (x, g, bt, 4, 1e-6, *flags)
    return cases


def agn_backward_cases(device):
    out = {}
    for name, (x, g, bt, G, eps, pf, c, act) in agn_cases(device).items():
        d = [t.detach() if t is not None else None for t in (x, g, bt)]
        y, mean, rstd = torch.ops.bootvid.adaptive_group_norm(d[0], d[1], d[2], G, eps, pf, c, act)
        gy = rand(*y.shape, device=device, seed=6)
        out[name] = (gy, d[0], d[1], d[2], mean, rstd, G, pf, c, act)
    return out


def s2d_cases(device):
    cases = {}
    for layout in ("contiguous", "channels_last", "strided"):
        cases[f"{layout}-causal"] = (rand(1, 3, 5, 4, 6, device=device, layout=layout,
                                          requires_grad=True), [2, 2, 2], 1)
        cases[f"{layout}-plain"] = (rand(1, 3, 4, 4, 6, device=device, layout=layout,
                                         requires_grad=True), [2, 2, 3], 0)
    return cases


def d2s_cases(device):
    cases = {}
    for layout in ("contiguous", "channels_last", "strided"):
        cases[f"{layout}-causal"] = (rand(1, 24, 3, 2, 3, device=device, layout=layout,
                                          requires_grad=True), [2, 2, 2], 2)
        cases[f"{layout}-plain"] = (rand(1, 12, 2, 2, 3, device=device, layout=layout,
                                         requires_grad=True), [1, 3, 4], 0)
    return cases


OPS = {
    "causal_conv3d": conv_cases,
    "causal_conv3d_backward": conv_backward_cases,
    "group_norm_act": gn_cases,
    "group_norm_act_backward": gn_backward_cases,
    "adaptive_group_norm": agn_cases,
    "adaptive_group_norm_backward": agn_backward_cases,
    "space_to_depth_3d": s2d_cases,
    "depth_to_space_3d": d2s_cases,
}


@pytest.mark.parametrize("name", list(OPS))
@pytest.mark.parametrize("device", DEVICES)
def test_opcheck(device, name):
    op = getattr(torch.ops.bootvid, name).default
    for case, args in OPS[name](device).items():
        try:
            torch.library.opcheck(op, args)
        except Exception as e:  # say which case
            raise AssertionError(f"opcheck of bootvid::{name} [{case}] failed: {e}") from e


def test_every_op_is_covered():
    import bootvid  # noqa: F401  (registers the ops)

    names = {n for n in dir(torch.ops.bootvid) if not n.startswith("_")}
    ops_ = {n for n in names if isinstance(getattr(torch.ops.bootvid, n, None),
                                           torch._ops.OpOverloadPacket)}
    assert ops_ == set(OPS), f"ops without an opcheck: {ops_ - set(OPS)}"
