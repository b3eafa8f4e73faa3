"""Layer-wise spatial tiling: each conv computes its output tile by tile, exactly.

High resolutions run out of memory inside the convolutions (padded copies, layout reorders,
im2col or cuDNN workspaces, 32-bit index limits all scale with the whole feature map).
Tiling the *latent* before the decoder avoids that but leaves seams: a tile's border pixels
see zero padding instead of their neighbours, and the per-frame norms see only the tile.
Here the tiling happens inside every conv instead: the output is cut into tiles of at most
``tile_size x tile_size`` pixels, and each is computed from its input window plus the
halo the kernel needs (the overlap between neighbouring windows), zero-padded only where
the whole map is. The result equals the untiled conv up to float rounding, so there are no
seams, while the norms between convs still see whole frames.

Inside the same context the norms run frame by frame (:func:`frame_by_frame`, exact since
their statistics are per frame), so their temporaries stay small too. Use the
:func:`spatial_tiling` context manager (thread-local), or ``tile_size=`` of the tokenizer's
encode/decode, which set it for the call.
"""

from __future__ import annotations

import contextlib
import threading

import torch
import torch.nn.functional as F

from .. import ops

_state = threading.local()


def current_tile_size() -> int | None:
    """The active conv tile size in output pixels (None: convs run untiled)."""
    return getattr(_state, "tile_size", None)


@contextlib.contextmanager
def spatial_tiling(tile_size: int | None):
    """Compute every :class:`~bootvid.nn.CausalConv3d` inside this block in spatial output
    tiles of at most ``tile_size x tile_size`` (None disables tiling)."""
    if tile_size is not None and (isinstance(tile_size, bool) or not isinstance(tile_size, int)
                                  or tile_size < 1):
        raise ValueError(f"tile_size must be a positive int (pixels) or None, got {tile_size!r}")
    previous = current_tile_size()
    _state.tile_size = tile_size
    try:
        yield
    finally:
        _state.tile_size = previous


def _cache_tail(x: torch.Tensor, cache: torch.Tensor | None, keep: int, kt: int,
                pad_mode: str) -> torch.Tensor:
    """The ``new_cache`` of ``ops.causal_conv3d``: the last ``keep`` frames of
    ``cat(front, x)``, front being the cache or the causal padding."""
    T = x.shape[2]
    if keep <= T:
        return x[:, :, T - keep:].clone()
    if cache is not None:
        front = cache
    elif pad_mode == "replicate":
        front = x[:, :, :1].expand(-1, -1, kt - 1, -1, -1)
    else:
        front = x.new_zeros(x.shape[0], x.shape[1], kt - 1, *x.shape[3:])
    return torch.cat([front[:, :, front.shape[2] - (keep - T):], x], dim=2)


def tiled_causal_conv3d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                        stride, padding, pad_mode: str, cache: torch.Tensor | None,
                        tile_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``ops.causal_conv3d`` computed in spatial output tiles of at most ``tile_size``;
    same arguments and result (``(y, new_cache)``)."""
    kt, kh, kw = weight.shape[2:]
    st, sh, sw = stride
    ph, pw = padding
    B, C, T, H, W = x.shape
    Ho, Wo = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    keep = kt - st
    if Ho <= tile_size and Wo <= tile_size:
        return ops.causal_conv3d(x, weight, bias, stride, padding, pad_mode, cache)
    fmt = (torch.channels_last_3d if not x.is_contiguous()
           and x.is_contiguous(memory_format=torch.channels_last_3d) else torch.contiguous_format)
    y = None
    for oh0 in range(0, Ho, tile_size):
        oh1 = min(oh0 + tile_size, Ho)
        ih0, ih1 = oh0 * sh - ph, (oh1 - 1) * sh - ph + kh  # input rows, halo included
        for ow0 in range(0, Wo, tile_size):
            ow1 = min(ow0 + tile_size, Wo)
            iw0, iw1 = ow0 * sw - pw, (ow1 - 1) * sw - pw + kw
            pads = (max(-iw0, 0), max(iw1 - W, 0), max(-ih0, 0), max(ih1 - H, 0))
            window = (slice(None), slice(None), slice(None),
                      slice(max(ih0, 0), min(ih1, H)), slice(max(iw0, 0), min(iw1, W)))
            xt, ct = x[window], cache[window] if cache is not None else None
            if any(pads):
                xt = F.pad(xt, pads)
                ct = F.pad(ct, pads) if ct is not None else None
            yt, _ = ops.causal_conv3d(xt, weight, bias, stride, (0, 0), pad_mode, ct)
            if y is None:
                y = torch.empty((B, weight.shape[0], yt.shape[2], Ho, Wo), dtype=yt.dtype,
                                device=yt.device, memory_format=fmt)
            y[:, :, :, oh0:oh1, ow0:ow1] = yt
    new_cache = _cache_tail(x, cache, keep, kt, pad_mode)
    if new_cache.dtype != y.dtype:  # under autocast the op casts its cache like its input
        new_cache = new_cache.to(y.dtype)
    return y, new_cache


def frame_by_frame(fn, x: torch.Tensor, *aligned: torch.Tensor) -> torch.Tensor:
    """``fn(x, *aligned)`` computed one frame at a time into a preallocated output.

    For per-frame ops (the norms), this bounds their temporaries to one frame, which is what
    lets high resolutions fit next to the tiled convs; the result is the same. ``aligned``
    tensors share x's time axis (or have one frame, broadcast) and are sliced with it.
    """
    T = x.shape[2]
    if T == 1:
        return fn(x, *aligned)
    out = None
    for t in range(T):
        args = [a[:, :, t:t + 1] if a.shape[2] > 1 else a for a in aligned]
        y = fn(x[:, :, t:t + 1], *args)
        if out is None:
            fmt = (torch.channels_last_3d if not x.is_contiguous()
                   and x.is_contiguous(memory_format=torch.channels_last_3d)
                   else torch.contiguous_format)
            out = torch.empty((*y.shape[:2], T, *y.shape[3:]), dtype=y.dtype, device=y.device,
                              memory_format=fmt)
        out[:, :, t:t + 1] = y
    return out
