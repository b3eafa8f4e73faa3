"""Argument checks shared by the kernel wrappers and the reference ops, so both paths fail
the same way, with a message that says what was wrong and what is expected."""

from __future__ import annotations

import torch

_ACTS = ("silu", "none")


def _video(x, op, name="x"):
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"bootvid.{op}: {name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 5:
        raise ValueError(
            f"bootvid.{op}: expected {name} of shape (B, C, T, H, W), got a {x.dim()}-D tensor "
            f"of shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"bootvid.{op}: expected a floating-point {name}, got {x.dtype}")


def tensor_types(op, **args):
    """TypeError unless every named argument is a tensor (``None`` allowed after the first)."""
    for i, (name, v) in enumerate(args.items()):
        if (v is not None or i == 0) and not isinstance(v, torch.Tensor):
            raise TypeError(f"bootvid.{op}: {name} must be a torch.Tensor, got {type(v).__name__}")


def _same_device(a, b, op, na, nb):
    if a.device != b.device:
        raise ValueError(f"bootvid.{op}: {na} is on {a.device} but {nb} is on {b.device}; "
                         "move them to one device")


def _triple(v, op, name, n):
    if isinstance(v, int):
        v = (v,) * n
    v = tuple(int(i) for i in v)
    if len(v) != n:
        raise ValueError(f"bootvid.{op}: {name} must have {n} entries, got {v}")
    return v


def _act(act, op):
    if act not in _ACTS:
        raise ValueError(f'bootvid.{op}: act must be "silu" or "none", got {act!r}')


def causal_conv3d_args(x, weight, bias, stride, padding, pad_mode, cache):
    op = "causal_conv3d"
    _video(x, op)
    if not isinstance(weight, torch.Tensor) or weight.dim() != 5:
        raise ValueError(f"bootvid.{op}: expected weight of shape (C_out, C_in/groups, kt, kh, kw), "
                         f"got {tuple(getattr(weight, 'shape', ()))}")
    _same_device(x, weight, op, "x", "weight")
    if weight.dtype != x.dtype:
        raise TypeError(f"bootvid.{op}: x is {x.dtype} but weight is {weight.dtype}; cast them to "
                        "one dtype (or run under torch.autocast)")
    stride = _triple(stride, op, "stride", 3)
    padding = _triple(padding, op, "padding (h, w)", 2)
    if min(stride) < 1 or min(padding) < 0:
        raise ValueError(f"bootvid.{op}: strides must be >= 1 and padding >= 0, got stride={stride}, "
                         f"padding={padding}")
    C, T, H, W = x.shape[1:]
    cout, cin_g, kt, kh, kw = weight.shape
    if cin_g < 1 or C % cin_g or cout % (C // cin_g):
        raise ValueError(f"bootvid.{op}: x has {C} channels but weight expects C_in/groups = {cin_g} "
                         f"with C_out = {cout}")
    if stride[0] > kt:
        raise ValueError(f"bootvid.{op}: the temporal stride ({stride[0]}) must not exceed the "
                         f"temporal kernel size ({kt}) of a causal conv")
    if T < 1:
        raise ValueError(f"bootvid.{op}: x has no frames (shape {tuple(x.shape)})")
    if H + 2 * padding[0] < kh or W + 2 * padding[1] < kw:
        raise ValueError(f"bootvid.{op}: spatial size {H}x{W} with padding {padding} is smaller "
                         f"than the kernel {kh}x{kw}")
    if pad_mode not in ("replicate", "zeros"):
        raise ValueError(f'bootvid.{op}: pad_mode must be "replicate" or "zeros", got {pad_mode!r}')
    if bias is not None:
        if bias.shape != (cout,):
            raise ValueError(f"bootvid.{op}: expected bias of shape ({cout},), got {tuple(bias.shape)}")
        _same_device(x, bias, op, "x", "bias")
    if cache is not None:
        _video(cache, op, "cache")
        if cache.shape[:2] != x.shape[:2] or cache.shape[3:] != x.shape[3:]:
            raise ValueError(
                f"bootvid.{op}: cache must be (B, C, L, H, W) = ({x.shape[0]}, {C}, L, {H}, {W}), "
                f"got {tuple(cache.shape)}; pass the new_cache returned for the previous chunk")
        _same_device(x, cache, op, "x", "cache")
        if cache.dtype != x.dtype:
            raise TypeError(f"bootvid.{op}: cache is {cache.dtype} but x is {x.dtype}")
        if cache.shape[2] + T < kt - stride[0]:
            raise ValueError(f"bootvid.{op}: cache ({cache.shape[2]} frames) and x ({T}) together "
                             f"must hold at least kt - st = {kt - stride[0]} frames")
    return stride, padding


def _norm_common(x, num_groups, eps, act, op):
    _video(x, op)
    C = x.shape[1]
    if not isinstance(num_groups, int) or num_groups < 1 or C % num_groups:
        raise ValueError(f"bootvid.{op}: num_groups ({num_groups}) must be a positive integer that "
                         f"divides the channel count ({C})")
    if eps < 0:
        raise ValueError(f"bootvid.{op}: eps must be >= 0, got {eps}")
    _act(act, op)


def group_norm_act_args(x, num_groups, weight, bias, eps, act):
    op = "group_norm_act"
    _norm_common(x, num_groups, eps, act, op)
    C = x.shape[1]
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None:
            if p.shape != (C,):
                raise ValueError(f"bootvid.{op}: expected {name} of shape ({C},) for {C} channels, "
                                 f"got {tuple(p.shape)}")
            _same_device(x, p, op, "x", name)


def adaptive_group_norm_args(x, gamma, beta, num_groups, eps, act):
    op = "adaptive_group_norm"
    _norm_common(x, num_groups, eps, act, op)
    _video(gamma, op, "gamma")
    _same_device(x, gamma, op, "x", "gamma")
    B, C, T, H, W = x.shape
    _, _, Tl, Hl, Wl = gamma.shape
    if gamma.shape[:2] != (B, C):
        raise ValueError(f"bootvid.{op}: gamma must have x's batch and channels ({B}, {C}), got "
                         f"{tuple(gamma.shape)}")
    if min(Tl, Hl, Wl) < 1:
        raise ValueError(f"bootvid.{op}: gamma has an empty dimension {tuple(gamma.shape)}")
    if Tl > 1 and (T <= 1 or (T - 1) % (Tl - 1)):
        raise ValueError(f"bootvid.{op}: x has {T} frames and gamma {Tl}; causal alignment needs "
                         "T = 1 + r * (Tl - 1) for an integer r >= 1, or Tl = 1 to broadcast")
    if H % Hl or W % Wl:
        raise ValueError(f"bootvid.{op}: x's spatial size {H}x{W} must be an integer multiple of "
                         f"gamma's {Hl}x{Wl} (nearest-neighbour alignment), or gamma's must be 1x1")
    if beta is not None:
        if beta.shape != gamma.shape:
            raise ValueError(f"bootvid.{op}: beta must have gamma's shape {tuple(gamma.shape)}, got "
                             f"{tuple(beta.shape)}")
        _same_device(x, beta, op, "x", "beta")


def unshuffle_args(x, factors, causal):
    op = "pixel_unshuffle_3d"
    _video(x, op)
    ft, fh, fw = _factors(factors, op)
    T, H, W = x.shape[2:]
    if H % fh or W % fw:
        raise ValueError(f"bootvid.{op}: H and W ({H}x{W}) must be multiples of the spatial factors "
                         f"({fh}, {fw})")
    if causal and (T < 1 or (T - 1) % ft):
        raise ValueError(f"bootvid.{op}: causal: T ({T}) must be 1 + ft * k frames for ft = {ft} "
                         f"(e.g. 1, {1 + ft}, {1 + 2 * ft})")
    if not causal and (T < 1 or T % ft):
        raise ValueError(f"bootvid.{op}: non-causal: T ({T}) must be a positive multiple of ft ({ft})")
    return ft, fh, fw


def shuffle_args(x, factors):
    op = "pixel_shuffle_3d"
    _video(x, op)
    ft, fh, fw = _factors(factors, op)
    if x.shape[1] % (ft * fh * fw):
        raise ValueError(f"bootvid.{op}: channels ({x.shape[1]}) must be a multiple of "
                         f"ft * fh * fw = {ft * fh * fw}")
    if x.shape[2] < 1:
        raise ValueError(f"bootvid.{op}: x has no frames")
    return ft, fh, fw


def _factors(factors, op):
    f = _triple(factors, op, "factors (ft, fh, fw)", 3)
    if min(f) < 1:
        raise ValueError(f"bootvid.{op}: factors must be >= 1, got {f}")
    return f
