"""Pure-PyTorch twins of bootvid's ops: the definition the kernels are tested against.

Each function has the same signature and semantics as its kernel in ``bootvid.ops`` and is
differentiable through autograd. They favour clarity over speed and memory.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import _checks

__all__ = [
    "causal_conv3d",
    "group_norm_act",
    "adaptive_group_norm",
    "pixel_unshuffle_3d",
    "pixel_shuffle_3d",
]


def causal_conv3d(x, weight, bias=None, stride=(1, 1, 1), padding=(0, 0), pad_mode="replicate",
                  cache=None):
    """Causal 3D convolution with a streaming cache; returns ``(y, new_cache)``.

    ``P = cat([front, x], dim=2)`` with ``front = cache`` or ``kt - 1`` frames (copies of the
    first frame for ``"replicate"``, zeros for ``"zeros"``); ``y = conv3d(P, ...)`` with spatial
    zero padding only; ``new_cache = P[:, :, len(P) - (kt - st):]``.
    """
    stride, padding = _checks.causal_conv3d_args(x, weight, bias, stride, padding, pad_mode, cache)
    kt, st = weight.shape[2], stride[0]
    if cache is not None:
        front = cache
    elif pad_mode == "replicate":
        front = x[:, :, :1].expand(-1, -1, kt - 1, -1, -1)
    else:
        front = x.new_zeros(x.shape[0], x.shape[1], kt - 1, x.shape[3], x.shape[4])
    P = torch.cat([front, x], dim=2)
    groups = x.shape[1] // weight.shape[1]
    if P.shape[2] >= kt:
        y = F.conv3d(P, weight, bias, stride=stride, padding=(0, *padding), groups=groups)
    else:
        # Not enough frames for one window: no output frames. Padding P to one window and
        # keeping none of the result gives the right shape and keeps y in the autograd graph
        # (its gradients are zeros), like the kernel.
        short = F.pad(P, (0, 0, 0, 0, 0, kt - P.shape[2]))
        y = F.conv3d(short, weight, bias, stride=stride, padding=(0, *padding), groups=groups)
        y = y[:, :, :0]
    new_cache = P[:, :, P.shape[2] - (kt - st):].clone()
    return y, new_cache


def _group_stats(x, num_groups, eps, per_frame, center):
    """Normalised x (float32 or float64) and the group statistics (B, G, Ts)."""
    B, C, T, H, W = x.shape
    acc = torch.float64 if x.dtype == torch.float64 else torch.float32
    xg = x.to(acc).reshape(B, num_groups, C // num_groups, T, H, W)
    dims = (2, 4, 5) if per_frame else (2, 3, 4, 5)
    if center:
        mean = xg.mean(dim=dims, keepdim=True)
        var = (xg - mean).square().mean(dim=dims, keepdim=True)
    else:
        mean = torch.zeros((), dtype=acc, device=x.device)
        var = xg.square().mean(dim=dims, keepdim=True)
    rstd = torch.rsqrt(var + eps)
    n = ((xg - mean) * rstd).reshape(B, C, T, H, W)
    return n


def _activation(z, act):
    return F.silu(z) if act == "silu" else z


def group_norm_act(x, num_groups, weight=None, bias=None, eps=1e-6, per_frame=True, center=True,
                   act="silu"):
    """GroupNorm (per frame when ``per_frame``; RMS-only when not ``center``), affine, activation."""
    _checks.group_norm_act_args(x, num_groups, weight, bias, eps, act)
    n = _group_stats(x, num_groups, eps, per_frame, center)
    shape = (1, -1, 1, 1, 1)
    if weight is not None:
        n = n * weight.to(n.dtype).reshape(shape)
    if bias is not None:
        n = n + bias.to(n.dtype).reshape(shape)
    return _activation(n, act).to(x.dtype)


def align_modulation(p, T, H, W):
    """Expand gamma/beta ``(B, C, Tl, Hl, Wl)`` to x's ``(T, H, W)``: causal in time
    (frame 0 -> 0, frame t -> ceil(t / r)), nearest neighbour (or broadcast) in space."""
    Tl, Hl, Wl = p.shape[2:]
    if Tl == 1:
        tidx = torch.zeros(T, dtype=torch.long, device=p.device)
    else:
        r = (T - 1) // (Tl - 1)
        t = torch.arange(T, device=p.device)
        tidx = torch.div(t + r - 1, r, rounding_mode="floor")
    hidx = torch.arange(H, device=p.device) // (H // Hl)
    widx = torch.arange(W, device=p.device) // (W // Wl)
    return p.index_select(2, tidx).index_select(3, hidx).index_select(4, widx)


def adaptive_group_norm(x, gamma, beta=None, num_groups=32, eps=1e-6, per_frame=True, center=True,
                        act="none"):
    """``act(norm(x) * (1 + gamma) + beta)`` with gamma/beta aligned to x causally in time and
    by nearest neighbour in space (see ``align_modulation``)."""
    _checks.adaptive_group_norm_args(x, gamma, beta, num_groups, eps, act)
    n = _group_stats(x, num_groups, eps, per_frame, center)
    T, H, W = x.shape[2:]
    z = n * (1 + align_modulation(gamma, T, H, W).to(n.dtype))
    if beta is not None:
        z = z + align_modulation(beta, T, H, W).to(n.dtype)
    return _activation(z, act).to(x.dtype)


def pixel_unshuffle_3d(x, factors, causal=True):
    """Space/time to depth: ``(B, C, T, H, W) -> (B, C*ft*fh*fw, T', H/fh, W/fw)``.

    When ``causal``, ``ft - 1`` copies of the first frame go in front, so ``1 + ft*k`` frames
    give ``1 + k``. Output channel ``c*F + (it*fh*fw + ih*fw + iw)``.
    """
    ft, fh, fw = _checks.unshuffle_args(x, factors, causal)
    if causal and ft > 1:
        x = torch.cat([x[:, :, :1].expand(-1, -1, ft - 1, -1, -1), x], dim=2)
    B, C, T, H, W = x.shape
    x = x.reshape(B, C, T // ft, ft, H // fh, fh, W // fw, fw)
    x = x.permute(0, 1, 3, 5, 7, 2, 4, 6)  # B, C, ft, fh, fw, T', H', W'
    return x.reshape(B, C * ft * fh * fw, T // ft, H // fh, W // fw)


def pixel_shuffle_3d(x, factors, causal=True):
    """Depth to space/time, the exact inverse of ``pixel_unshuffle_3d`` (drops the first
    ``ft - 1`` frames when ``causal``)."""
    ft, fh, fw = _checks.shuffle_args(x, factors)
    B, CF, T, H, W = x.shape
    C = CF // (ft * fh * fw)
    x = x.reshape(B, C, ft, fh, fw, T, H, W).permute(0, 1, 5, 2, 6, 3, 7, 4)
    x = x.reshape(B, C, T * ft, H * fh, W * fw)
    return x[:, :, ft - 1:] if causal else x
