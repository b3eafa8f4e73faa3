"""bootvid's ops: compiled CPU/CUDA kernels with pure-PyTorch reference twins.

``bootvid.ops.X`` runs the kernel (falling back to ``bootvid.ops.reference.X`` when the
kernels are not built, in reference mode, or for a dtype the kernel lacks);
``bootvid.ops.reference.X`` is the definition the kernels are tested against.
Tensors are video-shaped ``(B, C, T, H, W)``.
"""

from . import reference
from ._backend import (cpu_has_native_bf16, cpu_isa, kernels_available, load_error,
                       reference_mode, use_reference)
from .conv import causal_conv3d
from .norm import adaptive_group_norm, group_norm_act
from .shuffle import pixel_shuffle_3d, pixel_unshuffle_3d

if kernels_available():
    from . import _registration  # noqa: F401  (fake + autograd kernels of torch.ops.bootvid)

__all__ = [
    "causal_conv3d",
    "group_norm_act",
    "adaptive_group_norm",
    "pixel_unshuffle_3d",
    "pixel_shuffle_3d",
    "reference",
    "cpu_has_native_bf16",
    "cpu_isa",
    "kernels_available",
    "load_error",
    "reference_mode",
    "use_reference",
]
