"""Layer-wise spatial tiling: every conv computed in exact tiles, so no seams."""

from __future__ import annotations

import pytest
import torch
from tok_helpers import make_video, max_diff

from bootvid import ops
from bootvid.nn import spatial_tiling, tiled_causal_conv3d

TOL = 1e-5


@pytest.mark.parametrize("stride, kernel, pad_mode", [
    ((1, 1, 1), (3, 3, 3), "replicate"),
    ((2, 2, 2), (3, 3, 3), "replicate"),
    ((1, 1, 1), (3, 3, 3), "zeros"),
    ((1, 1, 1), (1, 1, 1), "replicate"),
])
@pytest.mark.parametrize("tile", [1, 3, 5, 8])
def test_tiled_conv_equals_op(stride, kernel, pad_mode, tile):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, 9, 14, 10, generator=g)
    w = torch.randn(6, 4, *kernel, generator=g) / 10
    b = torch.randn(6, generator=g)
    pad = (kernel[1] // 2, kernel[2] // 2)
    y, c = ops.causal_conv3d(x[:, :, :5], w, b, stride, pad, pad_mode)
    yt, ct = tiled_causal_conv3d(x[:, :, :5], w, b, stride, pad, pad_mode, None, tile)
    assert yt.shape == y.shape and max_diff(yt, y) <= TOL and torch.equal(ct, c)
    # second chunk through the cache (4 frames: a multiple of the stride)
    y2, c2 = ops.causal_conv3d(x[:, :, 5:], w, b, stride, pad, pad_mode, c)
    yt2, ct2 = tiled_causal_conv3d(x[:, :, 5:], w, b, stride, pad, pad_mode, ct, tile)
    assert max_diff(yt2, y2) <= TOL and torch.equal(ct2, c2)


def test_tiled_conv_short_chunk_cache():
    """A chunk shorter than the cache keeps part of the previous cache, like the op."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 2, 1, 8, 8, generator=g)
    w = torch.randn(2, 2, 3, 3, 3, generator=g)
    for cache in (None, torch.randn(1, 2, 2, 8, 8, generator=g)):
        y, c = ops.causal_conv3d(x, w, None, (1, 1, 1), (1, 1), "replicate", cache)
        yt, ct = tiled_causal_conv3d(x, w, None, (1, 1, 1), (1, 1), "replicate", cache, 3)
        assert max_diff(yt, y) <= TOL and torch.equal(ct, c)


@pytest.mark.parametrize("tile", [8, 16, 24])
def test_tiled_encode_decode_equal_untiled(tok, tile):
    x = make_video(9, 48, 40)
    with torch.no_grad():
        post = tok.encode(x)
        recon = tok.decode(post.mode())
        assert max_diff(tok.encode(x, tile_size=tile).mean, post.mean) <= TOL
        assert max_diff(tok.decode(post.mode(), tile_size=tile), recon) <= TOL
        # combined with streaming in time
        assert max_diff(tok.encode(x, chunk_frames=4, tile_size=tile).mean, post.mean) <= TOL
        assert max_diff(tok.decode(post.mode(), chunk_latents=1, tile_size=tile), recon) <= TOL


def test_tiling_context_and_errors(tok):
    with pytest.raises(ValueError, match="tile_size must be a positive int"):
        with spatial_tiling(0):
            pass
    with pytest.raises(ValueError, match="tile_size"):
        tok.decode(torch.zeros(1, 16, 1, 2, 2), tile_size=-8)
    x = make_video(1, 32, 32).to(memory_format=torch.channels_last_3d)
    with torch.no_grad():
        ref = tok.encode(x).mean
        with spatial_tiling(8):
            tiled = tok.encode(x).mean
    assert max_diff(tiled, ref) <= TOL
