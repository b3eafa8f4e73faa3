"""Video files in and out of a tokenizer, streamed so that memory does not grow with the length:
``bootvid reconstruct``, ``bootvid encode`` and ``bootvid decode``.

Frames whose height or width is not a multiple of the spatial compression are padded
(replicating the last row / column) before encoding and cropped back after decoding, so any
video size works; ``size`` first resizes the shorter side (aspect kept, antialiased).
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Iterable, Iterator

import torch
import torch.nn.functional as F

from .. import __version__

LATENTS_KEY = "latents"
FORMAT = "bootvid-latents-v1"


class LatentMismatchError(ValueError):
    """Latents that were not made by the model asked to decode them."""


# ---- frames <-> model input -------------------------------------------------------------------

def output_size(height: int, width: int, size: int | None) -> tuple[int, int]:
    """Frame size after resizing the shorter side to ``size`` (None: unchanged)."""
    if size is None:
        return height, width
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    scale = size / min(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def frames_to_input(frames: torch.Tensor, hw: tuple[int, int], multiple: int, device,
                    dtype) -> torch.Tensor:
    """uint8 ``(n, H, W, 3)`` -> float ``(1, 3, n, H', W')`` in [-1, 1]: resized to ``hw`` and
    padded up to multiples of ``multiple`` by replicating the last row / column."""
    from ..tokenizer.video import frames_to_video

    x = frames_to_video(frames, device=device, dtype=torch.float32)
    if tuple(x.shape[-2:]) != hw:
        b, c, n, h, w = x.shape
        flat = x.permute(0, 2, 1, 3, 4).reshape(b * n, c, h, w)
        flat = F.interpolate(flat, size=hw, mode="bilinear", antialias=True, align_corners=False)
        x = flat.reshape(b, n, c, *hw).permute(0, 2, 1, 3, 4).clamp(-1, 1)
    ph, pw = -hw[0] % multiple, -hw[1] % multiple
    if ph or pw:
        b, c, n, h, w = x.shape
        x = F.pad(x.reshape(b, c * n, h, w), (0, pw, 0, ph), mode="replicate").reshape(
            b, c, n, h + ph, w + pw)
    return x.to(dtype).contiguous()


def output_to_frames(x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """Decoded ``(1, 3, n, H', W')`` -> uint8 ``(n, H, W, 3)``, the padding cropped off."""
    from ..tokenizer.video import video_to_frames

    f = video_to_frames(x[:, :, :, : hw[0], : hw[1]])
    return f if f.dim() == 4 else f[0]


# ---- shots ------------------------------------------------------------------------------------


def resolve_cuts(cuts, src, max_frames: int | None = None) -> list[int]:
    """The cuts to encode with: ``"auto"`` detects them in the file ``src``
    (:func:`bootvid.data.detect_cuts`), ``"off"`` / None: none, a list: as given."""
    if cuts is None or cuts == "off":
        return []
    if cuts == "auto":
        from ..data import detect_cuts

        return detect_cuts(src, max_frames)
    if isinstance(cuts, str):
        raise ValueError(f"cuts: auto, off or a list of frame indices, got {cuts!r}")
    from ..data import probe_video
    from ..tokenizer.shots import check_cuts

    frames = probe_video(src).frames
    return check_cuts(list(cuts), min(frames, max_frames or frames))


# ---- reconstruct ------------------------------------------------------------------------------

def reconstruct_pairs(tok, chunks: Iterable[torch.Tensor], hw: tuple[int, int],
                      chunk_frames: int = 16, cuts: list[int] | None = None
                      ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Stream uint8 frame chunks ``(n, H, W, 3)`` through ``tok``; yields ``(reference,
    reconstruction)`` uint8 pairs as they come out: the reference is the input as the model saw
    it (resized to ``hw``, before padding), the reconstruction is cropped back to ``hw``.
    ``cuts``: frame indices where a new shot starts; each shot is a stream of its own. Memory
    stays that of a chunk or two however long the video."""
    from itertools import groupby

    from ..data.cuts import by_shot
    from ..tokenizer.streaming import stream_reconstruct

    p = next(tok.parameters())
    inputs: deque = deque()  # input frames waiting for their reconstruction

    def pieces(shot_chunks) -> Iterator[torch.Tensor]:
        for _, frames in shot_chunks:
            x = frames_to_input(frames, hw, tok.spatial_compression, p.device, p.dtype)
            inputs.extend(frames if tuple(frames.shape[1:3]) == hw else output_to_frames(x, hw))
            yield x

    for _, shot_chunks in groupby(by_shot(chunks, cuts or []), key=lambda sc: sc[0]):
        for y in stream_reconstruct(tok, pieces(shot_chunks), chunk_frames=chunk_frames):
            out = output_to_frames(y, hw)
            yield torch.stack([inputs.popleft() for _ in range(len(out))]).to(out.device), out


