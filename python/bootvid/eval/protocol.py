"""``bootvid eval``'s fixed protocol, so that numbers are comparable across models.

Each video: the first ``frames`` frames, the shorter side resized to ``size`` (antialiased),
a centre ``size x size`` crop, quantised to uint8 (this is the reference); the tokenizer
reconstructs it (posterior mode, streamed for long clips), the result is quantised to uint8,
and PSNR / SSIM (:mod:`bootvid.eval.metrics`) compare the two.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .metrics import psnr, psnr_per_frame, ssim, ssim_per_frame

DEFAULT_FRAMES = 33
DEFAULT_SIZE = 128
SSIM_NOTE = "SSIM: 11x11 Gaussian window (sigma 1.5), per RGB channel, averaged"


@dataclass
class VideoResult:
    path: str
    psnr: float
    ssim: float
    psnr_per_frame: list[float]
    ssim_per_frame: list[float]
    lpips: float | None = None
    cuts: list[int] | None = None

    def to_dict(self) -> dict:
        d = {"path": self.path, "psnr": _json_float(self.psnr), "ssim": self.ssim,
             "psnr_per_frame": [_json_float(v) for v in self.psnr_per_frame],
             "ssim_per_frame": self.ssim_per_frame, "cuts": self.cuts or []}
        if self.lpips is not None:
            d["lpips"] = self.lpips
        return d


def _json_float(v: float) -> float | str:
    return v if math.isfinite(v) else "inf"  # identical frames: JSON has no infinity


def load_reference(path: str, frames: int = DEFAULT_FRAMES, size: int = DEFAULT_SIZE,
                   stride: int = 1) -> torch.Tensor:
    """The protocol's reference clip of ``path``: uint8 ``(frames, size, size, 3)``, every
    ``stride``-th frame (a temporally subsampled video, as in ProMAG's observation). A video
    too short for it is an error naming the file and both counts."""
    from ..data import VideoReadError, center_crop_resize, read_frames
    from ..tokenizer.video import video_to_frames

    try:
        clip = center_crop_resize(read_frames(path, 0, frames, stride), size)  # (3, T, S, S)
    except VideoReadError as e:
        if e.frames_available is None:
            raise
        need = 1 + (frames - 1) * stride
        raise VideoReadError(f"{path} has {e.frames_available} frames, but the protocol takes "
                             f"the first {need} ({frames} frames, stride {stride}); evaluate "
                             f"with fewer --frames (the same for every model you compare)",
                             e.frames_available) from None
    return video_to_frames(clip[None])


@torch.no_grad()
def reconstruct_frames(tok, frames: torch.Tensor, device=None,
                       cuts: list[int] | None = None) -> torch.Tensor:
    """Encode and decode uint8 frames ``(T, H, W, 3)``; uint8 frames back (same shape).
    ``cuts``: frame indices where a new shot starts (each shot encoded on its own)."""
    from ..tokenizer.streaming import reconstruct_video
    from ..tokenizer.video import frames_to_video, video_to_frames

    device = device or next(tok.parameters()).device
    dtype = next(tok.parameters()).dtype
    x = frames_to_video(frames, device=device, dtype=dtype)
    if cuts:
        return video_to_frames(tok.decode(tok.encode(x, cuts=cuts).mode(), frames.shape[0],
                                          cuts=cuts))
    return video_to_frames(reconstruct_video(tok, x))


@torch.no_grad()
def lpips_distance(lpips, ref: torch.Tensor, rec: torch.Tensor, batch: int = 16) -> float:
    """Mean LPIPS over the frames of two uint8 clips ``(T, H, W, 3)``."""
    from ..tokenizer.video import frames_to_video

    dev = next(lpips.buffers(), torch.empty(0)).device
    total = 0.0
    for t0 in range(0, ref.shape[0], batch):
        a = frames_to_video(ref[t0:t0 + batch], device=dev)[0].transpose(0, 1)  # (n, 3, H, W)
        b = frames_to_video(rec[t0:t0 + batch], device=dev)[0].transpose(0, 1)
        total += float(lpips.image_distances(a, b).sum())
    return total / ref.shape[0]


#: Frames kept for plots when a whole video is streamed (``frames=None``).
KEPT_FRAMES = 33


def evaluate_video(tok, path: str, frames: int | None = DEFAULT_FRAMES,
                   size: int | None = DEFAULT_SIZE, device=None, lpips=None, stride: int = 1,
                   cuts: str = "off") -> tuple[VideoResult, torch.Tensor, torch.Tensor]:
    """The protocol on one video: its result, the reference and the reconstruction (uint8).
    ``lpips``: a :class:`bootvid.train.perceptual.LPIPS` to add the mean LPIPS of the frames.
    ``frames=None`` (all frames) or ``size=None`` (native size: no resize or crop; sizes that
    are not multiples of the spatial compression are padded and cropped back, as in
    ``bootvid reconstruct``) stream the video in constant memory; the returned clips are then
    its first :data:`KEPT_FRAMES` frames. ``cuts="auto"``: hard cuts detected and each shot
    encoded on its own (the result lists them)."""
    if frames is None or size is None:
        return _evaluate_streamed(tok, path, frames, size, device, lpips, cuts)
    ref = load_reference(path, frames, size, stride)
    shots = _cuts(cuts, ref)
    rec = reconstruct_frames(tok, ref, device, shots)
    res = VideoResult(path=path, psnr=psnr(ref, rec), ssim=ssim(ref, rec),
                      psnr_per_frame=psnr_per_frame(ref, rec).tolist(),
                      ssim_per_frame=ssim_per_frame(ref, rec).tolist(),
                      lpips=lpips_distance(lpips, ref, rec) if lpips is not None else None,
                      cuts=shots)
    return res, ref, rec


def _cuts(mode: str, frames, max_frames: int | None = None) -> list[int]:
    """Cuts for ``mode`` (``"auto"``: detected in ``frames``, a file or uint8 frames). The
    protocol takes only the two modes; lists of cuts belong to ``bootvid reconstruct``."""
    if mode not in ("auto", "off"):
        raise ValueError(f"eval: cuts must be auto or off, got {mode!r}")
    from .codec import resolve_cuts

    return resolve_cuts(mode, frames, max_frames)


@torch.no_grad()
def _evaluate_streamed(tok, path, frames, size, device, lpips, cuts="off"):
    from ..data import center_crop_resize, iter_frames, probe_video
    from ..tokenizer.video import video_to_frames
    from .codec import reconstruct_pairs
    from .metrics import QualityMeter

    if device is not None and next(tok.parameters()).device != torch.device(device):
        tok = tok.to(device)
    shots = _cuts(cuts, path, frames)
    chunks = iter_frames(path, 16, frames)
    if size is None:
        info = probe_video(path)
        hw = (info.height, info.width)
    else:
        hw = (size, size)
        chunks = (video_to_frames(center_crop_resize(c, size)[None]) for c in chunks)
    meter, kept_ref, kept_rec, lp = QualityMeter(), [], [], 0.0
    for ref, rec in reconstruct_pairs(tok, chunks, hw, cuts=shots):
        ref, rec = ref.cpu(), rec.cpu()
        meter.update(ref, rec)
        if lpips is not None:
            lp += lpips_distance(lpips, ref, rec) * len(ref)
        room = KEPT_FRAMES - sum(len(k) for k in kept_ref)
        if room > 0:
            kept_ref.append(ref[:room])
            kept_rec.append(rec[:room])
    if frames is not None and meter.frames < frames:
        from ..data import VideoReadError

        raise VideoReadError(f"{path} has {meter.frames} frames, but {frames} were asked for; "
                             "evaluate with fewer --frames (or --frames all)", meter.frames)
    res = VideoResult(path=path, psnr=meter.psnr, ssim=meter.ssim if meter.ssim is not None
                      else float("nan"), psnr_per_frame=meter.psnr_per_frame,
                      ssim_per_frame=meter.ssim_per_frame,
                      lpips=lp / meter.frames if lpips is not None else None, cuts=shots)
    return res, torch.cat(kept_ref), torch.cat(kept_rec)


def _check_protocol(tok, frames: int | None, size: int | None, stride: int = 1,
                    fvd: bool = False) -> None:
    if frames is not None and (not isinstance(frames, int) or frames < 1):
        raise ValueError(f"eval: frames must be a positive integer (or all), got {frames!r}")
    if (frames is None or size is None) and stride != 1:
        raise ValueError("eval: --stride needs the fixed protocol (--frames N --size S), not "
                         "all frames or the native size")
    if fvd and (frames is None or size is None):
        raise ValueError("eval: FVD compares clips of one shape; give --frames N and --size S")
    if size is None:
        return
    s = tok.spatial_compression
    if not isinstance(size, int) or size < s or size % s:
        raise ValueError(f"eval: size must be a positive multiple of {s} (the tokenizer's "
                         f"spatial compression), got {size!r}")


def evaluate(tok, videos: Sequence[str], frames: int = DEFAULT_FRAMES, size: int = DEFAULT_SIZE,
             device=None, model_name: str = "", progress: bool = False, on_video=None,
             lpips=None, fvd_detector=None, stride: int = 1, cuts: str = "off") -> dict:
    """The protocol over ``videos`` (files; see :func:`bootvid.data.find_videos` for folders):
    the JSON-ready summary ``bootvid eval --json`` writes. ``on_video(result, ref, rec)`` is
    called per video (plots). ``lpips`` (an LPIPS module) and ``fvd_detector`` (see
    :mod:`bootvid.eval.fvd`) add those metrics; ``stride`` evaluates every stride-th frame;
    ``cuts="auto"`` encodes each shot (between detected hard cuts) on its own."""
    _check_protocol(tok, frames, size, stride, fvd_detector is not None)
    if not videos:
        raise ValueError("eval: no videos given")
    if fvd_detector is not None and len(videos) < 2:
        raise ValueError("eval: FVD compares sets of clips and needs at least 2 videos")
    results, feats_ref, feats_rec = [], [], []
    it = videos
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(videos, unit="video", desc="eval")
    for path in it:
        res, ref, rec = evaluate_video(tok, path, frames, size, device, lpips, stride, cuts)
        results.append(res)
        if fvd_detector is not None:
            from .fvd import detector_features

            feats_ref.append(detector_features(fvd_detector, ref))
            feats_rec.append(detector_features(fvd_detector, rec))
        if on_video is not None:
            on_video(res, ref, rec)
    c = tok.config
    extra = {"lpips": sum(r.lpips for r in results) / len(results)} if lpips is not None else {}
    if fvd_detector is not None:
        from .fvd import frechet_distance

        extra["fvd"] = frechet_distance(torch.stack(feats_ref), torch.stack(feats_rec))
        extra["fvd_clips"] = len(results)
    return {
        "model": model_name,
        "temporal_compression": tok.temporal_compression,
        "spatial_compression": tok.spatial_compression,
        "latent_channels": c.latent_channels,
        "frames": "all" if frames is None else frames,
        "size": "native" if size is None else size,
        "stride": stride,
        "psnr": _json_float(sum(r.psnr for r in results) / len(results)),
        "ssim": sum(r.ssim for r in results) / len(results),
        "ssim_note": SSIM_NOTE,
        **extra,
        "videos": [r.to_dict() for r in results],
    }


def format_psnr(p: float | str) -> str:
    """PSNR for tables, 8 wide (``inf`` for identical videos)."""
    return f"{p:8.2f}" if isinstance(p, float) else f"{p:>8}"


def format_table(summary: dict) -> str:
    """A plain-text table of an :func:`evaluate` summary."""
    rows = [(os.path.basename(v["path"]), v["psnr"], v["ssim"], v.get("lpips"))
            for v in summary["videos"]]
    rows.append(("mean", summary["psnr"], summary["ssim"], summary.get("lpips")))
    w = max(12, *(len(r[0]) for r in rows))
    head = (f"{summary['model']}: {summary['temporal_compression']}x{summary['spatial_compression']}"
            f"x{summary['spatial_compression']}, {summary['latent_channels']} latent channels; "
            f"{summary['frames']} frames at "
            + ("native size" if summary["size"] == "native"
               else f"{summary['size']}x{summary['size']}"))
    has_lpips = rows[-1][3] is not None
    lines = [head, f"{'video':<{w}}  {'PSNR dB':>8}  {'SSIM':>6}"
             + ("   LPIPS" if has_lpips else "")]
    for name, p, s, lp in rows:
        lines.append(f"{name:<{w}}  {format_psnr(p)}  {s:6.4f}"
                     + (f"  {lp:6.4f}" if has_lpips else ""))
    if "fvd" in summary:
        lines.append(f"FVD {summary['fvd']:.2f} over {summary['fvd_clips']} clips (few clips: "
                     "noisy, compare only like with like)")
    return "\n".join(lines)
