"""Chunk-by-chunk encoding and decoding with per-layer caches: constant memory, no seams.

A causal tokenizer's output at frame ``t`` depends only on frames ``<= t``. Carrying each
causal conv's last frames from one chunk to the next (:class:`~bootvid.nn.StreamState`)
therefore reproduces whole-clip processing exactly, unlike independent (overlapping) windows,
which leave jumps at chunk boundaries. Chunks must respect the frame rule of a ``tc``-times
temporal compression: the first holds ``1 + tc*m`` frames, later ones multiples of ``tc``.

- :class:`StreamEncoder` takes frames in pieces of any size, buffers what does not yet fill
  a valid chunk, and returns the latent posterior of each completed chunk;
  :meth:`StreamEncoder.finish` pads the tail (replicating the last frame) like ``encode``.
- :class:`StreamDecoder` takes latents in pieces of any size and returns their frames.
- :func:`encode_video`, :func:`decode_latents` and :func:`reconstruct_video` are the
  convenience helpers; they stream by default once a clip is longer than a chunk
  (``chunk_frames="auto"``), and :func:`stream_reconstruct` runs encoder and decoder back to
  back over an iterable of chunks, holding only one chunk at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

import torch

from ..nn import StreamState, spatial_tiling
from .posterior import DiagonalGaussian

if TYPE_CHECKING:
    from .model import VideoTokenizer

#: Frames per chunk after the first (which gets one more) when helpers stream by default:
#: 17-frame first chunks, as in the tokenizer's training clips.
DEFAULT_CHUNK_FRAMES = 16
#: Latent frames per decoder chunk when helpers stream by default.
DEFAULT_CHUNK_LATENTS = 4


def encode_chunk_sizes(chunk_frames: int | Sequence[int], tc: int) -> list[int]:
    """Validate ``chunk_frames`` for a ``tc``-times temporal compression and return the
    chunk lengths (the last one repeats).

    An int ``N`` that is a multiple of ``tc`` means chunks of ``1 + N, N, N, ...`` frames;
    ``N = 1 + tc*m`` means ``N, N - 1, N - 1, ...`` (the same cut points: 16 and 17 both give
    17, 16, 16, ... for tc = 4). A sequence gives the lengths explicitly: the first must be
    ``1 + tc*m``, the others positive multiples of ``tc``.
    """
    rule = (f"the first chunk must hold 1 + {tc}*m frames and later chunks multiples of {tc} "
            f"frames, so that every chunk ends on a latent-frame boundary and the strided "
            f"convs keep the whole clip's phase")
    if isinstance(chunk_frames, bool):
        raise TypeError(f"chunk_frames must be an int or a sequence of ints, got {chunk_frames!r}")
    if isinstance(chunk_frames, int):
        n = chunk_frames
        if tc == 1 and n >= 1:
            return [n]
        if n >= tc and n % tc == 0:
            return [1 + n, n]
        if n > tc and n % tc == 1:
            return [n, n - 1]
        raise ValueError(
            f"chunk_frames={n} breaks the {tc}x temporal frame rule: {rule}. Pass a multiple "
            f"of {tc} (e.g. {4 * tc}: chunks of {4 * tc + 1}, {4 * tc}, {4 * tc}, ... frames) "
            f"or 1 + a multiple of {tc} (e.g. {4 * tc + 1}: the same chunks).")
    sizes = [int(s) for s in chunk_frames]
    if not sizes:
        raise ValueError("chunk_frames is an empty sequence")
    if len(sizes) < 2 and tc > 1:
        raise ValueError(f"chunk_frames={sizes}: a sequence gives the first chunk's length and "
                         "then the later ones (the last repeats), so it needs at least two entries")
    if sizes[0] < 1 or (sizes[0] - 1) % tc:
        raise ValueError(f"chunk_frames={sizes}: the first chunk has {sizes[0]} frames, but {rule}")
    bad = [s for s in sizes[1:] if s < tc or s % tc]
    if bad:
        raise ValueError(f"chunk_frames={sizes}: later chunk lengths {bad} are not positive "
                         f"multiples of {tc}; {rule}")
    if len(sizes) == 1:
        sizes.append(sizes[0])
    return sizes


class StreamEncoder:
    """Encode a video piece by piece; the concatenated posteriors equal ``tok.encode(video)``.

    >>> enc = StreamEncoder(tok, chunk_frames=16)
    >>> parts = [enc.push(piece) for piece in pieces] + [enc.finish()]
    >>> z = torch.cat([p.mode() for p in parts if p is not None], dim=2)

    ``push`` accepts any number of frames, runs every complete chunk (lengths from
    :func:`encode_chunk_sizes`; ``chunk_frames=None`` runs everything it can at once) and
    returns the posterior of the latent frames it produced, or None. ``finish`` runs the
    remaining frames, padded at the end by replicating the last frame.

    ``tile_size`` computes every conv in exact spatial tiles (see
    :func:`~bootvid.nn.spatial_tiling`) for high resolutions.
    """

    def __init__(self, tokenizer: "VideoTokenizer", chunk_frames: int | Sequence[int] | None = None,
                 tile_size: int | None = None) -> None:
        self.tok = tokenizer
        self.tile_size = tile_size
        self.tc = tokenizer.temporal_compression
        self.sizes = encode_chunk_sizes(chunk_frames, self.tc) if chunk_frames is not None else None
        self.state = StreamState()
        self._buf: list[torch.Tensor] = []
        self._buffered = 0
        self._chunks_done = 0
        self._last: torch.Tensor | None = None
        self._finished = False
        self.frames_in = 0
        self.latents_out = 0

    def _next_size(self) -> int | None:
        if self.sizes is None:
            return None
        return self.sizes[min(self._chunks_done, len(self.sizes) - 1)]

    def _valid_prefix(self, n: int) -> int:
        """The longest chunk of at most n frames the frame rule allows now."""
        if self._chunks_done == 0:
            return 1 + self.tc * ((n - 1) // self.tc) if n >= 1 else 0
        return self.tc * (n // self.tc)

    def _take(self, n: int) -> torch.Tensor:
        out, got = [], 0
        while got < n:
            head = self._buf[0]
            k = min(n - got, head.shape[2])
            out.append(head[:, :, :k])
            if k == head.shape[2]:
                self._buf.pop(0)
            else:
                self._buf[0] = head[:, :, k:]
            got += k
        self._buffered -= n
        return out[0] if len(out) == 1 else torch.cat(out, dim=2)

    def _run(self, chunk: torch.Tensor) -> torch.Tensor:
        with spatial_tiling(self.tile_size):
            moments = self.tok.encoder(chunk, self.state)
        self._chunks_done += 1
        self.latents_out += moments.shape[2]
        return moments

    def _posterior(self, moments: list[torch.Tensor]) -> DiagonalGaussian | None:
        if not moments:
            return None
        m = moments[0] if len(moments) == 1 else torch.cat(moments, dim=2)
        return self.tok._posterior(m)

    def push(self, frames: torch.Tensor) -> DiagonalGaussian | None:
        if self._finished:
            raise RuntimeError("StreamEncoder.push after finish(); start a new StreamEncoder")
        self.tok._check_video(frames, "StreamEncoder.push")
        if self._last is not None and (frames.shape[:2] != self._last.shape[:2]
                                       or frames.shape[3:] != self._last.shape[3:]):
            raise ValueError(f"StreamEncoder.push: a piece of shape {tuple(frames.shape)} does not "
                             f"continue the stream's (B, C, _, H, W) = {tuple(self._last.shape)}")
        self._buf.append(frames)
        self._buffered += frames.shape[2]
        self.frames_in += frames.shape[2]
        self._last = frames[:, :, -1:].clone()  # not a view: keeps no pushed piece alive
        out = []
        while True:
            size = self._next_size()
            n = self._valid_prefix(self._buffered) if size is None else (
                size if self._buffered >= size else 0)
            if n == 0:
                break
            out.append(self._run(self._take(n)))
        return self._posterior(out)

    def finish(self) -> DiagonalGaussian | None:
        """Encode the buffered tail, padded to the frame rule; the stream is then closed."""
        if self._finished:
            raise RuntimeError("StreamEncoder.finish called twice")
        if self.frames_in == 0:
            raise ValueError("StreamEncoder.finish: no frames were pushed")
        out = []
        while self._buffered > 0:
            size = self._next_size()
            if size is not None and self._buffered >= size:
                out.append(self._run(self._take(size)))
                continue
            n = self._buffered
            full = (1 + self.tc * -(-(n - 1) // self.tc)) if self._chunks_done == 0 \
                else self.tc * -(-n // self.tc)
            chunk = self._take(n)
            if full > n:
                chunk = torch.cat([chunk, self._last.expand(-1, -1, full - n, -1, -1)], dim=2)
            out.append(self._run(chunk))
        self._finished = True
        return self._posterior(out)


def check_fp16_overflow(x: torch.Tensor, where: str) -> None:
    """float16 activations overflow at 65504 and turn into inf / NaN: decoded video would be
    written as black frames (what peer VAEs do in fp16), latents would poison whatever trains
    on them. Raise instead, saying what to use."""
    if x.dtype == torch.float16 and not bool(torch.isfinite(x).all()):
        what = ("non-finite values, which would be written as black frames" if where == "decode"
                else "non-finite latents")
        hint = ("check that the latents come from this tokenizer" if where == "decode"
                else "check that the video is in [-1, 1]")
        raise FloatingPointError(
            f"{where}: float16 overflow ({what}); run the tokenizer in bfloat16 or float32 "
            f"(tok.to(torch.bfloat16)), or {hint}")


class StreamDecoder:
    """Decode latents piece by piece; the concatenated frames equal ``tok.decode(z)``.

    Any piece size works (the decoder has no frame rule: ``m`` latents give
    ``1 + tc*(m - 1)`` frames in the first chunk and ``tc*m`` later). ``chunk_latents`` caps
    the latents per chunk inside one ``push``; ``num_frames`` stops the output there
    (dropping the frames ``encode`` padded). ``tile_size`` computes every conv in exact
    spatial tiles (see :func:`~bootvid.nn.spatial_tiling`) for high resolutions.
    """

    def __init__(self, tokenizer: "VideoTokenizer", chunk_latents: int | None = None,
                 num_frames: int | None = None, tile_size: int | None = None) -> None:
        if chunk_latents is not None and (not isinstance(chunk_latents, int) or chunk_latents < 1):
            raise ValueError(f"chunk_latents must be a positive int, got {chunk_latents!r}")
        self.tok = tokenizer
        self.tile_size = tile_size
        self.chunk_latents = chunk_latents
        self.num_frames = num_frames
        self.state = StreamState()
        self._shape: tuple | None = None
        self.frames_out = 0
        self.latents_in = 0

    def push(self, z: torch.Tensor) -> torch.Tensor:
        """Frames ``(B, C, n, H, W)`` decoded from ``z`` (``n`` may be 0 past ``num_frames``)."""
        self.tok._check_latent(z, "StreamDecoder.push")
        if self._shape is not None and (z.shape[:2] + z.shape[3:]) != self._shape:
            raise ValueError(f"StreamDecoder.push: latents of shape {tuple(z.shape)} do not "
                             f"continue the stream's (B, C, _, H, W) = {self._shape}")
        self._shape = z.shape[:2] + z.shape[3:]
        step = self.chunk_latents or z.shape[2]
        outs = []
        for a in range(0, z.shape[2], step):
            with spatial_tiling(self.tile_size):
                x = self.tok.decoder(z[:, :, a:a + step], self.state)
            if self.num_frames is not None:
                x = x[:, :, :max(self.num_frames - self.frames_out, 0)]
            self.frames_out += x.shape[2]
            check_fp16_overflow(x, "decode")
            outs.append(x)
        self.latents_in += z.shape[2]
        return outs[0] if len(outs) == 1 else torch.cat(outs, dim=2)


def _auto_chunk(length: int, chunk, default: int, threshold: int):
    if isinstance(chunk, str):
        if chunk != "auto":
            raise ValueError(f"chunk size must be an int, None or 'auto', got {chunk!r}")
        return default if length > threshold else None
    return chunk


def encode_video(tokenizer: "VideoTokenizer", video: torch.Tensor,
                 chunk_frames: int | Sequence[int] | str | None = "auto") -> DiagonalGaussian:
    """``tokenizer.encode`` that streams by default for clips longer than one chunk
    (``"auto"``: chunks of 17, 16, 16, ... frames beyond 17 frames; None: whole clip)."""
    tc = tokenizer.temporal_compression
    default = tc * max(1, DEFAULT_CHUNK_FRAMES // tc)
    chunk = _auto_chunk(video.shape[2], chunk_frames, default, default + 1)
    return tokenizer.encode(video, chunk_frames=chunk)


def decode_latents(tokenizer: "VideoTokenizer", z: torch.Tensor, num_frames: int | None = None,
                   chunk_latents: int | str | None = "auto") -> torch.Tensor:
    """``tokenizer.decode`` that streams by default for more than ``DEFAULT_CHUNK_LATENTS + 1``
    latent frames."""
    chunk = _auto_chunk(z.shape[2], chunk_latents, DEFAULT_CHUNK_LATENTS, DEFAULT_CHUNK_LATENTS + 1)
    return tokenizer.decode(z, num_frames=num_frames, chunk_latents=chunk)


def reconstruct_video(tokenizer: "VideoTokenizer", video: torch.Tensor, sample: bool = False,
                      generator: torch.Generator | None = None,
                      chunk_frames: int | Sequence[int] | str | None = "auto") -> torch.Tensor:
    """Encode and decode ``video`` (streaming by default for long clips); same length out."""
    post = encode_video(tokenizer, video, chunk_frames)
    z = post.sample(generator) if sample else post.mode()
    return decode_latents(tokenizer, z, num_frames=video.shape[2],
                          chunk_latents="auto" if chunk_frames is not None else None)


def stream_reconstruct(tokenizer: "VideoTokenizer", pieces: Iterable[torch.Tensor],
                       chunk_frames: int | Sequence[int] = DEFAULT_CHUNK_FRAMES,
                       sample: bool = False,
                       generator: torch.Generator | None = None) -> Iterator[torch.Tensor]:
    """Encode and decode a video given as an iterable of ``(B, C, n, H, W)`` pieces, yielding
    reconstructed pieces as soon as they are ready; memory stays that of one chunk however long
    the video. The yielded frames total the frames pushed (the tail padding is dropped)."""
    enc = StreamEncoder(tokenizer, chunk_frames)
    dec = StreamDecoder(tokenizer)

    def run(post: DiagonalGaussian | None) -> torch.Tensor | None:
        if post is None:
            return None
        z = post.sample(generator) if sample else post.mode()
        x = dec.push(z)
        keep = enc.frames_in - (dec.frames_out - x.shape[2])
        return x[:, :, :keep] if x.shape[2] > keep else x

    for piece in pieces:
        x = run(enc.push(piece))
        if x is not None and x.shape[2]:
            yield x
    x = run(enc.finish())
    if x is not None and x.shape[2]:
        yield x