class Estimate:
    """Says, once the first chunk is done, how long the whole video will take (``log``)."""

    def __init__(self, total_frames: int, what: str, log=None) -> None:
        import time

        self.total, self.what, self.log = total_frames, what, log
        self.start, self.done = time.perf_counter(), 0

    def update(self, frames: int) -> None:
        import time

        first = self.done == 0
        self.done += frames
        if first and self.log is not None and self.done < self.total:
            spent = time.perf_counter() - self.start
            left = spent / self.done * (self.total - self.done)
            self.log(f"bootvid: first {self.done} frames in {spent:.1f} s: the {self.what} of "
                     f"{self.total} frames should take about {_duration(spent + left)}")


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


@torch.no_grad()
def reconstruct_file(tok, src: str, dst: str, chunk_frames: int = 16, size: int | None = None,
                     side_by_side: bool = False, codec: str = "libx264",
                     progress: bool = False, max_frames: int | None = None,
                     pixel_format: str | None = None, log=None, cuts="off") -> dict:
    """Encode and decode the video ``src`` chunk by chunk and write the reconstruction to
    ``dst`` at the input's frame rate (``side_by_side``: input left, reconstruction right;
    ``max_frames``: only the first frames). Returns what was written (``frames``, ``fps``,
    ``height``, ``width``, ``written_size``, ``codec``) and the whole clip's quality against
    the input at the same size (``psnr`` from the clip's MSE, mean ``ssim``, and both per
    frame), measured on the uint8 frames before the output codec. ``log``: where the time
    estimate after the first chunk goes. ``cuts``: ``"auto"`` (detect hard cuts and encode
    each shot on its own), ``"off"`` or frame indices; the result lists them."""
    from ..data import VideoWriter, iter_frames, probe_video
    from .metrics import QualityMeter

    info = probe_video(src)
    hw = output_size(info.height, info.width, size)
    total = min(info.frames, max_frames or info.frames)
    shots = resolve_cuts(cuts, src, max_frames)
    meter, estimate = QualityMeter(), Estimate(total, "reconstruction", log)
    bar = _bar(progress, total, "reconstruct")
    with VideoWriter(dst, info.fps, codec=codec, pixel_format=pixel_format) as writer:
        for ref, out in reconstruct_pairs(tok, iter_frames(src, chunk_frames, max_frames), hw,
                                          chunk_frames, shots):
            meter.update(ref.cpu(), out.cpu())
            writer.write(torch.cat([ref, out], dim=2) if side_by_side else out)
            estimate.update(len(out))
            if bar is not None:
                bar.update(len(out))
    if bar is not None:
        bar.close()
    return {"frames": writer.frames_written, "fps": info.fps, "height": hw[0],
            "width": hw[1] * (2 if side_by_side else 1), "written_size": writer.written_size,
            "codec": writer.codec, "source": src, "cuts": shots, "psnr": _finite(meter.psnr),
            "ssim": meter.ssim, "psnr_per_frame": [_finite(v) for v in meter.psnr_per_frame],
            "ssim_per_frame": meter.ssim_per_frame}


def _finite(v: float) -> float | str:
    return v if v != float("inf") else "inf"  # identical frames: JSON has no infinity


def _bar(progress: bool, total: int, desc: str):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="frame", desc=desc, dynamic_ncols=True)


# ---- encode / decode ----------------------------------------------------------------------------

