"""The eager PyTorch composites each bootvid op is benchmarked against: what one writes
without bootvid, from the same semantics as the test composites (tests/composites.py), but in
the fastest natural eager form (reshape/permute rather than slicing loops for the shuffles).

Each returns what the op returns (a tensor; ``(y, new_cache)`` for the conv). The per-frame
group norm returns the transposed view F.group_norm leaves (no extra copy to NCTHW), which
favours the baseline.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def causal_conv3d(x, weight, bias=None, stride=(1, 1, 1), padding=(0, 0), pad_mode="replicate",
                  cache=None):
    """F.pad in time (replicate the first frame, or zeros) or cat with the cache, then conv3d."""
    kt, st = weight.shape[2], stride[0]
    if cache is not None:
        P = torch.cat([cache, x], dim=2)
    elif kt > 1:
        mode = "replicate" if pad_mode == "replicate" else "constant"
        P = F.pad(x, (0, 0, 0, 0, kt - 1, 0), mode=mode)
    else:
        P = x
    y = F.conv3d(P, weight, bias, stride=stride, padding=(0, *padding),
                 groups=x.shape[1] // weight.shape[1])
    return y, P[:, :, P.shape[2] - (kt - st):]


def _norm(x, num_groups, eps, per_frame):
    B, C, T, H, W = x.shape
    if per_frame:
        n = F.group_norm(x.transpose(1, 2).reshape(B * T, C, H, W), num_groups, None, None, eps)
        return n.reshape(B, T, C, H, W).transpose(1, 2)
    return F.group_norm(x, num_groups, None, None, eps)


def group_norm_act(x, num_groups, weight=None, bias=None, eps=1e-6, per_frame=True, act="silu"):
    B, C, T, H, W = x.shape
    if per_frame:  # affine inside F.group_norm
        y = F.group_norm(x.transpose(1, 2).reshape(B * T, C, H, W), num_groups, weight, bias, eps)
        y = y.reshape(B, T, C, H, W).transpose(1, 2)
    else:
        y = F.group_norm(x, num_groups, weight, bias, eps)
    return F.silu(y) if act == "silu" else y


def align(p, T, H, W):
    """(B, C, Tl, Hl, Wl) -> (B, C, T, H, W): frame 0, then r copies of each later frame;
    nearest neighbour in space."""
    Tl, Hl, Wl = p.shape[2:]
    if Tl > 1:
        r = (T - 1) // (Tl - 1)
        p = torch.cat([p[:, :, :1], p[:, :, 1:].repeat_interleave(r, dim=2)], dim=2)
    if (Hl, Wl) != (H, W):
        p = F.interpolate(p, size=(p.shape[2], H, W), mode="nearest")
    return p


def adaptive_group_norm(x, gamma, beta=None, num_groups=32, eps=1e-6, per_frame=True, act="none"):
    T, H, W = x.shape[2:]
    z = _norm(x, num_groups, eps, per_frame) * (1 + align(gamma, T, H, W))
    if beta is not None:
        z = z + align(beta, T, H, W)
    return F.silu(z) if act == "silu" else z


def pixel_unshuffle_3d(x, factors, causal=True):
    ft, fh, fw = factors
    if causal and ft > 1:
        x = F.pad(x, (0, 0, 0, 0, ft - 1, 0), mode="replicate")
    B, C, T, H, W = x.shape
    x = x.reshape(B, C, T // ft, ft, H // fh, fh, W // fw, fw).permute(0, 1, 3, 5, 7, 2, 4, 6)
    return x.reshape(B, C * ft * fh * fw, T // ft, H // fh, W // fw)


def pixel_shuffle_3d(x, factors, causal=True):
    ft, fh, fw = factors
    B, CF, T, H, W = x.shape
    C = CF // (ft * fh * fw)
    x = x.reshape(B, C, ft, fh, fw, T, H, W).permute(0, 1, 5, 2, 6, 3, 7, 4)
    x = x.reshape(B, C, T * ft, H * fh, W * fw)
    return x[:, :, ft - 1:] if causal else x
