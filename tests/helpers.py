"""Shared helpers of the op tests: devices, dtypes, tolerances, video makers and comparisons.

Imported by the test modules as ``helpers`` (tests/ is on sys.path under pytest's default
import mode); the fixtures built on them live in conftest.py.
"""

from __future__ import annotations

import contextlib

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from bootvid import ops

# ---- devices -------------------------------------------------------------------------

HAS_CUDA_KERNELS = torch.cuda.is_available() and ops.kernels_available("cuda")
KERNELS = ops.kernels_available()

needs_kernels = pytest.mark.skipif(
    not KERNELS, reason=f"bootvid's compiled kernels are not loaded ({ops.load_error()})")


def cuda_param(*values, id=None):
    """A pytest.param on CUDA: marked ``cuda`` and skipped without a GPU + CUDA kernels."""
    return pytest.param(
        *values, id=id,
        marks=[pytest.mark.cuda,
               pytest.mark.skipif(not HAS_CUDA_KERNELS,
                                  reason="needs a CUDA GPU and bootvid's CUDA kernels")])


DEVICES = ["cpu", cuda_param("cuda", id="cuda")]

# (device, dtype) pairs the kernel-vs-reference tests run: fp32 and bf16 on CPU (fp16 in a
# few tests), fp32 / bf16 / fp16 on CUDA.
DEVICE_DTYPES = [
    pytest.param("cpu", torch.float32, id="cpu-fp32"),
    pytest.param("cpu", torch.bfloat16, id="cpu-bf16"),
    cuda_param("cuda", torch.float32, id="cuda-fp32"),
    cuda_param("cuda", torch.bfloat16, id="cuda-bf16"),
    cuda_param("cuda", torch.float16, id="cuda-fp16"),
]
DEVICE_DTYPES_FP16_CPU = DEVICE_DTYPES + [pytest.param("cpu", torch.float16, id="cpu-fp16")]

# ---- tolerances ----------------------------------------------------------------------
# Elementwise ops (norms): |a - e| <= atol + rtol * |e|. The low-precision rows are about
# 4-5 ulps of the storage format: the kernel rounds its output once, the expected value is
# computed in float64 from the same (already rounded) inputs.
TOL = {
    torch.float64: dict(rtol=1e-9, atol=1e-9),
    torch.float32: dict(rtol=1e-5, atol=1e-5),
    torch.bfloat16: dict(rtol=2e-2, atol=2e-2),
    torch.float16: dict(rtol=4e-3, atol=4e-3),
}
# Reductions over many terms (convolutions, and gradients of weights / modulation that sum
# over positions): error measured relative to the largest magnitude of the expected tensor.
REL_TOL = {
    torch.float64: 1e-9,
    torch.float32: 1e-4,
    torch.bfloat16: 2e-2,
    torch.float16: 5e-3,
}


def tol(dtype):
    return TOL[dtype]


# ---- tensors -------------------------------------------------------------------------

LAYOUTS = ("contiguous", "channels_last", "strided")


def to_layout(t: torch.Tensor, layout: str) -> torch.Tensor:
    """The same values in another memory layout:

    - ``contiguous``: plain NCTHW;
    - ``channels_last``: ``torch.channels_last_3d`` (NTHWC in memory);
    - ``strided``: a non-contiguous view that is neither (every other element of a twice
      as wide buffer, with T and C swapped in memory).
    """
    if layout == "contiguous":
        return t.contiguous()
    if layout == "channels_last":
        return t.contiguous(memory_format=torch.channels_last_3d)
    if layout == "strided":
        B, C, T, H, W = t.shape
        buf = t.new_zeros(B, T, C, H, 2 * W)
        buf[..., ::2] = t.transpose(1, 2)
        out = buf.transpose(1, 2)[..., ::2]
        assert not out.is_contiguous() and not out.is_contiguous(
            memory_format=torch.channels_last_3d) or t.numel() <= 1
        return out
    raise ValueError(layout)


def rand(*shape, dtype=torch.float32, device="cpu", layout="contiguous", seed=0,
         scale=1.0, offset=0.0, requires_grad=False):
    """Seeded ``offset + scale * N(0, 1)`` of ``shape`` in ``layout`` (see ``to_layout``)."""
    g = torch.Generator().manual_seed(seed)
    t = torch.randn(*shape, generator=g, dtype=torch.float64) * scale + offset
    t = t.to(dtype=dtype, device=device)
    if len(shape) == 5:
        t = to_layout(t, layout)
    return t.requires_grad_(requires_grad)


