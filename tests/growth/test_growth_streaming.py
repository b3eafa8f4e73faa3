"""Streamed (chunked) encode/decode of grown models equals the whole clip: max |diff| <= 1e-5
in fp32, with the 2x causal subsample keeping the clip's phase across chunk boundaries."""

from __future__ import annotations

import pytest
import torch
from grow_helpers import make_video, max_diff

from bootvid.tokenizer import StreamDecoder, StreamEncoder, stream_reconstruct

TOL = 1e-5


@pytest.fixture(scope="module")
def clip8():
    return make_video(23, B=2)  # not of the 1 + 8k form: padded to 25


@pytest.fixture(scope="module")
def whole8(tok8, clip8):
    with torch.no_grad():
        post = tok8.encode(clip8)
        return post, tok8.decode(post.mode(), num_frames=clip8.shape[2])


@pytest.mark.parametrize("chunk_frames", [8, 17, [1, 8], [9, 16, 8], [17, 8]])
def test_chunked_encode_equals_whole_8x(tok8, clip8, whole8, chunk_frames):
    with torch.no_grad():
        post = tok8.encode(clip8, chunk_frames=chunk_frames)
    assert max_diff(post.mean, whole8[0].mean) <= TOL
    assert max_diff(post.logvar, whole8[0].logvar) <= TOL


@pytest.mark.parametrize("chunk_latents", [1, 2])
def test_chunked_decode_equals_whole_8x(tok8, clip8, whole8, chunk_latents):
    with torch.no_grad():
        recon = tok8.decode(whole8[0].mode(), num_frames=clip8.shape[2],
                            chunk_latents=chunk_latents)
    assert recon.shape == clip8.shape and max_diff(recon, whole8[1]) <= TOL


def test_stream_pieces_8x(tok8, clip8, whole8):
    """Ragged pieces through StreamEncoder/StreamDecoder, and stream_reconstruct."""
    enc, dec = StreamEncoder(tok8, chunk_frames=8), StreamDecoder(tok8, num_frames=23)
    frames, a = [], 0
    with torch.no_grad():
        for n in (3, 7, 1, 8, 4):
            p = enc.push(clip8[:, :, a:a + n])
            a += n
            if p is not None:
                frames.append(dec.push(p.mode()))
        frames.append(dec.push(enc.finish().mode()))
        assert max_diff(torch.cat(frames, 2), whole8[1]) <= TOL
        pieces = (clip8[:, :, i:i + 5] for i in range(0, 23, 5))
        recon = torch.cat(list(stream_reconstruct(tok8, pieces, chunk_frames=8)), 2)
    assert recon.shape == clip8.shape and max_diff(recon, whole8[1]) <= TOL


def test_chunked_equals_whole_16x(tok16):
    x = make_video(40)  # padded to 49 frames: 4 latents
    with torch.no_grad():
        post = tok16.encode(x)
        for chunk in (16, [1, 16], [33, 16]):
            p = tok16.encode(x, chunk_frames=chunk)
            assert max_diff(p.mean, post.mean) <= TOL and max_diff(p.logvar, post.logvar) <= TOL
        z = post.mode()
        recon = tok16.decode(z, num_frames=40)
        for chunk_latents in (1, 3):
            streamed = tok16.decode(z, num_frames=40, chunk_latents=chunk_latents)
            assert max_diff(streamed, recon) <= TOL
    assert recon.shape == x.shape


def test_stream_memory_constant_in_length(tok8):
    """The caches (branch A's included) hold a few frames per layer, whatever the length."""
    sizes = []
    for T in (17, 41):
        enc = StreamEncoder(tok8, chunk_frames=8)
        with torch.no_grad():
            enc.push(make_video(T))
            enc.finish()
        assert enc.state.children  # branch A streamed on its own state, counted in nbytes
        assert enc.state.nbytes() > sum(c.nbytes() for c in enc.state.children) > 0
        sizes.append(enc.state.nbytes())
    assert sizes[0] == sizes[1]


def test_spatial_tiling_8x(tok8):
    """Layer-wise tiling (frame-by-frame mixing norm included) changes nothing either."""
    x = make_video(9, 32, 32)
    with torch.no_grad():
        post = tok8.encode(x)
        tiled = tok8.encode(x, chunk_frames=8, tile_size=8)
        assert max_diff(tiled.mean, post.mean) <= TOL
        z = post.mode()
        assert max_diff(tok8.decode(z, tile_size=8, chunk_latents=1), tok8.decode(z)) <= TOL
