"""Bad arguments fail early with a ValueError / TypeError that says what is wrong, the same
way on the kernel path and the reference path (shared checks), before any compute.
Device mismatches use 'meta' tensors so they run without a GPU."""

from __future__ import annotations

import pytest
import torch

from bootvid import ops
from helpers import needs_kernels

PATHS = [pytest.param(False, id="kernel"), pytest.param(True, id="reference")]


@pytest.fixture(params=PATHS)
def path(request):
    with ops.use_reference(request.param):
        yield request.param


def x5(*shape, dtype=torch.float32, device="cpu"):
    return torch.zeros(*shape, dtype=dtype, device=device)


W333 = x5(4, 4, 3, 3, 3)
X = x5(1, 4, 5, 6, 6)


# ---- wrong rank / dtype ---------------------------------------------------------------

CALLS = {
    "causal_conv3d": lambda x: ops.causal_conv3d(
        x, W333.to(x.dtype) if isinstance(x, torch.Tensor) and x.is_floating_point() else W333),
    "group_norm_act": lambda x: ops.group_norm_act(x, 2),
    "adaptive_group_norm": lambda x: ops.adaptive_group_norm(x, x5(1, 4, 1, 1, 1), None, 2),
    "pixel_unshuffle_3d": lambda x: ops.pixel_unshuffle_3d(x, (1, 2, 2)),
    "pixel_shuffle_3d": lambda x: ops.pixel_shuffle_3d(x, (1, 2, 2)),
}


@pytest.mark.parametrize("op", list(CALLS))
def test_wrong_rank(path, op):
    with pytest.raises(ValueError, match=r"expected x of shape \(B, C, T, H, W\), got a 4-D"):
        CALLS[op](torch.zeros(4, 5, 6, 6))


@pytest.mark.parametrize("op", list(CALLS))
def test_not_a_tensor(path, op):
    with pytest.raises(TypeError, match="x must be a torch.Tensor, got list"):
        CALLS[op]([[1.0]])


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64, torch.bool])
@pytest.mark.parametrize("op", list(CALLS))
def test_non_float_dtype(path, op, dtype):
    with pytest.raises(TypeError, match=f"expected a floating-point x, got {dtype}"):
        CALLS[op](x5(1, 4, 5, 8, 8, dtype=dtype))


# ---- device mismatch ------------------------------------------------------------------

def test_device_mismatch_conv(path):
    with pytest.raises(ValueError, match="x is on cpu but weight is on meta"):
        ops.causal_conv3d(X, W333.to("meta"))
    with pytest.raises(ValueError, match="x is on cpu but bias is on meta"):
        ops.causal_conv3d(X, W333, torch.zeros(4, device="meta"))
    with pytest.raises(ValueError, match="x is on cpu but cache is on meta"):
        ops.causal_conv3d(X, W333, cache=x5(1, 4, 2, 6, 6, device="meta"))


def test_device_mismatch_norms(path):
    with pytest.raises(ValueError, match="x is on cpu but weight is on meta"):
        ops.group_norm_act(X, 2, torch.ones(4, device="meta"))
    with pytest.raises(ValueError, match="x is on cpu but bias is on meta"):
        ops.group_norm_act(X, 2, None, torch.ones(4, device="meta"))
    with pytest.raises(ValueError, match="x is on cpu but gamma is on meta"):
        ops.adaptive_group_norm(X, x5(1, 4, 1, 1, 1, device="meta"), None, 2)
    with pytest.raises(ValueError, match="x is on cpu but beta is on meta"):
        ops.adaptive_group_norm(X, x5(1, 4, 1, 1, 1), x5(1, 4, 1, 1, 1, device="meta"), 2)


# ---- causal_conv3d ----------------------------------------------------------------------

def test_conv_bad_pad_mode(path):
    with pytest.raises(ValueError, match='pad_mode must be "replicate" or "zeros", got \'reflect\''):
        ops.causal_conv3d(X, W333, pad_mode="reflect")


def test_conv_weight_errors(path):
    with pytest.raises(ValueError, match=r"expected weight of shape \(C_out, C_in/groups, kt, kh, kw\)"):
        ops.causal_conv3d(X, x5(4, 4, 3, 3))
    with pytest.raises(TypeError, match="x is torch.float32 but weight is torch.float64"):
        ops.causal_conv3d(X, W333.double())
    with pytest.raises(ValueError, match="x has 4 channels but weight expects C_in/groups = 3"):
        ops.causal_conv3d(X, x5(4, 3, 3, 3, 3))
    with pytest.raises(ValueError, match=r"expected bias of shape \(4,\), got \(5,\)"):
        ops.causal_conv3d(X, W333, torch.zeros(5))