def video(B, C, T, H, W, **kw):
    return rand(B, C, T, H, W, **kw)


def f64(*tensors):
    """Detached float64 leaf copies requiring grad (the inputs of the expected values)."""
    out = tuple(None if t is None else t.detach().double().requires_grad_(t.requires_grad)
                for t in tensors)
    return out if len(out) != 1 else out[0]


def leaves(*tensors, requires_grad=True):
    out = tuple(None if t is None else t.detach().clone().requires_grad_(requires_grad)
                for t in tensors)
    return out if len(out) != 1 else out[0]


def grads(*tensors):
    return tuple(None if t is None else t.grad for t in tensors)


# ---- comparisons ---------------------------------------------------------------------

def assert_close(actual, expected, dtype=None, msg="", **kw):
    """Elementwise comparison at the tolerance of ``dtype`` (default: actual's dtype)."""
    dtype = dtype or actual.dtype
    opts = dict(TOL[dtype])
    opts.update(kw)
    assert actual.shape == expected.shape, f"{msg}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    torch.testing.assert_close(actual.detach().double().cpu(), expected.detach().double().cpu(),
                               msg=(lambda m: f"{msg}\n{m}") if msg else None, **opts)


def rel_err(actual, expected, floor=0.0) -> float:
    a, e = actual.detach().double().cpu(), expected.detach().double().cpu()
    if not e.numel():
        return 0.0
    scale = max(e.abs().max().item(), floor, 1e-30)
    return (a - e).abs().max().item() / scale


def assert_rel_close(actual, expected, dtype=None, msg="", tol=None, floor=0.0):
    """max |actual - expected| <= tol * max(max |expected|, floor) (tol per dtype by default;
    ``floor`` for tensors that may be all ~0, e.g. the gradient of a group of one element)."""
    dtype = dtype or actual.dtype
    tol = REL_TOL[dtype] if tol is None else tol
    assert actual.shape == expected.shape, f"{msg}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    err = rel_err(actual, expected, floor)
    assert err <= tol, f"{msg}: max |diff| / max |expected| = {err:.3g} > {tol:.3g}"


def assert_equal(actual, expected, msg=""):
    assert actual.shape == expected.shape, f"{msg}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    assert actual.dtype == expected.dtype, f"{msg}: dtype {actual.dtype} != {expected.dtype}"
    if not torch.equal(actual.detach().cpu(), expected.detach().cpu()):
        d = (actual.detach().double().cpu() - expected.detach().double().cpu()).abs()
        raise AssertionError(f"{msg}: not bitwise equal; max |diff| = {d.max().item():.3g} "
                             f"at {tuple(int(i) for i in (d == d.max()).nonzero()[0])}")


def assert_kernel_layout(out, x):
    """The layout rule of every compiled op: channels_last_3d output exactly when x is
    channels_last_3d-contiguous and not plain contiguous; plain contiguous otherwise."""
    cl = (not x.is_contiguous()) and x.is_contiguous(memory_format=torch.channels_last_3d)
    if cl:
        assert out.is_contiguous(memory_format=torch.channels_last_3d), (
            f"channels_last_3d input gave output strides {out.stride()}")
    else:
        assert out.is_contiguous(), f"input strides {x.stride()} gave output strides {out.stride()}"


# ---- which ops ran -------------------------------------------------------------------

class _RecordOps(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.names: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.append(str(func.name()) if hasattr(func, "name") else str(func))
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def record_ops():
    """Records the names of the aten/bootvid ops dispatched inside the block."""
    mode = _RecordOps()
    with mode:
        yield mode.names


def bootvid_ops_in(names):
    return sorted({n for n in names if n.startswith("bootvid::")})


def moving_frames(T: int, H: int, W: int, seed: int = 0) -> torch.Tensor:
    """uint8 (T, H, W, 3): a smooth pattern drifting over time (compresses well, frames differ)."""
    g = torch.Generator().manual_seed(seed)
    phase = torch.rand(3, generator=g) * 6
    t = torch.arange(T, dtype=torch.float32).view(T, 1, 1, 1)
    y = torch.linspace(0, 1, H).view(1, H, 1, 1)
    x = torch.linspace(0, 1, W).view(1, 1, W, 1)
    v = 0.5 + 0.4 * torch.sin(6 * x + 4 * y + 0.3 * t + phase.view(1, 1, 1, 3))
    return (v * 255).round().to(torch.uint8)
