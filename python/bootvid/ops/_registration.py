"""Fake (meta) kernels and autograd formulas for the compiled ops in ``torch.ops.bootvid``.

The C++ side defines the schemas and the CPU/CUDA kernels; here each op gets the shape
function torch.compile and FakeTensor need, and its backward (itself a compiled op).
Output layout rule, shared with C++: channels_last_3d only when the input is
channels_last_3d-contiguous and not plain contiguous.
"""

from __future__ import annotations

import torch

_lib = torch.ops.bootvid


def memory_format_of(x: torch.Tensor) -> torch.memory_format:
    if x.dim() == 5 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last_3d):
        return torch.channels_last_3d
    return torch.contiguous_format


def _empty(shape, like, dtype=None, fmt=None):
    return torch.empty(shape, dtype=dtype or like.dtype, device=like.device,
                       memory_format=fmt or memory_format_of(like))


# ---- causal_conv3d -----------------------------------------------------------------

def _conv_out_shape(x, weight, stride, padding, cache):
    B, _, T, H, W = x.shape
    cout, _, kt, kh, kw = weight.shape
    L = cache.shape[2] if cache is not None else kt - 1
    n_out = (L + T - kt) // stride[0] + 1 if L + T >= kt else 0
    ho = (H + 2 * padding[0] - kh) // stride[1] + 1
    wo = (W + 2 * padding[1] - kw) // stride[2] + 1
    return (B, cout, n_out, ho, wo), L


@torch.library.register_fake("bootvid::causal_conv3d")
def _(x, weight, bias, stride, padding, pad_mode, cache):
    shape, _ = _conv_out_shape(x, weight, stride, padding, cache)
    keep = weight.shape[2] - stride[0]
    y = _empty(shape, x)
    new_cache = _empty((x.shape[0], x.shape[1], keep, x.shape[3], x.shape[4]), x)
    return y, new_cache


@torch.library.register_fake("bootvid::causal_conv3d_backward")
def _(grad_y, grad_new_cache, x, weight, cache, stride, padding, pad_mode, output_mask):
    # A gradient output_mask does not ask for comes back empty (shape (0,)).
    need_in, need_w, need_b = output_mask
    none = (0,)
    gx = _empty(x.shape, x) if need_in else x.new_empty(none)
    gw = (torch.empty_like(weight, memory_format=torch.contiguous_format) if need_w
          else x.new_empty(none))
    gb = x.new_empty((weight.shape[0],) if need_b else none)
    gcache = x.new_empty(cache.shape if cache is not None and need_in else none)
    return gx, gw, gb, gcache


def _conv_setup(ctx, inputs, output):
    x, weight, bias, stride, padding, pad_mode, cache = inputs
    ctx.save_for_backward(x, weight, cache)
    ctx.conf = (stride, padding, pad_mode, bias is not None)


def _conv_backward(ctx, grad_y, grad_new_cache):
    x, weight, cache = ctx.saved_tensors
    stride, padding, pad_mode, has_bias = ctx.conf
    if grad_y is None:
        shape, _ = _conv_out_shape(x, weight, stride, padding, cache)
        grad_y = x.new_zeros(shape)
    need = ctx.needs_input_grad  # (x, weight, bias, stride, padding, pad_mode, cache)
    has_cache = cache is not None
    mask = [need[0] or (has_cache and need[6]), need[1], has_bias and need[2]]
    if x.dtype == torch.bfloat16 and x.device.type == "cpu" and (mask[1] or mask[2]):
        gx, gw, gb, gcache = _bf16_cpu_backward(grad_y, grad_new_cache, x, weight, cache,
                                                stride, padding, pad_mode, mask)
    else:
        gx, gw, gb, gcache = _lib.causal_conv3d_backward(
            grad_y, grad_new_cache, x, weight, cache, stride, padding, pad_mode, mask)
    return (gx if need[0] else None, gw if mask[1] else None, gb if mask[2] else None,
            None, None, None, gcache if has_cache and need[6] else None)


def _bf16_cpu_backward(grad_y, grad_new_cache, x, weight, cache, stride, padding, pad_mode, mask):
    """bf16 on CPU: the input gradient in bf16 (oneDNN), the weight and bias gradients from
    fp32 copies of x and grad_y. oneDNN's bf16 weight-gradient kernels returned NaN for some
    3D shapes on CPUs with native bf16 (tests/test_ops_bf16_cpu.py); an fp32 weight gradient
    also accumulates over B*T*H*W positions without bf16 rounding."""
    gx = gcache = None
    if mask[0]:
        gx, _, _, gcache = _lib.causal_conv3d_backward(
            grad_y, grad_new_cache, x, weight, cache, stride, padding, pad_mode,
            [True, False, False])
    _, gw, gb, _ = _lib.causal_conv3d_backward(
        grad_y.float(), None, x.float(), weight.float(),
        cache.float() if cache is not None else None, stride, padding, pad_mode,
        [False, mask[1], mask[2]])
    return (gx, gw.to(weight.dtype) if mask[1] else gw, gb.to(weight.dtype) if mask[2] else gb,
            gcache)


