"""bootvid's layers: causal, streamable building blocks on top of ``bootvid.ops``.

Every conv, norm and (un)shuffle goes through ``bootvid.ops``, so a model built from these
runs on the compiled kernels or, in reference mode, on their pure-PyTorch twins. Layers that
look back in time take an optional :class:`StreamState` to process a video chunk by chunk.
"""

from .blocks import ResBlock
from .conv import CausalConv3d
from .norm import AdaptiveGroupNorm, GroupNormAct
from .patch import Patchify, haar_matrix
from .resample import Downsample, Upsample
from .stream import StreamState
from .tiling import current_tile_size, spatial_tiling, tiled_causal_conv3d

__all__ = [
    "AdaptiveGroupNorm",
    "CausalConv3d",
    "Downsample",
    "GroupNormAct",
    "Patchify",
    "ResBlock",
    "StreamState",
    "current_tile_size",
    "spatial_tiling",
    "tiled_causal_conv3d",
    "Upsample",
    "haar_matrix",
]