def test_conv_geometry_errors(path):
    with pytest.raises(ValueError, match=r"temporal stride \(4\) must not exceed the temporal "
                                         r"kernel size \(3\)"):
        ops.causal_conv3d(X, W333, stride=(4, 1, 1))
    with pytest.raises(ValueError, match="strides must be >= 1 and padding >= 0"):
        ops.causal_conv3d(X, W333, stride=(1, 0, 1))
    with pytest.raises(ValueError, match=r"stride must have 3 entries"):
        ops.causal_conv3d(X, W333, stride=(1, 1))
    with pytest.raises(ValueError, match=r"spatial size 2x2 with padding \(0, 0\) is smaller than "
                                         r"the kernel 3x3"):
        ops.causal_conv3d(x5(1, 4, 5, 2, 2), W333)


def test_conv_cache_errors(path):
    with pytest.raises(ValueError, match=r"cache must be \(B, C, L, H, W\) = \(1, 4, L, 6, 6\), got "
                                         r"\(1, 4, 2, 5, 6\)"):
        ops.causal_conv3d(X, W333, cache=x5(1, 4, 2, 5, 6))
    with pytest.raises(TypeError, match="cache is torch.float64 but x is torch.float32"):
        ops.causal_conv3d(X, W333, cache=x5(1, 4, 2, 6, 6, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"must hold at least kt - st = 2 frames"):
        ops.causal_conv3d(x5(1, 4, 1, 6, 6), W333, cache=x5(1, 4, 0, 6, 6))


# ---- norms --------------------------------------------------------------------------------

@pytest.mark.parametrize("op", ["group_norm_act", "adaptive_group_norm"])
def test_num_groups_must_divide_channels(path, op):
    x = x5(1, 8, 3, 4, 4)
    call = (lambda G: ops.group_norm_act(x, G)) if op == "group_norm_act" else (
        lambda G: ops.adaptive_group_norm(x, x5(1, 8, 1, 1, 1), None, G))
    with pytest.raises(ValueError, match=r"num_groups \(3\) must be a positive integer that divides "
                                         r"the channel count \(8\)"):
        call(3)
    with pytest.raises(ValueError, match=r"num_groups \(0\)"):
        call(0)


@pytest.mark.parametrize("act", ["relu", "SiLU", "", None])
def test_bad_act(path, act):
    with pytest.raises(ValueError, match=f'act must be "silu" or "none", got {act!r}'):
        ops.group_norm_act(X, 2, act=act)
    with pytest.raises(ValueError, match='act must be "silu" or "none"'):
        ops.adaptive_group_norm(X, x5(1, 4, 1, 1, 1), None, 2, act=act)


def test_negative_eps(path):
    with pytest.raises(ValueError, match="eps must be >= 0, got -1"):
        ops.group_norm_act(X, 2, eps=-1.0)


def test_affine_shape(path):
    with pytest.raises(ValueError, match=r"expected weight of shape \(4,\) for 4 channels, got \(8,\)"):
        ops.group_norm_act(X, 2, torch.ones(8))
    with pytest.raises(ValueError, match=r"expected bias of shape \(4,\) for 4 channels"):
        ops.group_norm_act(X, 2, None, torch.ones(1, 4))


def test_gamma_frames_misaligned(path):
    x = x5(1, 4, 6, 4, 4)
    with pytest.raises(ValueError, match=r"x has 6 frames and gamma 3; causal alignment needs "
                                         r"T = 1 \+ r \* \(Tl - 1\)"):
        ops.adaptive_group_norm(x, x5(1, 4, 3, 1, 1), None, 2)
    with pytest.raises(ValueError, match=r"x has 1 frames and gamma 2"):
        ops.adaptive_group_norm(x5(1, 4, 1, 4, 4), x5(1, 4, 2, 1, 1), None, 2)


def test_gamma_space_and_shape_errors(path):
    with pytest.raises(ValueError, match=r"spatial size 6x6 must be an integer multiple of gamma's "
                                         r"4x3"):
        ops.adaptive_group_norm(X, x5(1, 4, 1, 4, 3), None, 2)
    with pytest.raises(ValueError, match=r"gamma must have x's batch and channels \(1, 4\)"):
        ops.adaptive_group_norm(X, x5(2, 4, 1, 1, 1), None, 2)
    with pytest.raises(ValueError, match=r"beta must have gamma's shape \(1, 4, 1, 1, 1\)"):
        ops.adaptive_group_norm(X, x5(1, 4, 1, 1, 1), x5(1, 4, 1, 2, 2), 2)
    with pytest.raises(ValueError, match=r"expected gamma of shape \(B, C, T, H, W\)"):
        ops.adaptive_group_norm(X, torch.zeros(1, 4), None, 2)


# ---- shuffles -----------------------------------------------------------------------------

def test_unshuffle_spatial_factor(path):
    with pytest.raises(ValueError, match=r"H and W \(5x6\) must be multiples of the spatial factors "
                                         r"\(2, 2\)"):
        ops.pixel_unshuffle_3d(x5(1, 2, 5, 5, 6), (2, 2, 2))
    with pytest.raises(ValueError, match=r"H and W \(6x7\)"):
        ops.pixel_unshuffle_3d(x5(1, 2, 5, 6, 7), (1, 3, 2))


def test_unshuffle_frame_count(path):
    with pytest.raises(ValueError, match=r"causal: T \(4\) must be 1 \+ ft \* k frames for ft = 2 "
                                         r"\(e.g. 1, 3, 5\)"):
        ops.pixel_unshuffle_3d(x5(1, 2, 4, 4, 4), (2, 2, 2))
    with pytest.raises(ValueError, match=r"non-causal: T \(5\) must be a positive multiple of ft \(2\)"):
        ops.pixel_unshuffle_3d(x5(1, 2, 5, 4, 4), (2, 2, 2), causal=False)


def test_shuffle_channels(path):
    with pytest.raises(ValueError, match=r"channels \(6\) must be a multiple of ft \* fh \* fw = 8"):
        ops.pixel_shuffle_3d(x5(1, 6, 2, 2, 2), (2, 2, 2))


@pytest.mark.parametrize("factors", [(0, 2, 2), (2, 2), (1, -1, 1)])
def test_bad_factors(path, factors):
    with pytest.raises(ValueError, match="factors"):
        ops.pixel_unshuffle_3d(x5(1, 2, 5, 4, 4), factors)
    with pytest.raises(ValueError, match="factors"):
        ops.pixel_shuffle_3d(x5(1, 8, 2, 2, 2), factors)


# ---- the compiled ops check their arguments too -------------------------------------------

@needs_kernels
def test_compiled_ops_check_arguments():
    lib = torch.ops.bootvid
    with pytest.raises(RuntimeError, match=r"num_groups \(3\) must be >= 1 and divide the channel "
                                           r"count \(4\)"):
        lib.group_norm_act(X, 3, None, None, 1e-6, True, True, "silu")
    with pytest.raises(RuntimeError, match='act must be "silu" or "none", got "gelu"'):
        lib.group_norm_act(X, 2, None, None, 1e-6, True, True, "gelu")
    with pytest.raises(RuntimeError, match="x has 6 frames and gamma 3"):
        lib.adaptive_group_norm(x5(1, 4, 6, 4, 4), x5(1, 4, 3, 1, 1), None, 2, 1e-6, True, True,
                                "none")
    with pytest.raises(RuntimeError, match=r"causal: T \(4\) must be 1 \+ ft \* k"):
        lib.space_to_depth_3d(x5(1, 2, 4, 4, 4), [2, 2, 2], 1)
    with pytest.raises(RuntimeError, match=r"channels \(6\) must be a multiple of ft \* fh \* fw = 8"):
        lib.depth_to_space_3d(x5(1, 6, 2, 2, 2), [2, 2, 2], 2)
    with pytest.raises(RuntimeError, match='pad_mode must be "replicate" or "zeros"'):
        lib.causal_conv3d(X, W333, None, [1, 1, 1], [1, 1], "circular", None)
    with pytest.raises(RuntimeError, match="expected a floating-point x, got Int"):
        lib.group_norm_act(x5(1, 4, 2, 2, 2, dtype=torch.int32), 2, None, None, 1e-6, True,
                           True, "silu")