@torch.no_grad()
def encode_file(tok, src: str, dst: str, chunk_frames: int = 16, size: int | None = None,
                progress: bool = False, max_frames: int | None = None, log=None,
                cuts="off") -> dict:
    """Latents (posterior mean) of the video ``src`` (its first ``max_frames`` frames) in a
    safetensors file ``dst``, with what decoding needs in its metadata: frame count, fps, size
    and the model's fingerprint. ``cuts`` (``"auto"``, ``"off"`` or frame indices): each shot
    encoded on its own, the cuts recorded so that :func:`decode_file` splits the latent again."""
    from safetensors.torch import save_file

    from ..data import iter_frames, probe_video
    from ..fileio import atomic_write
    from ..tokenizer.persistence import model_fingerprint

    info = probe_video(src)
    hw = output_size(info.height, info.width, size)
    p = next(tok.parameters())
    from ..data.cuts import by_shot

    shots = resolve_cuts(cuts, src, max_frames)
    enc, shot_now = None, -1
    parts, frames = [], 0
    total = min(info.frames, max_frames or info.frames)
    bar, estimate = _bar(progress, total, "encode"), Estimate(total, "encoding", log)

    def finish(enc):
        post = enc.finish() if enc is not None else None
        if post is not None:
            parts.append(post.mode().float().cpu())

    for shot, chunk in by_shot(iter_frames(src, chunk_frames, max_frames), shots):
        if shot != shot_now:  # a new shot: a new causal stream
            finish(enc)
            enc, shot_now = tok.stream_encoder(chunk_frames), shot
        frames += len(chunk)
        post = enc.push(frames_to_input(chunk, hw, tok.spatial_compression, p.device, p.dtype))
        if post is not None:
            parts.append(post.mode().float().cpu())
        estimate.update(len(chunk))
        if bar is not None:
            bar.update(len(chunk))
    finish(enc)
    if bar is not None:
        bar.close()
    if frames == 0:
        raise ValueError(f"encode: {src} has no frames")
    z = torch.cat(parts, dim=2)[0].contiguous()
    meta = {"format": FORMAT, "bootvid_version": __version__, "frames": str(frames),
            "fps": repr(float(info.fps)), "height": str(hw[0]), "width": str(hw[1]),
            "source": os.path.basename(src), "model_fingerprint": model_fingerprint(tok),
            "temporal_compression": str(tok.temporal_compression),
            "model_config": json.dumps(tok.config.to_dict(), sort_keys=True),
            "cuts": json.dumps(shots)}
    atomic_write(dst, lambda t: save_file({LATENTS_KEY: z}, t, metadata=meta))
    return {"frames": frames, "latent_shape": tuple(z.shape), "fps": info.fps,
            "height": hw[0], "width": hw[1], "cuts": shots}


def read_latents(path: str) -> tuple[torch.Tensor, dict]:
    """The latents ``(C, T', H', W')`` and metadata of a file written by :func:`encode_file`."""
    return _open_latents(path, lambda f: f.get_tensor(LATENTS_KEY))


def read_latents_meta(path: str) -> dict:
    """Only the metadata of a latents file (the tensor is not read)."""
    return _open_latents(path, lambda f: None)[1]


def _open_latents(path: str, read) -> tuple:
    from safetensors import SafetensorError, safe_open

    if not os.path.isfile(path):
        raise FileNotFoundError(f"latents file not found: {path}")
    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != FORMAT or LATENTS_KEY not in f.keys():
                raise ValueError(f"{path} is not a bootvid latents file (bootvid encode writes "
                                 "them)")
            return read(f), meta
    except (OSError, RuntimeError, SafetensorError) as e:
        raise ValueError(f"{path}: not a readable safetensors file ({e})") from None


@torch.no_grad()
def decode_file(tok, src: str, dst: str, chunk_latents: int = 4, codec: str = "libx264",
                progress: bool = False, pixel_format: str | None = None, log=None) -> dict:
    """Decode latents written by :func:`encode_file` into the video ``dst``; refuses latents
    made by another model."""
    from ..data import VideoWriter
    from ..tokenizer.persistence import model_fingerprint

    z, meta = read_latents(src)
    mine = model_fingerprint(tok)
    if meta.get("model_fingerprint") != mine:
        raise LatentMismatchError(
            f"{src} was encoded by another model (fingerprint {meta.get('model_fingerprint')}, "
            f"{meta.get('temporal_compression')}x temporal) than this one ({mine}, "
            f"{tok.temporal_compression}x); decode it with the model that encoded it")
    from ..tokenizer.shots import latent_ranges, shot_ranges

    frames, hw = int(meta["frames"]), (int(meta["height"]), int(meta["width"]))
    cuts = json.loads(meta.get("cuts", "[]"))  # files from before shots: one shot
    lat = latent_ranges(frames, cuts, tok.temporal_compression)
    if lat[-1][1] != z.shape[1]:
        raise ValueError(f"{src}: {z.shape[1]} latent frames, but {frames} frames with cuts "
                         f"{cuts} need {lat[-1][1]}: the file is damaged")
    p = next(tok.parameters())
    bar, estimate = _bar(progress, frames, "decode"), Estimate(frames, "decoding", log)
    with VideoWriter(dst, float(meta["fps"]), codec=codec, pixel_format=pixel_format) as writer:
        for (la, lb), (a, b) in zip(lat, shot_ranges(frames, cuts)):
            dec = tok.stream_decoder(chunk_latents, num_frames=b - a)  # each shot its own
            for t0 in range(la, lb, chunk_latents):
                y = dec.push(z[None, :, t0:min(t0 + chunk_latents, lb)].to(p.device, p.dtype))
                if y.shape[2]:
                    out = output_to_frames(y, hw)
                    writer.write(out)
                    estimate.update(len(out))
                    if bar is not None:
                        bar.update(len(out))
    if bar is not None:
        bar.close()
    return {"frames": writer.frames_written, "fps": float(meta["fps"]), "height": hw[0],
            "width": hw[1], "written_size": writer.written_size, "codec": writer.codec,
            "cuts": cuts}
