"""Small helpers of the op wrappers."""

from __future__ import annotations

import torch

from ._backend import use_kernel

_KERNEL_DTYPES = {
    "cpu": (torch.float32, torch.bfloat16, torch.float16, torch.float64),
    "cuda": (torch.float32, torch.bfloat16, torch.float16),
}


def kernel_for(x: torch.Tensor) -> bool:
    """Run the compiled kernel for x (kernels loaded, not in reference mode, dtype supported)."""
    return use_kernel(x) and x.dtype in _KERNEL_DTYPES.get(x.device.type, ())


def autocast_dtype(x: torch.Tensor):
    """The autocast compute dtype for x's device, or None outside autocast."""
    dev = x.device.type
    if dev in ("cpu", "cuda") and torch.is_autocast_enabled(dev):
        return torch.get_autocast_dtype(dev)
    return None
