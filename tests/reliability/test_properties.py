"""Property tests (hypothesis) of the frame-count and padding rules: for any clip length, any
frame size a multiple of the spatial compression and any chunking, encode then decode returns
exactly the input's frame count and size, and chunked encoding equals whole-clip encoding."""

from __future__ import annotations

import functools

import pytest
import torch

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402


@functools.lru_cache(maxsize=None)
def _model(tc: int):
    from bootvid.growth import grow
    from bootvid.tokenizer import TokenizerConfig, VideoTokenizer

    torch.manual_seed(0)
    tok = VideoTokenizer(TokenizerConfig.preset("tiny", base_channels=16, norm_groups=4))
    while tok.temporal_compression < tc:
        tok = grow(tok)
    return tok.eval()


@settings(max_examples=12)  # each example encodes and decodes (twice when chunked)
@given(tc=st.sampled_from([4, 16]), frames=st.integers(1, 40), h=st.integers(1, 3),
       w=st.integers(1, 3), chunks=st.one_of(st.none(), st.integers(1, 4)),
       seed=st.integers(0, 2**16))
def test_encode_decode_keeps_frame_count_and_size(tc, frames, h, w, chunks, seed):
    """(``chunks``: streamed in chunks of ``1 + chunks*tc, chunks*tc, ...`` frames, the
    lengths the streaming encoder accepts.)"""
    tok = _model(tc)
    chunk = None if chunks is None else chunks * tc
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, 3, frames, 8 * h, 8 * w, generator=g) * 2 - 1
    with torch.no_grad():
        post = tok.encode(x, chunk_frames=chunk)
        assert post.mean.shape[2] == tok.latent_frames(frames) == 1 + -(-(frames - 1) // tc)
        y = tok.decode(post.mean, num_frames=frames)
        assert y.shape == x.shape
        if chunk is not None:  # streamed in chunks == the whole clip at once
            whole = tok.encode(x).mean
            torch.testing.assert_close(post.mean, whole, rtol=1e-4, atol=1e-4)


@settings(max_examples=12)
@given(frames=st.integers(1, 30), chunk=st.integers(1, 6))
def test_chunked_decode_equals_whole(frames, chunk):
    tok = _model(4)
    x = torch.rand(1, 3, frames, 16, 16, generator=torch.Generator().manual_seed(frames)) * 2 - 1
    with torch.no_grad():
        z = tok.encode(x).mean
        whole = tok.decode(z, num_frames=frames)
        parts = tok.decode(z, num_frames=frames, chunk_latents=chunk)
    torch.testing.assert_close(parts, whole, rtol=1e-4, atol=1e-4)
