"""Chunked (streamed) encode/decode equals whole-clip processing: max |diff| <= 1e-5 in fp32."""

from __future__ import annotations

import pytest
import torch
from tok_helpers import make_tokenizer, make_video, max_diff

from bootvid.tokenizer import (
    StreamDecoder,
    StreamEncoder,
    decode_latents,
    encode_chunk_sizes,
    encode_video,
    reconstruct_video,
    stream_reconstruct,
)

TOL = 1e-5  # fp32; the differences come from conv blocking over different frame counts


@pytest.fixture(scope="module")
def clip():
    return make_video(23, 32, 32, B=2)  # 23 frames: not of the 1 + 4k form


@pytest.fixture(scope="module")
def whole(tok, clip):
    with torch.no_grad():
        post = tok.encode(clip)
        return post, tok.decode(post.mode(), num_frames=clip.shape[2])


@pytest.mark.parametrize("chunk_frames", [4, 8, 16, 17, 9, 64, [1, 4], [5, 8, 4], [13, 4, 8]])
def test_chunked_encode_equals_whole(tok, clip, whole, chunk_frames):
    with torch.no_grad():
        post = tok.encode(clip, chunk_frames=chunk_frames)
    assert post.mean.shape == whole[0].mean.shape
    assert max_diff(post.mean, whole[0].mean) <= TOL
    assert max_diff(post.logvar, whole[0].logvar) <= TOL


@pytest.mark.parametrize("chunk_latents", [1, 2, 3, 4, 100])
def test_chunked_decode_equals_whole(tok, clip, whole, chunk_latents):
    z = whole[0].mode()
    with torch.no_grad():
        recon = tok.decode(z, num_frames=clip.shape[2], chunk_latents=chunk_latents)
        full = tok.decode(z, chunk_latents=chunk_latents)
    assert recon.shape == clip.shape
    assert max_diff(recon, whole[1]) <= TOL
    assert full.shape[2] == 1 + 4 * (z.shape[2] - 1)


@pytest.mark.parametrize("T", [1, 2, 4, 5, 6, 10])
def test_chunked_short_clips(tok, T):
    x = make_video(T)
    with torch.no_grad():
        post = tok.encode(x)
        z = post.mode()
        assert max_diff(tok.encode(x, chunk_frames=[1, 4]).mean, post.mean) <= TOL
        streamed = tok.decode(z, num_frames=T, chunk_latents=1)
        assert max_diff(streamed, tok.decode(z, num_frames=T)) <= TOL


def test_chunked_custom_norm():
    tok = make_tokenizer(norm_center=False)
    x = make_video(14, 16, 16)
    with torch.no_grad():
        post = tok.encode(x)
        assert max_diff(tok.encode(x, chunk_frames=4).mean, post.mean) <= TOL
        z = post.mode()
        assert max_diff(tok.decode(z, chunk_latents=2), tok.decode(z)) <= TOL


def test_stream_encoder_ragged_pieces(tok, clip, whole):
    """Pieces of any size are buffered until they fill a chunk that respects the frame rule."""
    enc = StreamEncoder(tok, chunk_frames=8)
    parts, a = [], 0
    with torch.no_grad():
        for n in (1, 3, 2, 7, 5, 4, 1):
            p = enc.push(clip[:, :, a:a + n])
            a += n
            if p is not None:
                parts.append(p.mean)
        assert a == clip.shape[2]
        parts.append(enc.finish().mean)
    assert max_diff(torch.cat(parts, 2), whole[0].mean) <= TOL
    assert enc.latents_out == whole[0].mean.shape[2] and enc.frames_in == clip.shape[2]
    with pytest.raises(RuntimeError, match="after finish"):
        enc.push(clip[:, :, :4])


def test_stream_encoder_greedy_and_decoder_pieces(tok, clip, whole):
    enc = StreamEncoder(tok)  # no schedule: runs every valid prefix at once
    dec = StreamDecoder(tok, num_frames=clip.shape[2])
    frames = []
    with torch.no_grad():
        for a, b in ((0, 6), (6, 11), (11, 23)):
            p = enc.push(clip[:, :, a:b])
            if p is not None:
                frames.append(dec.push(p.mode()))
        frames.append(dec.push(enc.finish().mode()))
    recon = torch.cat(frames, 2)
    assert recon.shape == clip.shape
    assert max_diff(recon, whole[1]) <= TOL


def test_stream_reconstruct_and_helpers(tok, clip, whole):
    pieces = (clip[:, :, a:a + 5] for a in range(0, clip.shape[2], 5))
    with torch.no_grad():
        out = list(stream_reconstruct(tok, pieces, chunk_frames=4))
        recon = torch.cat(out, 2)
        assert recon.shape == clip.shape and max_diff(recon, whole[1]) <= TOL
        assert max_diff(encode_video(tok, clip).mean, whole[0].mean) <= TOL  # auto: streamed
        assert max_diff(decode_latents(tok, whole[0].mode(), clip.shape[2]), whole[1]) <= TOL
        assert max_diff(reconstruct_video(tok, clip), whole[1]) <= TOL


def test_chunk_schedule_rules():
    assert encode_chunk_sizes(16, 4) == [17, 16]
    assert encode_chunk_sizes(17, 4) == [17, 16]
    assert encode_chunk_sizes([1, 4, 8], 4) == [1, 4, 8]
    assert encode_chunk_sizes(3, 1) == [3]
    for bad in (6, 2, 1, 0, [2, 4], [1, 6], [5], []):
        with pytest.raises(ValueError, match="chunk"):
            encode_chunk_sizes(bad, 4)
    with pytest.raises(ValueError, match="frame rule: the first chunk must hold 1 \\+ 4\\*m"):
        encode_chunk_sizes(6, 4)


def test_chunk_errors_in_api(tok):
    x = make_video(9)
    with pytest.raises(ValueError, match="frame rule"):
        tok.encode(x, chunk_frames=6)
    with pytest.raises(ValueError, match="chunk_latents must be a positive int"):
        tok.decode(torch.zeros(1, 16, 3, 2, 2), chunk_latents=0)
    enc = StreamEncoder(tok, 4)
    with torch.no_grad():
        enc.push(x[:, :, :2])
        with pytest.raises(ValueError, match="does not continue the stream"):
            enc.push(make_video(2, 24, 16))
    with pytest.raises(ValueError, match="no frames were pushed"):
        StreamEncoder(tok, 4).finish()
    dec = StreamDecoder(tok)
    with torch.no_grad():
        dec.push(torch.zeros(1, 16, 1, 2, 2))
        with pytest.raises(ValueError, match="do not continue the stream"):
            dec.push(torch.zeros(1, 16, 1, 3, 2))


def test_stream_state_is_small(tok):
    """The caches hold a few frames per layer, not the clip."""
    x = make_video(33, 32, 32)
    enc = StreamEncoder(tok, 8)
    with torch.no_grad():
        enc.push(x)
        enc.finish()
    per_frame = 32 * 32 * 4 * 32  # one frame of the first level's features, bytes
    assert enc.state.nbytes() < 30 * per_frame
