"""``bootvid demo``: a short tour of the ops (kernels vs reference twins) and of the tokenizer on synthetic clips."""

from __future__ import annotations

import time

import torch


def synthetic_clip(frames: int, size: int, channels: int, device: str) -> torch.Tensor:
    """A (1, channels, frames, size, size) feature video: a square moving over a gradient."""
    t = torch.arange(frames, dtype=torch.float32).view(frames, 1, 1)
    yy = torch.linspace(-1, 1, size).view(1, size, 1)
    xx = torch.linspace(-1, 1, size).view(1, 1, size)
    cx = -0.6 + 1.2 * t / max(frames - 1, 1)
    square = ((xx - cx).abs() < 0.2) & ((yy).abs() < 0.2)
    base = 0.5 * xx + 0.3 * yy + square.float()
    mix = torch.randn(channels, 1, 1, 1, generator=torch.Generator().manual_seed(0))
    return (mix * base.unsqueeze(0)).unsqueeze(0).to(device)


def _pipeline(x: torch.Tensor, weight: torch.Tensor, gamma: torch.Tensor):
    from bootvid import ops

    h, _ = ops.causal_conv3d(x, weight, padding=(1, 1))
    h = ops.group_norm_act(h, 32, act="silu")
    d = ops.pixel_unshuffle_3d(h, (2, 2, 2))
    d = ops.adaptive_group_norm(d, gamma, None, num_groups=32)
    return ops.pixel_shuffle_3d(d, (2, 2, 2))


def _timed(fn, repeats: int = 3):
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        if out.is_cuda:
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return out, best


def run_ops_demo(frames: int = 17, size: int = 64, channels: int = 64, device: str = "cpu") -> None:
    from bootvid import ops

    if frames < 1 or (frames - 1) % 2:
        raise ValueError(f"--frames must be 1 + 2k for this demo's 2x temporal shuffle, got {frames}")
    if size % 2 or channels % 32:
        raise ValueError("--size must be even and --channels a multiple of 32")
    x = synthetic_clip(frames, size, channels, device)
    g = torch.Generator().manual_seed(1)
    weight = (torch.randn(channels, channels, 3, 3, 3, generator=g) / (channels * 27) ** 0.5).to(device)
    tl = (frames - 1) // 2 + 1
    gamma = (0.1 * torch.randn(1, channels * 8, 1, 1, 1, generator=g)).to(device).expand(-1, -1, tl, 1, 1)
    gamma = gamma.contiguous()

    print(f"bootvid ops demo: clip {tuple(x.shape)} on {device}; kernels available: "
          f"{ops.kernels_available(device)}")
    print("pipeline: causal_conv3d -> group_norm_act(silu) -> pixel_unshuffle_3d(2,2,2) -> "
          "adaptive_group_norm -> pixel_shuffle_3d")
    y_k, t_k = _timed(lambda: _pipeline(x, weight, gamma))
    with ops.use_reference():
        y_r, t_r = _timed(lambda: _pipeline(x, weight, gamma))
    err = (y_k - y_r).abs().max().item()
    print(f"{'path':<12}{'time (ms)':>12}")
    print(f"{'kernels':<12}{t_k * 1e3:>12.2f}")
    print(f"{'reference':<12}{t_r * 1e3:>12.2f}")
    print(f"speed-up {t_r / t_k:.2f}x, max |kernels - reference| = {err:.2e}, output {tuple(y_k.shape)}")


def run_tokenizer_demo(preset: str = "tiny", frames: int = 33, size: int = 64,
                       chunk_frames: int = 8, device: str = "cpu") -> None:
    """Encode and decode a synthetic clip with a randomly initialised tokenizer: shapes, the
    frame-count rule, streamed (chunked) vs whole-clip results, and timings. The weights are
    random, so the reconstruction itself is not meaningful yet."""
    from bootvid.tokenizer import TokenizerConfig, VideoTokenizer, synthetic_video

    torch.manual_seed(0)
    tok = VideoTokenizer(TokenizerConfig.preset(preset)).eval().to(device)
    x = synthetic_video(frames, size).to(device)
    print(f"\nbootvid tokenizer demo: preset {preset!r} ({tok.num_parameters() / 1e6:.2f}M "
          f"parameters, random weights), clip {tuple(x.shape)} on {device}")
    print(f"compression: {tok.temporal_compression}x time, {tok.spatial_compression}x space, "
          f"{tok.latent_channels} latent channels; latent of this clip: "
          f"{tok.latent_shape(frames, size, size)}")
    print("frame-count rule (1 + 4k frames -> 1 + k latents; others are padded at the end):")
    print("  " + ", ".join(f"{t}->{tok.latent_frames(t)}" for t in (1, 2, 5, 9, 16, 17, 33)))
    with torch.inference_mode():
        start = time.perf_counter()
        post = tok.encode(x)
        recon = tok.decode(post.mode(), num_frames=frames)
        t_whole = time.perf_counter() - start
        start = time.perf_counter()
        post_c = tok.encode(x, chunk_frames=chunk_frames)
        recon_c = tok.decode(post_c.mode(), num_frames=frames, chunk_latents=2)
        t_chunk = time.perf_counter() - start
    print(f"whole clip:   encode + decode {t_whole * 1e3:8.1f} ms -> {tuple(recon.shape)}")
    print(f"streamed ({chunk_frames} frames / 2 latents per chunk): {t_chunk * 1e3:8.1f} ms, "
          f"max |streamed - whole| = latent {(post_c.mean - post.mean).abs().max().item():.1e}, "
          f"video {(recon_c - recon).abs().max().item():.1e}")
