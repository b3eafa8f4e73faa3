"""``bootvid demo``: the shipped 4x, 8x and 16x tokenizers on a clip, side by side.

Needs no data: the clip is synthetic (textured shapes moving over a panning background) unless
``--video`` names one. Prints, per model, the compression, the latent tokens per second of
video, PSNR / SSIM of the reconstruction and encode / decode speed, and writes a side-by-side
video and a PNG comparison.
"""

from __future__ import annotations

import json
import os
import time

import torch

#: Frame rate the "latent tokens per second of video" column assumes for synthetic clips.
DEMO_FPS = 24.0
_LABEL_HEIGHT = 14


def demo_clip(frames: int, size: int, video: str | None = None) -> tuple[torch.Tensor, float, str]:
    """uint8 frames ``(T, S, S, 3)``, their frame rate and a description: the first ``frames``
    frames of ``video`` (shorter side to ``size``, centre crop) or a synthetic clip."""
    from ..tokenizer.video import video_to_frames

    if video is not None:
        from ..data import probe_video
        from ..eval.protocol import load_reference

        fps = probe_video(video).fps or DEMO_FPS
        return load_reference(video, frames, size), fps, os.path.basename(video)
    from ..data import SyntheticVideoDataset

    clip = SyntheticVideoDataset(frames, size, seed=2024)[0]
    return video_to_frames(clip[None]), DEMO_FPS, f"synthetic clip (seed 2024, {DEMO_FPS:g} fps)"


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


@torch.inference_mode()
def measure(tok, frames: torch.Tensor, fps: float) -> tuple[dict, torch.Tensor]:
    """Encode and decode ``frames`` with ``tok`` (whole clip, after one warm-up pass): the
    figures of one table row, and the reconstructed uint8 frames."""
    from ..eval.metrics import psnr, ssim
    from ..tokenizer.video import frames_to_video, video_to_frames

    p = next(tok.parameters())
    x = frames_to_video(frames, device=p.device, dtype=p.dtype)
    T, H, W = x.shape[2:]
    tok.decode(tok.encode(x[:, :, :1]).mode(), num_frames=1)  # warm-up (allocator, kernels)
    post, t_enc = _timed(lambda: tok.encode(x))
    z = post.mode()
    rec, t_dec = _timed(lambda: tok.decode(z, num_frames=T))
    rec = video_to_frames(rec)
    _, lt, lh, lw = z.shape[1:]
    row = {
        "temporal": tok.temporal_compression, "spatial": tok.spatial_compression,
        "latent_shape": list(z.shape[1:]),
        # asymptotic rate: fps / tc latent frames per second, each lh x lw tokens
        "tokens_per_second": fps / tok.temporal_compression * lh * lw,
        "psnr": psnr(frames, rec), "ssim": ssim(frames, rec),
        "encode_fps": T / t_enc, "decode_fps": T / t_dec,
    }
    return row, rec


def format_rows(rows: dict[str, dict]) -> str:
    w = max(len("model"), *(len(n) for n in rows))
    head = (f"{'model':<{w}}  {'compression':>13}  {'latent (C,T,H,W)':>18}  {'tokens/s':>8}  "
            f"{'PSNR dB':>7}  {'SSIM':>6}  {'enc fps':>7}  {'dec fps':>7}")
    lines = [head, "-" * len(head)]
    for name, r in rows.items():
        comp = f"{r['temporal']}x{r['spatial']}x{r['spatial']}"
        shape = "(" + ",".join(str(v) for v in r["latent_shape"]) + ")"
        lines.append(f"{name:<{w}}  {comp:>13}  {shape:>18}  {r['tokens_per_second']:>8.0f}  "
                     f"{r['psnr']:>7.2f}  {r['ssim']:>6.4f}  {r['encode_fps']:>7.1f}  "
                     f"{r['decode_fps']:>7.1f}")
    return "\n".join(lines)


def _labelled(frames: torch.Tensor, label: str) -> torch.Tensor:
    """``frames`` (T, H, W, 3) uint8 with a black band holding ``label`` on top (no text
    without Pillow)."""
    T, H, W, _ = frames.shape
    band = torch.zeros(T, _LABEL_HEIGHT, W, 3, dtype=torch.uint8)
    try:
        import numpy as np
        from PIL import Image, ImageDraw

        img = Image.new("RGB", (W, _LABEL_HEIGHT))
        ImageDraw.Draw(img).text((3, 1), label, fill=(255, 255, 255))
        band[:] = torch.from_numpy(np.asarray(img).copy())
    except ImportError:
        pass
    return torch.cat([band, frames], dim=1)


def side_by_side(columns: dict[str, torch.Tensor]) -> torch.Tensor:
    """Labelled clips (T, H, W, 3) next to each other: (T, H + label, W * n, 3)."""
    return torch.cat([_labelled(f, name) for name, f in columns.items()], dim=2)


def comparison_png(columns: dict[str, torch.Tensor], num: int = 5) -> torch.Tensor:
    """One row per clip (input first), ``num`` evenly spaced frames each: (rows*H', num*W, 3)."""
    T = next(iter(columns.values())).shape[0]
    idx = torch.linspace(0, T - 1, min(T, num)).round().long()
    rows = [torch.cat(list(_labelled(f[idx], name)), dim=1) for name, f in columns.items()]
    return torch.cat(rows, dim=0)


def run_models_demo(out: str = "bootvid-demo", frames: int = 33, size: int = 128,
                    models: list[str] | None = None, video: str | None = None,
                    device: str = "cpu") -> dict:
    """The main demo; returns the results it also writes to ``out/demo.json``."""
    from .. import pretrained
    from ..data.images import save_png
    from ..fileio import atomic_write_text
    from ..train.rundir import load_tokenizer

    models = list(models or pretrained.SHIPPED)
    ref, fps, what = demo_clip(frames, size, video)
    print(f"bootvid demo: {what}, {ref.shape[0]} frames at {ref.shape[2]}x{ref.shape[1]}, on "
          f"{device} ({torch.get_num_threads()} threads)")
    rows, recs = {}, {"input": ref}
    for name in models:
        tok, where = load_tokenizer(name, device=device)
        print(f"  {name}: {where}, {tok.num_parameters() / 1e6:.1f}M parameters")
        rows[name], recs[name] = measure(tok, ref, fps)
    print()
    print(format_rows(rows))
    print(f"tokens/s: latent tokens per second of video at {fps:g} fps and this size; "
          "speeds: whole clip, after a warm-up")
    os.makedirs(out, exist_ok=True)
    written = []
    png = os.path.join(out, "comparison.png")
    if save_png(comparison_png(recs), png):
        written.append(png)
    try:
        from ..data import write_video

        mp4 = os.path.join(out, "side_by_side.mp4")
        write_video(mp4, side_by_side(recs), fps)
        written.append(mp4)
    except ImportError as e:  # PyAV is optional
        print(f"bootvid demo: no video written ({e})")
    result = {"clip": what, "frames": int(ref.shape[0]), "size": int(size), "fps": fps,
              "device": device, "threads": torch.get_num_threads(), "models": rows}
    path = os.path.join(out, "demo.json")
    atomic_write_text(path, json.dumps(result, indent=2) + "\n")
    written.append(path)
    print(f"wrote {', '.join(written)}")
    return result