torch.library.register_autograd("bootvid::causal_conv3d", _conv_backward, setup_context=_conv_setup)


# ---- group_norm_act / adaptive_group_norm ------------------------------------------

def _stats(x, num_groups, per_frame):
    # fp32 statistics, float64 for float64 inputs (as the kernels keep them).
    shape = (x.shape[0], num_groups, x.shape[2] if per_frame else 1)
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    return (x.new_empty(shape, dtype=dtype), x.new_empty(shape, dtype=dtype))


@torch.library.register_fake("bootvid::group_norm_act")
def _(x, num_groups, weight, bias, eps, per_frame, center, act):
    return (_empty(x.shape, x), *_stats(x, num_groups, per_frame))


@torch.library.register_fake("bootvid::group_norm_act_backward")
def _(grad_y, x, weight, bias, mean, rstd, num_groups, per_frame, center, act):
    pdtype = weight.dtype if weight is not None else x.dtype
    C = x.shape[1]
    return _empty(x.shape, x), x.new_empty((C,), dtype=pdtype), x.new_empty((C,), dtype=pdtype)


@torch.library.register_fake("bootvid::adaptive_group_norm")
def _(x, gamma, beta, num_groups, eps, per_frame, center, act):
    return (_empty(x.shape, x), *_stats(x, num_groups, per_frame))


@torch.library.register_fake("bootvid::adaptive_group_norm_backward")
def _(grad_y, x, gamma, beta, mean, rstd, num_groups, per_frame, center, act):
    fmt = memory_format_of(x)
    return (_empty(x.shape, x), _empty(gamma.shape, gamma, fmt=fmt),
            _empty(gamma.shape, gamma, fmt=fmt))


def _norm_setup(ctx, inputs, output):
    x, p1, p2, num_groups, eps, per_frame, center, act = inputs
    _, mean, rstd = output
    ctx.mark_non_differentiable(mean, rstd)
    ctx.save_for_backward(x, p1, p2, mean, rstd)
    ctx.conf = (num_groups, per_frame, center, act)


def _grad_or_zeros(grad_y, x):
    return torch.zeros_like(x) if grad_y is None else grad_y


def _gn_backward(ctx, grad_y, _gmean, _grstd):
    x, weight, bias, mean, rstd = ctx.saved_tensors
    gx, gw, gb = _lib.group_norm_act_backward(
        _grad_or_zeros(grad_y, x), x, weight, bias, mean, rstd, *ctx.conf)
    return (gx, None, gw if weight is not None else None, gb if bias is not None else None,
            None, None, None, None)


def _agn_backward(ctx, grad_y, _gmean, _grstd):
    x, gamma, beta, mean, rstd = ctx.saved_tensors
    gx, gg, gbeta = _lib.adaptive_group_norm_backward(
        _grad_or_zeros(grad_y, x), x, gamma, beta, mean, rstd, *ctx.conf)
    return gx, gg, gbeta if beta is not None else None, None, None, None, None, None


def _gn_setup(ctx, inputs, output):
    x, num_groups, weight, bias, eps, per_frame, center, act = inputs
    _norm_setup(ctx, (x, weight, bias, num_groups, eps, per_frame, center, act), output)


torch.library.register_autograd("bootvid::group_norm_act", _gn_backward, setup_context=_gn_setup)
torch.library.register_autograd("bootvid::adaptive_group_norm", _agn_backward,
                                setup_context=_norm_setup)


# ---- space_to_depth_3d / depth_to_space_3d -----------------------------------------

def _front_frames(ft, front):
    return 0 if front == 0 else ft - 1


@torch.library.register_fake("bootvid::space_to_depth_3d")
def _(x, factors, front):
    ft, fh, fw = factors
    B, C, T, H, W = x.shape
    return _empty((B, C * ft * fh * fw, (T + _front_frames(ft, front)) // ft, H // fh, W // fw), x)


@torch.library.register_fake("bootvid::depth_to_space_3d")
def _(x, factors, front):
    ft, fh, fw = factors
    B, C, T, H, W = x.shape
    return _empty((B, C // (ft * fh * fw), T * ft - _front_frames(ft, front), H * fh, W * fw), x)


def _shuffle_setup(ctx, inputs, output):
    _, factors, front = inputs
    ctx.conf = (factors, front)


def _s2d_backward(ctx, grad):
    factors, front = ctx.conf
    return _lib.depth_to_space_3d(grad, factors, front), None, None


def _d2s_backward(ctx, grad):
    factors, front = ctx.conf
    return _lib.space_to_depth_3d(grad, factors, front), None, None


torch.library.register_autograd("bootvid::space_to_depth_3d", _s2d_backward,
                                setup_context=_shuffle_setup)
torch.library.register_autograd("bootvid::depth_to_space_3d", _d2s_backward,
                                setup_context=_shuffle_setup)
