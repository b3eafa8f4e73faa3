"""Independent composites of bootvid's ops, written from the stated semantics with plain
PyTorch calls (not from bootvid/ops/reference.py), so the kernels and the reference twins are
both checked against a third definition.

Each function has the signature of its op in ``bootvid.ops`` (without argument checks) and
is differentiable through autograd. The benchmarks time the same composites as the eager
baseline ("what you would write without bootvid").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def causal_conv3d(x, weight, bias=None, stride=(1, 1, 1), padding=(0, 0), pad_mode="replicate",
                  cache=None):
    """``P = cat([front, x])`` in time, ``y = conv3d(P)``, ``new_cache = P[-(kt - st):]``.

    The front is the cache when given, else ``kt - 1`` frames made by ``F.pad`` in time
    (``replicate``: copies of the first frame; ``zeros``: zeros).
    """
    kt, st = weight.shape[2], stride[0]
    if cache is not None:
        P = torch.cat([cache, x], dim=2)
    elif pad_mode == "replicate":
        P = F.pad(x, (0, 0, 0, 0, kt - 1, 0), mode="replicate") if kt > 1 else x
    else:
        P = F.pad(x, (0, 0, 0, 0, kt - 1, 0), mode="constant", value=0.0)
    groups = x.shape[1] // weight.shape[1]
    short = kt - P.shape[2]  # a cache + chunk shorter than one window: no output frame
    Pc = F.pad(P, (0, 0, 0, 0, 0, short)) if short > 0 else P
    y = F.conv3d(Pc, weight, bias, stride=tuple(stride), padding=(0, padding[0], padding[1]),
                 groups=groups)
    if short > 0:
        y = y[:, :, :0]
    keep = kt - st
    new_cache = P[:, :, P.shape[2] - keep:]
    return y, new_cache


def _normalize(x, num_groups, eps, per_frame, center):
    """Group normalisation of x without affine."""
    B, C, T, H, W = x.shape
    if center:
        if per_frame:  # frames as a batch of images
            frames = x.transpose(1, 2).reshape(B * T, C, H, W)
            n = F.group_norm(frames, num_groups, None, None, eps)
            return n.reshape(B, T, C, H, W).transpose(1, 2)
        return F.group_norm(x, num_groups, None, None, eps)
    # ProMAG's custom norm: divide by the RMS of the group, no mean subtraction.
    xg = x.reshape(B, num_groups, C // num_groups, T, H, W)
    dims = (2, 4, 5) if per_frame else (2, 3, 4, 5)
    rms = torch.sqrt(torch.mean(xg * xg, dim=dims, keepdim=True) + eps)
    return (xg / rms).reshape(B, C, T, H, W)


def _act(z, act):
    return F.silu(z) if act == "silu" else z


def group_norm_act(x, num_groups, weight=None, bias=None, eps=1e-6, per_frame=True, center=True,
                   act="silu"):
    n = _normalize(x, num_groups, eps, per_frame, center)
    if weight is not None:
        n = n * weight[None, :, None, None, None]
    if bias is not None:
        n = n + bias[None, :, None, None, None]
    return _act(n, act)


def align(p, T, H, W):
    """gamma/beta (B, C, Tl, Hl, Wl) -> (B, C, T, H, W): frame 0 alone, then r copies of each
    later latent frame (``repeat_interleave``); nearest neighbour in space
    (``F.interpolate``); size-1 dimensions broadcast."""
    B, C, Tl, Hl, Wl = p.shape
    if Tl == 1:
        p = p.expand(B, C, T, Hl, Wl)
    else:
        r = (T - 1) // (Tl - 1)
        p = torch.cat([p[:, :, :1], p[:, :, 1:].repeat_interleave(r, dim=2)], dim=2)
    if (Hl, Wl) == (1, 1):
        return p.expand(B, C, T, H, W)
    return F.interpolate(p, size=(T, H, W), mode="nearest")


def adaptive_group_norm(x, gamma, beta=None, num_groups=32, eps=1e-6, per_frame=True, center=True,
                        act="none"):
    T, H, W = x.shape[2:]
    n = _normalize(x, num_groups, eps, per_frame, center)
    z = n * (1 + align(gamma, T, H, W))
    if beta is not None:
        z = z + align(beta, T, H, W)
    return _act(z, act)


def _front_pad(x, ft):
    return F.pad(x, (0, 0, 0, 0, ft - 1, 0), mode="replicate") if ft > 1 else x


def pixel_unshuffle_3d(x, factors, causal=True):
    """out[:, c*F + (it*fh*fw + ih*fw + iw), t, h, w] = P[:, c, t*ft + it, h*fh + ih, w*fw + iw]
    with P = x (with ``ft - 1`` copies of frame 0 in front when causal), by strided slicing."""
    ft, fh, fw = factors
    P = _front_pad(x, ft) if causal else x
    pieces = [P[:, :, it::ft, ih::fh, iw::fw]
              for it in range(ft) for ih in range(fh) for iw in range(fw)]
    out = torch.stack(pieces, dim=2)  # B, C, F, T', H', W'
    B, C, Fk, Tp, Hp, Wp = out.shape
    return out.reshape(B, C * Fk, Tp, Hp, Wp)


def pixel_shuffle_3d(x, factors, causal=True):
    """The inverse: scatter each sub-pixel channel back with strided slice assignment, then
    drop the ``ft - 1`` front frames when causal."""
    ft, fh, fw = factors
    B, CF, T, H, W = x.shape
    Fk = ft * fh * fw
    C = CF // Fk
    xs = x.reshape(B, C, Fk, T, H, W)
    out = x.new_zeros(B, C, T * ft, H * fh, W * fw)
    k = 0
    for it in range(ft):
        for ih in range(fh):
            for iw in range(fw):
                out[:, :, it::ft, ih::fh, iw::fw] = xs[:, :, k]
                k += 1
    return out[:, :, ft - 1:] if causal else out
